// The myVaillant login as it works since 2026-07-22: Keycloak's authorization-code flow with
// PKCE, a scraped HTML form, and the ALTCHA proof-of-work the form now requires (shared research
// vaillant.md §1.3). Tokens are refreshed before they expire; a failed refresh means a full login
// again; one login at a time per account. The refresh token survives restarts.
import { createHash, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Got } from 'got';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { Secrets } from '../../core/secrets.js';
import type { Store } from '../../core/store.js';
import { http, logRetries, MemoryCookieJar } from '../../io/http.js';
import { clip, oneLine } from '../../core/outside-text.js';

const pbkdf2Async = promisify(pbkdf2);
export const CLIENT_ID = 'myvaillant';
export const REDIRECT_URI = 'enduservaillant.page.link://login';
const REFRESH_MARGIN_MS = 180_000;

export class LoginError extends Error {}

const NO_COUNTRY = new Set(['bulex', 'glow-worm', 'demirdokum']);

/** brand + country -> Keycloak realm (vaillant-germany-b2c, sdbg-poland-b2c, bulex-b2c, ...). */
export function realmFor(brand: string, country: string): string {
  const b = brand.toLowerCase();
  return NO_COUNTRY.has(b) ? `${b}-b2c` : `${b}-${country.toLowerCase().replace(/\s+/g, '')}-b2c`;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const verifier = Array.from(randomBytes(128), (b) => alphabet[b % alphabet.length]).join('');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

const altchaChallenge = z.object({
  parameters: z
    .object({
      algorithm: z.string().default('PBKDF2/SHA-256'),
      cost: z.number().int().min(1).max(1_000_000),
      keyLength: z.number().int().min(1).max(128),
      keyPrefix: z.string().regex(/^[0-9a-f]*$/i),
      nonce: z.string().regex(/^[0-9a-f]+$/i),
      salt: z.string().regex(/^[0-9a-f]+$/i),
    })
    .passthrough(),
  signature: z.string(),
});

/** Solves an ALTCHA PBKDF2 challenge; returns the base64 form field and how many tries it took. */
export async function solveAltcha(raw: unknown, maxCounter = 1_000_000): Promise<{ field: string; counter: number }> {
  const parsed = altchaChallenge.safeParse(raw);
  if (!parsed.success) throw new LoginError(`the proof-of-work challenge has an unexpected shape (${parsed.error.issues[0]?.message})`);
  const { parameters, signature } = parsed.data;
  const hash = { 'PBKDF2/SHA-256': 'sha256', 'PBKDF2/SHA-384': 'sha384', 'PBKDF2/SHA-512': 'sha512' }[parameters.algorithm];
  if (!hash) throw new LoginError(`unknown proof-of-work algorithm ${parameters.algorithm}`);
  const nonce = Buffer.from(parameters.nonce, 'hex');
  const salt = Buffer.from(parameters.salt, 'hex');
  const prefix = Buffer.from(parameters.keyPrefix, 'hex');
  for (let counter = 0; counter < maxCounter; counter++) {
    const password = Buffer.alloc(nonce.length + 4);
    nonce.copy(password);
    password.writeUInt32BE(counter, nonce.length);
    const key = await pbkdf2Async(password, salt, parameters.cost, parameters.keyLength, hash);
    if (key.subarray(0, prefix.length).equals(prefix)) {
      const payload = { challenge: { parameters, signature }, solution: { counter, derivedKey: key.toString('hex'), time: 0 } };
      return { field: Buffer.from(JSON.stringify(payload)).toString('base64'), counter };
    }
  }
  throw new LoginError('the proof-of-work could not be solved');
}

const tokenShape = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
  refresh_token: z.string().min(1),
  refresh_expires_in: z.number().min(0).optional(),
});

const savedShape = z.object({ refreshToken: z.string(), refreshExpiresAt: z.number() });

/** The message Keycloak shows on a refused login (kc-feedback-text, or the input-error span). */
export function loginPageMessage(html: string): string | undefined {
  const m = /id="(?:kc-feedback-text|input-error)"[^>]*>\s*([^<]+?)\s*</.exec(html) ?? /aria-live="polite">\s*([^<]+?)\s*</.exec(html);
  return m ? m[1]!.replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/&quot;/g, '"') : undefined;
}

export interface SessionOptions {
  username: string;
  password: string;
  brand: string;
  country: string;
  identityUrl: string;
  clock: Clock;
  log: Logger;
  store: Store;
  secrets: Secrets;
  /** The HTTP client (default: the shared one). */
  http?: Got;
}

