// Every HA platform energy2mqtt publishes, once. Adding one (a valve, a datetime) is a module in
// platforms/ and a line in ALL_PLATFORMS: the EntitySpec union, the value and command types,
// discovery, the state format, the command path and config.yaml's minimum HA version follow
// (adapters declare it with device.add). The tests then ask for it in HA's side of the checks
// (ha-acceptance.ts) and for an entity of it in test/core/discovery-payload.golden.ts.
import type { Platform, PlatformSpec } from './platform.js';
import { sensor } from './platforms/sensor.js';
import { binarySensor } from './platforms/binary-sensor.js';
import { switchPlatform } from './platforms/switch.js';
import { number } from './platforms/number.js';
import { select } from './platforms/select.js';
import { button } from './platforms/button.js';
import { text } from './platforms/text.js';
import { time } from './platforms/time.js';
import { climate } from './platforms/climate.js';
import { waterHeater } from './platforms/water-heater.js';

export const ALL_PLATFORMS = [sensor, binarySensor, switchPlatform, number, select, button, text, time, climate, waterHeater] as const;

type Registered = (typeof ALL_PLATFORMS)[number];

/** The declaration of a registered platform, e.g. SpecOf<typeof sensor> is SensorSpec. */
export type SpecOf<P> = P extends Platform<infer S, infer _Value, infer _Command> ? S : never;
/** What an entity of the platform holds when known. */
export type ValueIn<P> = P extends Platform<infer _Spec, infer Value, infer _Command> ? Value : never;
/** What a parsed command of the platform carries. */
export type CommandIn<P> = P extends Platform<infer _Spec, infer _Value, infer Command> ? Command : never;

/** Every declaration the registry knows: the union of each platform's spec. */
export type RegisteredSpec = SpecOf<Registered>;
export type RegisteredComponent = RegisteredSpec['component'];
/** The platform module of one component. */
export type PlatformFor<C extends RegisteredComponent> = Extract<Registered, { readonly component: C }>;

export const PLATFORMS = Object.fromEntries(ALL_PLATFORMS.map((p) => [p.component, p])) as unknown as {
  readonly [C in RegisteredComponent]: PlatformFor<C>;
};

/** A platform seen through any declaration: sound because spec.component picks the module written for that spec. */
export type AnyPlatform = Platform<PlatformSpec, unknown, unknown>;

/** The platform module of a declaration. */
export function platformOf(spec: RegisteredSpec): AnyPlatform {
  return PLATFORMS[spec.component] as unknown as AnyPlatform;
}
