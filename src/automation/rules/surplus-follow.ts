// "Surplus follow": a load that takes a level (an EV's charge current, a dimmer-driven heater, a
// heat pump's power limit) follows the surplus so that the export stays at target_export_w.
// Watts map to the target's unit as level × watts_per_unit + offset. The level moves at most once
// per interval (the meter must show one change before the next), not inside the deadband, not
// faster than the rate limit. It starts at its minimum. Below its minimum level the load goes off, with the on/off rules'
// delays and protections; it starts again at its minimum once the surplus covers it.
import { ContinuousController } from '../controllers/continuous.js';
import type { OnOffController } from '../controllers/on-off.js';
import type { SurplusFollowOptions } from '../options.js';
import { slugOf } from '../options.js';
import { onOffController, onOffSettings, setting, type Rule, type RuleContext, type RuleDecision, type RuleInput, type RuleSetting, type Thresholds } from '../rule.js';
import type { LevelTarget, Target } from '../targets.js';

const MODES = ['surplus', 'max', 'off'] as const;

export interface FollowTargets {
  level: LevelTarget;
  /** Switches the load on and off when the level alone cannot (an EV charger's enable). */
  onOff?: Target;
}

export class SurplusFollowRule implements Rule {
  readonly slug: string;
  readonly name: string;
  readonly model = 'Surplus follow';
  readonly modes = MODES;
  enabled: boolean;
  mode: string;
  readonly settings: RuleSetting[];
  private readonly thresholds: Thresholds;
  private readonly controller: OnOffController;
  private readonly regulator: ContinuousController;
  private readonly wattsPerUnit: number;
  private readonly offsetW: number;
  private readonly step: number;
  private readonly unit: string;
  private readonly offLevel: number;
  private prio: number;
  private targetExportW: number;
  private deadbandW: number;
  private rateWPerS: number;
  private intervalS: number;
  private min: number;
  private max: number;
  /** The level the rule set last (or found at start). */
  private level: number;
  private lastStepAt = Number.NEGATIVE_INFINITY;
  private changedAt = Number.NEGATIVE_INFINITY;
  /** What it drew before its last change: an increase stays reserved until the meter shows it. */
  private drawBeforeW = 0;
  /** What the load was before the rule first touched it. */
  private before?: { level?: number; on?: boolean };
  private takenOver = false;
  private failedSafe = false;
  private inFlight: Promise<void> = Promise.resolve();
  private failure?: string;

  constructor(
    o: SurplusFollowOptions,
    private readonly targets: FollowTargets,
    private readonly ctx: RuleContext,
  ) {
    this.slug = slugOf(o.name);
    this.name = o.name;
    this.enabled = o.enabled;
    this.mode = o.mode;
    this.prio = o.priority;
    this.thresholds = { enableW: o.enable_threshold_w, disableW: o.disable_threshold_w };
    this.controller = onOffController(o);
    this.wattsPerUnit = o.watts_per_unit;
    this.offsetW = o.offset;
    this.step = o.step;
    this.unit = o.unit;
    this.offLevel = o.off_level;
    this.targetExportW = o.target_export_w;
    this.deadbandW = o.deadband_w;
    this.rateWPerS = o.rate_limit_w_per_s;
    this.intervalS = o.interval;
    this.min = o.min;
    this.max = o.max;
    this.level = o.off_level;
    this.regulator = new ContinuousController({ targetExportW: 0, deadbandW: 0, rateWPerS: 0, minW: 0, maxW: 0 });
    const unit = o.unit || '';
    this.settings = [
      setting('priority', 'Priority', 1, 99, 1, '', () => this.prio, (v) => (this.prio = v)),
      setting('target_export_w', 'Export to keep', -100_000, 100_000, 10, 'W', () => this.targetExportW, (v) => (this.targetExportW = v), 'power'),
      setting('deadband_w', 'Deadband', 0, 100_000, 10, 'W', () => this.deadbandW, (v) => (this.deadbandW = v), 'power'),
      setting('rate_limit_w_per_s', 'Rate limit', 1, 1_000_000, 10, 'W/s', () => this.rateWPerS, (v) => (this.rateWPerS = v)),
      setting('interval', 'Interval', 0, 3600, 1, 's', () => this.intervalS, (v) => (this.intervalS = v), 'duration'),
      setting('min', 'Minimum level', -1_000_000, 1_000_000, o.step, unit, () => this.min, (v) => (this.min = Math.min(v, this.max))),
      setting('max', 'Maximum level', -1_000_000, 1_000_000, o.step, unit, () => this.max, (v) => (this.max = Math.max(v, this.min))),
      ...onOffSettings(this.controller.settings, this.thresholds),
    ];
  }

