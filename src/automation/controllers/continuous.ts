// Follows a target export with a regulated load (a water heater's power, an EV's current): moves
// its output towards what the surplus allows, not by less than the deadband, not faster than the
// rate limit, within its range.

export interface ContinuousSettings {
  /** Export to keep (W): 100 keeps 100 W going to the grid. */
  targetExportW: number;
  /** No change while the error is inside ±deadband (W). */
  deadbandW: number;
  /** Largest change per second (W/s). */
  rateWPerS: number;
  minW: number;
  maxW: number;
  /** A step may always move this many seconds' worth of the rate (a loop faster than 1 s would otherwise barely move). */
  minStepS?: number;
}

export class ContinuousController {
  output: number;
  private lastAt?: number;

  constructor(public settings: ContinuousSettings, initial = 0) {
    this.output = initial;
  }

  /** Starts again from what the load draws now (switched on, held at its minimum, changed by hand). */
  reset(output: number, now: number): void {
    this.output = output;
    this.lastAt = now;
  }

  /** exportW: what goes to the grid now (negative when importing). Returns the new output (W). */
  step(now: number, exportW: number): number {
    const s = this.settings;
    const dt = this.lastAt === undefined ? 1 : Math.max(s.minStepS ?? 0, (now - this.lastAt) / 1000);
    this.lastAt = now;
    const error = exportW - s.targetExportW; // positive: more can be taken
    if (Math.abs(error) <= s.deadbandW) return this.output;
    const maxStep = s.rateWPerS * dt;
    const change = Math.max(-maxStep, Math.min(maxStep, error));
    this.output = Math.max(s.minW, Math.min(s.maxW, this.output + change));
    return this.output;
  }
}
