// A Victron ESS driven by the EDF Tempo colour: the tempo-ess seed (a cron script at 20:05 and
// 22:02) made safe. Once the coming day's colour is known, at plan_time the chosen charge
// schedule gets that colour's target SoC; at apply_time (the start of off-peak hours) min SoC and
// BatteryLife follow. It writes through the GX's entities (the safe writer: read-back, no rewrite
// of an equal value), only what differs; it keeps the user's values from before it took over and
// gives them back when disabled or removed; it never acts on an unknown or implausible colour,
// nor while Dynamic ESS steers the GX. All times are Europe/Paris, as Tempo's.
import { z } from 'zod';
import type { Bridge } from '../../core/bridge.js';
import type { Device } from '../../core/device.js';
import type { HaChanges } from '../../core/ha-changes.js';
import { VICTRON_KEYS, isVictronGxDeviceId, victronDeviceId } from '../../adapters/victron/ids.js';
import { nextDate, parisParts, parisTime, previousDate, tempoDayAt } from '../../adapters/tempo/calendar.js';
import type { TempoColour } from '../../adapters/tempo/calendar.js';
import type { TempoDay } from '../../adapters/tempo/adapter.js';
import type { Notice } from '../../notify/messages.js';
import type { TempoEssOptions } from '../options.js';
import { slugOf } from '../options.js';
import type { Rule, RuleContext, RuleDecision, RuleInput, RuleSetting } from '../rule.js';

/** What the rule needs from the Tempo family. */
export interface TempoColours {
  /** A plausible colour of a Tempo day (undefined when unknown or against the calendar rules). */
  colourOf(date: string): TempoDay | undefined;
  /** The colour as published, flagged ones included (to say why it is not used). */
  dayOf(date: string): TempoDay | undefined;
}

const MODES = ['auto', 'manual'] as const;
/** After a failed write, the next attempt waits this long (a GX that is away is not hammered). */
export const RETRY_AFTER_MS = 5 * 60_000;
/** Attempts per night before the rule gives up until the next day (a GX that never confirms). */
export const MAX_ATTEMPTS = 3;

const ESS_WITH = 'Optimized with BatteryLife';
const ESS_WITHOUT = 'Optimized without BatteryLife';

/** What the rule keeps across restarts: what it did for which day, and the user's own values. */
const memoryShape = z.object({
  planned: z.string().optional(),
  applied: z.string().optional(),
  before: z.object({ minSoc: z.number().optional(), essMode: z.string().optional(), scheduleSoc: z.number().optional() }).default({}),
  /** Which schedule and GX the values belong to: a rule removed from the options gives them back there. */
  schedule: z.number().int().min(1).max(5).optional(),
  victron: z.string().optional(),
});
type Memory = z.infer<typeof memoryShape>;
export const TEMPO_MEMORY_SCOPE = 'tempo_ess';

interface ColourPlan {
  min_soc: number;
  battery_life: boolean;
  charge_soc: number;
}

const COLOUR_WORDS: Record<TempoColour, string> = { blue: 'blue', white: 'white', red: 'red' };

export class TempoEssRule implements Rule {
  readonly slug: string;
  readonly name: string;
  readonly model = 'Tempo ESS';
  readonly modes = MODES;
  enabled: boolean;
  mode: string;
  readonly settings: RuleSetting[] = [];
  private memory: Memory;
  private inFlight: Promise<void> = Promise.resolve();
  private busy = false;
  private failure?: string;
  private retryAt = 0;
  /** Failed attempts for one day: after MAX_ATTEMPTS the rule waits for the next day. */
  private attempts = { day: '', count: 0 };
  /** What a dry run "did", apart from the real memory: leaving dry run must not skip tonight. */
  private readonly dryDone: { planned?: string; applied?: string } = {};
  private failedSafe = false;
  private planEntity?: ReturnType<Device['sensor']>;
  /** Set by the "apply now" button: the next evaluation plans and applies at once. */
  private applyNow = false;
  private readonly planMinutes: number;
  private readonly applyMinutes: number;

  constructor(
    private readonly options: TempoEssOptions,
    private readonly deps: { bridge: Bridge; tempo?: TempoColours; haChanges?: HaChanges; notify?: (notice: Notice) => void },
    private readonly ctx: RuleContext,
  ) {
    this.slug = slugOf(options.name);
    this.name = options.name;
    this.enabled = options.enabled;
    this.mode = options.mode;
    this.planMinutes = minutesOf(options.plan_time);
    this.applyMinutes = minutesOf(options.apply_time);
    this.memory = deps.haChanges?.get(TEMPO_MEMORY_SCOPE, this.slug, memoryShape, { before: {} }) ?? { before: {} };
  }

