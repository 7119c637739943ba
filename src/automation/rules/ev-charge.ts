// "EV charge": GivTCP's Grid, Solar and Hybrid charging modes for a GivEnergy EV charger, rebuilt
// on the engine. It acts only through the charger's entities (charge_limit, charge_control) on
// the bridge's command path, so the adapter's safe writer (allow-list, range, equal value
// skipped, daily budget) applies; it writes only what differs from the read-back, and changes
// the current at most once per interval, except to keep the house under its import cap.
//
// Not copied from GivTCP (research givenergy.md §3): Solar started when the spare power was
// above "6" (watts compared with amps); the current was spare / voltage on one phase whatever the
// phase count; the cap read the inverter's terminal current, not the house's grid current.
import type { Bridge } from '../../core/bridge.js';
import type { Entity } from '../../core/device.js';
import type { EntitySpec } from '../../core/entity.js';
import type { Measurement } from '../../measurements/measurement.js';
import type { EvChargeOptions } from '../options.js';
import { slugOf } from '../options.js';
import { setting, type Rule, type RuleContext, type RuleDecision, type RuleInput, type RuleSetting } from '../rule.js';

const MODES = ['grid', 'solar', 'hybrid'] as const;
export const EVC_PREFIX = 'givenergy_evc_';
/** The EVSE minimum (IEC 61851: 6 A) and the charger's maximum. */
export const MIN_A = 6;
export const MAX_A = 32;
/** Volts per phase for turning watts into amps (the research's 1.4 kW for 6 A). */
export const VOLTS = 230;
/** The surplus must cover this much more than the next amp before the current goes up (A). */
const UP_HYSTERESIS_A = 0.5;
/** Longest time a charger's report may lag a change of its limit (s). */
const REPORT_LAG_S = 60;
/** The current goes down once the surplus misses more than this (A). */
const DOWN_HYSTERESIS_A = 0.25;

export interface EvChargeDeps {
  bridge: Bridge;
  /** The house's grid current (A, import positive), when grid_current names a source. */
  gridCurrent?: Measurement;
  /** The grid power the surplus is computed from (W, import positive), or why it is unknown. */
  gridImport(): { ok: true; watts: number } | { ok: false; why: string };
  /** When the grid meter last reported (ms since epoch), if it has. */
  gridReadAt(): number | undefined;
}

interface Charger {
  id: string;
  available: boolean;
  plugged?: boolean;
  plugText?: string;
  control?: boolean;
  limit?: number;
  activeW?: number;
  currentA?: number;
  sessionKwh?: number;
  phases?: number;
}

/** What the import cap allows the charger (A), or why it cannot be checked. */
type Cap = { off: true } | { off: false; ok: true; allowedA: number; allowedUpA: number; houseA: number; how: string } | { off: false; ok: false; why: string };

export class EvChargeRule implements Rule {
  readonly slug: string;
  readonly name: string;
  readonly model = 'EV charge';
  readonly modes = MODES;
  enabled: boolean;
  mode: string;
  readonly settings: RuleSetting[];
  private prio: number;
  private currentA: number;
  private capA: number;
  private maxSessionKwh: number;
  private startDelayS: number;
  private stopDelayS: number;
  private minChargeS: number;
  private intervalS: number;
  private chargerId?: string;
  /** Whether the rule believes a charge is under way (it started one, or found one). */
  private on = false;
  private startedAt = Number.NEGATIVE_INFINITY;
  private startSince?: number;
  private stopSince?: number;
  /** The limit the rule set last (or found). */
  private limit?: number;
  private lastChangeAt = Number.NEGATIVE_INFINITY;
  /** The last change of the limit: from what, what the charger reported then, when. */
  private change?: { from: number; reportedA: number; at: number };
  /** The session reached max_session_kwh: no new start until the car is unplugged or a new session begins. */
  private sessionDone = false;
  /** What the charger was before the rule first commanded it. */
  private before?: { limit?: number; control?: boolean };
  private takenOver = false;
  private failedSafe = false;
  private inFlight: Promise<void> = Promise.resolve();
  private failure?: string;
  /** Commands sent, for the write-budget view in tests and logs. */
  writes = 0;

