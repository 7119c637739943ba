// Time-dependent code takes a Clock so tests can drive simulated time instead of sleeping.

export type TimerHandle = { cancel(): void };

export interface Clock {
  now(): number; // milliseconds since the epoch
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};

type Pending = { at: number; seq: number; fn: () => void; every?: number; cancelled: boolean };

/** A clock that only moves when told to; timers fire in time order during advance(). */
export class SimulatedClock implements Clock {
  private current: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 5, 21, 10, 0, 0)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.schedule(fn, Math.max(0, ms));
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.schedule(fn, Math.max(1, ms), Math.max(1, ms));
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      this.current = next.at;
      if (next.every) next.at += next.every;
      else next.cancelled = true;
      next.fn();
      this.pending = this.pending.filter((p) => !p.cancelled);
    }
    this.current = end;
  }

  private nextDue(end: number): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.pending) {
      if (p.cancelled || p.at > end) continue;
      if (!best || p.at < best.at || (p.at === best.at && p.seq < best.seq)) best = p;
    }
    return best;
  }

  private schedule(fn: () => void, ms: number, every?: number): TimerHandle {
    const entry: Pending = { at: this.current + ms, seq: this.seq++, fn, every, cancelled: false };
    this.pending.push(entry);
    return { cancel: () => (entry.cancelled = true) };
  }
}
