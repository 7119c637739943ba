// How many writes a device's memory may take: a cap per minute (a runaway automation) and a
// budget per day (years of EEPROM life), both on the injected clock, the day's count kept across
// restarts by the caller. The first piece of the safe writer every adapter will share.
import { z } from 'zod';
import type { Clock } from '../core/clock.js';

export const writeBudgetState = z.object({ day: z.string(), used: z.number().int().min(0) });
export type WriteBudgetState = z.infer<typeof writeBudgetState>;

export interface WriteLimits {
  perMinute: number;
  perDay: number;
}

/** How refusals name the writes, what the limit protects and the option that sets it. */
export interface BudgetWording {
  writes: string;
  protects: string;
  option: string;
}

const REGISTER_WRITES: BudgetWording = { writes: 'register writes', protects: "the inverter's EEPROM", option: 'daily_write_budget' };

/** The share of the daily budget at which the user is warned. */
export const WARN_SHARE = 0.8;
const MINUTE = 60_000;

/** The local calendar day of a time, e.g. 2026-12-03: the budget starts again at midnight. */
export function localDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export class WriteBudget {
  private recent: number[] = [];
  private today: WriteBudgetState;

  constructor(
    private readonly clock: Clock,
    public limits: WriteLimits,
    private readonly wording: BudgetWording = REGISTER_WRITES,
  ) {
    this.today = { day: localDay(clock.now()), used: 0 };
  }

  /** Takes up the count kept from an earlier run (a count of another day starts from 0). */
  restore(saved: WriteBudgetState): void {
    this.today = { ...saved };
    this.rollOver(this.clock.now());
  }

  /**
   * Why `count` writes now would be refused, or undefined when they may all go ahead. A command
   * asks for all its writes at once, so it is never cut off half-way by a budget.
   */
  refusal(count = 1): string | undefined {
    const now = this.clock.now();
    this.rollOver(now);
    const { writes, protects, option } = this.wording;
    if (this.today.used + count > this.limits.perDay) {
      const left = Math.max(0, this.limits.perDay - this.today.used);
      return left === 0
        ? `today's budget of ${this.limits.perDay} ${writes} is spent; refused to protect ${protects} until midnight (${option})`
        : `this needs ${count} ${writes} and only ${left} of today's ${this.limits.perDay} are left; refused to protect ${protects} until midnight (${option})`;
    }
    this.recent = this.recent.filter((t) => now - t < MINUTE && t <= now);
    if (this.recent.length + count > this.limits.perMinute) {
      return `more than ${this.limits.perMinute} ${writes} in a minute; refused to protect ${protects}`;
    }
    return undefined;
  }

  /** Counts a write; true when it is the one that reaches the warning share of the day's budget. */
  record(): boolean {
    const now = this.clock.now();
    this.rollOver(now);
    this.recent.push(now);
    this.today.used++;
    return this.today.used === Math.ceil(this.limits.perDay * WARN_SHARE);
  }

  /** Writes left today (never below 0). */
  left(): number {
    this.rollOver(this.clock.now());
    return Math.max(0, this.limits.perDay - this.today.used);
  }

  get used(): number {
    this.rollOver(this.clock.now());
    return this.today.used;
  }

  state(): WriteBudgetState {
    return { ...this.today };
  }

  /** A new day starts the count again; a clock set back across midnight does not. */
  private rollOver(now: number): void {
    const day = localDay(now);
    if (day > this.today.day) this.today = { day, used: 0 };
  }
}
