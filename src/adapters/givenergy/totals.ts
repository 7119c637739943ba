// Energy totals the inverter keeps no trustworthy register for (battery charge and discharge,
// load), summed from their daily counters: total = what earlier days added up to + today. The
// energy guard only lets a daily counter drop at a new day, so a drop closes yesterday.
import { z } from 'zod';

export const totalState = z.object({ base: z.number().min(0), lastToday: z.number().min(0) });
export const totalsState = z.record(z.string(), totalState);
export type TotalsState = z.infer<typeof totalsState>;

const kwh = (n: number) => Math.round(n * 1000) / 1000;

export class DailyTotals {
  constructor(
    private state: TotalsState = {},
    /** Called when a day closes (the state must be kept then). */
    private readonly dayClosed: () => void = () => undefined,
  ) {}

  /** The total for `key` given today's counter. */
  add(key: string, today: number): number {
    const entry = (this.state[key] ??= { base: 0, lastToday: today });
    if (today < entry.lastToday) {
      entry.base = kwh(entry.base + entry.lastToday);
      this.dayClosed();
    }
    entry.lastToday = today;
    return kwh(entry.base + today);
  }

  restore(state: TotalsState): void {
    this.state = state;
  }

  toJSON(): TotalsState {
    return this.state;
  }
}
