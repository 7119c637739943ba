// On/off control with delays and compressor protection. The rule says whether starting is
// justified and whether stopping is needed; this decides when the switch actually moves.

export interface OnOffSettings {
  enableDelayS: number;
  disableDelayS: number;
  /** Minimum time on once started, and off once stopped (compressor protection). */
  minOnS: number;
  minOffS: number;
  /** 0 = no limit. */
  maxStartsPerHour: number;
}

export type OnOffState = 'off' | 'waiting' | 'on' | 'holding' | 'blocked';

export interface OnOffStep {
  on: boolean;
  changed: boolean;
  state: OnOffState;
  /** What the controller adds to the rule's reason: a timer, a protection. */
  detail?: string;
  /** When the next change can happen, if a timer is running (ms since epoch). */
  nextChangeAt?: number;
}

const HOUR = 3_600_000;

export class OnOffController {
  on = false;
  private lastSwitch = Number.NEGATIVE_INFINITY;
  private startTimes: number[] = [];
  private enableSince?: number;
  private disableSince?: number;

  constructor(public settings: OnOffSettings) {}

  /** The state the switch was found in (e.g. after a restart), without counting a start. */
  assume(on: boolean, now: number): void {
    this.on = on;
    this.lastSwitch = now;
  }

  step(now: number, wants: { start: boolean; stop: boolean }): OnOffStep {
    const s = this.settings;
    if (!this.on) {
      this.disableSince = undefined;
      if (!wants.start) {
        this.enableSince = undefined;
        return { on: false, changed: false, state: 'off' };
      }
      this.enableSince ??= now;
      const waited = now - this.enableSince;
      if (waited < s.enableDelayS * 1000) {
        return { on: false, changed: false, state: 'waiting', detail: `${secs(waited)} of ${secs(s.enableDelayS * 1000)}`, nextChangeAt: this.enableSince + s.enableDelayS * 1000 };
      }
      const offFor = now - this.lastSwitch;
      if (offFor < s.minOffS * 1000) {
        return { on: false, changed: false, state: 'blocked', detail: `minimum off time, ${duration(offFor)} of ${duration(s.minOffS * 1000)}`, nextChangeAt: this.lastSwitch + s.minOffS * 1000 };
      }
      this.startTimes = this.startTimes.filter((t) => now - t < HOUR);
      if (s.maxStartsPerHour > 0 && this.startTimes.length >= s.maxStartsPerHour) {
        return { on: false, changed: false, state: 'blocked', detail: `${this.startTimes.length} starts in the last hour (at most ${s.maxStartsPerHour})`, nextChangeAt: this.startTimes[0]! + HOUR };
      }
      this.switchTo(true, now);
      this.startTimes.push(now);
      return { on: true, changed: true, state: 'on' };
    }
    this.enableSince = undefined;
    if (!wants.stop) {
      this.disableSince = undefined;
      return { on: true, changed: false, state: 'on' };
    }
    this.disableSince ??= now;
    const waited = now - this.disableSince;
    if (waited < s.disableDelayS * 1000) {
      return { on: true, changed: false, state: 'holding', detail: `${secs(waited)} of ${secs(s.disableDelayS * 1000)}`, nextChangeAt: this.disableSince + s.disableDelayS * 1000 };
    }
    const onFor = now - this.lastSwitch;
    if (onFor < s.minOnS * 1000) {
      return { on: true, changed: false, state: 'holding', detail: `minimum on time, ${duration(onFor)} of ${duration(s.minOnS * 1000)}`, nextChangeAt: this.lastSwitch + s.minOnS * 1000 };
    }
    this.switchTo(false, now);
    return { on: false, changed: true, state: 'off' };
  }

  /** Switches off at once (safe state, rule disabled): no delay, no protection can hold it. */
  forceOff(now: number): boolean {
    this.enableSince = undefined;
    this.disableSince = undefined;
    if (!this.on) return false;
    this.switchTo(false, now);
    return true;
  }

  private switchTo(on: boolean, now: number): void {
    this.on = on;
    this.lastSwitch = now;
    this.enableSince = undefined;
    this.disableSince = undefined;
  }
}

export function secs(ms: number): string {
  return `${Math.floor(ms / 1000)} s`;
}

export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  return `${Math.floor(s / 60)} min`;
}
