// One declaration per entity: from it come the discovery component, the state payload and the
// command parser. Adapters declare entities; nothing else repeats what an entity is.
import { z } from 'zod';
import { unitProblems, ICON_PATTERN } from './ha-rules.js';
import { quote } from './outside-text.js';

export type Category = 'config' | 'diagnostic';

interface CommonSpec {
  /** Lower-case key, unique within the device; part of topics and ids. */
  key: string;
  /** Name relative to the device ("PV power", not "Inverter PV power"). */
  name: string;
  icon?: string;
  category?: Category;
  enabledByDefault?: boolean;
}

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
export interface BinarySensorSpec extends CommonSpec {
  component: 'binary_sensor';
  deviceClass?: string;
}
export interface SwitchSpec extends CommonSpec {
  component: 'switch';
  deviceClass?: 'switch' | 'outlet';
}
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
export interface SelectSpec extends CommonSpec {
  component: 'select';
  options: readonly string[];
}
export interface ButtonSpec extends CommonSpec {
  component: 'button';
  deviceClass?: 'identify' | 'restart' | 'update';
}
export interface TextSpec extends CommonSpec {
  component: 'text';
  min?: number;
  max?: number;
  /** A regular expression the whole value must match (also sent to HA). */
  pattern?: string;
}
export interface TimeSpec extends CommonSpec {
  component: 'time';
}

/** A thermostat: its state is JSON {mode, target, current, preset}; commands come per part. */
export interface ClimateSpec extends CommonSpec {
  component: 'climate';
  /** HA hvac modes, e.g. ['auto', 'heat', 'off']. */
  modes: readonly string[];
  presets?: readonly string[];
  minTemp: number;
  maxTemp: number;
  tempStep: number;
}
/** A water heater: state JSON {mode, target, current}; commands per part. */
export interface WaterHeaterSpec extends CommonSpec {
  component: 'water_heater';
  /** HA water-heater modes, from off, eco, electric, gas, heat_pump, high_demand, performance. */
  modes: readonly string[];
  minTemp: number;
  maxTemp: number;
}

export type EntitySpec =
  | SensorSpec | BinarySensorSpec | SwitchSpec | NumberSpec | SelectSpec | ButtonSpec | TextSpec | TimeSpec | ClimateSpec | WaterHeaterSpec;
export type Component = EntitySpec['component'];

/** The value an entity holds (null = unknown). */
export interface ThermostatState {
  mode?: string | null;
  target?: number | null;
  current?: number | null;
  preset?: string | null;
}

export type ValueOf<S extends EntitySpec> = S extends ClimateSpec | WaterHeaterSpec
  ? ThermostatState | null
  : S extends SensorSpec
  ? number | string | null
  : S extends BinarySensorSpec | SwitchSpec
    ? boolean | null
    : S extends NumberSpec
      ? number | null
      : S extends ButtonSpec
        ? null
        : string | null;

/** What a command carries once parsed. */
/** A command to one part of a climate or water heater. */
export type PartCommand = { part: 'mode' | 'temperature' | 'preset'; value: string | number };

export type CommandOf<S extends EntitySpec> = S extends ClimateSpec | WaterHeaterSpec
  ? PartCommand
  : S extends SwitchSpec
  ? boolean
  : S extends NumberSpec
    ? number
    : S extends ButtonSpec
      ? 'PRESS'
      : string;

export const COMMAND_COMPONENTS: ReadonlySet<Component> = new Set(['switch', 'number', 'select', 'button', 'text', 'time', 'climate', 'water_heater']);
/** Components whose commands arrive per part on <entity>/set/<part>. */
export const PART_COMPONENTS: ReadonlySet<Component> = new Set(['climate', 'water_heater']);
const WATER_HEATER_MODES = ['off', 'eco', 'electric', 'gas', 'heat_pump', 'high_demand', 'performance'];
const HVAC_MODES = ['auto', 'off', 'cool', 'heat', 'dry', 'fan_only', 'heat_cool'];
export const KEY_PATTERN = /^[a-z0-9_]+$/;
const RESERVED_KEYS = new Set(['availability', 'set', 'bridge']);
/** Longest command payload read at all; anything longer is rejected before parsing. */
export const MAX_COMMAND_BYTES = 1024;

const DEFAULT_PRECISION: Record<string, number> = {
  W: 0, kW: 3, Wh: 0, kWh: 2, MWh: 3, V: 1, mV: 0, A: 2, mA: 0, Hz: 2, '°C': 1, '°F': 1, K: 1, '%': 0,
  s: 0, min: 0, h: 1, d: 1, bar: 2, mbar: 0, VA: 0, var: 0, L: 0, 'L/min': 1, 'L/h': 0, 'm³': 2, 'm³/h': 2,
};

