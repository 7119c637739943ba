// PV surplus into a Vaillant heat pump (the evcc "sensonet" strategy): hot-water boost or a
// heating quick veto while there is surplus, cancelled when the engine says stop. It acts only
// through the Vaillant adapter's entities, i.e. the bridge's command path, and it never touches a
// boost or veto the user started by hand.
import type { Bridge } from '../../core/bridge.js';
import type { Measurement, MeasuredValue } from '../../measurements/measurement.js';
import type { Measurements } from '../../measurements/service.js';
import { DHW_KEYS, ZONE_KEYS, parseVaillantDeviceId, vaillantDeviceId, vaillantOwner } from '../../adapters/vaillant/ids.js';
import type { OnOffController } from '../controllers/on-off.js';
import type { VaillantPvOptions } from '../options.js';
import { slugOf } from '../options.js';
import { onOffController, onOffDecision, onOffSettings, setting, type Rule, type RuleContext, type RuleDecision, type RuleInput, type RuleSetting, type Thresholds } from '../rule.js';

type QuickMode = 'boost' | 'veto';

/**
 * A heat-pump report older than this is not acted on: the rule goes to its safe state. The
 * account polls every 2 minutes by default; a budget can slow it, a failing cloud stop it.
 */
export const HEAT_PUMP_STALE_AFTER_S = 900;

interface HeatPumpState {
  tank?: number;
  tankSetpoint?: number;
  boostOn?: boolean;
  vetoOn?: boolean;
  normalSetpoint?: number;
}

export class VaillantPvRule implements Rule {
  readonly slug: string;
  readonly name: string;
  readonly model = 'Vaillant PV';
  readonly modes = ['hotwater', 'heating', 'hotwater_then_heating'] as const;
  enabled: boolean;
  mode: string;
  readonly settings: RuleSetting[];
  private readonly thresholds: Thresholds;
  private readonly controller: OnOffController;
  private powerW: number;
  private prio: number;
  private threshold: number;
  private offset: number;
  private durationMin: number;
  /** The quick mode this rule started (never one the user started). */
  private owned?: { kind: QuickMode; since: number; seenRunning: boolean };
  private inFlight: Promise<unknown> = Promise.resolve();
  private failure?: string;
  /** Why the options do not fit the account's systems (logged once as an error while it lasts). */
  private refusal?: string;
  /** The zone's normal setpoint when the first veto started: later vetoes build on it, not on a
   * report that may still show the previous veto's setpoint. Forgotten when the rule stops. */
  private vetoBase?: number;
  private startedAt = Number.NEGATIVE_INFINITY;
  /** The heat pump's entities as measurements (with their age), by `<device>/<key>`. */
  private readonly measured = new Map<string, Measurement<MeasuredValue>>();

  constructor(
    private readonly options: VaillantPvOptions,
    private readonly bridge: Bridge,
    private readonly ctx: RuleContext,
    private readonly measurements: Measurements,
  ) {
    this.slug = slugOf(options.name);
    this.name = options.name;
    this.enabled = options.enabled;
    this.mode = options.mode;
    this.powerW = options.power_w;
    this.prio = options.priority;
    this.thresholds = { enableW: options.enable_threshold_w, disableW: options.disable_threshold_w };
    this.threshold = options.hotwater_threshold;
    this.offset = options.veto_offset;
    this.durationMin = options.veto_duration;
    this.controller = onOffController(options);
    const c = this.controller.settings;
    this.settings = [
      setting('power_w', 'Heat pump power', 1, 100_000, 10, 'W', () => this.powerW, (v) => (this.powerW = v), 'power'),
      setting('priority', 'Priority', 1, 99, 1, '', () => this.prio, (v) => (this.prio = v)),
      setting('hotwater_threshold', 'Hot-water threshold', 0, 30, 0.5, '°C', () => this.threshold, (v) => (this.threshold = v), 'temperature_delta'),
      setting('veto_offset', 'Quick veto offset', 0, 10, 0.5, '°C', () => this.offset, (v) => (this.offset = v), 'temperature_delta'),
      setting('veto_duration', 'Quick veto duration', 10, 720, 5, 'min', () => this.durationMin, (v) => (this.durationMin = v), 'duration'),
      ...onOffSettings(c, this.thresholds),
    ];
  }