export class VaillantSession {
  private access?: { token: string; expiresAt: number };
  private refresh?: { token: string; expiresAt: number };
  private loggingIn?: Promise<void>;
  /** Why the last login failed, for the log and a diagnostic entity. */
  lastError?: string;
  /** After a failed login, no new attempt before this (5 min, doubling to 1 h): a wrong password
   * tried every poll gets accounts blocked. */
  private loginNotBefore = 0;
  private loginFailures = 0;
  logins = 0;
  readonly realm: string;
  private readonly storeName: string;
  /** Statuses are this class's to judge (a 302 is the answer the login wants, a 400 says why a
   * token was refused); redirects are not followed (the code is in the first Location). The GETs
   * of the login page and the challenge are tried once more after a network error, a timeout or
   * a 429/5xx (after its Retry-After): a blip would otherwise cost the 5-minute login back-off.
   * Once, not twice: the adapter waits for the login. The form and token POSTs never. */
  private readonly http: Got;

  constructor(private readonly options: SessionOptions) {
    this.realm = realmFor(options.brand, options.country);
    this.storeName = `vaillant_${createHash('sha256').update(`${this.realm}/${options.username}`).digest('hex').slice(0, 16)}`;
    this.http = (options.http ?? http).extend({
      timeout: { request: 20_000 },
      retry: { limit: 1 },
      followRedirect: false,
      throwHttpErrors: false,
      responseType: 'text',
      hooks: { beforeRetry: [logRetries(options.log)] },
    });
  }

  private get base(): string {
    return `${this.options.identityUrl.replace(/\/+$/, '')}/auth/realms/${this.realm}`;
  }

  /** A valid access token: the cached one, a refreshed one, or one from a new login. */
  async token(): Promise<string> {
    const now = this.options.clock.now();
    if (this.access && this.access.expiresAt - REFRESH_MARGIN_MS > now) return this.access.token;
    await this.ensureFresh();
    return this.access!.token;
  }

  /** Forces a new token on the next call (after a 401). */
  invalidate(): void {
    this.access = undefined;
  }

  private ensureFresh(): Promise<void> {
    // One login or refresh at a time: parallel logins on one account clobber each other's session.
    this.loggingIn ??= this.renew().finally(() => (this.loggingIn = undefined));
    return this.loggingIn;
  }

  private async renew(): Promise<void> {
    if (!this.refresh) {
      const saved = await this.options.store.read(this.storeName, savedShape, { refreshToken: '', refreshExpiresAt: 0 });
      if (saved.refreshToken) {
        // A secret from the first moment it is held, like one from an exchange.
        this.options.secrets.add(saved.refreshToken);
        this.refresh = { token: saved.refreshToken, expiresAt: saved.refreshExpiresAt };
      }
    }
    if (this.refresh && this.refresh.expiresAt > this.options.clock.now()) {
      try {
        await this.exchange({ grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: this.refresh.token });
        this.lastError = undefined;
        return;
      } catch (err) {
        // The portal out of reach: a login would fail the same way (and cost a proof-of-work).
        if (!(err instanceof LoginError)) throw this.failed(err, 'refreshing the myVaillant token failed');
        this.options.log.info(`refreshing the myVaillant token failed (${err.message}); logging in again`);
      }
    }
    await this.login();
  }

  /** Records why a login or refresh failed, logs it (once while it stays the same) and returns the error to throw. */
  private failed(err: unknown, what: string): LoginError {
    const message = err instanceof LoginError ? err.message : `${what}: ${failureReason(err)}`;
    const repeated = message === this.lastError;
    this.lastError = message;
    if (repeated) this.options.log.debug(message);
    else this.options.log.error(message);
    return new LoginError(message);
  }

