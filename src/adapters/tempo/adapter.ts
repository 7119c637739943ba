// EDF Tempo: today's and tomorrow's colours from several sources asked in order (the first that
// gives a date's colour wins, a failing source is skipped), checked against the calendar rules,
// kept across restarts, and shown in HA with the period (HP/HC), the days left of each colour and
// where the answer came from. The sources are asked on the etiquette of schedule.ts; the period
// and the day change on timers at 06:00 and 22:00 Paris time.
import type { Got } from 'got';
import { z } from 'zod';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import type { SensorSpec } from '../../core/entity.js';
import { http as sharedHttp } from '../../io/http.js';
import {
  COLOURS, addDays, calendarProblem, countSeason, daysLeft, nextBoundary, nextDate, parisParts, parisTime, periodAt, seasonOf, seasonStart, tempoDayAt,
  type ColourCounts, type TempoColour,
} from './calendar.js';
import type { SourceName, TempoOptions } from './options.js';
import { ALERT_HOUR, ECODEVICE_FROM_HOUR, RECHECK, RETRY_ERROR_MS, nextPollAt, recheckDue, type PollState } from './schedule.js';
import { SourceError, createSources, type SourceAnswer, type TempoSource } from './sources.js';

export type { TempoColour } from './calendar.js';

export interface TempoDay {
  date: string;
  colour: TempoColour;
  /** The source that gave it (or 'count' for days left counted here). */
  source: string;
  /** Why the calendar says this colour cannot be right; such a colour is not used. */
  problem?: string;
}

export type TempoNotice = { kind: 'tomorrow_colour'; date: string; colour: TempoColour } | { kind: 'sources_failed'; reasons: string };

export interface TempoHooks {
  /** Told once per date when tomorrow's colour becomes known, and once when every source failed and tomorrow is still unknown at 12:00. */
  notify?: (notice: TempoNotice) => void;
  /** For the re-check spread (tests make it fixed). */
  random?: () => number;
}

export const TEMPO_DEVICE_ID = 'tempo';
const STORE_NAME = 'tempo';
const KEEP_DAYS = 400;
/** HA refuses a state longer than 255 characters. */
const STATE_MAX = 250;
const COLOUR_OPTIONS = ['blue', 'white', 'red', 'unknown'];

const storedShape = z.object({
  days: z.record(z.string(), z.object({ colour: z.enum(COLOURS), source: z.string(), problem: z.string().optional(), at: z.number() })),
  daysLeft: z.object({ date: z.string(), blue: z.number(), white: z.number(), red: z.number(), source: z.string() }).optional(),
  lastAnswer: z.number().optional(),
  notified: z.array(z.string()).default([]),
  rechecked: z.array(z.string()).default([]),
});
type Stored = z.infer<typeof storedShape>;
type DayRecord = Stored['days'][string];

interface Entities {
  today: Entity<SensorSpec>;
  tomorrow: Entity<SensorSpec>;
  period: Entity<SensorSpec>;
  periodEnd: Entity<SensorSpec>;
  left: Record<TempoColour, Entity<SensorSpec>>;
  source: Entity<SensorSpec>;
  lastAnswer: Entity<SensorSpec>;
  warning: Entity<SensorSpec>;
}

interface Candidate {
  colour: TempoColour;
  source: SourceName;
  problem?: string;
}

export class TempoAdapter implements Adapter {
  readonly id = 'tempo';
  readonly sources: TempoSource[];
  private readonly days = new Map<string, DayRecord>();
  /** Colours a source gave that broke the calendar while a plausible one was already known. */
  private readonly refused = new Map<string, TempoDay>();
  private left?: Stored['daysLeft'];
  private lastAnswer?: number;
  private readonly notified = new Set<string>();
  private readonly rechecked = new Set<string>();
  /** The last error of each source, until it answers again. */
  private readonly errors = new Map<SourceName, string>();
  private lastRound?: { at: number; failed: boolean };
  private readonly counts = new Map<string, Record<string, number>>();
  private readonly recheckAt = new Map<string, number>();
  private readonly listeners = new Set<(day: TempoDay) => void>();
  private device?: Device;
  private entities?: Entities;
  private pollTimer?: TimerHandle;
  private boundaryTimer?: TimerHandle;
  private running?: Promise<void>;
  private abort = new AbortController();
  private stopped = false;
  private loaded = false;

  constructor(
    readonly options: TempoOptions,
    private readonly ctx: AdapterContext,
    private readonly hooks: TempoHooks = {},
  ) {
    const http: Got = ctx.http ?? sharedHttp;
    this.sources = createSources(options, { http, clock: ctx.clock, secrets: ctx.secrets, onRequest: (source) => this.count(source) });
  }