export function precisionOf(spec: EntitySpec): number | undefined {
  if (spec.component === 'sensor') return spec.precision ?? (spec.unit ? DEFAULT_PRECISION[spec.unit] ?? 2 : undefined);
  if (spec.component === 'number') return decimalsOf(spec.step);
  return undefined;
}

function decimalsOf(step: number): number {
  const text = String(step);
  return text.includes('.') ? text.split('.')[1]!.length : 0;
}

/** Problems with a declaration; the bridge refuses one that has any. */
export function specProblems(spec: EntitySpec): string[] {
  const problems: string[] = [];
  if (!KEY_PATTERN.test(spec.key) || RESERVED_KEYS.has(spec.key)) problems.push(`key '${spec.key}' must be lower-case [a-z0-9_] and not reserved`);
  if (!spec.name.trim()) problems.push('name is empty');
  if (spec.icon !== undefined && !ICON_PATTERN.test(spec.icon)) problems.push(`icon '${spec.icon}' must be 'mdi:<name>'`);
  if (spec.category === 'config' && (spec.component === 'sensor' || spec.component === 'binary_sensor')) {
    problems.push('a sensor cannot be in the config category');
  }
  if (spec.component === 'sensor') {
    problems.push(...unitProblems('sensor', spec.deviceClass, spec.unit, spec.stateClass));
    if (spec.options && (spec.deviceClass !== 'enum' || spec.unit || spec.stateClass)) problems.push('options need device_class enum, without unit or state class');
  }
  if (spec.component === 'number') {
    problems.push(...unitProblems('number', spec.deviceClass, spec.unit, undefined));
    if (!(spec.min < spec.max)) problems.push('min must be below max');
    if (!(spec.step >= 0.001)) problems.push('step must be at least 0.001');
  }
  if (spec.component === 'select' && spec.options.length === 0) problems.push('a select needs options');
  if (spec.component === 'climate' || spec.component === 'water_heater') {
    const allowed = spec.component === 'climate' ? HVAC_MODES : WATER_HEATER_MODES;
    for (const m of spec.modes) if (!allowed.includes(m)) problems.push(`'${m}' is not a ${spec.component} mode`);
    if (!(spec.minTemp < spec.maxTemp)) problems.push('minTemp must be below maxTemp');
  }
  return problems;
}

/** The component's part of the device discovery payload (topics and availability are added by the bridge). */
export function discoveryComponent(spec: EntitySpec): Record<string, unknown> {
  const c: Record<string, unknown> = { p: spec.component, name: spec.name };
  if (spec.icon) c.icon = spec.icon;
  if (spec.category) c.entity_category = spec.category;
  if (spec.enabledByDefault === false) c.enabled_by_default = false;
  switch (spec.component) {
    case 'sensor':
      if (spec.deviceClass) c.device_class = spec.deviceClass;
      if (spec.unit) c.unit_of_measurement = spec.unit;
      if (spec.stateClass) c.state_class = spec.stateClass;
      if (spec.options) c.options = spec.options;
      if (precisionOf(spec) !== undefined && spec.unit) c.suggested_display_precision = precisionOf(spec);
      break;
    case 'binary_sensor':
      if (spec.deviceClass) c.device_class = spec.deviceClass;
      break;
    case 'switch':
      if (spec.deviceClass) c.device_class = spec.deviceClass;
      break;
    case 'number':
      Object.assign(c, { min: spec.min, max: spec.max, step: spec.step, mode: spec.mode ?? 'box' });
      if (spec.unit) c.unit_of_measurement = spec.unit;
      if (spec.deviceClass) c.device_class = spec.deviceClass;
      break;
    case 'select':
      c.options = spec.options;
      break;
    case 'button':
      if (spec.deviceClass) c.device_class = spec.deviceClass;
      break;
    case 'text':
      if (spec.min !== undefined) c.min = spec.min;
      if (spec.max !== undefined) c.max = spec.max;
      if (spec.pattern) c.pattern = spec.pattern;
      break;
    case 'time':
      break;
    case 'climate':
    case 'water_heater':
      // One JSON state topic, read by templates; the bridge adds the topics.
      Object.assign(c, { modes: spec.modes, min_temp: spec.minTemp, max_temp: spec.maxTemp, temperature_unit: 'C', precision: 0.5 });
      if (spec.component === 'climate') {
        c.temp_step = spec.tempStep;
        if (spec.presets?.length) c.preset_modes = spec.presets.filter((p) => p !== 'none');
      }
      break;
  }
  return c;
}

