// Calls to the myVaillant API under a request budget. A 403 "Out of call volume quota" or any
// Retry-After stops every request until it has passed; 401 gets a fresh token once; 5xx backs
// off. Requests are counted in a sliding hour so polling never spends the budget commands need.
// That is this layer's retry policy, so the HTTP client retries nothing here: a retry it made
// would be a request the budget never saw, and a Retry-After it waited for would hold a poll.
import type { Got, Response } from 'got';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { http } from '../../io/http.js';
import { LoginError, failureReason, type VaillantSession } from './auth.js';
import { quote } from '../../core/outside-text.js';

export { API_URL } from './api-url.js';
const HOUR = 3_600_000;
const HEADERS = {
  'x-app-identifier': 'VAILLANT',
  'x-client-locale': 'en-GB',
  'x-idm-identifier': 'KEYCLOAK',
  'accept-language': 'en-GB',
  accept: 'application/json, text/plain, */*',
  // The app's public API Management key, the same in every client of this API.
  'ocp-apim-subscription-key': '1e0a2f3511fb4c5bbb1c7f9fedd20b1c',
  'user-agent': 'okhttp/4.9.2',
};

/** Which root a path is under: the end-user app API (`api_url`), or the two VRC700 roots next to it. */
export type ApiBase = 'app' | 'vrc700' | 'control';

/** The root of a base: vrc700/v1 and system-control/v1 sit beside end-user-app-api/v1. */
export function baseUrl(apiUrl: string, base: ApiBase): string {
  const app = apiUrl.replace(/\/+$/, '');
  if (base === 'app') return app;
  const root = app.replace(/\/end-user-app-api\/v1$/, '');
  return `${root}/${base === 'vrc700' ? 'vrc700' : 'system-control'}/v1`;
}

export class ApiError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** "Quota will be replenished in 00:49:47" (or "3.11:17:14" with days) -> seconds. */
export function replenishSeconds(message: string): number | undefined {
  const m = /replenished in (?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})/.exec(message);
  if (!m) return undefined;
  return Number(m[1] ?? 0) * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

export class VaillantApi {
  private sent: number[] = [];
  /** No request at all before this time (quota, Retry-After, outage back-off). */
  pausedUntil = 0;
  pauseReason?: string;
  private failures = 0;
  private readonly http: Got;

  constructor(
    private readonly options: { apiUrl: string; session: VaillantSession; clock: Clock; log: Logger; budgetPerHour: number; http?: Got },
  ) {
    this.http = (options.http ?? http).extend({
      headers: HEADERS,
      timeout: { request: 30_000 },
      retry: { limit: 0 },
      throwHttpErrors: false,
      responseType: 'text',
    });
  }

  /** Requests made in the last hour. */
  get usedThisHour(): number {
    const now = this.options.clock.now();
    this.sent = this.sent.filter((t) => now - t < HOUR);
    return this.sent.length;
  }

  /** Whether `count` more requests fit the budget, keeping `reserve` for commands. */
  fits(count: number, reserve = 0): boolean {
    return this.options.clock.now() >= this.pausedUntil && this.usedThisHour + count + reserve <= this.options.budgetPerHour;
  }

  async request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, base: ApiBase = 'app'): Promise<unknown> {
    const now = this.options.clock.now();
    if (now < this.pausedUntil) {
      throw new ApiError(`requests to myVaillant are paused until ${new Date(this.pausedUntil).toISOString()} (${this.pauseReason})`);
    }
    if (this.usedThisHour >= this.options.budgetPerHour) {
      throw new ApiError(`the budget of ${this.options.budgetPerHour} myVaillant requests per hour is spent`);
    }
    let res: Response<string>;
    try {
      res = await this.send(method, path, body, base);
      if (res.statusCode === 401) {
        this.options.session.invalidate();
        // The retry is a request of its own: it too must fit the budget.
        if (this.usedThisHour >= this.options.budgetPerHour) {
          throw new ApiError(`myVaillant refused ${method} ${path.split('?')[0]} (HTTP 401) and the budget of ${this.options.budgetPerHour} requests per hour has no room for a retry with a new token`, 401);
        }
        res = await this.send(method, path, body, base);
      }
    } catch (err) {
      if (err instanceof LoginError || err instanceof ApiError) throw err;
      // A network error or a timeout, in words (DNS, unreachable, refused, timeout).
      throw new ApiError(`myVaillant could not be reached for ${method} ${path.split('?')[0]}: ${failureReason(err)}`);
    }
    const status = res.statusCode;
    const text = res.body;
    const retryAfter = Number(res.headers['retry-after']);
    if (status === 403 && /quota/i.test(text)) {
      const seconds = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : (replenishSeconds(text) ?? 3 * 3600);
      this.pause(seconds, 'call volume quota exhausted');
      throw new ApiError(`myVaillant quota exhausted; no requests for ${Math.round(seconds / 60)} min`, 403);
    }
    if (Number.isFinite(retryAfter) && retryAfter > 0) this.pause(retryAfter, `Retry-After from HTTP ${status}`);
    if (status >= 500) {
      this.failures++;
      this.pause(Math.min(900, 30 * 2 ** (this.failures - 1)), `myVaillant answered ${status}`);
      throw new ApiError(`myVaillant is unavailable (HTTP ${status})`, status);
    }
    // The cloud's body is outside text: quoted, escaped and cut before it reaches a log or a sensor.
    if (status < 200 || status > 299) throw new ApiError(`myVaillant refused ${method} ${path}: HTTP ${status} ${quote(text)}`, status);
    this.failures = 0;
    if (!text) return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ApiError(`myVaillant sent something that is not JSON for ${method} ${path}`);
    }
  }

  private pause(seconds: number, reason: string): void {
    const until = this.options.clock.now() + seconds * 1000;
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.pauseReason = reason;
      this.options.log.warn(`pausing myVaillant requests for ${Math.round(seconds)} s: ${reason}`);
    }
  }

  /** One request, counted; a network error or a timeout is thrown as the client's HttpError. */
  private async send(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body: unknown, base: ApiBase): Promise<Response<string>> {
    const token = await this.options.session.token();
    this.sent.push(this.options.clock.now());
    return this.http(`${baseUrl(this.options.apiUrl, base)}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { json: body } : {}),
    });
  }
}