  // ---- public API (the automation rule uses these) ----

  /** A date's colour when it is known and the calendar allows it. */
  colourOf(date: string): TempoDay | undefined {
    const day = this.dayOf(date);
    return day && !day.problem ? day : undefined;
  }

  /** A date's colour as recorded, a flagged one included (with its problem). */
  dayOf(date: string): TempoDay | undefined {
    const record = this.days.get(date);
    if (!record) return undefined;
    return { date, colour: record.colour, source: record.source, ...(record.problem ? { problem: record.problem } : {}) };
  }

  /** Called whenever a date's recorded colour (or its problem) changes; returns the way to stop. */
  onChange(listener: (day: TempoDay) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** HTTP requests made today (Paris calendar date) per configured source, token requests included. */
  requestsToday(): Record<string, number> {
    return this.requestsOn(parisParts(this.ctx.clock.now()).date);
  }

  /** HTTP requests made on a Paris calendar date per configured source (the last week is kept). */
  requestsOn(date: string): Record<string, number> {
    const counted = this.counts.get(date) ?? {};
    return Object.fromEntries(this.sources.map((s) => [s.name, counted[s.name] ?? 0]));
  }

  /** The last error of each source that has not answered since. */
  sourceErrors(): Record<string, string> {
    return Object.fromEntries(this.errors);
  }

  /**
   * Asks the sources now for today's and tomorrow's colours (and the days left when stale),
   * joining a round under way. Within 10 min of a round where every source failed it asks
   * nothing: the scheduled retry stands.
   */
  refresh(): Promise<void> {
    if (this.running) return this.running;
    if (this.lastRound?.failed && this.ctx.clock.now() < this.lastRound.at + RETRY_ERROR_MS) return Promise.resolve();
    return this.poll(true);
  }

  /** Resolves when no round is under way (for tests and benches driving a simulated clock). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    this.declare();
    await this.load();
    this.show();
    this.scheduleBoundary();
    // The first round runs in the background: a source that does not answer must not hold the start.
    this.plan();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimers();
    this.abort.abort();
    await this.running?.catch(() => undefined);
    await this.ctx.store.flush();
  }

  /** Nothing of ours to make safe (the adapter only reads); no request leaves from now on. */
  failSafe(): void {
    this.stopped = true;
    this.cancelTimers();
    this.abort.abort();
  }

  // ---- polling ----

  private poll(force = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.round(force)
      .catch((err: Error) => this.ctx.log.error(`Tempo round failed: ${err.message}`))
      .finally(() => {
        this.running = undefined;
        this.plan();
      });
    return this.running;
  }

  private pollState(now: number): PollState {
    const today = tempoDayAt(now);
    const tomorrow = nextDate(today);
    return {
      today,
      // A flagged colour counts as an answer here: asking every 30 min would not correct it, the re-check may.
      todayKnown: this.days.has(today),
      tomorrowKnown: this.days.has(tomorrow),
      tomorrowKnownAt: this.days.get(tomorrow)?.at,
      recheckDone: this.rechecked.has(tomorrow),
      recheckAt: this.recheckTime(today),
      lastRound: this.lastRound,
    };
  }

  /** Sets the timer of the next round, or starts it when it is due. */
  private plan(): void {
    this.pollTimer?.cancel();
    this.pollTimer = undefined;
    if (this.stopped || !this.loaded || this.running) return;
    const now = this.ctx.clock.now();
    const at = nextPollAt(now, this.pollState(now));
    if (at <= now) void this.poll();
    else this.pollTimer = this.ctx.clock.setTimeout(() => void this.poll(), at - now);
  }

  private recheckTime(date: string): number {
    let at = this.recheckAt.get(date);
    if (at === undefined) {
      at = parisTime(date, RECHECK.hour, RECHECK.minute) + Math.floor((this.hooks.random ?? Math.random)() * RECHECK.spreadMs);
      this.recheckAt.clear(); // one Tempo day at a time
      this.recheckAt.set(date, at);
    }
    return at;
  }

  private eligible(source: TempoSource, now: number): boolean {
    if (source.name !== 'ecodevice') return true;
    return now >= parisTime(tempoDayAt(now), ECODEVICE_FROM_HOUR);
  }

  /** One round: each source in order, for the dates still wanted; the first plausible colour of each date wins. */
  private async round(force: boolean): Promise<void> {
    const now = this.ctx.clock.now();
    const state = this.pollState(now);
    const today = state.today;
    const tomorrow = nextDate(today);
    const recheck = recheckDue(now, state);
    let wantToday = force || !state.todayKnown;
    let wantTomorrow = force || !state.tomorrowKnown || recheck;
    let wantDaysLeft = this.left?.date !== today;
    const best: { today?: Candidate; tomorrow?: Candidate } = {};
    const flagged: { today?: Candidate; tomorrow?: Candidate } = {};
    let left: { counts: ColourCounts; source: string } | undefined;
    let asked = 0;
    let failed = 0;
    for (const source of this.sources) {
      if (!wantToday && !wantTomorrow) break;
      if (!this.eligible(source, now)) continue;
      asked++;
      let answer: SourceAnswer;
      try {
        answer = await source.ask({ today, tomorrow, wantToday, wantTomorrow, wantDaysLeft, now, signal: this.abort.signal });
      } catch (err) {
        if (this.stopped) return;
        failed++;
        this.sourceFailed(source.name, err);
        continue;
      }
      if (this.stopped) return;
      if (this.errors.delete(source.name)) this.ctx.log.info(`${source.name} answers again`);
      this.lastAnswer = this.ctx.clock.now();
      const take = (which: 'today' | 'tomorrow', date: string, colour: TempoColour | undefined) => {
        if (!colour) return;
        const problem = calendarProblem(date, colour);
        if (problem) flagged[which] ??= { colour, source: source.name, problem };
        if (!best[which] || (best[which].problem && !problem)) best[which] = { colour, source: source.name, ...(problem ? { problem } : {}) };
      };
      take('today', today, answer.today);
      take('tomorrow', tomorrow, answer.tomorrow);
      if (answer.daysLeft && !left) {
        left = { counts: answer.daysLeft, source: source.name };
        wantDaysLeft = false;
      }
      // A date stays wanted (from the next source) until a plausible colour is found.
      if (best.today && !best.today.problem) wantToday = false;
      if (best.tomorrow && !best.tomorrow.problem) wantTomorrow = false;
    }
    this.lastRound = { at: now, failed: asked > 0 && failed === asked };

    if (best.today) this.record(today, best.today, now, flagged.today);
    if (best.tomorrow) this.record(tomorrow, best.tomorrow, now, flagged.tomorrow);
    // Done once the sources were asked (an answer without tomorrow keeps what is known): asking
    // until one repeats the colour would poll without pause.
    if ((recheck || (force && best.tomorrow)) && !this.lastRound.failed) this.rechecked.add(tomorrow);
    if (left) this.left = { date: today, ...left.counts, source: left.source };
    else if (this.left?.date !== today) this.countDaysLeft(today);
    this.tell(now, today, tomorrow);
    this.prune(today);
    this.show();
    this.save();
  }

  private sourceFailed(name: SourceName, err: unknown): void {
    const message = err instanceof SourceError ? err.message : `${name}: ${(err as Error).message}`;
    // Said once at warning level; the same error again every 10 minutes only at debug level.
    if (this.errors.get(name) !== message) this.ctx.log.warn(message);
    else this.ctx.log.debug(message);
    this.errors.set(name, message);
  }

  /**
   * Records a date's colour. A flagged colour never replaces a plausible one; one that lost to a
   * plausible colour (from another source, or kept from before) is shown as a warning.
   */
  private record(date: string, candidate: Candidate, now: number, flagged?: Candidate): void {
    const old = this.days.get(date);
    const refuse = (wrong: Candidate, kept: { colour: TempoColour; source: string }) => {
      if (wrong.colour === kept.colour) return;
      if (this.refused.get(date)?.colour !== wrong.colour) {
        this.ctx.log.warn(`${wrong.source} says ${date} is ${wrong.colour}, which cannot be (${wrong.problem}); using ${kept.colour} from ${kept.source}`);
      }
      this.refused.set(date, { date, colour: wrong.colour, source: wrong.source, problem: wrong.problem! });
    };
    if (candidate.problem && old && !old.problem) return refuse(candidate, old);
    if (flagged && !candidate.problem) refuse(flagged, candidate);
    else this.refused.delete(date);
    if (old && old.colour === candidate.colour && old.problem === candidate.problem) {
      old.source = candidate.source;
      return;
    }
    this.days.set(date, { colour: candidate.colour, source: candidate.source, ...(candidate.problem ? { problem: candidate.problem } : {}), at: now });
    if (candidate.problem) this.ctx.log.warn(`${candidate.source} says ${date} is ${candidate.colour}, which cannot be (${candidate.problem}); not used`);
    else if (old && !old.problem) this.ctx.log.warn(`${date} changed from ${old.colour} to ${candidate.colour} (${candidate.source})`);
    else this.ctx.log.info(`${date} is ${candidate.colour} (${candidate.source})`);
    const day = this.dayOf(date)!;
    for (const listener of this.listeners) {
      try {
        listener(day);
      } catch (err) {
        this.ctx.log.error(`a Tempo colour listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Days left counted from the colours kept here, when they cover the season up to today. */
  private countDaysLeft(today: string): void {
    const season = seasonOf(today);
    const days: Array<{ date: string; colour: TempoColour }> = [];
    for (let date = seasonStart(season); date <= today; date = nextDate(date)) {
      const day = this.colourOf(date);
      if (!day) return; // a gap: a count would be wrong
      days.push(day);
    }
    this.left = { date: today, ...daysLeft(season, countSeason(days, today)), source: 'count' };
  }

  /** The notices: tomorrow's colour once per date, and the sources' failure once when tomorrow is still unknown at 12:00. */
  private tell(now: number, today: string, tomorrow: string): void {
    const notify = this.hooks.notify;
    const known = this.colourOf(tomorrow);
    const send = (notice: TempoNotice) => {
      try {
        notify?.(notice);
      } catch (err) {
        this.ctx.log.error(`the Tempo notice failed: ${(err as Error).message}`);
      }
    };
    if (known && !this.notified.has(tomorrow)) {
      this.notified.add(tomorrow);
      send({ kind: 'tomorrow_colour', date: tomorrow, colour: known.colour });
    }
    const failedKey = `failed:${tomorrow}`;
    if (!known && this.lastRound?.failed && now >= parisTime(today, ALERT_HOUR) && !this.notified.has(failedKey)) {
      this.notified.add(failedKey);
      const reasons = this.reasons();
      this.ctx.log.warn(`tomorrow's Tempo colour is still unknown at ${ALERT_HOUR}:00 and every source failed: ${reasons}`);
      send({ kind: 'sources_failed', reasons });
    }
  }

  private reasons(): string {
    return [...this.errors.values()].join('; ') || 'no source could be asked';
  }

  // ---- day and period ----

  private scheduleBoundary(): void {
    if (this.stopped) return;
    const now = this.ctx.clock.now();
    this.boundaryTimer = this.ctx.clock.setTimeout(() => {
      this.show();
      this.scheduleBoundary();
      // At 06:00 tomorrow became today: what to ask next has changed.
      if (!this.running) this.plan();
    }, nextBoundary(now) - now);
  }

  private cancelTimers(): void {
    this.pollTimer?.cancel();
    this.boundaryTimer?.cancel();
    this.pollTimer = this.boundaryTimer = undefined;
  }

  // ---- entities ----

  private declare(): void {
    const device = this.ctx.devices.device({ id: TEMPO_DEVICE_ID, name: 'EDF Tempo', manufacturer: 'RTE / EDF', model: 'Tempo tariff' }, this.id);
    this.device = device;
    const colour = (key: string, name: string) => device.sensor({ key, name, deviceClass: 'enum', options: COLOUR_OPTIONS, icon: 'mdi:palette' });
    const left = (colourName: TempoColour, name: string) =>
      device.sensor({ key: `days_left_${colourName}`, name, unit: 'd', stateClass: 'measurement', precision: 0, icon: 'mdi:calendar-range' });
    this.entities = {
      today: colour('today_colour', "Today's colour"),
      tomorrow: colour('tomorrow_colour', "Tomorrow's colour"),
      period: device.sensor({ key: 'period', name: 'Period', deviceClass: 'enum', options: ['HP', 'HC'], icon: 'mdi:clock-outline' }),
      periodEnd: device.sensor({ key: 'period_end', name: 'Period end', deviceClass: 'timestamp' }),
      left: { blue: left('blue', 'Blue days left'), white: left('white', 'White days left'), red: left('red', 'Red days left') },
      source: device.sensor({ key: 'source', name: 'Source', icon: 'mdi:cloud-download-outline', category: 'diagnostic' }),
      lastAnswer: device.sensor({ key: 'last_answer', name: 'Last answer', deviceClass: 'timestamp', category: 'diagnostic' }),
      warning: device.sensor({ key: 'calendar_warning', name: 'Calendar warning', icon: 'mdi:calendar-alert', category: 'diagnostic' }),
    };
  }

  private show(): void {
    const e = this.entities;
    if (!e || !this.device) return;
    const now = this.ctx.clock.now();
    const today = tempoDayAt(now);
    const tomorrow = nextDate(today);
    e.today.update(this.colourOf(today)?.colour ?? 'unknown');
    e.tomorrow.update(this.colourOf(tomorrow)?.colour ?? 'unknown');
    e.period.update(periodAt(now));
    e.periodEnd.update(new Date(nextBoundary(now)).toISOString());
    const left = this.left && seasonOf(this.left.date) === seasonOf(today) ? this.left : undefined;
    for (const c of COLOURS) e.left[c].update(left ? left[c] : null);
    e.lastAnswer.update(this.lastAnswer !== undefined ? new Date(this.lastAnswer).toISOString() : null);

    const known = [this.dayOf(today), this.dayOf(tomorrow)].filter((d): d is TempoDay => d !== undefined);
    const gave = (d: TempoDay | undefined) => (d ? d.source : undefined);
    const todaySource = gave(this.colourOf(today));
    const tomorrowSource = gave(this.colourOf(tomorrow));
    let source: string;
    if (todaySource && (todaySource === tomorrowSource || !tomorrowSource)) source = tomorrowSource ? todaySource : `today: ${todaySource}`;
    else if (todaySource || tomorrowSource) source = `today: ${todaySource ?? 'unknown'}, tomorrow: ${tomorrowSource ?? 'unknown'}`;
    else source = this.errors.size ? `no answer: ${this.reasons()}` : 'unknown';
    e.source.update(cut(source));

    const warnings = [today, tomorrow].flatMap((date) => {
      const day = this.dayOf(date);
      const flagged = day?.problem ? day : this.refused.get(date);
      return flagged ? [`${date} ${flagged.colour} from ${flagged.source}: ${flagged.problem}`] : [];
    });
    e.warning.update(cut(warnings.join('; ') || 'none'));

    // Unavailable only when nothing is known at all: no colour kept and no source answering.
    const nothing = known.length === 0 && this.lastRound !== undefined && this.lastRound.failed;
    if (nothing && this.device.available) this.ctx.log.warn(`no Tempo colour is known and no source answers: ${this.reasons()}`);
    this.device.setAvailable(!nothing);
  }

  // ---- requests and persistence ----

  private count(source: SourceName): void {
    const date = parisParts(this.ctx.clock.now()).date;
    let day = this.counts.get(date);
    if (!day) {
      day = {};
      this.counts.set(date, day);
      for (const old of [...this.counts.keys()]) if (old < addDays(date, -7)) this.counts.delete(old);
    }
    day[source] = (day[source] ?? 0) + 1;
  }

  private async load(): Promise<void> {
    try {
      const stored = await this.ctx.store.read(STORE_NAME, storedShape, { days: {}, notified: [], rechecked: [] });
      for (const [date, record] of Object.entries(stored.days)) {
        // The rules may have changed since it was stored: check again.
        const problem = calendarProblem(date, record.colour);
        this.days.set(date, { colour: record.colour, source: record.source, at: record.at, ...(problem ? { problem } : {}) });
      }
      this.left = stored.daysLeft;
      this.lastAnswer = stored.lastAnswer;
      for (const key of stored.notified) this.notified.add(key);
      for (const date of stored.rechecked) this.rechecked.add(date);
      const today = tempoDayAt(this.ctx.clock.now());
      const kept = [this.dayOf(today), this.dayOf(nextDate(today))].filter(Boolean).map((d) => `${d!.date} ${d!.colour}`);
      if (kept.length) this.ctx.log.info(`kept from the last run: ${kept.join(', ')}`);
    } catch (err) {
      this.ctx.log.warn(`the stored Tempo colours could not be read: ${(err as Error).message}`);
    }
    this.loaded = true;
  }

  private prune(today: string): void {
    const oldest = addDays(today, -KEEP_DAYS);
    for (const date of this.days.keys()) if (date < oldest) this.days.delete(date);
    const recent = (key: string) => key.replace(/^failed:/, '') >= addDays(today, -7);
    for (const key of this.notified) if (!recent(key)) this.notified.delete(key);
    for (const key of this.rechecked) if (!recent(key)) this.rechecked.delete(key);
  }

  private save(): void {
    const data: Stored = {
      days: Object.fromEntries([...this.days].map(([date, r]) => [date, { colour: r.colour, source: r.source, at: r.at, ...(r.problem ? { problem: r.problem } : {}) }])),
      ...(this.left ? { daysLeft: this.left } : {}),
      ...(this.lastAnswer !== undefined ? { lastAnswer: this.lastAnswer } : {}),
      notified: [...this.notified],
      rechecked: [...this.rechecked],
    };
    this.ctx.store.write(STORE_NAME, data).catch((err: Error) => this.ctx.log.warn(`the Tempo colours could not be stored: ${err.message}`));
  }
}

function cut(text: string): string {
  return text.length > STATE_MAX ? `${text.slice(0, STATE_MAX - 1)}…` : text;
}

