// A forecast.solar source: the PV power forecast for this moment, read off the day's `watts`
// curve of the estimate endpoint (interpolated between its points, 0 at night). The free tier
// allows 12 calls per hour per address and the forecast changes slowly, so a forecast is fetched
// on the first use and then every few hours, kept in the store across restarts, and a 429 is
// honoured until its `retry-at`: nothing is asked before then, a restart included. Sources with
// the same plane share one forecast.
import type { Got } from 'got';
import { z } from 'zod';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import { clip, oneLine, quote } from '../core/outside-text.js';
import { Measurement } from './measurement.js';
import type { ForecastSolarSourceOptions } from './options.js';

/** A new forecast this often: 6 calls a day at most, where the free tier allows 12 an hour. */
export const FORECAST_REFRESH_MS = 4 * 3600_000;
/** After a network error or a 5xx. */
export const FORECAST_RETRY_MS = 15 * 60_000;
/** A 429 without a usable retry-at waits this long (the free tier's window is an hour). */
export const FORECAST_RATE_LIMIT_WAIT_MS = 3600_000;
/** How often the value is read off the curve again: it moves, and its age must stay small. */
export const FORECAST_TICK_MS = 15_000;
const STORE_NAME = 'forecast-solar';

export interface CloudDeps {
  clock: Clock;
  log: Logger;
  /** The shared HTTP client, loaded on first use. */
  http: () => Promise<Got>;
  /** Where forecasts and retry times survive a restart; without one they live in memory. */
  store?: Store;
}

/** One point of the `watts` curve: ms since epoch, W. */
type Point = [at: number, watts: number];

const stored = z.record(
  z.string(),
  z.object({ fetched_at: z.number().optional(), watts: z.array(z.tuple([z.number(), z.number()])).default([]), retry_at: z.number().optional() }),
);
type Stored = z.infer<typeof stored>;

/** The forecast.solar sources of the add-on: one plane per distinct set of options. */
export class ForecastSolarHub {
  private readonly planes = new Map<string, Plane>();
  private memory?: Promise<Stored>;
  private tick?: TimerHandle;

  constructor(private readonly deps: CloudDeps) {}

  /** A measurement in W of the forecast power now. */
  measurement(name: string, o: ForecastSolarSourceOptions, staleAfterS: number, invert = false): Measurement {
    const key = planeKey(o);
    const measurement = new Measurement(name, `forecast.solar ${key}`, staleAfterS, this.deps.clock, invert);
    let plane = this.planes.get(key);
    if (!plane) {
      plane = new Plane(key, o, this.deps, () => this.persist());
      this.planes.set(key, plane);
      const started = plane;
      void this.load().then((memory) => started.start(memory[key]));
    }
    plane.measurements.push(measurement);
    this.tick ??= this.deps.clock.setInterval(() => this.update(), FORECAST_TICK_MS);
    return measurement;
  }

  /** Every measurement set from its plane's curve (or told why it cannot be). */
  update(): void {
    for (const plane of this.planes.values()) plane.update();
  }

  stop(): void {
    this.tick?.cancel();
    for (const plane of this.planes.values()) plane.stop();
  }

  private load(): Promise<Stored> {
    this.memory ??= this.deps.store
      ? this.deps.store.read(STORE_NAME, stored, {}).catch((err: Error) => {
          this.deps.log.warn(`forecast.solar: the stored forecasts could not be read (${err.message}); fetching new ones`);
          return {};
        })
      : Promise.resolve({});
    return this.memory;
  }

  private persist(): void {
    if (!this.deps.store) return;
    const all: Stored = {};
    for (const [key, plane] of this.planes) all[key] = plane.snapshot();
    this.deps.store.write(STORE_NAME, all).catch((err: Error) => this.deps.log.warn(`forecast.solar: the forecast could not be stored (${err.message})`));
  }
}

/** The plane's identity (no API key in it: it names the store entry and the measurement). */
function planeKey(o: ForecastSolarSourceOptions): string {
  const host = new URL(o.url).host;
  return `${host} ${o.latitude}/${o.longitude}/${o.declination}/${o.azimuth}/${o.kwp}`;
}