  priority(): number {
    return this.prio;
  }

  /**
   * The Vaillant devices this rule steers, among those of its own account only: the system's
   * cylinder and its zone. `problem` says, in one sentence naming the option, why the rule cannot
   * act on the account's systems as configured (undefined while the account has not reported).
   */
  private ids(): { dhw?: string; zone?: string; problem?: string } {
    const { account, system: wanted, zone: wantedZone } = this.options;
    const owner = vaillantOwner(account);
    const mine = this.bridge.allDevices().filter((d) => d.owner === owner).map((d) => ({ id: d.id, parsed: parseVaillantDeviceId(d.id) }));
    // Systems by their zones and cylinders (the account's own device has an id of the same shape).
    const systems = [...new Set(mine.flatMap((d) => (d.parsed && d.parsed.kind !== 'system' ? [d.parsed.short] : [])))].sort();
    if (!systems.length) return {};
    if (wanted !== undefined && !systems.includes(wanted)) return { problem: `the option system ('${wanted}') names no system of ${account}; its systems: ${systems.join(', ')}` };
    if (wanted === undefined && systems.length > 1) return { problem: `${account} has ${systems.length} systems (${systems.join(', ')}): set the option system to the one this rule steers` };
    const system = wanted ?? systems[0]!;
    const of = (kind: 'zone' | 'dhw') => mine.flatMap((d) => (d.parsed?.short === system && d.parsed.kind === kind ? [d.parsed.index!] : [])).sort((a, b) => a - b);
    const zones = of('zone');
    const cylinders = of('dhw');
    const zoneIndex = wantedZone ?? zones[0];
    if (this.mode !== 'hotwater') {
      if (wantedZone !== undefined && !zones.includes(wantedZone)) return { problem: `the option zone (${wantedZone}) names no zone of system ${system}; its zones: ${zones.join(', ') || 'none'}` };
      if (zoneIndex === undefined) return { problem: `system ${system} has no heating zone; use mode hotwater` };
    }
    if (this.mode !== 'heating' && !cylinders.length) return { problem: `system ${system} has no hot-water cylinder; use mode heating` };
    return {
      dhw: cylinders.length ? vaillantDeviceId.dhw(system, cylinders[0]!) : undefined,
      zone: zoneIndex !== undefined && zones.includes(zoneIndex) ? vaillantDeviceId.zone(system, zoneIndex) : undefined,
    };
  }

  /** One of the heat pump's entities, read through the measurements service (fresh or undefined). */
  private measure(device: string | undefined, key: string): Measurement<MeasuredValue> | undefined {
    if (!device) return undefined;
    const ref = `${device}/${key}`;
    let m = this.measured.get(ref);
    if (!m) this.measured.set(ref, (m = this.measurements.entity<MeasuredValue>(`${this.slug} ${key}`, ref, HEAT_PUMP_STALE_AFTER_S)));
    return m;
  }

  /** Why the heat pump's report cannot be acted on (none yet, or too old), or undefined. */
  private staleReport(): string | undefined {
    const { dhw, zone } = this.ids();
    const needed = [
      ...(this.mode !== 'heating' ? [dhw ? this.measure(dhw, DHW_KEYS.temperature) : undefined] : []),
      ...(this.mode !== 'hotwater' ? [zone ? this.measure(zone, ZONE_KEYS.quickVeto) : undefined] : []),
    ];
    if (needed.some((m) => m === undefined)) return 'the Vaillant system has not reported yet';
    const stale = needed.find((m) => m!.value === undefined);
    return stale ? `no fresh report from the heat pump (${stale.why()})` : undefined;
  }