  priority(): number {
    return this.prio;
  }

  /** A load already running at start (at or above its minimum) is taken as on, without a start counted. */
  adopt(now: number): void {
    const level = this.targets.level.current();
    const switchedOn = this.targets.onOff ? this.targets.onOff.current() : true;
    if (level === undefined || switchedOn === undefined) return;
    const on = switchedOn && level >= this.min;
    this.level = on ? Math.min(level, this.max) : this.offLevel;
    this.controller.assume(on, now);
  }

  private watts(level: number): number {
    return level * this.wattsPerUnit + this.offsetW;
  }

  /** The highest level on the step grid (from the minimum) that draws no more than this, within min and max. */
  private levelFor(watts: number): number {
    const raw = (watts - this.offsetW) / this.wattsPerUnit;
    const steps = Math.floor((raw - this.min) / this.step + 1e-9);
    const level = Math.min(this.max, this.min + Math.max(0, steps) * this.step);
    return Number(level.toFixed(6));
  }

  private show(level: number): string {
    return `${Number(level.toFixed(3))}${this.unit ? ` ${this.unit}` : ''} (${Math.round(this.watts(level))} W)`;
  }

  evaluate({ now, surplus, dryRun }: RuleInput): RuleDecision {
    const c = this.controller;
    const decide = (state: string, reason: string, nextChangeAt?: number): RuleDecision => {
      const drawW = c.on ? Math.max(0, this.watts(this.level)) : 0;
      // An increase is the load's until the meter shows it: one interval (settle_time without one).
      const settling = c.on && now - this.changedAt < (this.intervalS || this.ctx.settleTimeS) * 1000;
      return {
        state,
        reason: (dryRun ? '(dry run) ' : '') + reason + (this.failure ? `; last command failed: ${this.failure}` : ''),
        nextChangeAt,
        consumingW: drawW,
        reservedW: state === 'waiting' ? Math.max(0, this.watts(this.min)) : settling ? Math.max(0, drawW - this.drawBeforeW) : 0,
      };
    };

    if (!this.enabled) return { ...decide('off', 'disabled: the load is left as the user had it'), consumingW: 0, reservedW: 0 };
    if (this.mode === 'off') {
      if (c.on) this.stop(now, dryRun);
      return decide('off', 'mode is off');
    }
    if (this.mode === 'max') {
      if (!c.on) {
        c.assume(true, now);
        this.switchOn(this.max, now, dryRun);
      } else if (this.level !== this.max) this.setLevel(this.max, now, dryRun);
      return decide('on', `mode is max: ${this.show(this.max)}`);
    }
    if (!surplus.ok) {
      if (c.on) this.stop(now, dryRun);
      return decide('blocked', `safe state, off: ${surplus.why}`);
    }

    const available = Math.round(surplus.watts);
    const drawW = c.on ? this.watts(this.level) : 0;
    // What the load could draw with the export at its target.
    const wantW = Math.round(drawW + available - this.targetExportW);
    const minW = Math.round(this.watts(this.min));
    const need = minW + this.thresholds.enableW;
    const tolerance = this.thresholds.disableW;
    const step = c.step(now, { start: wantW >= need, stop: wantW < minW - tolerance });
    const timer = step.detail ? `; ${step.detail}` : '';
    const exported = available >= 0 ? `${available} W exported` : `importing ${-available} W`;

    if (step.changed && step.on) {
      // It starts at its minimum (as evcc does) and rises at the rate limit from there.
      this.switchOn(this.min, now, dryRun);
      return decide('on', `switched on at its minimum ${this.show(this.min)}: ${available} W surplus${surplus.explain} covered the ${need} W it needs`);
    }
    if (step.changed) {
      this.switchOff(now, dryRun);
      return decide('off', `switched off: ${exported} at its minimum ${this.show(this.min)}, ${-(wantW - minW)} W short, for ${c.settings.disableDelayS} s`);
    }
    switch (step.state) {
      case 'off':
        return decide('off', `off: ${available >= 0 ? `${available} W surplus` : `no surplus, importing ${-available} W`}${surplus.explain}; its minimum ${this.show(this.min)} needs ${need} W with ${this.targetExportW} W kept for export`);
      case 'waiting':
        return decide('waiting', `waiting: ${available} W surplus${surplus.explain} covers the ${need} W its minimum needs${timer}`, step.nextChangeAt);
      case 'blocked':
        return decide('blocked', `blocked: ${available} W surplus would start it, but ${step.detail}`, step.nextChangeAt);
      case 'holding':
        if (this.level !== this.min) this.setLevel(this.min, now, dryRun);
        return decide('holding', `holding at its minimum ${this.show(this.min)}: ${exported}, ${minW - wantW} W short${tolerance ? `, more than the ${tolerance} W tolerated` : ''}${timer}`, step.nextChangeAt);
    }
    return this.regulate(now, available, dryRun, decide, exported);
  }