  constructor(
    private readonly o: EvChargeOptions,
    private readonly deps: EvChargeDeps,
    private readonly ctx: RuleContext,
  ) {
    this.slug = slugOf(o.name);
    this.name = o.name;
    this.enabled = o.enabled;
    this.mode = o.mode;
    this.prio = o.priority;
    this.currentA = o.current_a;
    this.capA = o.import_cap_a;
    this.maxSessionKwh = o.max_session_kwh;
    this.startDelayS = o.start_delay;
    this.stopDelayS = o.stop_delay;
    this.minChargeS = o.min_charge_time;
    this.intervalS = o.interval;
    this.settings = [
      setting('priority', 'Priority', 1, 99, 1, '', () => this.prio, (v) => (this.prio = v)),
      setting('current_a', 'Grid mode current', MIN_A, MAX_A, 1, 'A', () => this.currentA, (v) => (this.currentA = Math.round(v)), 'current'),
      setting('import_cap_a', 'Import cap', 0, 100, 1, 'A', () => this.capA, (v) => (this.capA = v), 'current'),
      setting('max_session_kwh', 'Maximum session energy', 0, 200, 0.5, 'kWh', () => this.maxSessionKwh, (v) => (this.maxSessionKwh = v), 'energy'),
      setting('start_delay', 'Start delay', 0, 86_400, 1, 's', () => this.startDelayS, (v) => (this.startDelayS = v), 'duration'),
      setting('stop_delay', 'Stop delay', 0, 86_400, 1, 's', () => this.stopDelayS, (v) => (this.stopDelayS = v), 'duration'),
      setting('min_charge_time', 'Minimum charge time', 0, 86_400, 1, 's', () => this.minChargeS, (v) => (this.minChargeS = v), 'duration'),
      setting('interval', 'Interval', 1, 3600, 1, 's', () => this.intervalS, (v) => (this.intervalS = v), 'duration'),
    ];
  }

  priority(): number {
    return this.prio;
  }

  // ---- the charger ----

  /** The charger's device: the one named by its serial, or the only one there is. */
  private resolve(): { id: string } | { why: string } {
    if (this.chargerId && this.deps.bridge.getDevice(this.chargerId)) return { id: this.chargerId };
    const devices = this.deps.bridge.allDevices().filter((d) => d.id.startsWith(EVC_PREFIX));
    // The adapter's link device (givenergy_evc_link_…) is there before the charger has answered.
    const chargers = devices.filter((d) => d.entities.has('charge_control') && d.entities.has('charge_limit'));
    const notYet = devices.length > chargers.length ? ' (or it has not answered yet)' : '';
    let found;
    if (this.o.charger) {
      const serial = this.o.charger.toLowerCase();
      found = chargers.find((d) => d.id.slice(EVC_PREFIX.length).toLowerCase() === serial);
      if (!found) return { why: `no GivEnergy EV charger ${this.o.charger} is configured (givenergy_evc)${notYet}` };
    } else {
      if (chargers.length === 0) return { why: `no GivEnergy EV charger is configured (givenergy_evc)${notYet}` };
      if (chargers.length > 1) return { why: `${chargers.length} EV chargers are configured; name one with charger` };
      found = chargers[0]!;
    }
    this.chargerId = found.id;
    // Found for the first time: a charge already under way is taken as running, without a start counted.
    const c = this.read(found.id);
    if (c.control === true) {
      this.on = true;
      this.startedAt = this.ctx.clock.now();
    }
    this.limit = c.limit;
    return { id: found.id };
  }

  private entity(id: string, key: string): Entity<EntitySpec> | undefined {
    return this.deps.bridge.entity(id, key);
  }

  private num(id: string, key: string): number | undefined {
    const v = this.entity(id, key)?.value;
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
    return Number.isFinite(n) ? n : undefined;
  }