  private read(): HeatPumpState {
    const { dhw, zone } = this.ids();
    const v = (device: string | undefined, key: string) => this.measure(device, key)?.value;
    const num = (x: unknown) => (typeof x === 'number' ? x : undefined);
    const bool = (x: unknown) => (typeof x === 'boolean' ? x : undefined);
    return {
      tank: num(v(dhw, DHW_KEYS.temperature)),
      tankSetpoint: num(v(dhw, DHW_KEYS.setpoint)),
      boostOn: bool(v(dhw, DHW_KEYS.boost)),
      vetoOn: bool(v(zone, ZONE_KEYS.quickVeto)),
      normalSetpoint: num(v(zone, ZONE_KEYS.normalSetpoint)),
    };
  }

  evaluate({ now, surplus, dryRun }: RuleInput): RuleDecision {
    const c = this.controller;
    const decide = (state: string, reason: string, nextChangeAt?: number): RuleDecision =>
      onOffDecision({
        state, nextChangeAt, on: c.on, powerW: this.powerW, now, startedAt: this.startedAt, settleTimeS: this.ctx.settleTimeS,
        reason: (dryRun ? '(dry run) ' : '') + reason + (this.failure ? `; last command failed: ${this.failure}` : ''),
      });
    if (!this.enabled) return { ...decide('off', 'disabled: the heat pump is left as the user had it'), consumingW: 0, reservedW: 0 };
    if (!surplus.ok) {
      if (c.forceOff(now)) this.stopOwned(dryRun);
      return decide('blocked', `safe state, no quick mode: ${surplus.why}`);
    }
    const { problem } = this.ids();
    if (problem) {
      if (problem !== this.refusal) this.ctx.log.error(`${this.name}: refused to start: ${problem}`);
      this.refusal = problem;
      if (c.forceOff(now)) this.stopOwned(dryRun);
      return decide('blocked', `refused to start: ${problem}`);
    }
    this.refusal = undefined;
    const stale = this.staleReport();
    if (stale) {
      if (c.forceOff(now)) this.stopOwned(dryRun);
      return decide('blocked', `safe state, no quick mode: ${stale}`);
    }
    const available = Math.round(surplus.watts);
    const need = this.powerW + this.thresholds.enableW;
    const step = c.step(now, { start: available >= need, stop: available < -this.thresholds.disableW });
    if (step.changed && step.on) this.startedAt = now;
    if (!step.on) {
      if (step.changed) this.stopOwned(dryRun);
      const timer = step.detail ? `; ${step.detail}` : '';
      if (step.state === 'waiting') return decide('waiting', `waiting: ${available} W surplus covers the ${need} W it needs${timer}`, step.nextChangeAt);
      if (step.state === 'blocked') return decide('blocked', `blocked: ${available} W surplus would start it, but ${step.detail}`, step.nextChangeAt);
      return decide('off', step.changed ? `stopped: ${available < 0 ? `importing ${-available} W` : `${available} W surplus`}` : `off: ${available} W surplus is below the ${need} W it needs`);
    }
    const doing = this.steer(now, dryRun);
    if (step.state === 'holding') return decide('holding', `holding: ${available < 0 ? `importing ${-available} W` : `${available} W surplus`}; ${step.detail}; ${doing}`, step.nextChangeAt);
    return decide('on', `on: ${doing}`);
  }

