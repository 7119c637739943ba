// The HTTP client every cloud client uses (Vaillant now; Tempo, RTE, Prowl, VRM and forecast
// services next): got with a time limit on every attempt, retries of idempotent requests that wait
// what Retry-After asks, a cookie jar for logins, and errors that name the request without its
// secrets. got's own errors quote the whole URL (with ?code=, ?token=) and carry the request
// options (Authorization, cookies, the login form): none of that may reach a log line.
import got, { TimeoutError, type BeforeRetryHook, type Got, type Options, type RequestError } from 'got';
import type { Logger } from '../core/logger.js';
import { clip, oneLine } from '../core/outside-text.js';
import { VERSION } from '../version.js';

/** Time limit of one attempt, from the start to the last byte of the answer. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Retries after a network error or an HTTP 408/429/5xx, for idempotent methods only. */
export const DEFAULT_RETRY_LIMIT = 2;
/** A longer Retry-After is not waited for: the request fails at once and its caller decides. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 30_000;

export interface HttpClientOptions {
  timeoutMs?: number;
  /** 0 for a client that counts its requests against a quota itself (a retry would be uncounted). */
  retryLimit?: number;
  maxRetryAfterMs?: number;
  /** Where retries are told, at debug level. */
  log?: Logger;
}

/** A got instance with our defaults; clients `extend()` it with what is theirs (headers, a cookie jar). */
export function createHttpClient(options: HttpClientOptions = {}): Got {
  return got.extend({
    timeout: { request: options.timeoutMs ?? DEFAULT_TIMEOUT_MS },
    retry: {
      limit: options.retryLimit ?? DEFAULT_RETRY_LIMIT,
      // got never retries POST or PATCH: they may have taken effect.
      methods: ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'],
      // got's list without 413 (a body too large stays too large).
      statusCodes: [408, 429, 500, 502, 503, 504, 521, 522, 524],
      maxRetryAfter: options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS,
      backoffLimit: 10_000,
    },
    headers: { 'user-agent': `energy2mqtt/${VERSION}` },
    hooks: { beforeError: [toHttpError], beforeRetry: options.log ? [logRetries(options.log)] : [] },
  });
}

/** The shared instance. */
export const http: Got = createHttpClient();

/** A beforeRetry hook that says at debug level which request is tried again and why. */
export function logRetries(log: Logger): BeforeRetryHook {
  return (error, retryCount) => {
    const { method, url } = requestName(error.options);
    log.debug(`retry ${retryCount} of ${method} ${url}: ${reasonOf(error)}`);
  };
}

/**
 * What every got error becomes: the method, the URL without its query, credentials or fragment,
 * and what went wrong. Enumerable fields are safe to log; `body` and `headers` of the answer are
 * not enumerable (a login answer holds tokens and cookies) and are for the caller only.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  /** got's code: ETIMEDOUT, ECONNREFUSED, ERR_NON_2XX_3XX_RESPONSE, ... */
  readonly code: string;
  readonly statusCode?: number;
  readonly method: string;
  readonly url: string;
  declare readonly body?: string;
  declare readonly headers?: Record<string, string | string[] | undefined>;

  constructor(
    message: string,
    fields: { code: string; method: string; url: string; statusCode?: number; body?: string; headers?: Record<string, string | string[] | undefined> },
  ) {
    super(message);
    this.code = fields.code;
    this.method = fields.method;
    this.url = fields.url;
    if (fields.statusCode !== undefined) this.statusCode = fields.statusCode;
    Object.defineProperty(this, 'body', { value: fields.body, enumerable: false });
    Object.defineProperty(this, 'headers', { value: fields.headers, enumerable: false });
  }
}

/** The beforeError hook: got's error (URL, options, request, cause) replaced by an HttpError. */
function toHttpError(error: RequestError): Error {
  try {
    const { method, url } = requestName(error.options);
    const response = error.response;
    return new HttpError(`${method} ${url}: ${reasonOf(error)}`, {
      code: error.code,
      method,
      url,
      statusCode: response?.statusCode,
      body: response?.rawBody?.toString('utf8'),
      headers: response?.headers,
    });
  } catch {
    // A hook that throws hands got's original error on; never let that happen.
    return new HttpError('an HTTP request failed', { code: 'ERR_GOT_REQUEST_ERROR', method: '?', url: '?' });
  }
}

function requestName(options: Options | undefined): { method: string; url: string } {
  const url = options?.url;
  return { method: String(options?.method ?? 'GET').toUpperCase(), url: url ? shownUrl(url) : 'an unknown URL' };
}

/** The URL without user, password, query and fragment (`?…` says there was a query). */
export function shownUrl(url: URL | string): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return 'an unparsable URL';
  }
}

function reasonOf(error: RequestError): string {
  const response = error.response;
  if (error instanceof TimeoutError) {
    const limit = (error.options?.timeout as Record<string, number | undefined> | undefined)?.[error.event];
    return `timed out${limit !== undefined ? ` after ${limit} ms` : ''} (${error.event})`;
  }
  if (error.code === 'ERR_NON_2XX_3XX_RESPONSE' && response) {
    return `HTTP ${response.statusCode}${response.statusMessage ? ` ${clip(oneLine(response.statusMessage), 60)}` : ''}`;
  }
  // got's ParseError quotes the URL, and JSON.parse quotes the start of the body (a token?).
  if (error.code === 'ERR_BODY_PARSE_FAILURE') return `the answer is not valid JSON${response ? ` (HTTP ${response.statusCode})` : ''}`;
  return clip(oneLine(withoutSecrets(error.message, error.options)), 300);
}