  private read(id: string): Charger {
    const plug = this.entity(id, 'plug_status')?.value;
    const plugText = typeof plug === 'string' ? plug : typeof plug === 'boolean' ? (plug ? 'connected' : 'not connected') : undefined;
    const control = this.entity(id, 'charge_control')?.value;
    const phaseCurrents = ['current_l1', 'current_l2', 'current_l3'].map((k) => this.num(id, k)).filter((a): a is number => a !== undefined);
    return {
      id,
      available: this.deps.bridge.getDevice(id)?.available ?? false,
      plugText,
      // "not connected", "unplugged", "disconnected": no car; anything else is a car.
      plugged: plugText === undefined ? undefined : !/\b(not|un|dis)/i.test(plugText) && plugText.trim() !== '',
      control: typeof control === 'boolean' ? control : undefined,
      limit: this.num(id, 'charge_limit'),
      activeW: this.num(id, 'active_power'),
      currentA: phaseCurrents.length ? Math.max(...phaseCurrents) : undefined,
      sessionKwh: this.num(id, 'session_energy'),
      phases: this.num(id, 'phases'),
    };
  }

  private phasesOf(c: Charger): number {
    if (this.o.phases) return this.o.phases;
    return c.phases === 3 ? 3 : 1;
  }

  /** What the charger reports the car draws (A per phase): its phase currents, else its power, else its limit. */
  private reportedA(c: Charger, phases: number): number {
    if (!this.on) return 0;
    if (c.currentA !== undefined) return c.currentA;
    if (c.activeW !== undefined) return c.activeW / (VOLTS * phases);
    return this.limit ?? MIN_A;
  }

  /**
   * What the car draws now (A per phase), as the grid meter sees it. The charger is polled (every
   * 10 s by default), the meter often faster: once the meter has reported after a change of the
   * limit but the charger has not (for at most REPORT_LAG_S), the car is taken to follow the
   * change, so the surplus is not counted twice; before that, both still show the old draw.
   */
  private drawA(c: Charger, phases: number): number {
    const reported = this.reportedA(c, phases);
    const change = this.change;
    if (!this.on || !change || this.limit === undefined) return reported;
    if (this.ctx.clock.now() - change.at > REPORT_LAG_S * 1000 || Math.abs(reported - change.reportedA) > 0.05) return reported;
    if ((this.deps.gridReadAt() ?? Number.NEGATIVE_INFINITY) <= change.at) return reported;
    return clamp(reported + this.limit - change.from, 0, this.limit);
  }

  /** The house's grid current (A, import positive): the configured source, else grid power / 230 V / phases. */
  private cap(c: Charger, phases: number): Cap {
    if (this.capA <= 0) return { off: true };
    let houseA: number;
    let how: string;
    if (this.o.grid_current) {
      const m = this.deps.gridCurrent;
      const v = m?.value;
      if (v === undefined) return { off: false, ok: false, why: m ? m.why() : `no source ${this.o.grid_current}` };
      houseA = v;
      how = `the house draws ${fmt(houseA)} A`;
    } else {
      const g = this.deps.gridImport();
      if (!g.ok) return { off: false, ok: false, why: g.why };
      houseA = g.watts / (VOLTS * phases);
      how = `the house draws ${fmt(houseA)} A (${Math.round(g.watts)} W / ${VOLTS} V${phases > 1 ? ` / ${phases} phases` : ''}, no grid_current)`;
    }
    // The car's own draw is in the house's current: the headroom is added to what it draws now.
    // The meter and the charger's report (polled every 10 s or so) lag a change each in their own
    // way: down by what the charger reports (the meter still shows that draw), up only by what
    // the car can draw at most (the meter may show the lower current before the charger does).
    const reportedA = this.reportedA(c, phases);
    const allowedA = Math.floor(reportedA + this.capA - houseA + 1e-9);
    const allowedUpA = Math.floor(Math.min(reportedA, this.drawA(c, phases), this.limit ?? reportedA) + this.capA - houseA + 1e-9);
    return { off: false, ok: true, allowedA, allowedUpA, houseA, how };
  }

  // ---- deciding ----