  priority(): number {
    return this.options.priority;
  }

  /** The plan sensor and the "apply the plan now" button, on the rule's device. */
  declareEntities(device: Device): void {
    this.planEntity = device.sensor({ key: 'plan', name: 'Plan', icon: 'mdi:calendar-text' });
    device.button({
      key: 'apply_now', name: 'Apply the plan now', icon: 'mdi:play-circle-outline',
      command: () => {
        this.applyNow = true;
        this.retryAt = 0;
      },
    });
  }

  /** The GX this rule steers: the configured portal id, or the only GX there is. */
  private gx(): { device?: Device; why?: string } {
    const { bridge } = this.deps;
    if (this.options.victron) {
      const device = bridge.getDevice(victronDeviceId(this.options.victron));
      return device ? { device } : { why: `no Victron GX with portal id ${this.options.victron} has been found yet` };
    }
    const all = bridge.allDevices().filter((d) => isVictronGxDeviceId(d.id));
    if (all.length === 1) return { device: all[0] };
    return { why: all.length ? `there are ${all.length} GX; set the rule's victron option to one portal id` : 'no Victron GX has been found yet' };
  }

  private plan(colour: TempoColour): ColourPlan {
    return this.options[colour];
  }

  /** "red tomorrow: schedule 1 to 98 % tonight, min SoC 25 %, BatteryLife off at 22:00". */
  private describe(day: string, colour: TempoColour, now: number): string {
    const p = this.plan(colour);
    const when = tempoDayAt(now) === day ? 'today' : 'tomorrow';
    return `${COLOUR_WORDS[colour]} ${when} (${day}): schedule ${this.options.schedule} to ${p.charge_soc} % tonight, min SoC ${p.min_soc} %, BatteryLife ${p.battery_life ? 'on' : 'off'} at ${this.options.apply_time}`;
  }

