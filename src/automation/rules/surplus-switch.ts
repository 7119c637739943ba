// "Surplus switch": any switch on and off with PV surplus, with the load's nominal power as the
// surplus it needs, delays, compressor protection, an optional time window.
import type { OnOffController } from '../controllers/on-off.js';
import { CronWindow } from '../controllers/schedule.js';
import type { SurplusSwitchOptions } from '../options.js';
import { slugOf } from '../options.js';
import { onOffController, onOffDecision, onOffSettings, setting, type Rule, type RuleContext, type RuleDecision, type RuleInput, type RuleSetting, type Thresholds } from '../rule.js';
import type { Target } from '../targets.js';

const MODES = ['surplus', 'on', 'off'] as const;

export class SurplusSwitchRule implements Rule {
  readonly slug: string;
  readonly name: string;
  readonly model = 'Surplus switch';
  readonly modes = MODES;
  enabled: boolean;
  mode: string;
  readonly settings: RuleSetting[];
  private readonly thresholds: Thresholds;
  private readonly controller: OnOffController;
  private readonly window?: CronWindow;
  private powerW: number;
  private prio: number;
  private startedAt = Number.NEGATIVE_INFINITY;
  /** What the load was before the rule first switched it (undefined: not taken over). */
  private before?: boolean;
  private takenOver = false;
  /** Set by failSafe(): from then on the rule switches nothing. */
  private failedSafe = false;
  private inFlight: Promise<void> = Promise.resolve();
  private failure?: string;

  constructor(
    o: SurplusSwitchOptions,
    private readonly target: Target,
    private readonly ctx: RuleContext,
  ) {
    this.slug = slugOf(o.name);
    this.name = o.name;
    this.enabled = o.enabled;
    this.mode = o.mode;
    this.powerW = o.power_w;
    this.thresholds = { enableW: o.enable_threshold_w, disableW: o.disable_threshold_w };
    this.prio = o.priority;
    this.controller = onOffController(o);
    if (o.schedule_start && o.schedule_end) this.window = new CronWindow(o.schedule_start, o.schedule_end, ctx.timezone);
    const c = this.controller.settings;
    this.settings = [
      setting('power_w', 'Load power', 1, 100_000, 10, 'W', () => this.powerW, (v) => (this.powerW = v), 'power'),
      setting('priority', 'Priority', 1, 99, 1, '', () => this.prio, (v) => (this.prio = v)),
      ...onOffSettings(c, this.thresholds),
    ];
  }

  priority(): number {
    return this.prio;
  }

  /** Takes the load's current state as the starting point (no start is counted). */
  adopt(now: number): void {
    const current = this.target.current();
    if (current !== undefined) this.controller.assume(current, now);
  }

