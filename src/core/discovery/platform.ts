// What one Home Assistant MQTT platform (sensor, switch, climate...) means to energy2mqtt: its
// declaration, the checks HA would fail it on, its discovery keys and topics, how a value becomes
// a state payload, and how a command payload is parsed. Each platform is one module in
// platforms/, listed once in registry.ts; nothing else knows a platform by name.
import { z } from 'zod';

export type Category = 'config' | 'diagnostic';

/** What every entity declaration has, whatever its platform. */
export interface CommonSpec {
  /** Lower-case key, unique within the device; part of topics and ids. */
  key: string;
  /** Name relative to the device ("PV power", not "Inverter PV power"). */
  name: string;
  icon?: string;
  category?: Category;
  enabledByDefault?: boolean;
}

/** A declaration of one platform: the common fields plus `component` naming the platform. */
export type PlatformSpec = CommonSpec & { component: string };

/** The first HA Core release that accepts something we publish, and where that fact comes from. */
export interface Since {
  /** "YYYY.M.0" (the oldest platforms predate calendar versions). */
  since: string;
  source: string;
}

export const HA_DOCS = 'https://www.home-assistant.io/integrations';
export const HA_CORE = 'https://github.com/home-assistant/core';

/** Where one entity's state is published and its commands arrive (<state>/set, or <state>/set/<part>). */
export interface EntityTopics {
  state: string;
  command: string;
}

export type DiscoveryKeys = Record<string, unknown>;

/**
 * One HA platform. `Value` is what an entity of it holds when known (the bridge publishes "None"
 * for unknown), `Command` what a parsed command carries to the adapter's handler.
 */
export interface Platform<S extends PlatformSpec, Value, Command> {
  readonly component: S['component'];
  /** The first HA release whose MQTT discovery takes this platform with every key we send. */
  readonly since: Since;
  /** False for a button: it has no state topic, and a handler's return value is not its state. */
  readonly hasState: boolean;
  /** HA sends commands to it: it gets a command topic, and the bridge routes them to the handler. */
  readonly takesCommands: boolean;
  /** Commands arrive per part on <entity>/set/<part> (mode, temperature, preset). */
  readonly partCommands: boolean;
  /** Problems HA would drop the entity (and so its whole device) for; checks common to all platforms are not repeated. */
  problems(spec: S): string[];
  /** The platform's keys of the discovery component, in the order they are published. */
  discoveryKeys(spec: S): DiscoveryKeys;
  /** The topic keys of the discovery component (published after the ids). */
  discoveryTopics(spec: S, topics: EntityTopics): DiscoveryKeys;
  /** The retained state payload of a known value. */
  formatState(spec: S, value: Value): string;
  /** The zod schema a command payload (trimmed text) must pass; its output goes to the handler. */
  commandSchema(spec: S): z.ZodType<Command>;
  /** Decimal places of the published state, where the platform rounds. */
  precision?(spec: S): number | undefined;
}

/** A plain decimal number as HA sends it: no exponent, no hex, no NaN or Infinity. */
export const DECIMAL = /^-?\d+(\.\d+)?$/;

/** The command schema of a platform HA never sends commands to. */
export function noCommands(component: string): z.ZodType<never> {
  return z.never({ message: `a ${component} takes no commands` });
}

/** A number rounded to the published precision; "None" when it is not finite (HA reads that as unknown). */
export function formatNumber(value: number | string, digits: number | undefined): string {
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return 'None';
  return digits === undefined ? String(value) : String(Number(value.toFixed(digits)));
}

/** HA refuses the config category on an entity that only reports (sensor, binary sensor). */
export function readOnlyCategoryProblems(spec: CommonSpec): string[] {
  return spec.category === 'config' ? ['a sensor cannot be in the config category'] : [];
}
