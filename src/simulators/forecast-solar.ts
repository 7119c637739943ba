// forecast.solar's estimate endpoint on a real HTTP socket, in the shapes of the API's answers
// (doc.forecast.solar; the answers recorded in home-assistant-libs/forecast_solar's test
// fixtures forecast.json and ratelimit.json):
//   GET /estimate/:lat/:lon/:dec/:az/:kwp and /:apikey/estimate/…, `?time=iso8601` for times
//   with their offset (else "YYYY-MM-DD HH:MM:SS" local), today and tomorrow in the plane's
//   time zone: result.watts, watt_hours_period, watt_hours, watt_hours_day; message with code,
//   type, text, pid, info (place, timezone, time) and ratelimit (zone, period, limit, remaining);
//   X-Ratelimit-* headers.
//   A rate limit per calling address over a rolling period (12 calls an hour without a key, 60
//   with one): 429 with message.ratelimit["retry-at"] (local time with offset) and
//   X-Ratelimit-Retry-At. A location or orientation out of range: 422 with message.text. An
//   unknown key: 401.
// The day's curve is a half sine from sunrise to sunset (local times, settable), peaking at
// kwp × peak_factor; points at sunrise, every full hour and sunset, as the real API gives them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { HttpSimulator } from './http-simulator.js';

export interface ForecastSolarSimOptions {
  /** The simulator's clock (ms since epoch), so a test moves its days and rate window. */
  now?: () => number;
  /** The planes' time zone (the real API finds it from the location). */
  timeZone?: string;
  /** Local sunrise and sunset, HH:MM:SS. */
  sunrise?: string;
  sunset?: string;
  /** Peak power as a share of kWp. */
  peakFactor?: number;
  /** API keys that exist (personal accounts: 60 calls an hour). */
  keys?: string[];
  /** A location the service refuses although its numbers are in range (422 with this text). */
  refuseLocation?: (latitude: number, longitude: number) => string | undefined;
  /** Calls per period without a key (12) and with one (60). */
  limit?: { public?: number; personal?: number; periodS?: number };
}

export interface ForecastSolarSimRequest {
  /** The path with any API key replaced by `<key>`. */
  path: string;
  query: string;
  status: number;
  at: number;
}

export class ForecastSolarSimulator extends HttpSimulator {
  readonly requests: ForecastSolarSimRequest[] = [];
  private readonly calls = new Map<string, number[]>();
  private down = false;

  constructor(readonly options: ForecastSolarSimOptions = {}) {
    super();
  }

  /** 503 to everything (an outage), or back. */
  setDown(down: boolean): void {
    this.down = down;
  }

