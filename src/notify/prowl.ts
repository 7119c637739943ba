// Prowl's public API (https://www.prowlapp.com/api.php): POST {url}/add as a form, answered in
// XML with the calls left this hour and when the count resets. A 406 means the hourly limit is
// used up; this client then sends nothing until the reset instead of knocking every time.
// The API key travels in the form body (or the query of /verify): it is registered as a secret,
// and no error this module throws carries got's error, its options or the key.
import type { Got } from 'got';
import type { Clock } from '../core/clock.js';
import type { Secrets } from '../core/secrets.js';
import { quote } from '../core/outside-text.js';
import { HttpError } from '../io/http.js';
import { PROWL_URL, prowlKeys } from './options.js';

export const PROWL_APPLICATION = 'energy2mqtt';
/** Prowl's limits on the fields, in characters. */
export const PROWL_MAX = { application: 256, event: 1024, description: 10_000 } as const;
/** Prowl counts calls per hour; a 406 without a known reset date holds sending back this long. */
export const PROWL_LIMIT_WINDOW_MS = 3_600_000;

export type ProwlAnswer =
  | { ok: true; code: number; remaining?: number; resetAt?: number }
  | { ok: false; code: number; message: string };

/**
 * Prowl's XML answer: `<success code="200" remaining="981" resetdate="1735714800"/>` or
 * `<error code="401">Invalid API key</error>`; undefined for anything else. resetAt is in ms.
 */
export function parseProwlAnswer(xml: string): ProwlAnswer | undefined {
  if (typeof xml !== 'string') return undefined;
  const success = /<success\b([^>]*)>/i.exec(xml);
  if (success) {
    const attrs = attributes(success[1]!);
    const code = whole(attrs.code) ?? 200;
    const resetdate = whole(attrs.resetdate);
    return {
      ok: true,
      code,
      ...(whole(attrs.remaining) !== undefined ? { remaining: whole(attrs.remaining)! } : {}),
      ...(resetdate !== undefined ? { resetAt: resetdate * 1000 } : {}),
    };
  }
  const error = /<error\b([^>]*)>([\s\S]*?)<\/error>/i.exec(xml) ?? /<error\b([^>]*?)\/>()/i.exec(xml);
  if (error) {
    const code = whole(attributes(error[1]!).code);
    if (code === undefined) return undefined;
    return { ok: false, code, message: unescapeXml(error[2]!).trim() };
  }
  return undefined;
}

function attributes(text: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const m of text.matchAll(/([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) found[m[1]!.toLowerCase()] = unescapeXml(m[2] ?? m[3] ?? '');
  return found;
}

function whole(text: string | undefined): number | undefined {
  return text !== undefined && /^\s*\d{1,15}\s*$/.test(text) ? Number(text) : undefined;
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|amp|lt|gt|quot|apos);/gi, (whole, name: string) => {
    const lower = name.toLowerCase();
    if (lower.startsWith('#')) {
      const point = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
      return point <= 0x10ffff ? String.fromCodePoint(point) : whole;
    }
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[lower] ?? whole;
  });
}

export class ProwlError extends Error {
  override readonly name = 'ProwlError';
  constructor(
    message: string,
    /** Prowl's code (401, 406, ...), or got's code for a network error (ECONNREFUSED, ETIMEDOUT). */
    readonly code: number | string,
    /** For 406: when sending may start again (ms). */
    readonly until?: number,
  ) {
    super(message);
  }
}

export interface ProwlClientOptions {
  /** One key or several separated by commas, as the option holds it. */
  apiKey: string;
  url?: string;
  /** -2..2; 0 (normal) when not given. */
  priority?: number;
  http: Got;
  secrets: Secrets;
  clock: Clock;
}

export interface ProwlMessage {
  event: string;
  description: string;
  priority?: number;
}

export interface ProwlSent {
  remaining?: number;
  resetAt?: number;
}

export class ProwlClient {
  private readonly keys: string[];
  private readonly url: string;
  private blocked = 0;
  private resetAt?: number;
  /** Calls left this hour, as Prowl said last. */
  remaining?: number;

  constructor(private readonly options: ProwlClientOptions) {
    this.keys = prowlKeys(options.apiKey);
    options.secrets.add(options.apiKey);
    options.secrets.add(this.keys.join(','));
    for (const key of this.keys) options.secrets.add(key);
    this.url = (options.url ?? PROWL_URL).replace(/\/+$/, '');
  }

  /** While Prowl's hourly limit is used up: when sending may start again (ms); else undefined. */
  blockedUntil(): number | undefined {
    return this.blocked > this.options.clock.now() ? this.blocked : undefined;
  }