class Plane {
  readonly measurements: Measurement[] = [];
  private points: Point[] = [];
  private fetchedAt?: number;
  private retryAt?: number;
  /** Why the last fetch gave nothing, in words for a reason sentence. */
  private problem?: string;
  private timer?: TimerHandle;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    private readonly key: string,
    private readonly o: ForecastSolarSourceOptions,
    private readonly deps: CloudDeps,
    private readonly persist: () => void,
  ) {
    this.log = deps.log;
  }

  start(memory: Stored[string] | undefined): void {
    if (this.stopped) return;
    const now = this.deps.clock.now();
    if (memory?.fetched_at !== undefined && memory.watts.length) {
      this.points = memory.watts;
      this.fetchedAt = memory.fetched_at;
    }
    if (memory?.retry_at !== undefined && memory.retry_at > now) this.retryAt = memory.retry_at;
    this.update();
    const due = Math.max(this.fetchedAt !== undefined && this.covers(now) ? this.fetchedAt + FORECAST_REFRESH_MS : now, this.retryAt ?? now);
    if (due > now) {
      const next = new Date(due).toISOString();
      if (this.fetchedAt !== undefined && this.covers(now)) this.log.info(`forecast.solar ${this.key}: using the stored forecast from ${new Date(this.fetchedAt).toISOString()}; next fetch at ${next}`);
      else this.log.info(`forecast.solar ${this.key}: its rate limit asked to wait; next fetch at ${next}`);
    }
    this.schedule(due - now);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  snapshot(): Stored[string] {
    return { fetched_at: this.fetchedAt, watts: this.points, retry_at: this.retryAt };
  }

  update(): void {
    const now = this.deps.clock.now();
    const watts = powerAt(this.points, now);
    for (const measurement of this.measurements) {
      if (watts !== undefined) measurement.set(watts);
      else measurement.reject(this.problem ?? (this.fetchedAt === undefined ? 'no forecast fetched yet' : `the forecast fetched ${new Date(this.fetchedAt).toISOString()} does not reach this time`));
    }
  }

  private covers(at: number): boolean {
    return powerAt(this.points, at) !== undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    // Due now: at once (a simulated clock fires even a 0 ms timer only when it moves).
    if (ms <= 0) void this.fetch();
    else this.timer = this.deps.clock.setTimeout(() => void this.fetch(), ms);
  }

  /** The path with the API key in it is never logged nor put in a reason: errors name the plane. */
  private url(): string {
    const o = this.o;
    const base = o.url.replace(/\/+$/, '');
    const key = o.api_key !== undefined ? `/${encodeURIComponent(o.api_key)}` : '';
    return `${base}${key}/estimate/${o.latitude}/${o.longitude}/${o.declination}/${o.azimuth}/${o.kwp}?time=iso8601`;
  }

  private async fetch(): Promise<void> {
    if (this.stopped) return;
    const now = this.deps.clock.now();
    if (this.retryAt !== undefined && now < this.retryAt) {
      this.schedule(this.retryAt - now);
      return;
    }
    let next: number;
    try {
      const http = (await this.deps.http()).extend({ retry: { limit: 0 }, throwHttpErrors: false });
      const response = await http.get(this.url(), { responseType: 'text', headers: { accept: 'application/json' } });
      if (this.stopped) return;
      next = this.answer(response.statusCode, response.body, response.headers);
    } catch (err) {
      if (this.stopped) return;
      const e = err as { code?: string; statusCode?: number };
      this.problem = `forecast.solar could not be reached (${e.code ?? 'error'})`;
      this.log.warn(`forecast.solar ${this.key}: ${this.problem}; next try in ${FORECAST_RETRY_MS / 60_000} min`);
      next = FORECAST_RETRY_MS;
    }
    this.persist();
    this.update();
    this.schedule(this.retryAt !== undefined ? Math.max(next, this.retryAt - this.deps.clock.now()) : next);
  }

  /** Takes an answer; returns the wait until the next fetch. */
  private answer(status: number, body: string, headers: Record<string, string | string[] | undefined>): number {
    const now = this.deps.clock.now();
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      doc = undefined;
    }
    const message = messageOf(doc);
    if (status === 200) {
      const points = curveOf(doc);
      if (typeof points === 'string') {
        this.problem = `forecast.solar answered in an unexpected shape (${points})`;
        this.log.warn(`forecast.solar ${this.key}: ${this.problem}`);
        return FORECAST_RETRY_MS;
      }
      this.points = points;
      this.fetchedAt = now;
      this.retryAt = undefined;
      this.problem = undefined;
      const limit = message?.ratelimit;
      this.log.info(`forecast.solar ${this.key}: forecast fetched (${points.length} points${limit?.limit !== undefined ? `; ${limit.remaining ?? '?'} of ${limit.limit} calls per ${limit.period ?? '?'} s left` : ''})`);
      return FORECAST_REFRESH_MS;
    }
    const text = message?.text ? quote(message.text, 120) : `HTTP ${status}`;
    if (status === 429) {
      const retryAt = retryAtOf(message?.ratelimit?.['retry-at'], headers, now) ?? now + FORECAST_RATE_LIMIT_WAIT_MS;
      // A retry-at in the past or days ahead is not believed beyond these bounds.
      this.retryAt = Math.min(Math.max(retryAt, now + 60_000), now + 24 * 3600_000);
      this.problem = `forecast.solar's rate limit is reached; next try at ${new Date(this.retryAt).toISOString()}`;
      this.log.warn(`forecast.solar ${this.key}: rate limit reached (${text}); no request before ${new Date(this.retryAt).toISOString()}`);
      return this.retryAt - now;
    }
    if (status === 422 || status === 400) {
      this.problem = `forecast.solar refused the plane's location or orientation: ${text}`;
      this.log.warn(`forecast.solar ${this.key}: ${this.problem}; check automation.sources forecast_solar (latitude, longitude, declination 0..90, azimuth -180..180, kwp)`);
      return FORECAST_REFRESH_MS;
    }
    if (status === 401 || status === 403) {
      this.problem = `forecast.solar refused the API key: ${text}`;
      this.log.warn(`forecast.solar ${this.key}: ${this.problem}`);
      return FORECAST_REFRESH_MS;
    }
    this.problem = `forecast.solar answered HTTP ${status}`;
    this.log.warn(`forecast.solar ${this.key}: ${this.problem} (${text}); next try in ${FORECAST_RETRY_MS / 60_000} min`);
    return FORECAST_RETRY_MS;
  }
}