/** The retained state payload for a value; "None" tells HA the value is unknown. */
export function formatState(spec: EntitySpec, value: unknown): string {
  if (value === null || value === undefined) return 'None';
  switch (spec.component) {
    case 'binary_sensor':
    case 'switch':
      return value ? 'ON' : 'OFF';
    case 'climate':
    case 'water_heater':
      return JSON.stringify(value);
    case 'sensor':
    case 'number': {
      if (typeof value !== 'number') return String(value);
      if (!Number.isFinite(value)) return 'None';
      const digits = precisionOf(spec);
      return digits === undefined ? String(value) : String(Number(value.toFixed(digits)));
    }
    default:
      return String(value);
  }
}

const ON_WORDS = new Set(['on', 'true', '1']);
const OFF_WORDS = new Set(['off', 'false', '0']);
const DECIMAL = /^-?\d+(\.\d+)?$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

/** The zod schema a command payload (already trimmed text) must pass; its output is the command value. */
export function commandSchema(spec: EntitySpec): z.ZodType<unknown> {
  switch (spec.component) {
    case 'switch':
      return z.string().transform((s, ctx) => {
        const word = s.toLowerCase();
        if (ON_WORDS.has(word)) return true;
        if (OFF_WORDS.has(word)) return false;
        ctx.addIssue({ code: 'custom', message: `expected ON or OFF, got ${quote(s)}` });
        return z.NEVER;
      });
    case 'number':
      return z
        .string()
        .regex(DECIMAL, { message: 'expected a decimal number' })
        .transform(Number)
        .pipe(
          z
            .number()
            .min(spec.min, { message: `must be at least ${spec.min}` })
            .max(spec.max, { message: `must be at most ${spec.max}` })
            .refine((n) => spec.deviceRoundsToStep || onStep(n, spec.min, spec.step), { message: `must be a multiple of ${spec.step}` }),
        );
    case 'select':
      return z.string().refine((s) => spec.options.includes(s), { message: `expected one of: ${spec.options.join(', ')}` });
    case 'button':
      return z.literal('PRESS', { message: "expected 'PRESS'" });
    case 'text': {
      let schema = z.string().min(spec.min ?? 0, { message: `must be at least ${spec.min ?? 0} characters` }).max(spec.max ?? 255, { message: `must be at most ${spec.max ?? 255} characters` });
      schema = schema.refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: 'control characters are not allowed' }) as unknown as typeof schema;
      return spec.pattern ? schema.regex(new RegExp(`^(?:${spec.pattern})$`), { message: `must match ${spec.pattern}` }) : schema;
    }
    case 'time':
      return z.string().transform((s, ctx) => {
        const m = TIME.exec(s);
        if (!m) {
          ctx.addIssue({ code: 'custom', message: 'expected a time as HH:MM or HH:MM:SS' });
          return z.NEVER;
        }
        return `${m[1]}:${m[2]}:${m[3] ?? '00'}`;
      });
    case 'climate':
    case 'water_heater': {
      // The bridge hands "<part> <payload>": mode, temperature or preset.
      const modes = spec.modes;
      const presets = spec.component === 'climate' ? (spec.presets ?? []) : [];
      return z.string().transform((s, ctx) => {
        const space = s.indexOf(' ');
        const part = s.slice(0, space);
        const value = s.slice(space + 1).trim();
        if (part === 'mode' && modes.includes(value)) return { part, value };
        if (part === 'preset' && presets.includes(value)) return { part, value };
        if (part === 'temperature' && DECIMAL.test(value) && Number(value) >= spec.minTemp && Number(value) <= spec.maxTemp) return { part, value: Number(value) };
        const allowed = part === 'mode' ? `one of: ${modes.join(', ')}` : part === 'preset' ? `one of: ${presets.join(', ')}` : part === 'temperature' ? `a temperature from ${spec.minTemp} to ${spec.maxTemp}` : 'set/mode, set/temperature or set/preset';
        ctx.addIssue({ code: 'custom', message: `expected ${allowed}` });
        return z.NEVER;
      });
    }
    default:
      return z.never({ message: `a ${spec.component} takes no commands` });
  }
}

function onStep(n: number, min: number, step: number): boolean {
  const k = (n - min) / step;
  return Math.abs(k - Math.round(k)) < 1e-6;
}

export type ParseResult = { ok: true; value: unknown } | { ok: false; reason: string };

/** Parses a raw command payload for an entity; never throws. */
export function parseCommand(spec: EntitySpec, schema: z.ZodType<unknown>, payload: Buffer | string): ParseResult {
  if (!COMMAND_COMPONENTS.has(spec.component)) return { ok: false, reason: `a ${spec.component} takes no commands` };
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  if (bytes.length > MAX_COMMAND_BYTES) return { ok: false, reason: `payload of ${bytes.length} bytes is longer than ${MAX_COMMAND_BYTES}` };
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (text.includes('\uFFFD')) return { ok: false, reason: 'payload is not valid UTF-8 text' };
  const result = schema.safeParse(text.trim());
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, reason: result.error.issues.map((i) => i.message).join('; ') };
}
