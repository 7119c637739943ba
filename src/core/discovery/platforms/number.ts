// A setting with a range and a step (a charge rate, a target state of charge).
import { z } from 'zod';
import { unitProblems } from '../../ha-acceptance.js';
import { DECIMAL, HA_CORE, HA_DOCS, formatNumber, type CommonSpec, type Platform } from '../platform.js';

export interface NumberSpec extends CommonSpec {
  component: 'number';
  min: number;
  max: number;
  step: number;
  unit?: string;
  deviceClass?: string;
  mode?: 'auto' | 'box' | 'slider';
  /**
   * The step is the device's own (what the HA slider offers); a value between steps is passed on
   * for the device to round, as HA's number.set_value from an automation checks the range only.
   */
  deviceRoundsToStep?: boolean;
}

/** As many decimals as the step has: a step of 0.5 publishes 2.3, not 2.25. */
function precision(spec: NumberSpec): number {
  const text = String(spec.step);
  return text.includes('.') ? text.split('.')[1]!.length : 0;
}

function onStep(n: number, min: number, step: number): boolean {
  const k = (n - min) / step;
  return Math.abs(k - Math.round(k)) < 1e-6;
}

export const number: Platform<NumberSpec, number, number> = {
  component: 'number',
  since: {
    since: '2023.2.0',
    source: `platform: ${HA_DOCS}/number.mqtt (ha_release 2021.2); mode: ${HA_CORE}/pull/77478 (2022.9); power/battery device classes: number classes aligned with sensor's in 2023.2 per https://github.com/make-all/tuya-local/issues/513 (not confirmed in the release notes)`,
  },
  hasState: true,
  takesCommands: true,
  partCommands: false,
  problems(spec) {
    const problems = unitProblems('number', spec.deviceClass, spec.unit, undefined);
    if (!(spec.min < spec.max)) problems.push('min must be below max');
    if (!(spec.step >= 0.001)) problems.push('step must be at least 0.001');
    return problems;
  },
  discoveryKeys(spec) {
    // A box by default: a slider over thousands of watts cannot hit a value.
    const keys: Record<string, unknown> = { min: spec.min, max: spec.max, step: spec.step, mode: spec.mode ?? 'box' };
    if (spec.unit) keys.unit_of_measurement = spec.unit;
    if (spec.deviceClass) keys.device_class = spec.deviceClass;
    return keys;
  },
  discoveryTopics: (_spec, topics) => ({ state_topic: topics.state, command_topic: topics.command }),
  formatState: (spec, value) => formatNumber(value, precision(spec)),
  commandSchema: (spec) =>
    z
      .string()
      .regex(DECIMAL, { message: 'expected a decimal number' })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(spec.min, { message: `must be at least ${spec.min}` })
          .max(spec.max, { message: `must be at most ${spec.max}` })
          .refine((n) => spec.deviceRoundsToStep || onStep(n, spec.min, spec.step), { message: `must be a multiple of ${spec.step}` }),
      ),
  precision,
};