  evaluate({ now, dryRun }: RuleInput): RuleDecision {
    const decide = (state: string, reason: string, nextChangeAt?: number): RuleDecision => ({
      state,
      reason: (dryRun ? '(dry run) ' : '') + reason + (this.failure ? `; last write failed: ${this.failure}` : ''),
      nextChangeAt,
      consumingW: 0,
      reservedW: 0,
    });
    const clock = parisParts(now);
    const minutes = clock.hour * 60 + clock.minute;
    // The Tempo day the coming night prepares: before 06:00 it is today's, later tomorrow's.
    const coming = clock.hour < 6 ? clock.date : nextDate(clock.date);
    const eve = clock.hour < 6 ? previousDate(clock.date) : clock.date;
    const planAt = parisTime(eve, Math.floor(this.planMinutes / 60), this.planMinutes % 60);
    const applyAt = parisTime(eve, Math.floor(this.applyMinutes / 60), this.applyMinutes % 60);
    const nightEnds = parisTime(coming, 6);
    const done = dryRun ? this.dryDone : this.memory;
    const next = done.planned !== coming ? planAt : done.applied !== coming ? applyAt : parisTime(nextDate(coming), Math.floor(this.planMinutes / 60), this.planMinutes % 60);

    if (!this.enabled) {
      // Disabled in the options, or switched off while the GX was away: give the values back when it answers.
      this.giveBackWhenPossible();
      return decide('off', 'disabled: the GX keeps the values the user had');
    }
    const colour = this.deps.tempo?.colourOf(coming);
    const published = this.deps.tempo?.dayOf(coming);
    if (colour) this.planEntity?.update(this.describe(coming, colour.colour, now).slice(0, 250));
    else this.planEntity?.update(published?.problem ? `${coming}: ${published.colour} is against the Tempo calendar (${published.problem}); not used` : `${coming}: colour not known yet`);

    const { device, why } = this.gx();
    if (!device) return decide('blocked', `waiting for the GX: ${why}`, next);
    if (!device.available) return decide('blocked', 'the GX is not answering; nothing is written until it does', next);
    const dess = device.entities.get(VICTRON_KEYS.dynamicEss)?.value;
    if (dess !== undefined && dess !== null && dess !== 'off') {
      return decide('blocked', `Dynamic ESS is on (${String(dess)}): it steers the GX itself, so this rule writes nothing; switch Dynamic ESS off to use it`, next);
    }
    // Nothing is decided on settings the GX has not reported yet (after a restart they come in any order).
    const needed = [VICTRON_KEYS.dynamicEss, VICTRON_KEYS.minSoc, VICTRON_KEYS.essMode, VICTRON_KEYS.scheduleSoc(this.options.schedule)];
    const unknown = needed.filter((key) => device.entities.get(key)?.value === null || device.entities.get(key)?.value === undefined);
    if (unknown.length) return decide('blocked', `waiting for the GX to report ${unknown.join(', ')}`, next);
    if (device.entities.get(VICTRON_KEYS.essMode)?.value === 'External control') {
      return decide('blocked', 'the GX is in external control (another controller steers it), so this rule writes nothing', next);
    }
    if (!colour) {
      const last = this.memory.applied ? ` keeping the plan applied for ${this.memory.applied}` : '';
      const reason = published?.problem
        ? `the colour published for ${coming} (${published.colour}) breaks the Tempo calendar (${published.problem}); not acted on,${last || ' nothing changed'}`
        : `the colour of ${coming} is not known yet;${last || ' nothing changed'}`;
      return decide(minutes >= this.applyMinutes || clock.hour < 6 ? 'blocked' : 'waiting', reason, next);
    }
    if (this.busy) return decide('holding', `writing the plan for ${coming}…`, next);
    if (this.attempts.day === coming && this.attempts.count >= MAX_ATTEMPTS && !this.applyNow) {
      return decide('blocked', `gave up for ${coming} after ${MAX_ATTEMPTS} failed attempts; "Apply the plan now" tries again`, next);
    }
    if (now < this.retryAt && !this.applyNow) return decide('blocked', `retrying at ${new Date(this.retryAt).toISOString()}`, this.retryAt);

    const manual = this.mode === 'manual' && !this.applyNow;
    const forced = this.applyNow;
    const duePlan = done.planned !== coming && (forced || (!manual && now >= planAt && now < nightEnds));
    const dueApply = done.applied !== coming && (forced || (!manual && now >= applyAt && now < nightEnds));
    this.applyNow = false;
    if (duePlan || dueApply) {
      this.write(device, coming, colour.colour, duePlan, dueApply, dryRun);
      return decide('on', `${duePlan && dueApply ? 'applying' : duePlan ? 'planning' : 'applying'} ${this.describe(coming, colour.colour, now)}`, next);
    }
    if (done.applied === coming) return decide('on', `applied: ${this.describe(coming, colour.colour, now)}`, next);
    if (done.planned === coming) return decide('waiting', `planned: ${this.describe(coming, colour.colour, now)}`, applyAt);
    if (manual) return decide('waiting', `manual mode: ${this.describe(coming, colour.colour, now)}; press "Apply the plan now"`);
    return decide('waiting', `${this.describe(coming, colour.colour, now)}; planned at ${this.options.plan_time}`, planAt);
  }

  /** The night's writes, one after the other through the GX's entities; only values that differ. */
  private write(device: Device, day: string, colour: TempoColour, plan: boolean, apply: boolean, dryRun: boolean): void {
    if (this.failedSafe) return;
    const p = this.plan(colour);
    const scheduleKey = VICTRON_KEYS.scheduleSoc(this.options.schedule);
    const wanted: Array<{ key: string; value: number | string; remember: keyof Memory['before'] }> = [];
    if (plan) wanted.push({ key: scheduleKey, value: p.charge_soc, remember: 'scheduleSoc' });
    if (apply) {
      wanted.push({ key: VICTRON_KEYS.minSoc, value: p.min_soc, remember: 'minSoc' });
      wanted.push({ key: VICTRON_KEYS.essMode, value: p.battery_life ? ESS_WITH : ESS_WITHOUT, remember: 'essMode' });
    }
    if (dryRun) {
      // Shown as done for the day, so the reasons read as they would; nothing is sent.
      if (plan) this.dryDone.planned = day;
      if (apply) this.dryDone.applied = day;
      return;
    }
    this.busy = true;
    this.inFlight = this.inFlight.then(async () => {
      let written = 0;
      try {
        for (const w of wanted) {
          const current = device.entities.get(w.key)?.value;
          // The user's value from before the first change is what a release gives back.
          if (this.memory.before[w.remember] === undefined && current !== null && current !== undefined) {
            (this.memory.before as Record<string, unknown>)[w.remember] = current;
          }
          if (current === w.value) continue;
          const result = await this.deps.bridge.command(device.id, w.key, String(w.value), 'automation');
          if (!result.ok) throw new Error(`${w.key} to ${w.value}: ${result.reason}`);
          written++;
        }
        if (plan) this.memory.planned = day;
        if (apply) this.memory.applied = day;
        this.failure = undefined;
        this.attempts = { day, count: 0 };
        await this.save();
        this.ctx.log.info(`${this.name}: ${colour} day ${day}: ${written} setting(s) written${plan ? ', schedule planned' : ''}${apply ? ', applied' : ''}`);
        if (apply) this.deps.notify?.({ kind: 'plan_applied', date: day, colour, minSoc: p.min_soc, batteryLife: p.battery_life, chargeSoc: p.charge_soc, schedule: this.options.schedule });
      } catch (err) {
        this.failure = (err as Error).message;
        this.retryAt = this.ctx.clock.now() + RETRY_AFTER_MS;
        this.attempts = { day, count: this.attempts.day === day ? this.attempts.count + 1 : 1 };
        await this.save();
        this.ctx.log.warn(`${this.name}: ${this.failure} (attempt ${this.attempts.count} of ${MAX_ATTEMPTS} for ${day})`);
        // Once per day: a GX that keeps refusing must not send a message every few minutes.
        if (this.attempts.count === 1) this.deps.notify?.({ kind: 'write_failed', what: `Tempo plan for ${day} on the GX`, reason: this.failure });
      } finally {
        this.busy = false;
      }
    });
  }