  /** On and not stopping: moves the level towards the export target, once per interval. */
  private regulate(now: number, available: number, dryRun: boolean, decide: (state: string, reason: string, next?: number) => RuleDecision, exported: string): RuleDecision {
    const drawW = this.watts(this.level);
    const dueAt = this.lastStepAt + this.intervalS * 1000;
    if (now >= dueAt) {
      this.lastStepAt = now;
      const r = this.regulator;
      r.settings = { targetExportW: this.targetExportW, deadbandW: this.deadbandW, rateWPerS: this.rateWPerS, minW: this.watts(this.min), maxW: this.watts(this.max), minStepS: 1 };
      r.output = drawW; // what it draws now, not what the regulator last wished
      const level = this.levelFor(r.step(now, available));
      if (level !== this.level) {
        const from = this.level;
        this.setLevel(level, now, dryRun);
        return decide('on', `${level > from ? 'up' : 'down'} to ${this.show(level)} from ${Number(from.toFixed(3))}${this.unit ? ` ${this.unit}` : ''}: ${exported}, keeping ${this.targetExportW} W for export`);
      }
    }
    const error = available - this.targetExportW;
    if (this.level >= this.max && error > 0) return decide('on', `at its maximum ${this.show(this.max)}: ${exported}`);
    if (Math.abs(error) <= this.deadbandW) return decide('on', `on at ${this.show(this.level)}: ${exported}, within ${this.deadbandW} W of the ${this.targetExportW} W to keep`);
    return decide('on', `on at ${this.show(this.level)}: ${exported}; next change at most every ${this.intervalS} s, ${this.rateWPerS} W/s`, Math.max(now, dueAt));
  }

  private stop(now: number, dryRun: boolean): void {
    if (this.controller.forceOff(now)) this.switchOff(now, dryRun);
  }

  private takeOver(): void {
    if (this.takenOver) return;
    this.before = { level: this.targets.level.current(), on: this.targets.onOff?.current() };
    this.takenOver = true;
  }