interface Message {
  text?: string;
  ratelimit?: { limit?: number; remaining?: number; period?: number; 'retry-at'?: string };
}

function messageOf(doc: unknown): Message | undefined {
  const message = (doc as { message?: unknown } | undefined)?.message;
  if (!message || typeof message !== 'object') return undefined;
  const m = message as Record<string, unknown>;
  const r = m.ratelimit && typeof m.ratelimit === 'object' ? (m.ratelimit as Record<string, unknown>) : undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return {
    text: typeof m.text === 'string' ? m.text : undefined,
    ratelimit: r ? { limit: num(r.limit), remaining: num(r.remaining), period: num(r.period), 'retry-at': typeof r['retry-at'] === 'string' ? r['retry-at'] : undefined } : undefined,
  };
}

/** The `watts` curve of an estimate, sorted; or what is wrong with the answer. */
export function curveOf(doc: unknown): Point[] | string {
  const watts = (doc as { result?: { watts?: unknown } } | undefined)?.result?.watts;
  if (!watts || typeof watts !== 'object' || Array.isArray(watts)) return 'no result.watts';
  const points: Point[] = [];
  for (const [time, value] of Object.entries(watts as Record<string, unknown>)) {
    const at = /[T ]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)$/.test(time) ? Date.parse(time.replace(' ', 'T')) : Number.NaN;
    if (!Number.isFinite(at)) return `a time without its offset: ${quote(clip(oneLine(time), 40))}`;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return `not a power: ${quote(clip(String(value), 40))}`;
    points.push([at, value]);
  }
  if (points.length === 0) return 'an empty forecast';
  return points.sort((a, b) => a[0] - b[0]);
}

/**
 * The forecast power at `at`: linear between the curve's points (between sunset and the next
 * sunrise both are 0); 0 in the night before the first sunrise; undefined beyond the curve.
 */
export function powerAt(points: readonly Point[], at: number): number | undefined {
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last) return undefined;
  if (at < first[0]) return first[1] === 0 && first[0] - at <= 24 * 3600_000 ? 0 : undefined;
  if (at > last[0]) return undefined;
  let low = 0;
  let high = points.length - 1;
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (points[mid]![0] <= at) low = mid;
    else high = mid;
  }
  const [t0, w0] = points[low]!;
  const [t1, w1] = points[high]!;
  return t1 === t0 ? w1 : Math.round(w0 + ((w1 - w0) * (at - t0)) / (t1 - t0));
}

/** When a 429 says to come back: the body's retry-at, X-Ratelimit-Retry-At, or Retry-After. */
function retryAtOf(bodyValue: string | undefined, headers: Record<string, string | string[] | undefined>, now: number): number | undefined {
  const header = (name: string) => [headers[name]].flat()[0];
  for (const value of [bodyValue, header('x-ratelimit-retry-at')]) {
    const at = value !== undefined ? Date.parse(value) : Number.NaN;
    if (Number.isFinite(at)) return at;
  }
  const after = header('retry-after');
  if (after !== undefined) {
    if (/^\d+$/.test(after.trim())) return now + Number(after) * 1000;
    const at = Date.parse(after);
    if (Number.isFinite(at)) return at;
  }
  return undefined;
}