  /** While on: keep the right quick mode running (and re-arm it), per the strategy. */
  private steer(now: number, dryRun: boolean): string {
    const s = this.read();
    const tankCold = s.tank !== undefined && s.tankSetpoint !== undefined && s.tank < s.tankSetpoint - this.threshold;
    let want: QuickMode | undefined;
    if (this.mode === 'hotwater') want = tankCold ? 'boost' : undefined;
    else if (this.mode === 'heating') want = 'veto';
    else want = tankCold ? 'boost' : 'veto';
    const owned = this.owned;
    const isRunning = (kind: QuickMode) => (kind === 'boost' ? s.boostOn : s.vetoOn);
    // The user's own boost or veto: leave it alone, and do not start another on top.
    if (!owned && s.boostOn && want === 'boost') return "the user's hot-water boost is running; left alone";
    if (!owned && s.vetoOn && want === 'veto') return "the user's quick veto is running; left alone";
    if (owned && owned.kind !== want) {
      // Cancel ours unless it already ended by itself (a boost stops when the tank is hot).
      if (isRunning(owned.kind) !== false || !owned.seenRunning) this.command(owned.kind, false, dryRun);
      this.owned = undefined;
    }
    if (!want) return `the tank (${s.tank ?? '?'} °C) is within ${this.threshold} °C of its ${s.tankSetpoint ?? '?'} °C setpoint: nothing to do`;
    if (this.owned) {
      const running = isRunning(want);
      if (running) this.owned.seenRunning = true;
      if (want === 'veto' && now - this.owned.since >= this.durationMin * 60_000) {
        // The portal rounds the duration up; end our veto on time, then start the next one.
        this.command('veto', false, dryRun);
        this.owned = undefined;
      } else if (running === false && (this.owned.seenRunning || now - this.owned.since > 15 * 60_000)) {
        // It ended by itself (tank hot, veto over), or never showed up: arm again below.
        this.owned = undefined;
      } else {
        return want === 'boost' ? `hot-water boost running (tank ${s.tank ?? '?'} °C, setpoint ${s.tankSetpoint ?? '?'} °C)` : `quick veto running (${Math.round((now - this.owned.since) / 60_000)} of ${this.durationMin} min)`;
      }
    }
    if (want === 'veto') {
      this.vetoBase ??= s.normalSetpoint;
      if (this.vetoBase === undefined) return 'quick veto wanted, but the zone has no setpoint to start from';
    }
    this.command(want, true, dryRun);
    this.owned = { kind: want, since: now, seenRunning: false };
    return want === 'boost' ? `hot-water boost started (tank ${s.tank} °C, setpoint ${s.tankSetpoint} °C)` : `quick veto started at ${this.vetoSetpoint()} °C for ${this.durationMin} min`;
  }

  private vetoSetpoint(): number {
    return Math.round((this.vetoBase! + this.offset) * 2) / 2;
  }

  private stopOwned(dryRun: boolean): void {
    this.vetoBase = undefined;
    if (!this.owned) return;
    this.command(this.owned.kind, false, dryRun);
    this.owned = undefined;
  }

  private command(kind: QuickMode, on: boolean, dryRun: boolean): void {
    if (dryRun) return;
    const { dhw, zone } = this.ids();
    const device = kind === 'boost' ? dhw : zone;
    if (!device) {
      this.failure = `no Vaillant ${kind === 'boost' ? 'hot-water cylinder' : `zone ${this.options.zone ?? ''}`.trim()} found`;
      return;
    }
    this.inFlight = this.inFlight.then(async () => {
      const send = async (key: string, payload: string) => {
        const r = await this.bridge.command(device, key, payload, 'automation');
        if (!r.ok) throw new Error(r.reason);
      };
      try {
        if (kind === 'veto' && on && this.vetoBase !== undefined) {
          await send(ZONE_KEYS.vetoSetpoint, String(this.vetoSetpoint()));
          await send(ZONE_KEYS.vetoDuration, String(Math.max(0.5, Math.round((this.durationMin / 60) * 2) / 2)));
        }
        await send(kind === 'boost' ? DHW_KEYS.boost : ZONE_KEYS.quickVeto, on ? 'ON' : 'OFF');
        this.failure = undefined;
      } catch (err) {
        this.failure = (err as Error).message;
        this.ctx.log.warn(`${this.name}: ${kind} ${on ? 'start' : 'stop'} failed: ${this.failure}`);
      }
    });
  }

  async release(): Promise<void> {
    this.stopOwned(false);
    await this.inFlight;
  }

  /**
   * Nothing can be ended synchronously through a cloud; and nothing needs to be: a boost ends when
   * the tank is hot and a quick veto after its duration, under the heat pump's own control.
   */
  failSafe(): void {}

  settled(): Promise<unknown> {
    return this.inFlight;
  }
}
