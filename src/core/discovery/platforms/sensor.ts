// A measured value or a text. The one platform that rounds by unit and has a deadband.
import { unitProblems } from '../../ha-acceptance.js';
import { HA_CORE, HA_DOCS, formatNumber, noCommands, readOnlyCategoryProblems, type CommonSpec, type Platform } from '../platform.js';

export interface SensorSpec extends CommonSpec {
  component: 'sensor';
  deviceClass?: string;
  unit?: string;
  stateClass?: 'measurement' | 'total' | 'total_increasing';
  /** Decimal places published; defaults by unit. */
  precision?: number;
  /** A numeric change smaller than this is not published until the periodic refresh. */
  deadband?: number;
  /** For device_class enum: the values it can take. */
  options?: readonly string[];
}

/** Decimals per unit: what a meter shows, enough for the energy dashboard, no float noise. */
const DEFAULT_PRECISION: Record<string, number> = {
  W: 0, kW: 3, Wh: 0, kWh: 2, MWh: 3, V: 1, mV: 0, A: 2, mA: 0, Hz: 2, '°C': 1, '°F': 1, K: 1, '%': 0,
  s: 0, min: 0, h: 1, d: 1, bar: 2, mbar: 0, VA: 0, var: 0, L: 0, 'L/min': 1, 'L/h': 0, 'm³': 2, 'm³/h': 2,
};

function precision(spec: SensorSpec): number | undefined {
  return spec.precision ?? (spec.unit ? DEFAULT_PRECISION[spec.unit] ?? 2 : undefined);
}

export const sensor: Platform<SensorSpec, number | string, never> = {
  component: 'sensor',
  since: {
    since: '2024.9.0',
    source: `platform: ${HA_DOCS}/sensor.mqtt (ha_release 0.7); newest key: options of enum sensors, ${HA_CORE}/pull/123248, in 2024.9 (${HA_CORE}/issues/126360); suggested_display_precision: ${HA_CORE}/pull/87129 (2023.3)`,
  },
  hasState: true,
  takesCommands: false,
  partCommands: false,
  problems(spec) {
    const problems = [...readOnlyCategoryProblems(spec), ...unitProblems('sensor', spec.deviceClass, spec.unit, spec.stateClass)];
    if (spec.options && (spec.deviceClass !== 'enum' || spec.unit || spec.stateClass)) problems.push('options need device_class enum, without unit or state class');
    return problems;
  },
  discoveryKeys(spec) {
    const keys: Record<string, unknown> = {};
    if (spec.deviceClass) keys.device_class = spec.deviceClass;
    if (spec.unit) keys.unit_of_measurement = spec.unit;
    if (spec.stateClass) keys.state_class = spec.stateClass;
    if (spec.options) keys.options = spec.options;
    // Only with a unit: HA applies it to numbers, and a text sensor has none.
    const digits = precision(spec);
    if (digits !== undefined && spec.unit) keys.suggested_display_precision = digits;
    return keys;
  },
  discoveryTopics: (_spec, topics) => ({ state_topic: topics.state }),
  formatState: (spec, value) => formatNumber(value, precision(spec)),
  commandSchema: () => noCommands('sensor'),
  precision,
};