  evaluate({ now, surplus, dryRun }: RuleInput): RuleDecision {
    const perA = (phases: number) => VOLTS * phases;
    let drawW = 0;
    let minW = 0;
    const decide = (state: string, reason: string, nextChangeAt?: number): RuleDecision => ({
      state,
      reason: (dryRun ? '(dry run) ' : '') + reason + (this.failure ? `; last command failed: ${this.failure}` : ''),
      nextChangeAt,
      consumingW: this.on ? drawW : 0,
      // Waiting to start, or just started: the 6 A are the car's until the meter shows them.
      reservedW: state === 'waiting' || (this.on && now - this.startedAt < this.ctx.settleTimeS * 1000) ? minW : 0,
    });

    if (!this.enabled) return { ...decide('off', 'disabled: the charger is left as the user had it'), consumingW: 0, reservedW: 0 };
    const found = this.resolve();
    if ('why' in found) return decide('blocked', found.why);
    const c = this.read(found.id);
    const phases = this.phasesOf(c);
    minW = MIN_A * perA(phases);
    drawW = this.on ? Math.round(this.drawA(c, phases) * perA(phases)) : 0;
    const show = (a: number) => `${a} A (${a * perA(phases)} W${phases > 1 ? ` on ${phases} phases` : ''})`;

    if (!c.available) return decide('blocked', 'the charger does not answer; nothing is sent until it does');
    if (c.plugged === false) {
      // No car: nothing to charge and nothing to write; the next car starts a new session.
      this.on = false;
      this.sessionDone = false;
      this.startSince = this.stopSince = undefined;
      return decide('off', `no car plugged in (${c.plugText})`);
    }

    // The session limit: stops at once (the user's own limit), and holds until a new session.
    if (this.maxSessionKwh > 0 && c.sessionKwh !== undefined) {
      if (c.sessionKwh >= this.maxSessionKwh) {
        this.sessionDone = true;
        if (this.on) this.stop(now, dryRun);
        return decide('off', `session done: ${fmt(c.sessionKwh)} kWh charged, the limit is ${fmt(this.maxSessionKwh)} kWh`);
      }
      if (this.sessionDone) this.sessionDone = false; // a new session (its energy started from 0)
    }

    const cap = this.cap(c, phases);
    const capText = cap.off ? '' : cap.ok ? `; cap ${fmt(this.capA)} A: ${cap.how}, ${cap.allowedA} A left for the car` : '';
    if (!cap.off && !cap.ok) {
      // The fuse cannot be watched: the least the car can draw, or nothing.
      const why = `the ${fmt(this.capA)} A import cap cannot be checked (${cap.why})`;
      if (!this.on) return decide('blocked', `not starting: ${why}`);
      this.setLimit(MIN_A, now, dryRun, true);
      return decide('holding', `held at ${show(MIN_A)}: ${why}`);
    }
    const allowed = cap.off ? MAX_A : cap.allowedA;

    // What the mode wants: the current, and whether it may start or must stop.
    let want: number;
    let enough: boolean;
    let why: string;
    if (this.mode === 'grid') {
      want = this.currentA;
      enough = true;
      why = `grid mode at ${this.currentA} A`;
    } else {
      if (!surplus.ok) {
        if (this.mode === 'solar') {
          if (this.on) this.stop(now, dryRun);
          this.startSince = undefined;
          return decide('blocked', `safe state, not charging: ${surplus.why}`);
        }
        want = MIN_A;
        enough = true;
        why = `hybrid mode at its minimum, surplus unknown (${surplus.why})`;
      } else {
        const availableW = Math.round(drawW + surplus.watts);
        const exactA = availableW / perA(phases);
        let solarA = Math.floor(exactA);
        // A surplus on the edge of an amp must not toggle the current (each change is a write):
        // up with half an amp to spare, down once more than a quarter amp is missing.
        if (this.on && this.limit !== undefined) {
          if (solarA > this.limit) solarA = Math.max(this.limit, Math.floor(exactA - UP_HYSTERESIS_A));
          else if (solarA < this.limit && exactA >= this.limit - DOWN_HYSTERESIS_A) solarA = this.limit;
        }
        const solarText = `${availableW} W for the car (${Math.round(surplus.watts)} W surplus${surplus.explain}${this.on ? ` + ${Math.round(drawW)} W it draws` : ''})`;
        if (this.mode === 'solar') {
          want = clamp(solarA, MIN_A, MAX_A);
          enough = availableW >= minW;
          why = enough ? `solar: ${solarText}` : `solar: ${solarText}, below the ${minW} W of ${MIN_A} A`;
        } else {
          want = clamp(Math.max(solarA, MIN_A), MIN_A, MAX_A);
          enough = true;
          why = `hybrid: ${solarText}${solarA < MIN_A ? `, ${MIN_A} A at least` : ''}`;
        }
      }
    }
    let target = Math.min(want, allowed);
    if (!cap.off && cap.ok && this.on && this.limit !== undefined && target > this.limit) target = Math.max(this.limit, Math.min(target, cap.allowedUpA));
    const capped = !cap.off && target < want;

    if (!this.on) {
      this.stopSince = undefined;
      if (this.sessionDone) return decide('off', `session done at ${fmt(this.maxSessionKwh)} kWh`);
      const canStart = enough && allowed >= MIN_A;
      if (!canStart) {
        this.startSince = undefined;
        const blockedByCap = enough && allowed < MIN_A;
        return decide(blockedByCap ? 'blocked' : 'off', blockedByCap ? `not starting: ${why}, but the import cap leaves ${allowed} A, below ${MIN_A} A${capText}` : `off: ${why}`);
      }
      this.startSince ??= now;
      const waited = (now - this.startSince) / 1000;
      if (waited < this.startDelayS) {
        return decide('waiting', `waiting: ${why}${capText}; ${Math.floor(waited)} s of ${this.startDelayS} s`, this.startSince + this.startDelayS * 1000);
      }
      this.start(target, now, dryRun);
      return decide('on', `started at ${show(target)}: ${why}${capped ? ', limited by the import cap' : ''}${capText}`);
    }

    // Charging. The cap first: it waits for nothing.
    if (!cap.off && allowed < MIN_A) {
      this.stop(now, dryRun);
      return decide('off', `stopped at once: ${cap.ok ? cap.how : ''}, even ${MIN_A} A would break the ${fmt(this.capA)} A import cap`);
    }
    if (!enough) {
      this.stopSince ??= now;
      const below = (now - this.stopSince) / 1000;
      const ran = (now - this.startedAt) / 1000;
      if (below >= this.stopDelayS && ran >= this.minChargeS) {
        this.stop(now, dryRun);
        return decide('off', `stopped: ${why} for ${Math.floor(below)} s, after ${Math.floor(ran)} s of charging`);
      }
      this.setLimit(Math.min(MIN_A, allowed), now, dryRun, (this.limit ?? MAX_A) > allowed);
      const timer = below < this.stopDelayS ? `${Math.floor(below)} s of ${this.stopDelayS} s` : `charging ${Math.floor(ran)} s of its minimum ${this.minChargeS} s`;
      const nextAt = Math.max(this.stopSince + this.stopDelayS * 1000, this.startedAt + this.minChargeS * 1000);
      return decide('holding', `holding at ${show(MIN_A)}: ${why}; ${timer}`, nextAt);
    }
    this.stopSince = undefined;
    const from = this.limit;
    // Down to the cap at once; any other change once per interval.
    const urgent = capped && (from === undefined || from > allowed);
    const dueAt = this.lastChangeAt + this.intervalS * 1000;
    if (target !== from && (urgent || now >= dueAt)) {
      this.setLimit(target, now, dryRun, urgent);
      const dir = from === undefined ? 'set' : target > from ? 'up' : 'down';
      return decide('on', `${dir} to ${show(target)}${from !== undefined ? ` from ${from} A` : ''}: ${why}${capped ? ', limited by the import cap' : ''}${capText}`);
    }
    const pending = target !== from ? `; ${target} A next, at most one change every ${this.intervalS} s` : '';
    return decide('on', `charging at ${show(from ?? target)}: ${why}${capText}${pending}`, target !== from ? dueAt : undefined);
  }