  private async login(): Promise<void> {
    if (this.options.clock.now() < this.loginNotBefore) {
      throw new LoginError(`${this.lastError ?? 'the last login failed'}; next try at ${new Date(this.loginNotBefore).toISOString()}`);
    }
    const t0 = Date.now();
    try {
      const { verifier, challenge } = pkcePair();
      // Keycloak's session cookies, from the login page to the form post, and only for this login.
      const login = this.http.extend({ cookieJar: new MemoryCookieJar() });
      const authorize = new URL(`${this.base}/protocol/openid-connect/auth`);
      const q = { response_type: 'code', client_id: CLIENT_ID, code: 'code_challenge', redirect_uri: REDIRECT_URI, code_challenge_method: 'S256', code_challenge: challenge };
      for (const [k, v] of Object.entries(q)) authorize.searchParams.set(k, v);
      const page = await login.get(authorize);
      let code = codeFrom(page.headers.location);
      if (!code) {
        const html = page.body;
        const action = /<form[^>]*\baction="([^"]+)"/i.exec(html)?.[1]?.replace(/&amp;/g, '&');
        if (!action) throw new LoginError(`the myVaillant login page has no login form (HTTP ${page.statusCode})`);
        const form: Record<string, string> = { username: this.options.username, password: this.options.password, credentialId: '' };
        const altchaPath = /<altcha-widget[^>]*\bchallenge="([^"]+)"/i.exec(html)?.[1] ?? '/api/altcha/challenge';
        const challengeRes = await login.get(new URL(altchaPath, this.options.identityUrl));
        if (challengeRes.statusCode >= 200 && challengeRes.statusCode <= 299) {
          const solved = await solveAltcha(parseJson(challengeRes.body, 'the proof-of-work challenge'));
          form.altcha = solved.field;
        } else {
          this.options.log.warn(`no proof-of-work challenge (HTTP ${challengeRes.statusCode}); trying without`);
        }
        const posted = await login.post(new URL(action, this.base), { form });
        code = codeFrom(posted.headers.location);
        if (!code) {
          const message = loginPageMessage(posted.body);
          throw new LoginError(`myVaillant refused the login: ${message !== undefined ? clip(oneLine(message), 100) : `HTTP ${posted.statusCode} without a code`}`);
        }
      }
      await this.exchange({ grant_type: 'authorization_code', client_id: CLIENT_ID, code, code_verifier: verifier, redirect_uri: REDIRECT_URI });
      this.logins++;
      this.lastError = undefined;
      this.loginFailures = 0;
      this.loginNotBefore = 0;
      this.options.log.info(`logged in to myVaillant (${this.realm}) in ${Date.now() - t0} ms`);
    } catch (err) {
      this.loginFailures++;
      this.loginNotBefore = this.options.clock.now() + Math.min(3_600_000, 300_000 * 2 ** (this.loginFailures - 1));
      throw this.failed(err, 'the myVaillant login failed');
    }
  }

  private async exchange(form: Record<string, string>): Promise<void> {
    const res = await this.http.post(`${this.base}/protocol/openid-connect/token`, { form });
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      body = undefined;
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      const b = body as { error?: string; error_description?: string } | undefined;
      const why = b?.error_description ?? b?.error;
      throw new LoginError(`token request refused (${res.statusCode}${typeof why === 'string' && why ? ` ${clip(oneLine(why), 100)}` : ''})`);
    }
    const t = tokenShape.parse(body);
    const now = this.options.clock.now();
    this.options.secrets.add(t.access_token);
    this.options.secrets.add(t.refresh_token);
    this.access = { token: t.access_token, expiresAt: now + t.expires_in * 1000 };
    this.refresh = { token: t.refresh_token, expiresAt: now + (t.refresh_expires_in || 30 * 86_400) * 1000 };
    await this.options.store.write(this.storeName, { refreshToken: t.refresh_token, refreshExpiresAt: this.refresh.expiresAt });
  }
}

const hostOf = (url: unknown): string => {
  try {
    return typeof url === 'string' ? new URL(url).host : 'the myVaillant server';
  } catch {
    return 'the myVaillant server';
  }
};

/** Why a request to the portal failed, in words: DNS, unreachable, refused, timeout, TLS, or the error's own text. */
export function failureReason(err: unknown): string {
  const e = (err ?? {}) as { code?: unknown; name?: unknown; url?: unknown; message?: unknown };
  const host = hostOf(e.url);
  const code = typeof e.code === 'string' ? e.code : '';
  switch (code) {
    case 'ENOTFOUND':
      return `the name ${host} was not found (DNS)`;
    case 'EAI_AGAIN':
      return `the name ${host} could not be looked up (DNS not answering)`;
    case 'ECONNREFUSED':
      return `${host} refused the connection`;
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return `${host} is unreachable (no route to the host)`;
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return `${host} is unreachable (no network)`;
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return `${host} did not answer in time (timeout)`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `the connection to ${host} was cut`;
  }
  if (e.name === 'TimeoutError') return `${host} did not answer in time (timeout)`;
  if (/CERT|TLS|SSL/i.test(code)) return `the certificate of ${host} was refused (${code})`;
  const message = typeof e.message === 'string' && e.message ? e.message : String(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** JSON from a login answer; a body that is not JSON is named, never quoted (it may hold a token). */
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new LoginError(`${what} is not JSON`);
  }
}

function codeFrom(location: string | undefined): string | undefined {
  if (!location) return undefined;
  const m = /[?&]code=([^&]+)/.exec(location);
  return m ? decodeURIComponent(m[1]!) : undefined;
}