  private save(): Promise<void> {
    this.memory.schedule = this.options.schedule;
    this.memory.victron = this.options.victron;
    return this.deps.haChanges?.set(TEMPO_MEMORY_SCOPE, this.slug, this.memory) ?? Promise.resolve();
  }

  /** Gives back the user's min SoC, ESS mode and schedule target from before the rule took over. */
  async release(): Promise<void> {
    if (!this.busy) await this.inFlight;
    if (this.failedSafe) return;
    const before = this.memory.before;
    if (before.minSoc === undefined && before.essMode === undefined && before.scheduleSoc === undefined) return;
    const { device } = this.gx();
    const dess = device?.entities.get(VICTRON_KEYS.dynamicEss)?.value;
    if (device?.available && dess !== 'off') {
      this.ctx.log.warn(`${this.name}: Dynamic ESS is ${dess === null || dess === undefined ? 'not reported yet' : `on (${String(dess)})`}; the user's values are given back once it is off`);
      return;
    }
    if (!device?.available) {
      this.ctx.log.warn(`${this.name}: the GX is not answering; the user's values are given back when the rule runs again disabled`);
      return;
    }
    const back: Array<[string, number | string | undefined]> = [
      [VICTRON_KEYS.scheduleSoc(this.options.schedule), before.scheduleSoc],
      [VICTRON_KEYS.minSoc, before.minSoc],
      [VICTRON_KEYS.essMode, before.essMode],
    ];
    for (const [key, value] of back) {
      if (value === undefined || device.entities.get(key)?.value === value) continue;
      const result = await this.deps.bridge.command(device.id, key, String(value), 'automation');
      if (!result.ok) {
        this.ctx.log.warn(`${this.name}: giving ${key} back as ${value} failed: ${result.reason}`);
        return; // kept, so the next release tries again
      }
    }
    this.ctx.log.info(`${this.name}: gave the GX back the values it had before (${back.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    this.memory = { before: {} };
    await this.save();
  }

  /** The add-on stops: the plan stays on the GX (it is for tonight), the user's values stay kept. */
  async shutdown(): Promise<void> {
    await this.inFlight;
  }

  /** For a rule removed from the options: gives the user's values back once the GX answers. */
  giveBackWhenPossible(): void {
    if (this.busy || this.failedSafe || this.ctx.clock.now() < this.retryAt) return;
    const before = this.memory.before;
    if (before.minSoc === undefined && before.essMode === undefined && before.scheduleSoc === undefined) return;
    if (!this.gx().device?.available) return;
    this.busy = true;
    this.inFlight = this.release().finally(() => {
      this.busy = false;
      // Not given back (a refused write): try again later, not at every evaluation.
      if (this.memory.before.minSoc !== undefined || this.memory.before.essMode !== undefined || this.memory.before.scheduleSoc !== undefined) this.retryAt = this.ctx.clock.now() + RETRY_AFTER_MS;
    });
  }

  /** Nothing to switch off: the GX runs its own ESS. From now on nothing is written. */
  failSafe(): void {
    this.failedSafe = true;
  }

  settled(): Promise<void> {
    return this.inFlight;
  }
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}