  /** Estimate requests that were answered (any status). */
  get estimates(): ForecastSolarSimRequest[] {
    return this.requests.filter((r) => r.path.includes('/estimate/'));
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    const keys = this.options.keys ?? [];
    const key = parts[1] === 'estimate' ? decodeURIComponent(parts[0]!) : undefined;
    const shownPath = key !== undefined ? `/<key>/${parts.slice(1).join('/')}` : url.pathname;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ path: shownPath, query: url.search, status, at: this.now() });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const pid = randomBytes(6).toString('base64url').slice(0, 8);
    const error = (status: number, text: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
      send(status, { result: status === 429 ? text : null, message: { code: status, type: 'error', text, pid, ...extra } }, headers);
    if (this.down) return error(503, 'Service temporarily unavailable');
    if (req.method !== 'GET') return error(405, 'Method not allowed');
    const args = key !== undefined ? parts.slice(2) : parts.slice(1);
    if ((key !== undefined ? parts[1] : parts[0]) !== 'estimate' || args.length !== 5) return error(404, 'Not found');
    if (key !== undefined && !keys.includes(key)) return error(401, 'Invalid API key');

    const zone = req.socket.remoteAddress ?? 'unknown';
    const periodS = this.options.limit?.periodS ?? 3600;
    const limit = key !== undefined ? (this.options.limit?.personal ?? 60) : (this.options.limit?.public ?? 12);
    const now = this.now();
    const tz = this.options.timeZone ?? 'Europe/Berlin';
    const window = (this.calls.get(zone) ?? []).filter((at) => at > now - periodS * 1000);
    this.calls.set(zone, window);
    if (window.length >= limit) {
      const retryAt = localIso(window[0]! + periodS * 1000, tz);
      return error(429, 'Rate limit for API calls reached.', { ratelimit: { zone, period: periodS, limit, 'retry-at': retryAt } }, {
        'x-ratelimit-limit': String(limit), 'x-ratelimit-period': String(periodS), 'x-ratelimit-zone': zone, 'x-ratelimit-retry-at': retryAt,
      });
    }

    const [lat, lon, dec, az, kwp] = args.map((a) => (/^-?\d+(\.\d+)?$/.test(a) ? Number(a) : Number.NaN)) as [number, number, number, number, number];
    const invalid =
      !(lat >= -90 && lat <= 90) ? 'Invalid latitude, must be between -90 and 90'
      : !(lon >= -180 && lon <= 180) ? 'Invalid longitude, must be between -180 and 180'
      : !(Number.isInteger(dec) && dec >= 0 && dec <= 90) ? 'Invalid declination, must be an integer between 0 and 90'
      : !(Number.isInteger(az) && az >= -180 && az <= 180) ? 'Invalid azimuth, must be an integer between -180 and 180'
      : !(kwp > 0) ? 'Invalid kilo watt peak, must be greater than 0'
      : this.options.refuseLocation?.(lat, lon);
    // Every valid call counts against the window, answered or not.
    window.push(now);
    if (invalid) return error(422, invalid);

    const format = url.searchParams.get('time') === 'iso8601' ? 'iso8601' : 'local';
    const result = this.estimate(kwp, now, tz, format);
    const remaining = limit - window.length;
    send(200, {
      result,
      message: {
        code: 0, type: 'success', text: '', pid,
        info: { latitude: lat, longitude: lon, distance: 0, place: 'Simulated place', timezone: tz, time: localIso(now, tz), time_utc: new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', '+00:00') },
        ratelimit: { zone, period: periodS, limit, remaining },
      },
    }, { 'x-ratelimit-limit': String(limit), 'x-ratelimit-period': String(periodS), 'x-ratelimit-remaining': String(remaining), 'x-ratelimit-zone': zone });
  }

  /** The forecast power at an instant (W), as the curve gives it: for assertions. */
  powerAt(kwp: number, at: number): number {
    const tz = this.options.timeZone ?? 'Europe/Berlin';
    const { sunrise, sunset } = this.sun(localDate(at, tz), tz);
    if (at <= sunrise || at >= sunset) return 0;
    return Math.round(kwp * 1000 * (this.options.peakFactor ?? 0.75) * Math.sin((Math.PI * (at - sunrise)) / (sunset - sunrise)));
  }

  private sun(date: string, tz: string): { sunrise: number; sunset: number } {
    return { sunrise: localToUtc(date, this.options.sunrise ?? '06:20:17', tz), sunset: localToUtc(date, this.options.sunset ?? '20:59:23', tz) };
  }

  private estimate(kwp: number, now: number, tz: string, format: 'iso8601' | 'local'): Record<string, Record<string, number>> {
    const watts: Record<string, number> = {};
    const period: Record<string, number> = {};
    const cumulative: Record<string, number> = {};
    const days: Record<string, number> = {};
    const today = localDate(now, tz);
    for (const date of [today, nextDate(today)]) {
      const { sunrise, sunset } = this.sun(date, tz);
      const times = [sunrise];
      for (let hour = Math.ceil(sunrise / 3600_000) * 3600_000; hour < sunset; hour += 3600_000) if (hour > sunrise) times.push(hour);
      times.push(sunset);
      let total = 0;
      let previous: number | undefined;
      for (const at of times) {
        const key = format === 'iso8601' ? localIso(at, tz) : localIso(at, tz).slice(0, 19).replace('T', ' ');
        const w = this.powerAt(kwp, at);
        // Energy of the period that ends here: the mean of the curve over it (a trapezoid is close).
        const wh = previous === undefined ? 0 : Math.round(((this.powerAt(kwp, previous) + w) / 2) * ((at - previous) / 3600_000));
        total += wh;
        watts[key] = w;
        period[key] = wh;
        cumulative[key] = total;
        previous = at;
      }
      days[date] = total;
    }
    return { watts, watt_hours_period: period, watt_hours: cumulative, watt_hours_day: days };
  }
}

const PARTS = (tz: string) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });

function fields(at: number, tz: string): Record<string, string> {
  return Object.fromEntries(PARTS(tz).formatToParts(at).map((p) => [p.type, p.value]));
}

/** Minutes the zone is ahead of UTC at an instant. */
function offsetMin(at: number, tz: string): number {
  const f = fields(at, tz);
  const asUtc = Date.UTC(Number(f.year), Number(f.month) - 1, Number(f.day), Number(f.hour), Number(f.minute), Number(f.second));
  return Math.round((asUtc - Math.floor(at / 1000) * 1000) / 60_000);
}

/** "2024-04-26T06:20:17+02:00" */
export function localIso(at: number, tz: string): string {
  const f = fields(at, tz);
  const off = offsetMin(at, tz);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${f.year}-${f.month}-${f.day}T${f.hour}:${f.minute}:${f.second}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function localDate(at: number, tz: string): string {
  const f = fields(at, tz);
  return `${f.year}-${f.month}-${f.day}`;
}

function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/** The instant of a local date and time in a zone. */
export function localToUtc(date: string, time: string, tz: string): number {
  const naive = Date.parse(`${date}T${time}Z`);
  const first = naive - offsetMin(naive, tz) * 60_000;
  return naive - offsetMin(first, tz) * 60_000;
}
