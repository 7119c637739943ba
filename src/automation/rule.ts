// The contract between the engine and a rule. The engine computes the surplus, shares it out by
// priority, publishes what each rule decided and why, and stores what HA changed; a rule decides
// for its load and acts only through its target. Device rules (hot-water boost, Tempo, EV modes,
// water-heater servo) implement this too.
import type { Clock } from '../core/clock.js';
import { OnOffController, type OnOffSettings } from './controllers/on-off.js';
import type { Logger } from '../core/logger.js';
import type { Device } from '../core/device.js';

export interface RuleInput {
  now: number;
  /** Surplus this rule may count on after priorities (W), or why there is none to judge by. */
  surplus: { ok: true; watts: number; explain: string } | { ok: false; why: string };
  dryRun: boolean;
}

export interface RuleDecision {
  /** off, waiting, on, holding, blocked (and rule-specific states). */
  state: string;
  /** A sentence a person understands, e.g. "waiting: 1620 W surplus covers the 1500 W it needs; 42 s of 60 s". */
  reason: string;
  /** When the decision can next change by itself (ms since epoch). */
  nextChangeAt?: number;
  /** Power it draws now, as far as the engine should count it (W). */
  consumingW: number;
  /** Power lower-priority rules must leave to it (waiting to start, or just started) (W). */
  reservedW: number;
}

/** A number a user can tune from HA (configuration category). */
export interface RuleSetting {
  key: string;
  name: string;
  min: number;
  max: number;
  step: number;
  unit?: string;
  deviceClass?: string;
  get(): number;
  set(value: number): void;
}

export interface RuleContext {
  clock: Clock;
  log: Logger;
  timezone: string;
  settleTimeS: number;
}

export interface Rule {
  readonly slug: string;
  readonly name: string;
  readonly model: string;
  enabled: boolean;
  mode: string;
  readonly modes: readonly string[];
  readonly settings: RuleSetting[];
  priority(): number;
  /** Decides for now; switching happens through the target, never in the engine. */
  evaluate(input: RuleInput): RuleDecision;
  /** Gives control back: restores what the load was before the rule took it. */
  release(): Promise<void>;
  /**
   * When the add-on stops: finishes what is under way. Without it, stopping releases (a load
   * switched by surplus is given back); a rule whose settings must outlast a restart has it.
   */
  shutdown?(): Promise<void>;
  /**
   * On a crash or a signal, synchronously: puts what the rule switched in its safe state, and
   * switches nothing afterwards. Safe to call twice.
   */
  failSafe(): void;
  /** Switching still under way (the engine waits for it on stop and in tests). */
  settled(): Promise<unknown>;
  /** Entities of its own besides the engine's (a plan, a button), on the rule's device. */
  declareEntities?(device: Device): void;
  /** Takes over the state the load is in at start (optional). */
  adopt?(now: number): void;
  dispose?(): void;
}

export function setting(key: string, name: string, min: number, max: number, step: number, unit: string, get: () => number, set: (v: number) => void, deviceClass?: string): RuleSetting {
  return { key, name, min, max, step, unit, deviceClass, get, set };
}

/** Surplus thresholds an on/off rule keeps, changeable from HA. */
export interface Thresholds {
  /** Extra surplus beyond the load's power needed to start (W). */
  enableW: number;
  /** Import tolerated before stopping (W). */
  disableW: number;
}

/** The settings every on/off rule shares: thresholds, delays and compressor protection. */
export function onOffSettings(c: OnOffSettings, t: Thresholds): RuleSetting[] {
  return [
    setting('enable_threshold_w', 'Enable threshold', -100_000, 100_000, 10, 'W', () => t.enableW, (v) => (t.enableW = v), 'power'),
    setting('enable_delay', 'Enable delay', 0, 86_400, 1, 's', () => c.enableDelayS, (v) => (c.enableDelayS = v), 'duration'),
    setting('disable_threshold_w', 'Disable threshold', 0, 100_000, 10, 'W', () => t.disableW, (v) => (t.disableW = v), 'power'),
    setting('disable_delay', 'Disable delay', 0, 86_400, 1, 's', () => c.disableDelayS, (v) => (c.disableDelayS = v), 'duration'),
    setting('min_on', 'Minimum on time', 0, 86_400, 1, 's', () => c.minOnS, (v) => (c.minOnS = v), 'duration'),
    setting('min_off', 'Minimum off time', 0, 86_400, 1, 's', () => c.minOffS, (v) => (c.minOffS = v), 'duration'),
    setting('max_starts_per_hour', 'Maximum starts per hour', 0, 60, 1, '', () => c.maxStartsPerHour, (v) => (c.maxStartsPerHour = v)),
  ];
}

/** The options every on/off rule has for its controller. */
export interface OnOffRuleOptions {
  enable_delay: number;
  disable_delay: number;
  min_on: number;
  min_off: number;
  max_starts_per_hour: number;
}

export function onOffController(o: OnOffRuleOptions): OnOffController {
  return new OnOffController({ enableDelayS: o.enable_delay, disableDelayS: o.disable_delay, minOnS: o.min_on, minOffS: o.min_off, maxStartsPerHour: o.max_starts_per_hour });
}

/**
 * What an on/off rule tells the engine: it draws its power while on, and keeps that power
 * reserved while it waits to start and, after a start, until the meter can show it.
 */
export function onOffDecision(d: {
  state: string;
  reason: string;
  nextChangeAt?: number;
  on: boolean;
  powerW: number;
  now: number;
  startedAt: number;
  settleTimeS: number;
}): RuleDecision {
  const settling = d.on && d.now - d.startedAt < d.settleTimeS * 1000;
  return {
    state: d.state,
    reason: d.reason,
    nextChangeAt: d.nextChangeAt,
    consumingW: d.on ? d.powerW : 0,
    reservedW: d.state === 'waiting' || settling ? d.powerW : 0,
  };
}
