// Records the measurements the rules use (automation.sources), one row every 10 s, one file a
// day for the last 7 days: the days the page can replay through the rules. A row is a line of
// the trace format `npm run simulate` reads (time, one column per source), so a day is bounded
// (8640 lines) and can be replayed as it is.
import { readdirSync, rmSync } from 'node:fs';
import { z } from 'zod';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Store } from '../core/store.js';
import type { Measurement } from '../measurements/measurement.js';

const EVERY_MS = 10_000;
const SAVE_EVERY_MS = 5 * 60_000;
export const DAYS_KEPT = 7;
const FILE = /^web_day_(\d{4}-\d{2}-\d{2})\.json$/;
const dayShape = z.object({ header: z.string(), lines: z.array(z.string()) });

export const dayOf = (t: number): string => new Date(t).toISOString().slice(0, 10);
const fileOf = (day: string): string => `web_day_${day}`;

export class DayRecorder {
  private day = '';
  private lines: string[] = [];
  private header: string;
  private timer?: TimerHandle;
  private saveTimer?: TimerHandle;
  private dirty = false;

  constructor(
    private readonly sources: ReadonlyMap<string, Measurement>,
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.header = ['time', ...this.names()].join(',');
  }

  /** Sources with a number to record (a boost flag or a text is not replayed). */
  private names(): string[] {
    return [...this.sources.keys()].sort();
  }

  async start(): Promise<void> {
    this.day = dayOf(this.clock.now());
    const saved = await this.store.read(fileOf(this.day), dayShape, { header: this.header, lines: [] });
    // Sources changed since: the day starts again, its columns would not match.
    this.lines = saved.header === this.header ? saved.lines : [];
    this.timer = this.clock.setInterval(() => this.sample(), EVERY_MS);
    this.saveTimer = this.clock.setInterval(() => void this.save(), SAVE_EVERY_MS);
  }

  private sample(): void {
    const now = this.clock.now();
    const day = dayOf(now);
    if (day !== this.day) {
      void this.save();
      this.day = day;
      this.lines = [];
      this.forgetOldDays();
    }
    const cells = this.names().map((name) => {
      const value = this.sources.get(name)?.value;
      return typeof value === 'number' && Number.isFinite(value) ? String(Math.round(value * 100) / 100) : '';
    });
    if (cells.every((c) => c === '')) return;
    this.lines.push([new Date(now).toISOString(), ...cells].join(','));
    this.dirty = true;
  }

  private forgetOldDays(): void {
    const oldest = dayOf(this.clock.now() - DAYS_KEPT * 86_400_000);
    for (const day of this.days()) if (day < oldest) rmSync(this.store.path(fileOf(day)), { force: true });
  }

  /** The days on disk (and today), oldest first. */
  days(): string[] {
    const found = new Set<string>();
    for (const file of readdirSync(this.store.dir)) {
      const match = FILE.exec(file);
      if (match) found.add(match[1]!);
    }
    if (this.lines.length) found.add(this.day);
    return [...found].sort();
  }

  /** A recorded day as a trace (CSV), or undefined. */
  async trace(day: string): Promise<string | undefined> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
    if (day === this.day) return this.lines.length ? [this.header, ...this.lines].join('\n') : undefined;
    const saved = await this.store.read(fileOf(day), dayShape.nullable(), null);
    return saved?.lines.length ? [saved.header, ...saved.lines].join('\n') : undefined;
  }

  async save(): Promise<void> {
    // Nothing new: a write already under way is still waited for.
    if (!this.dirty) return this.store.flush();
    this.dirty = false;
    await this.store.write(fileOf(this.day), { header: this.header, lines: this.lines }).catch(() => (this.dirty = true));
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.saveTimer?.cancel();
    await this.save();
  }
}
