// A time window opened and closed by two cron expressions in a named time zone (node-cron), read
// against the engine's clock so it runs the same on a simulated day as on a real one.
import type { ScheduledTask } from 'node-cron';
import { nodeCron } from './cron.js';

const MINUTE = 60_000;
const LOOK_BACK_MINUTES = 8 * 24 * 60; // far enough for weekly expressions

export class CronWindow {
  private readonly startTask: ScheduledTask;
  private readonly endTask: ScheduledTask;
  private checkedUntil?: number;
  private open = false;

  constructor(
    readonly start: string,
    readonly end: string,
    readonly timezone: string,
  ) {
    const { createTask, validate } = nodeCron();
    for (const expr of [start, end]) if (!validate(expr)) throw new Error(`'${expr}' is not a valid cron expression`);
    this.startTask = createTask(start, () => undefined, { timezone });
    this.endTask = createTask(end, () => undefined, { timezone });
  }

  /** Whether the window is open at `now`: the last of start/end to match before it was start. */
  isOpen(now: number): boolean {
    const minute = Math.floor(now / MINUTE) * MINUTE;
    let from = this.checkedUntil;
    if (from === undefined || minute < from || minute - from > LOOK_BACK_MINUTES * MINUTE) {
      this.open = this.lastEdge(minute);
      this.checkedUntil = minute;
      return this.open;
    }
    for (from += MINUTE; from <= minute; from += MINUTE) this.apply(from);
    this.checkedUntil = minute;
    return this.open;
  }

  private apply(at: number): void {
    const date = new Date(at);
    if (this.endTask.match(date)) this.open = false;
    if (this.startTask.match(date)) this.open = true;
  }

  private lastEdge(minute: number): boolean {
    for (let i = 0; i < LOOK_BACK_MINUTES; i++) {
      const date = new Date(minute - i * MINUTE);
      if (this.startTask.match(date)) return true;
      if (this.endTask.match(date)) return false;
    }
    return false;
  }

  dispose(): void {
    void this.startTask.destroy();
    void this.endTask.destroy();
  }
}