  // ---- acting, through the bridge's command path ----

  private start(limit: number, now: number, dryRun: boolean): void {
    this.on = true;
    this.startedAt = now;
    this.startSince = undefined;
    this.setLimit(limit, now, dryRun, true);
    this.control(true, dryRun);
  }

  private stop(now: number, dryRun: boolean): void {
    this.on = false;
    this.stopSince = undefined;
    this.startSince = undefined;
    this.lastChangeAt = now;
    this.control(false, dryRun);
  }

  /** Sets the current limit when it differs from what was set and from the charger's read-back. */
  private setLimit(limit: number, now: number, dryRun: boolean, urgent: boolean): void {
    if (this.failedSafe || limit === this.limit) return;
    if (!urgent && now < this.lastChangeAt + this.intervalS * 1000) return;
    if (this.chargerId && this.limit !== undefined) {
      const c = this.read(this.chargerId);
      this.change = { from: this.limit, reportedA: this.reportedA(c, this.phasesOf(c)), at: now };
    }
    this.limit = limit;
    this.lastChangeAt = now;
    if (dryRun || !this.chargerId) return;
    const id = this.chargerId;
    this.takeOver(id);
    // The read-back is in tenths of an amp.
    const has = () => Math.abs((this.num(id, 'charge_limit') ?? Number.NaN) - limit) < 0.05;
    this.send(`charge limit ${limit} A`, () => (has() ? undefined : this.command(id, 'charge_limit', String(limit))));
  }

