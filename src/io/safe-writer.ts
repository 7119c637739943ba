// The one way a setting is written to a device. A command becomes writes; each write must be on
// the allow-list and within its range (all are checked before the first is sent); a value the
// device already holds is not written again (its memory wears); the rest is written within the
// budgets per minute and per day, and confirmed by reading it back before a time limit. Every
// refusal says why. GivEnergy's registers use it; Victron's W/ + R/ topics will.
import type { Clock } from '../core/clock.js';
import type { WriteBudget } from './write-budget.js';

export class WriteRefused extends Error {}

/** What may be written to one setting. */
export interface WriteRule {
  min: number;
  max: number;
  /** A further check on the value (e.g. a time slot's minutes); returns why it is refused. */
  check?: (value: number) => string | undefined;
}

export interface Write<K> {
  key: K;
  value: number;
}

export interface DeviceAccess<K> {
  /** How a setting is named in messages ("register 116"). */
  describe(key: K): string;
  /** The value last read from the device, if known. */
  known(key: K): number | undefined;
  /** Sends one write; resolves when the device took it (what it echoed, if it echoes). */
  write(key: K, value: number): Promise<number | undefined>;
  /** Reads the setting back from the device. */
  readBack(key: K): Promise<number | undefined>;
}

export interface SafeWriterOptions<K> {
  /** The settings that may be written, each with its range (a map, or anything that looks one up). */
  allowed: Pick<ReadonlyMap<K, WriteRule>, 'get'>;
  device: DeviceAccess<K>;
  budget: WriteBudget;
  clock: Clock;
  /** How long a read-back may take before the write counts as unconfirmed. */
  confirmTimeoutMs?: number;
  /** Pause between two writes on the wire (real time; some devices cope badly with bursts). */
  minGapMs?: number;
  /** After each write sent (counters, persistence); `warn` when the day's budget reaches its warning share. */
  onWritten?: (warn: boolean) => void;
}

export class SafeWriter<K> {
  /** Writes sent since this writer was made. */
  sent = 0;
  minGapMs: number;
  private lastWriteAt = 0;
  private stopped?: string;

  constructor(private readonly options: SafeWriterOptions<K>) {
    this.minGapMs = options.minGapMs ?? 0;
  }

  /** Why this write may not be made at all (not allowed, out of range), or undefined. */
  problem(w: Write<K>): string | undefined {
    const rule = this.options.allowed.get(w.key);
    const name = this.options.device.describe(w.key);
    if (!rule) return `${name} is not on the list of settings that may be written`;
    if (!Number.isFinite(w.value) || !Number.isInteger(w.value) || w.value < rule.min || w.value > rule.max) {
      return `${w.value} is out of range for ${name} (${rule.min} to ${rule.max})`;
    }
    return rule.check?.(w.value);
  }

  /**
   * Applies a command's writes, all or nothing as far as checks go: every write is checked
   * before the first is sent. Values the device holds are skipped. Throws WriteRefused.
   */
  async apply(writes: Array<Write<K>>): Promise<{ written: number; skipped: number }> {
    for (const w of writes) {
      const problem = this.problem(w);
      if (problem) throw new WriteRefused(problem);
    }
    const needed = writes.filter((w) => this.options.device.known(w.key) !== w.value);
    if (needed.length && this.stopped) throw new WriteRefused(this.stopped);
    // The budgets for the whole command first: a clock must not be left half-set.
    const refusal = needed.length ? this.options.budget.refusal(needed.length) : undefined;
    if (refusal) throw new WriteRefused(refusal);
    for (const w of needed) await this.writeOne(w);
    return { written: needed.length, skipped: writes.length - needed.length };
  }

  /** From now on nothing is written (a fail-safe, a stop); `reason` is what refusals say. */
  stop(reason: string): void {
    this.stopped = reason;
  }

  private async writeOne(w: Write<K>): Promise<void> {
    if (this.stopped) throw new WriteRefused(this.stopped);
    const wait = this.lastWriteAt + this.minGapMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const { device } = this.options;
    // Counted before it is sent: a write that gets no answer may still have reached the memory.
    this.sent++;
    this.options.onWritten?.(this.options.budget.record());
    this.lastWriteAt = Date.now();
    let echoed: number | undefined;
    let sendError: Error | undefined;
    try {
      echoed = await device.write(w.key, w.value);
    } catch (err) {
      sendError = err as Error; // the read-back below tells whether it landed anyway
    }
    const readBack = await this.withTimeout(device.readBack(w.key)).catch((err: Error) => {
      throw sendError ?? err;
    });
    if (sendError && readBack !== w.value) throw sendError;
    if (readBack === 'timeout') throw new WriteRefused(`${device.describe(w.key)} was not confirmed within ${this.confirmMs / 1000} s after writing ${w.value}`);
    if ((echoed !== undefined && echoed !== w.value) || readBack !== w.value) {
      throw new WriteRefused(`the device did not confirm ${device.describe(w.key)}: wrote ${w.value}, it reports ${readBack ?? echoed}`);
    }
  }

  private get confirmMs(): number {
    return this.options.confirmTimeoutMs ?? 10_000;
  }

  private withTimeout<T>(work: Promise<T>): Promise<T | 'timeout'> {
    return new Promise((resolve, reject) => {
      const timer = this.options.clock.setTimeout(() => resolve('timeout'), this.confirmMs);
      work.then(
        (value) => (timer.cancel(), resolve(value)),
        (err: unknown) => (timer.cancel(), reject(err)),
      );
    });
  }
}