const SECRET_HEADER = /authorization|cookie|token|key|secret|session|auth/i;

/** Any URL in the text shortened, and every value the request carried that may be secret masked. */
function withoutSecrets(text: string, options: Options | undefined): string {
  let out = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (found) => shownUrl(found));
  const values = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value !== 'string' || value.length < 4) return;
    values.add(value);
    values.add(encodeURIComponent(value));
    values.add(new URLSearchParams({ v: value }).toString().slice(2));
  };
  try {
    const url = options?.url;
    if (url instanceof URL) {
      url.searchParams.forEach((value) => add(value));
      add(decodeURIComponent(url.password));
    }
    add(options?.password);
    for (const [name, value] of Object.entries(options?.headers ?? {})) {
      if (!SECRET_HEADER.test(name)) continue;
      for (const v of [value].flat()) {
        add(v);
        add(v?.replace(/^\S+\s+/, '')); // the token of "Bearer <token>"
        for (const pair of v?.split(';') ?? []) add(pair.slice(pair.indexOf('=') + 1).trim());
      }
    }
    for (const value of Object.values(options?.form ?? {})) add(value);
    if (typeof options?.body === 'string') new URLSearchParams(options.body).forEach((value) => add(value));
    stringsIn(options?.json, add);
  } catch {
    // Masking is best effort on top of the URL shortening above.
  }
  for (const secret of [...values].sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
  return out;
}

function stringsIn(value: unknown, add: (s: string) => void, depth = 0): void {
  if (typeof value === 'string') add(value);
  else if (value && typeof value === 'object' && depth < 5) for (const item of Object.values(value)) stringsIn(item, add, depth + 1);
}

interface StoredCookie {
  name: string;
  value: string;
  domain: string;
  path: string;
  hostOnly: boolean;
  secure: boolean;
  expires: number;
  created: number;
}

/**
 * A cookie jar in memory, for the few requests of a login (RFC 6265 storage model: host-only and
 * domain cookies, paths, Max-Age/Expires, Secure only over https; no public-suffix list, so a
 * Domain attribute without a dot is refused). Cookies a server should not set are dropped without
 * an error, as a browser does. got takes it as its `cookieJar`.
 */
export class MemoryCookieJar {
  private readonly cookies = new Map<string, StoredCookie>();
  private sequence = 0;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.live().length;
  }

  setCookie(rawCookie: string, url: string): Promise<void> {
    this.store(rawCookie, new URL(url));
    return Promise.resolve();
  }

  getCookieString(url: string): Promise<string> {
    return Promise.resolve(this.header(new URL(url)));
  }

  /** Stores one Set-Cookie line received from `url`; false if it was refused. */
  store(rawCookie: string, url: URL): boolean {
    const [pair = '', ...attributes] = rawCookie.split(';');
    const eq = pair.indexOf('=');
    if (eq < 0) return false;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!name) return false;
    const host = url.hostname.toLowerCase();
    const now = this.now();
    let domain: string | undefined;
    let path: string | undefined;
    let maxAge: number | undefined;
    let expires: number | undefined;
    let secure = false;
    for (const attribute of attributes) {
      const at = attribute.indexOf('=');
      const key = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
      const arg = at < 0 ? '' : attribute.slice(at + 1).trim();
      if (key === 'domain' && arg) domain = arg.replace(/^\./, '').toLowerCase();
      else if (key === 'path') path = arg.startsWith('/') ? arg : undefined;
      else if (key === 'max-age' && /^-?\d+$/.test(arg)) maxAge = Number(arg);
      else if (key === 'expires' && !Number.isNaN(Date.parse(arg))) expires = Date.parse(arg);
      else if (key === 'secure') secure = true;
    }
    if (domain !== undefined && (!domainMatches(host, domain) || (!domain.includes('.') && domain !== host))) return false;
    const stored: StoredCookie = {
      name,
      value,
      domain: domain ?? host,
      path: path ?? defaultPath(url.pathname),
      hostOnly: domain === undefined,
      secure,
      expires: maxAge !== undefined ? now + maxAge * 1000 : (expires ?? Number.POSITIVE_INFINITY),
      created: this.sequence++,
    };
    const key = `${stored.domain};${stored.path};${name}`;
    const old = this.cookies.get(key);
    if (old) stored.created = old.created;
    if (stored.expires <= now) this.cookies.delete(key);
    else this.cookies.set(key, stored);
    return true;
  }

  /** The Cookie header for a request to `url` (empty when no cookie applies). */
  header(url: URL): string {
    const host = url.hostname.toLowerCase();
    const path = url.pathname || '/';
    const https = url.protocol === 'https:' || url.protocol === 'wss:';
    return this.live()
      .filter((c) => (c.hostOnly ? host === c.domain : domainMatches(host, c.domain)) && pathMatches(path, c.path) && (https || !c.secure))
      .sort((a, b) => b.path.length - a.path.length || a.created - b.created)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private live(): StoredCookie[] {
    const now = this.now();
    for (const [key, cookie] of this.cookies) if (cookie.expires <= now) this.cookies.delete(key);
    return [...this.cookies.values()];
  }
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/i;

function domainMatches(host: string, domain: string): boolean {
  return host === domain || (host.endsWith(`.${domain}`) && !IP.test(host));
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  return requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/');
}

/** RFC 6265 5.1.4: the directory of the request path. */
function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const last = requestPath.lastIndexOf('/');
  return last <= 0 ? '/' : requestPath.slice(0, last);
}
