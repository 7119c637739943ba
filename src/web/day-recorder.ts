// Records the measurements the rules use (automation.sources), one row every 10 s, one file a
// day for the last 7 days: the days the page can replay through the rules. A row is a line of
// the trace format `npm run simulate` reads (time, one column per source), so a day is bounded
// (8640 lines) and can be replayed as it is.
//
// A day is a CSV file the recorder only appends to: the rows since the last write every 15
// minutes and on stop, never the whole day again (an SD card wears by what is written). Days are
// cut at local midnight, in automation.timezone (or the process's zone), so a solar day is one
// file. A row torn by a crash is dropped when the file is read.
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Store } from '../core/store.js';
import type { Measurement } from '../measurements/measurement.js';

const EVERY_MS = 10_000;
/** How often the rows recorded since are appended to the day's file. */
export const SAVE_EVERY_MS = 15 * 60_000;
export const DAYS_KEPT = 7;
const FILE = /^web_day_(\d{4}-\d{2}-\d{2})\.(csv|json)$/;
/** The JSON files earlier versions wrote (read only). */
const dayShape = z.object({ header: z.string(), lines: z.array(z.string()) });

const formats = new Map<string, Intl.DateTimeFormat>();
/** The calendar day (YYYY-MM-DD) of `t` in `timeZone` (default: the process's zone). */
export function dayOf(t: number, timeZone?: string): string {
  const key = timeZone ?? '';
  let format = formats.get(key);
  if (!format) formats.set(key, (format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  const parts = Object.fromEntries(format.formatToParts(t).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}
const fileOf = (day: string): string => `web_day_${day}`;

export class DayRecorder {
  private day = '';
  private lines: string[] = [];
  /** Rows of `day` not yet in its file. */
  private pending: string[] = [];
  /** The file of `day` must be written afresh (a new day, other columns, a torn row). */
  private rewrite = true;
  private header: string;
  private timer?: TimerHandle;
  private saveTimer?: TimerHandle;

  constructor(
    private readonly sources: ReadonlyMap<string, Measurement>,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly timeZone?: string,
  ) {
    this.header = ['time', ...this.names()].join(',');
  }

  /** Sources with a number to record (a boost flag or a text is not replayed). */
  private names(): string[] {
    return [...this.sources.keys()].sort();
  }

  private csvOf(day: string): string {
    return join(this.store.dir, `${fileOf(day)}.csv`);
  }

  async start(): Promise<void> {
    this.day = dayOf(this.clock.now(), this.timeZone);
    // A day an earlier version began as JSON goes on in CSV.
    const saved = this.readCsv(this.day) ?? (await this.store.read(fileOf(this.day), dayShape.nullable(), null).then((d) => d && { ...d, torn: true }));
    // Sources changed since: the day starts again, its columns would not match.
    if (saved && saved.header === this.header) {
      this.lines = saved.lines;
      this.rewrite = saved.torn;
    } else {
      this.lines = [];
      this.rewrite = true;
    }
    this.timer = this.clock.setInterval(() => this.sample(), EVERY_MS);
    this.saveTimer = this.clock.setInterval(() => void this.save(), SAVE_EVERY_MS);
  }

  /** A day's CSV file: its header, its whole rows, and whether a row was torn. */
  private readCsv(day: string): { header: string; lines: string[]; torn: boolean } | undefined {
    let text: string;
    try {
      text = readFileSync(this.csvOf(day), 'utf8');
    } catch {
      return undefined;
    }
    const rows = text.split('\n');
    const header = rows.shift() ?? '';
    const columns = header.split(',').length;
    // The last element is '' when the file ends with a newline; anything else is a torn row.
    const torn = rows.at(-1) !== '';
    const lines = rows.filter((row, i) => row !== '' && (i < rows.length - 1 || !torn) && row.split(',').length === columns);
    return { header, lines, torn: torn || lines.length !== rows.length - 1 };
  }

  private sample(): void {
    const now = this.clock.now();
    const day = dayOf(now, this.timeZone);
    if (day !== this.day) {
      this.writeRows();
      this.day = day;
      this.lines = [];
      this.pending = [];
      this.rewrite = true;
      this.forgetOldDays();
    }
    const cells = this.names().map((name) => {
      const value = this.sources.get(name)?.value;
      return typeof value === 'number' && Number.isFinite(value) ? String(Math.round(value * 100) / 100) : '';
    });
    if (cells.every((c) => c === '')) return;
    const line = [new Date(now).toISOString(), ...cells].join(',');
    this.lines.push(line);
    this.pending.push(line);
  }

  private forgetOldDays(): void {
    const oldest = dayOf(this.clock.now() - DAYS_KEPT * 86_400_000, this.timeZone);
    for (const file of readdirSync(this.store.dir)) {
      const match = FILE.exec(file);
      if (match && match[1]! < oldest) rmSync(join(this.store.dir, file), { force: true });
    }
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
    const csv = this.readCsv(day);
    if (csv) return csv.lines.length ? [csv.header, ...csv.lines].join('\n') : undefined;
    const saved = await this.store.read(fileOf(day), dayShape.nullable(), null);
    return saved?.lines.length ? [saved.header, ...saved.lines].join('\n') : undefined;
  }

  /** Appends the rows recorded since the last write (the whole day only when it starts afresh). */
  private writeRows(): void {
    if (!this.pending.length && !(this.rewrite && this.lines.length)) return;
    const file = this.csvOf(this.day);
    try {
      if (this.rewrite || !existsSync(file)) {
        writeFileSync(file, [this.header, ...this.lines].join('\n') + '\n');
        this.rewrite = false;
      } else {
        appendFileSync(file, this.pending.join('\n') + '\n');
      }
      this.pending = [];
    } catch {
      // Tried again at the next write, as a whole.
      this.rewrite = true;
    }
  }

  async save(): Promise<void> {
    this.writeRows();
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.saveTimer?.cancel();
    await this.save();
  }
}