  private switchOn(level: number, now: number, dryRun: boolean): void {
    this.setLevel(level, now, dryRun, 0);
    if (this.failedSafe || dryRun || !this.targets.onOff) return;
    this.send('switched on', () => this.targets.onOff!.set(true), now);
  }

  private switchOff(now: number, dryRun: boolean): void {
    const onOff = this.targets.onOff;
    this.changedAt = now;
    if (!onOff) {
      this.setLevel(this.offLevel, now, dryRun);
      return;
    }
    if (this.failedSafe || dryRun) return;
    this.takeOver();
    this.send('switched off', () => onOff.set(false), now);
  }

  private setLevel(level: number, now: number, dryRun: boolean, drawBeforeW = Math.max(0, this.watts(this.level))): void {
    if (this.failedSafe) return;
    this.drawBeforeW = drawBeforeW;
    this.changedAt = now;
    this.lastStepAt = now;
    this.level = level;
    this.regulator.reset(this.watts(level), now);
    if (dryRun) return;
    this.takeOver();
    this.send(`set to ${level}`, () => this.targets.level.set(level), now);
  }

  /** One command after the other; a failure is shown in the reason and the state taken again from the load. */
  private send(what: string, command: () => Promise<void>, now: number): void {
    this.inFlight = this.inFlight.then(async () => {
      if (this.failedSafe) return;
      try {
        await command();
        this.failure = undefined;
        this.ctx.log.info(`${this.name}: ${this.targets.level.describe} ${what}`);
      } catch (err) {
        this.failure = (err as Error).message;
        this.ctx.log.warn(`${this.name}: ${this.targets.level.describe} ${what} failed: ${this.failure}`);
        const level = this.targets.level.current();
        if (level !== undefined) this.level = level;
        this.controller.assume(this.targets.onOff ? this.targets.onOff.current() === true : this.level >= this.min, now);
      }
    });
  }

  /**
   * Synchronously: the load goes to its minimum and off (its switch off, or the level to
   * off_level). An MQTT or HA target's message is on its socket when this returns; a number of
   * this add-on is made safe by its own adapter's failSafe().
   */
  failSafe(): void {
    if (this.failedSafe) return;
    this.failedSafe = true;
    if (!this.takenOver) return;
    const report = (what: string) => (err: Error) => this.ctx.log.error(`${this.name}: fail-safe ${what} failed: ${err.message}`);
    const onOff = this.targets.onOff;
    if (onOff) {
      onOff.set(false).catch(report(`off for ${onOff.describe}`));
      this.targets.level.set(this.min).catch(report(`minimum for ${this.targets.level.describe}`));
    } else {
      this.targets.level.set(this.offLevel).catch(report(`off for ${this.targets.level.describe}`));
    }
    this.ctx.log.warn(`${this.name}: fail-safe, ${this.targets.level.describe} set to its minimum and off`);
  }

  /** Gives the load back as it was before the rule touched it (off when that is not known). */
  async release(): Promise<void> {
    await this.inFlight;
    if (!this.takenOver || this.failedSafe) return;
    this.takenOver = false;
    const before = this.before ?? {};
    const now = this.ctx.clock.now();
    const onOff = this.targets.onOff;
    const level = before.level ?? (onOff ? this.min : this.offLevel);
    const on = onOff ? (before.on ?? false) : level >= this.min;
    this.controller.assume(on, now);
    this.level = level;
    try {
      if (this.targets.level.current() !== level) await this.targets.level.set(level);
      if (onOff && onOff.current() !== on) await onOff.set(on);
      this.ctx.log.info(`${this.name}: gave ${this.targets.level.describe} back at ${level}${onOff ? `, ${on ? 'on' : 'off'}` : ''}, as it was before`);
    } catch (err) {
      this.ctx.log.warn(`${this.name}: restoring ${this.targets.level.describe} failed: ${(err as Error).message}`);
    }
  }

  settled(): Promise<void> {
    return this.inFlight;
  }
}
