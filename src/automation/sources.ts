// Named measurements the rules read: an entity of this add-on, any MQTT topic, any Home
// Assistant entity. Each keeps its latest value and when it came; without a fresh one it is
// unavailable, and the rules that read it go to their safe state.
import type { Clock } from '../core/clock.js';

export type SourceUnit = 'W' | 'kW' | '%';

export class Source {
  private latest?: number;
  private at = Number.NEGATIVE_INFINITY;
  /** Why the last message could not be used, if it could not. */
  problem?: string;
  private listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly describe: string,
    readonly staleAfterS: number,
    private readonly clock: Clock,
    private readonly invert = false,
  ) {}

  /** Takes a new value already in the source's base unit (W, or % for a state of charge). */
  set(value: number): void {
    this.latest = this.invert ? -value : value;
    this.at = this.clock.now();
    this.problem = undefined;
    for (const listener of this.listeners) listener();
  }

  /** A message that had no usable number: the old value keeps ageing towards stale. */
  reject(problem: string): void {
    this.problem = problem;
  }

  /** The value, or undefined when it is missing or older than the staleness limit. */
  get value(): number | undefined {
    return this.fresh ? this.latest : undefined;
  }

  get fresh(): boolean {
    return this.latest !== undefined && this.clock.now() - this.at <= this.staleAfterS * 1000;
  }

  /** Seconds since the last value (Infinity if none). */
  get ageS(): number {
    return (this.clock.now() - this.at) / 1000;
  }

  /** When the current value goes stale (ms since epoch). */
  get staleAt(): number {
    return this.at + this.staleAfterS * 1000;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Converts a reading to the source's base unit. */
export function toBase(value: number, unit: string | undefined): number {
  if (unit === 'kW' || unit === 'kWh') return value * 1000;
  if (unit === 'MW') return value * 1_000_000;
  return value;
}

/** Reads a number from an MQTT payload: plain text, or a JSON field by dotted path. */
export function readNumber(payload: string, jsonPath?: string): number | { problem: string } {
  let raw: unknown = payload.trim();
  if (jsonPath) {
    let doc: unknown;
    try {
      doc = JSON.parse(payload);
    } catch {
      return { problem: `payload is not JSON, so '${jsonPath}' cannot be read` };
    }
    raw = doc;
    for (const part of jsonPath.split('.')) {
      if (raw === null || typeof raw !== 'object' || !(part in raw)) return { problem: `no field '${jsonPath}' in the payload` };
      raw = (raw as Record<string, unknown>)[part];
    }
  }
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n)) return { problem: `'${String(raw).slice(0, 40)}' is not a number` };
  return n;
}
