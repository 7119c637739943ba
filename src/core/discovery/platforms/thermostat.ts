// What climate and water_heater share: one JSON state {mode, target, current, preset} that HA
// reads through templates, and commands that arrive per part on <entity>/set/<part>.
import { z } from 'zod';
import { DECIMAL, type CommonSpec, type DiscoveryKeys, type EntityTopics } from '../platform.js';

/** The value of a climate or water heater (null = unknown). */
export interface ThermostatState {
  mode?: string | null;
  target?: number | null;
  current?: number | null;
  preset?: string | null;
}

/** The parts a command can set; the bridge subscribes to <entity>/set/<part> for each. */
export const COMMAND_PARTS = ['mode', 'temperature', 'preset'] as const;

/** A command to one part of a climate or water heater. */
export type PartCommand = { part: (typeof COMMAND_PARTS)[number]; value: string | number };

export interface ThermostatSpec extends CommonSpec {
  modes: readonly string[];
  minTemp: number;
  maxTemp: number;
}

export function thermostatProblems(spec: ThermostatSpec & { component: string }, allowedModes: readonly string[]): string[] {
  const problems: string[] = [];
  for (const mode of spec.modes) if (!allowedModes.includes(mode)) problems.push(`'${mode}' is not a ${spec.component} mode`);
  if (!(spec.minTemp < spec.maxTemp)) problems.push('minTemp must be below maxTemp');
  return problems;
}

export function thermostatKeys(spec: ThermostatSpec): DiscoveryKeys {
  return { modes: spec.modes, min_temp: spec.minTemp, max_temp: spec.maxTemp, temperature_unit: 'C', precision: 0.5 };
}

/** Every part reads the one state topic through its template and has its own command topic. */
export function thermostatTopics(topics: EntityTopics, withPresets: boolean): DiscoveryKeys {
  const state = topics.state;
  const keys: DiscoveryKeys = {
    mode_state_topic: state, mode_state_template: '{{ value_json.mode }}', mode_command_topic: `${topics.command}/mode`,
    temperature_state_topic: state, temperature_state_template: '{{ value_json.target }}', temperature_command_topic: `${topics.command}/temperature`,
    current_temperature_topic: state, current_temperature_template: '{{ value_json.current }}',
  };
  if (withPresets) Object.assign(keys, { preset_mode_state_topic: state, preset_mode_value_template: '{{ value_json.preset }}', preset_mode_command_topic: `${topics.command}/preset` });
  return keys;
}

export const formatThermostat = (_spec: unknown, value: ThermostatState): string => JSON.stringify(value);

/** The bridge hands "<part> <payload>" ("temperature 21.5"); the schema checks the part's value. */
export function partCommandSchema(spec: ThermostatSpec, presets: readonly string[]): z.ZodType<PartCommand> {
  const modes = spec.modes;
  return z.string().transform((s, ctx) => {
    const space = s.indexOf(' ');
    const part = s.slice(0, space);
    const value = s.slice(space + 1).trim();
    if (part === 'mode' && modes.includes(value)) return { part, value };
    if (part === 'preset' && presets.includes(value)) return { part, value };
    if (part === 'temperature' && DECIMAL.test(value) && Number(value) >= spec.minTemp && Number(value) <= spec.maxTemp) return { part, value: Number(value) };
    const allowed =
      part === 'mode' ? `one of: ${modes.join(', ')}`
      : part === 'preset' ? `one of: ${presets.join(', ')}`
      : part === 'temperature' ? `a temperature from ${spec.minTemp} to ${spec.maxTemp}`
      : 'set/mode, set/temperature or set/preset';
    ctx.addIssue({ code: 'custom', message: `expected ${allowed}` });
    return z.NEVER;
  });
}