  /** Sends one notification to every key; throws a ProwlError with a sentence a user can act on. */
  async add(message: ProwlMessage, signal?: AbortSignal): Promise<ProwlSent> {
    const until = this.blockedUntil();
    if (until !== undefined) throw new ProwlError(`Prowl's hourly API limit is used up; nothing is sent to Prowl before ${clockTime(until)}`, 406, until);
    const form = {
      apikey: this.keys.join(','),
      application: cut(PROWL_APPLICATION, PROWL_MAX.application),
      event: cut(message.event, PROWL_MAX.event),
      description: cut(message.description, PROWL_MAX.description),
      priority: String(Math.max(-2, Math.min(2, Math.round(message.priority ?? this.options.priority ?? 0)))),
    };
    return this.answer(() => this.options.http.post(`${this.url}/add`, { form, throwHttpErrors: false, retry: { limit: 0 }, responseType: 'text', signal }));
  }

  /** Asks Prowl whether every key is valid (each check counts against the hourly limit). */
  async verify(signal?: AbortSignal): Promise<ProwlSent> {
    let last: ProwlSent = {};
    for (const apikey of this.keys) {
      last = await this.answer(() =>
        this.options.http.get(`${this.url}/verify`, { searchParams: { apikey }, throwHttpErrors: false, retry: { limit: 0 }, responseType: 'text', signal }),
      );
    }
    return last;
  }

  private async answer(request: () => PromiseLike<{ statusCode: number; body: string }>): Promise<ProwlSent> {
    let response: { statusCode: number; body: string };
    try {
      response = await request();
    } catch (err) {
      // Never rethrow got's error: its options hold the form with the key.
      const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'ERR_REQUEST';
      const reason = err instanceof HttpError ? err.message : `${(err as Error).name === 'AbortError' ? 'aborted' : code}`;
      throw new ProwlError(this.safe(`cannot reach Prowl (${reason})`), code);
    }
    const answer = parseProwlAnswer(response.body);
    const status = response.statusCode;
    if (answer?.ok && status >= 200 && status < 300) {
      this.remaining = answer.remaining;
      if (answer.resetAt !== undefined) this.resetAt = answer.resetAt;
      // The last call of the hour succeeded: the next one would be a 406.
      if (answer.remaining === 0) this.blocked = this.limitEnd();
      return { remaining: answer.remaining, resetAt: answer.resetAt };
    }
    const code = answer && !answer.ok ? answer.code : status;
    const said = answer && !answer.ok && answer.message ? `: ${quote(answer.message, 120)}` : '';
    if (code === 406) {
      this.blocked = this.limitEnd();
      throw new ProwlError(this.safe(`Prowl's hourly API limit is used up (406${said}); nothing is sent to Prowl before ${clockTime(this.blocked)}`), 406, this.blocked);
    }
    throw new ProwlError(this.safe(describe(code, said, status, answer === undefined)), code);
  }

  /** The reset Prowl announced, if it is within the next hour; else an hour from now. */
  private limitEnd(): number {
    const now = this.options.clock.now();
    const reset = this.resetAt;
    return reset !== undefined && reset > now && reset <= now + PROWL_LIMIT_WINDOW_MS ? reset : now + PROWL_LIMIT_WINDOW_MS;
  }

  /** The key masked (the caller's Secrets may be a fresh one in a test or a tool). */
  private safe(text: string): string {
    let out = text;
    for (const key of [this.keys.join(','), ...this.keys]) if (key) out = out.split(key).join('***');
    return this.options.secrets.scrub(out);
  }
}

function describe(code: number, said: string, status: number, unparsed: boolean): string {
  switch (code) {
    case 400:
      return `Prowl refused the notification as malformed (400${said})`;
    case 401:
      return `Prowl refused the API key (401${said}): check notifications.prowl_api_key`;
    case 405:
      return `Prowl refused the method (405${said}): check notifications.prowl_url (Prowl takes POST over https)`;
    case 409:
      return `Prowl has not approved the request (409${said})`;
    case 500:
      return `Prowl had an internal error (500${said}); the notification was not delivered`;
    default:
      if (unparsed && status >= 200 && status < 300) return `Prowl's answer is not the XML Prowl sends (HTTP ${status}): check notifications.prowl_url`;
      return `Prowl answered HTTP ${code}${said}`;
  }
}

/** A field cut to Prowl's limit (on a code point, so no half of a pair is sent). */
function cut(text: string, max: number): string {
  const points = Array.from(text);
  return points.length <= max ? text : `${points.slice(0, max - 1).join('')}…`;
}

/** A time of day for a log line or a reason: 11:00 UTC. */
export function clockTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}
