// One declaration per entity: from it come the discovery component, the state payload and the
// command parser. Adapters declare entities; nothing else repeats what an entity is. What differs
// by HA platform lives in that platform's module (discovery/platforms/); the functions here add
// what every entity shares and ask the platform for the rest.
import type { z } from 'zod';
import { ICON_PATTERN } from './ha-acceptance.js';
import { ALL_PLATFORMS, PLATFORMS, platformOf, type CommandIn, type PlatformFor, type RegisteredSpec, type ValueIn } from './discovery/registry.js';

export type { Category, CommonSpec } from './discovery/platform.js';
export type { SensorSpec } from './discovery/platforms/sensor.js';
export type { BinarySensorSpec } from './discovery/platforms/binary-sensor.js';
export type { SwitchSpec } from './discovery/platforms/switch.js';
export type { NumberSpec } from './discovery/platforms/number.js';
export type { SelectSpec } from './discovery/platforms/select.js';
export type { ButtonSpec } from './discovery/platforms/button.js';
export type { TextSpec } from './discovery/platforms/text.js';
export type { TimeSpec } from './discovery/platforms/time.js';
export type { ClimateSpec } from './discovery/platforms/climate.js';
export type { WaterHeaterSpec } from './discovery/platforms/water-heater.js';
export type { ThermostatState, PartCommand } from './discovery/platforms/thermostat.js';

/** Any entity declaration: the union of every registered platform's spec. */
export type EntitySpec = RegisteredSpec;
export type Component = EntitySpec['component'];

// Written as conditional types over S (not a plain lookup) so that TypeScript keeps treating
// Entity<SensorSpec> as an Entity<EntitySpec>, as adapters that list their entities expect.
/** The value an entity holds (null = unknown). */
export type ValueOf<S extends EntitySpec> = S extends { component: infer C extends Component } ? ValueIn<PlatformFor<C>> | null : never;
/** What a command carries once parsed. */
export type CommandOf<S extends EntitySpec> = S extends { component: infer C extends Component } ? CommandIn<PlatformFor<C>> : never;

/** Components HA sends commands to. */
export const COMMAND_COMPONENTS: ReadonlySet<Component> = new Set(ALL_PLATFORMS.filter((p) => p.takesCommands).map((p) => p.component));
/** Components whose commands arrive per part on <entity>/set/<part>. */
export const PART_COMPONENTS: ReadonlySet<Component> = new Set(ALL_PLATFORMS.filter((p) => p.partCommands).map((p) => p.component));

export const KEY_PATTERN = /^[a-z0-9_]+$/;
/** Keys that would collide with the bridge's own topics (<device>/availability, <entity>/set, bridge/...). */
const RESERVED_KEYS = new Set(['availability', 'set', 'bridge']);
/** Longest command payload read at all; anything longer is rejected before parsing. */
export const MAX_COMMAND_BYTES = 1024;

/** Decimal places of the published state, for platforms that round (sensor, number). */
export function precisionOf(spec: EntitySpec): number | undefined {
  return platformOf(spec).precision?.(spec);
}

/** Problems with a declaration; the bridge refuses one that has any. */
export function specProblems(spec: EntitySpec): string[] {
  const problems: string[] = [];
  if (!KEY_PATTERN.test(spec.key) || RESERVED_KEYS.has(spec.key)) problems.push(`key '${spec.key}' must be lower-case [a-z0-9_] and not reserved`);
  if (!spec.name.trim()) problems.push('name is empty');
  if (spec.icon !== undefined && !ICON_PATTERN.test(spec.icon)) problems.push(`icon '${spec.icon}' must be 'mdi:<name>'`);
  // Only reachable past the types (a cast, a spec built from JSON).
  if (!Object.hasOwn(PLATFORMS, spec.component)) return [...problems, `'${String(spec.component)}' is not a platform energy2mqtt publishes`];
  return [...problems, ...platformOf(spec).problems(spec)];
}

/** The component's part of the device discovery payload, without ids and topics (see discovery/device-payload.ts). */
export function discoveryComponent(spec: EntitySpec): Record<string, unknown> {
  const component: Record<string, unknown> = { p: spec.component, name: spec.name };
  if (spec.icon) component.icon = spec.icon;
  if (spec.category) component.entity_category = spec.category;
  if (spec.enabledByDefault === false) component.enabled_by_default = false;
  return Object.assign(component, platformOf(spec).discoveryKeys(spec));
}

/** The retained state payload for a value; "None" tells HA the value is unknown. */
export function formatState(spec: EntitySpec, value: unknown): string {
  if (value === null || value === undefined) return 'None';
  return platformOf(spec).formatState(spec, value);
}

/** The zod schema a command payload (already trimmed text) must pass; its output is the command value. */
export function commandSchema(spec: EntitySpec): z.ZodType<unknown> {
  return platformOf(spec).commandSchema(spec);
}

export type ParseResult = { ok: true; value: unknown } | { ok: false; reason: string };

/** Parses a raw command payload for an entity; never throws. */
export function parseCommand(spec: EntitySpec, schema: z.ZodType<unknown>, payload: Buffer | string): ParseResult {
  if (!platformOf(spec).takesCommands) return { ok: false, reason: `a ${spec.component} takes no commands` };
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  if (bytes.length > MAX_COMMAND_BYTES) return { ok: false, reason: `payload of ${bytes.length} bytes is longer than ${MAX_COMMAND_BYTES}` };
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (text.includes('\uFFFD')) return { ok: false, reason: 'payload is not valid UTF-8 text' };
  const result = schema.safeParse(text.trim());
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, reason: result.error.issues.map((i) => i.message).join('; ') };
}
