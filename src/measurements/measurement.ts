// One measured value with its age: a grid power, a state of charge, a tank temperature, whether a
// boost runs. Whoever reads it gets the value only while it is fresh; a stale or missing one is
// undefined, and why() says which source and why, in words for the reason sentences in HA.
import type { Clock } from '../core/clock.js';

export type MeasuredValue = number | boolean | string;

export class Measurement<T extends MeasuredValue = number> {
  private latest?: T;
  private at = Number.NEGATIVE_INFINITY;
  /** Why the last message could not be used, if it could not. */
  problem?: string;
  private listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    /** Where it comes from, e.g. "MQTT home/grid" or "entity vaillant_x_dhw_255/temperature". */
    readonly describe: string,
    readonly staleAfterS: number,
    private readonly clock: Clock,
    private readonly invert = false,
  ) {}

  /** Takes a new value, already in the measurement's base unit (W, %, °C). */
  set(value: T): void {
    this.latest = (this.invert && typeof value === 'number' ? -value : value) as T;
    this.at = this.clock.now();
    this.problem = undefined;
    for (const listener of this.listeners) listener();
  }

  /** A message that had no usable value: the old one keeps ageing towards stale. */
  reject(problem: string): void {
    this.problem = problem;
  }

  /** The value, or undefined when it is missing or older than the staleness limit. */
  get value(): T | undefined {
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

  /** Why there is no value: which source, since when, and the last message's problem. */
  why(): string {
    if (this.ageS === Infinity) return `no value yet from source '${this.name}'${this.problem ? ` (${this.problem})` : ''}`;
    return `no fresh value from source '${this.name}' for ${Math.round(this.ageS)} s (limit ${this.staleAfterS} s)${this.problem ? `; last message: ${this.problem}` : ''}`;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Converts a reading to the base unit: W for power, Wh for energy. */
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