  private control(on: boolean, dryRun: boolean): void {
    if (this.failedSafe || dryRun || !this.chargerId) return;
    const id = this.chargerId;
    this.takeOver(id);
    this.send(on ? 'charge started' : 'charge stopped', () => (this.entity(id, 'charge_control')?.value === on ? undefined : this.command(id, 'charge_control', on ? 'ON' : 'OFF')));
  }

  private takeOver(id: string): void {
    if (this.takenOver) return;
    const c = this.read(id);
    this.before = { limit: c.limit, control: c.control };
    this.takenOver = true;
  }

  private async command(id: string, key: string, payload: string): Promise<void> {
    this.writes++;
    const result = await this.deps.bridge.command(id, key, payload, 'automation');
    if (!result.ok) throw new Error(result.reason);
  }

  /** One command after the other; a failure is shown in the reason and the state taken again from the charger. */
  private send(what: string, command: () => Promise<void> | undefined): void {
    this.inFlight = this.inFlight.then(async () => {
      if (this.failedSafe) return;
      try {
        const sent = command();
        if (!sent) return; // the charger already has it: no write
        await sent;
        this.failure = undefined;
        this.ctx.log.info(`${this.name}: ${what}`);
      } catch (err) {
        this.failure = (err as Error).message;
        this.ctx.log.warn(`${this.name}: ${what} failed: ${this.failure}`);
        if (this.chargerId) {
          const c = this.read(this.chargerId);
          this.limit = c.limit;
          if (c.control !== undefined) this.on = c.control;
        }
      }
    });
  }

  /**
   * Synchronously: a charge the rule started is stopped (one the user had running is left), and
   * nothing is sent afterwards. The charger's own adapter makes its writes safe on a crash.
   */
  failSafe(): void {
    if (this.failedSafe) return;
    this.failedSafe = true;
    const id = this.chargerId;
    if (!id || !this.takenOver || this.before?.control === true || !this.on) return;
    this.deps.bridge.command(id, 'charge_control', 'OFF', 'automation').catch(() => undefined);
    this.ctx.log.warn(`${this.name}: fail-safe, charge stopped`);
  }

  /** Gives the charger back as it was before the rule first commanded it. */
  async release(): Promise<void> {
    await this.inFlight;
    const id = this.chargerId;
    if (!this.takenOver || this.failedSafe || !id) return;
    this.takenOver = false;
    const before = this.before ?? {};
    const c = this.read(id);
    try {
      if (before.limit !== undefined && c.limit !== before.limit) await this.command(id, 'charge_limit', String(before.limit));
      const control = before.control ?? false;
      if (c.control !== control) await this.command(id, 'charge_control', control ? 'ON' : 'OFF');
      this.on = control;
      this.limit = before.limit ?? c.limit;
      this.ctx.log.info(`${this.name}: gave the charger back ${control ? 'charging' : 'stopped'}${before.limit !== undefined ? ` at ${before.limit} A` : ''}, as it was before`);
    } catch (err) {
      this.ctx.log.warn(`${this.name}: restoring the charger failed: ${(err as Error).message}`);
    }
  }

  settled(): Promise<void> {
    return this.inFlight;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function fmt(v: number): string {
  return String(Number(v.toFixed(1)));
}
