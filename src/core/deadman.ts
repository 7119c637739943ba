// A deadman's switch on the clock: whoever drives an output feeds it with every fresh input;
// when the input stops for longer than the limit, it calls the fail-safe once (and again only
// after it was fed again). For adapters whose actuator must not keep acting on stale data.
import type { Clock, TimerHandle } from './clock.js';

export class Deadman {
  private timer?: TimerHandle;
  private tripped = false;

  constructor(
    private readonly clock: Clock,
    private readonly limitMs: number,
    private readonly onStale: () => void,
  ) {}

  /** A fresh input: the limit starts again. */
  feed(): void {
    this.tripped = false;
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => this.trip(), this.limitMs);
  }

  get isTripped(): boolean {
    return this.tripped;
  }

  private trip(): void {
    if (this.tripped) return;
    this.tripped = true;
    this.onStale();
  }

  stop(): void {
    this.timer?.cancel();
  }
}