  evaluate({ now, surplus, dryRun }: RuleInput): RuleDecision {
    const c = this.controller;
    const on = c.on;
    const decide = (state: string, reason: string, nextChangeAt?: number): RuleDecision =>
      onOffDecision({
        state, nextChangeAt, on: c.on, powerW: this.powerW, now, startedAt: this.startedAt, settleTimeS: this.ctx.settleTimeS,
        reason: (dryRun ? '(dry run) ' : '') + reason + (this.failure ? `; last switch failed: ${this.failure}` : ''),
      });

    if (!this.enabled) {
      // Released by the engine when it was disabled: the load is the user's again.
      return { ...decide('off', 'disabled: the load is left as the user had it'), consumingW: 0, reservedW: 0 };
    }
    if (this.mode === 'off') {
      if (on) this.stop(now, dryRun);
      return decide('off', 'mode is off');
    }
    if (this.mode === 'on') {
      if (!on) this.switch(true, now, dryRun, true);
      return decide('on', 'mode is on');
    }
    if (!surplus.ok) {
      if (on) this.stop(now, dryRun);
      return decide('blocked', `safe state, off: ${surplus.why}`);
    }
    if (this.window && !this.window.isOpen(now)) {
      if (on) this.stop(now, dryRun);
      return decide('blocked', `outside its schedule (${this.window.start} to ${this.window.end})`);
    }

    const available = Math.round(surplus.watts);
    const need = this.powerW + this.thresholds.enableW;
    const tolerance = this.thresholds.disableW;
    const step = c.step(now, { start: available >= need, stop: available < -tolerance });
    if (step.changed) this.switch(step.on, now, dryRun);
    const timer = step.detail ? `; ${step.detail}` : '';
    if (step.changed) {
      return step.on
        ? decide('on', `switched on: ${available} W surplus covered the ${need} W it needs`)
        : decide('off', `switched off: ${this.importText(available)} for ${c.settings.disableDelayS} s`);
    }
    switch (step.state) {
      case 'off':
        return decide('off', available >= 0
          ? `off: ${available} W surplus${surplus.explain} is below the ${need} W it needs`
          : `off: no surplus, importing ${-available} W${surplus.explain}; it needs ${need} W`);
      case 'waiting':
        return decide('waiting', `waiting: ${available} W surplus${surplus.explain} covers the ${need} W it needs${timer}`, step.nextChangeAt);
      case 'blocked':
        return decide('blocked', `blocked: ${available} W surplus would start it, but ${step.detail}`, step.nextChangeAt);
      case 'holding':
        return decide('holding', `holding: ${this.importText(available)}, more than the ${tolerance} W tolerated${timer}`, step.nextChangeAt);
      default:
        return decide('on', `on: ${available >= 0 ? `${available} W still exported` : `${-available} W imported, within the ${tolerance} W tolerated`}`);
    }
  }

  private importText(available: number): string {
    return available < 0 ? `importing ${-available} W` : `${available} W surplus`;
  }

  private stop(now: number, dryRun: boolean): void {
    this.controller.forceOff(now);
    this.switch(false, now, dryRun, true);
  }

  private switch(on: boolean, now: number, dryRun: boolean, forced = false): void {
    if (this.failedSafe) return;
    if (on) this.startedAt = now;
    if (forced && on) this.controller.assume(true, now);
    if (dryRun) return;
    if (on && !this.takenOver) {
      this.before = this.target.current();
      this.takenOver = true;
    }
    this.inFlight = this.inFlight.then(async () => {
      if (this.failedSafe) return;
      try {
        await this.target.set(on);
        this.failure = undefined;
        this.ctx.log.info(`${this.name}: switched ${this.target.describe} ${on ? 'on' : 'off'}`);
      } catch (err) {
        this.failure = (err as Error).message;
        this.ctx.log.warn(`${this.name}: switching ${this.target.describe} ${on ? 'on' : 'off'} failed: ${this.failure}`);
        // Believe the load is as it was, so the decision is taken again rather than forgotten.
        this.controller.assume(!on, now);
      }
    });
  }

  /**
   * A load this rule switched on goes off at once (one that was on before the rule took it stays
   * on). An MQTT or HA target's message is on its socket when this returns; a switch of this
   * add-on is made safe by its own adapter's failSafe().
   */
  failSafe(): void {
    if (this.failedSafe) return;
    this.failedSafe = true;
    if (!this.takenOver || this.before === true) return;
    if (this.controller.on || this.target.current() !== false) {
      this.target.set(false).catch((err: Error) => this.ctx.log.error(`${this.name}: fail-safe off for ${this.target.describe} failed: ${err.message}`));
      this.ctx.log.warn(`${this.name}: fail-safe, switched ${this.target.describe} off`);
    }
  }

  async release(): Promise<void> {
    await this.inFlight;
    if (!this.takenOver || this.failedSafe) return;
    const restore = this.before ?? false;
    this.takenOver = false;
    if (this.controller.on !== restore || this.target.current() !== restore) {
      this.controller.assume(restore, this.ctx.clock.now());
      try {
        await this.target.set(restore);
        this.ctx.log.info(`${this.name}: gave ${this.target.describe} back ${restore ? 'on' : 'off'}, as it was before`);
      } catch (err) {
        this.ctx.log.warn(`${this.name}: restoring ${this.target.describe} failed: ${(err as Error).message}`);
      }
    }
  }

  settled(): Promise<void> {
    return this.inFlight;
  }

  dispose(): void {
    this.window?.dispose();
  }

}
