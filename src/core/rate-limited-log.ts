// Warnings a stranger can cause (refused HTTP requests) are logged, but at most once a minute
// per key, with how many were held back: the log says what happened without being flooded.
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

export class RateLimitedWarning {
  private windows = new Map<string, { until: number; held: number }>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly periodMs = 60_000,
  ) {}

  warn(key: string, message: string): void {
    const now = this.clock.now();
    if (this.windows.size >= 1000) {
      this.forgetExpired(now);
      // Still full (a flood from many addresses): one window for all of them.
      if (this.windows.size >= 1000 && !this.windows.has(key)) key = '(many)';
    }
    const window = this.windows.get(key);
    if (window && now < window.until) {
      window.held++;
      return;
    }
    const held = window?.held ?? 0;
    this.windows.set(key, { until: now + this.periodMs, held: 0 });
    this.log.warn(held ? `${message} (and ${held} more like it in the last ${this.periodMs / 1000} s)` : message);
  }

  private forgetExpired(now: number): void {
    for (const [key, window] of this.windows) if (now >= window.until) this.windows.delete(key);
  }
}
