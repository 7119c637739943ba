// A Victron VRM source: one diagnostics code of an installation, from Victron's cloud, for homes
// with nothing local (the water-heater seed's source). VRM's data is as old as the GX's "VRM log
// interval" (15 min by default, 1 min at best) and Victron asks not to hammer the API, so an
// installation is polled once per interval (60 s at the least) however many sources read it, one
// login serves every installation of an account, a 401/403 logs in again once, a 429 is waited
// out as its Retry-After asks, and the data's own age is checked and told (`why()`).
// Credentials: an access token (`X-Authorization: Token …`, what Victron recommends, and the
// only way with two-factor login), or username and password (`POST /v2/auth/login`, a Bearer
// token that VRM deprecates). No token, password or login answer reaches a log or a reason.
import type { Got } from 'got';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Secrets } from '../core/secrets.js';
import { quote } from '../core/outside-text.js';
import { Measurement } from './measurement.js';
import { VRM_MIN_INTERVAL_S, type VrmSourceOptions } from './options.js';

/** After a refused login or token: not sooner, so that a wrong password does not lock the account. */
export const VRM_REFUSED_WAIT_MS = 15 * 60_000;
/** A 429 without a Retry-After. */
export const VRM_RATE_LIMIT_WAIT_MS = 60_000;
/** Data older than this is mentioned in why() even while it is fresh enough to use. */
const NOTE_DATA_AGE_MS = 2 * 60_000;
/** The synthetic code: the grid power of all phases, g1p + g2p + g3p (those the installation has). */
export const GRID_CODE = 'grid';
const GRID_PHASES = ['g1p', 'g2p', 'g3p'];

export interface VrmDeps {
  clock: Clock;
  log: Logger;
  /** The shared HTTP client, loaded on first use. */
  http: () => Promise<Got>;
  /** Tokens obtained by a login join the secrets every log line is scrubbed of. */
  secrets?: Secrets;
}

/** A VRM measurement: its value, and how old VRM's data behind it is. */
export class VrmMeasurement extends Measurement {
  /** When the GX logged the data of the current value (ms since epoch). */
  dataAt?: number;

  /** How old VRM's data is, in whole minutes (undefined before the first value). */
  get dataAgeMin(): number | undefined {
    return this.dataAt === undefined ? undefined : Math.floor((this.clockNow() - this.dataAt) / 60_000);
  }

  constructor(
    name: string,
    describe: string,
    staleAfterS: number,
    private readonly vrmClock: Clock,
    invert: boolean,
  ) {
    super(name, describe, staleAfterS, vrmClock, invert);
  }

  private clockNow(): number {
    return this.vrmClock.now();
  }

  /** The age of VRM's data (when the GX logged it), not of the poll that brought it. */
  override get ageS(): number {
    return this.dataAt === undefined ? super.ageS : Math.max(super.ageS, (this.clockNow() - this.dataAt) / 1000);
  }

  /** Fresh while the last poll and the data it brought are both within the limit. */
  override get fresh(): boolean {
    return super.fresh && (this.dataAt === undefined || this.clockNow() - this.dataAt <= this.staleAfterS * 1000);
  }

  override get staleAt(): number {
    return this.dataAt === undefined ? super.staleAt : Math.min(super.staleAt, this.dataAt + this.staleAfterS * 1000);
  }

  /** The base reason, and how old VRM's data is when that is worth saying (even for a fresh value). */
  override why(): string {
    const age = this.dataAt === undefined ? undefined : this.clockNow() - this.dataAt;
    const note = age !== undefined && age >= NOTE_DATA_AGE_MS ? `VRM data is ${Math.floor(age / 60_000)} min old` : undefined;
    if (this.fresh) return note ? `${note} (source '${this.name}')` : `source '${this.name}' is fresh`;
    const base = super.why();
    return note && !base.includes('VRM data is') ? `${base}; ${note}` : base;
  }
}

interface Wanted {
  measurement: VrmMeasurement;
  code: string;
}

/** Every VRM source of the add-on: accounts (one login each) and installations (one poll each). */
export class VrmHub {
  private readonly accounts = new Map<string, Account>();
  private readonly sites = new Map<string, Site>();

  constructor(private readonly deps: VrmDeps) {}

  measurement(name: string, o: VrmSourceOptions, staleAfterS: number, invert = false): VrmMeasurement {
    const id = o.installation_id!;
    const code = o.code!;
    const measurement = new VrmMeasurement(name, `VRM installation ${id} ${code}`, staleAfterS, this.deps.clock, invert);
    const base = o.url.replace(/\/+$/, '');
    const accountKey = o.token !== undefined ? `${base} token ${o.token}` : `${base} user ${o.username}`;
    let account = this.accounts.get(accountKey);
    if (!account) {
      account = new Account(base, o, this.deps);
      this.accounts.set(accountKey, account);
    }
    const siteKey = `${accountKey} ${id}`;
    let site = this.sites.get(siteKey);
    if (!site) {
      site = new Site(id, account, this.deps);
      this.sites.set(siteKey, site);
      const first = site;
      // After the options' sources are all defined: a second source of this installation joins this poll.
      void Promise.resolve().then(() => first.poll());
    }
    site.intervalS = Math.min(site.intervalS, Math.max(VRM_MIN_INTERVAL_S, o.interval));
    site.wanted.push({ measurement, code });
    return measurement;
  }

  stop(): void {
    for (const site of this.sites.values()) site.stop();
  }
}

type Answer = { status: number; body: string; headers: Record<string, string | string[] | undefined> };

/** One set of credentials: an access token, or a login whose Bearer token is shared. */
class Account {
  /** What follows "X-Authorization: ". */
  private authorization?: string;
  private loggingIn?: Promise<string | undefined>;
  /** No request before this (a 429, or a refused login). */
  blockedUntil = 0;
  /** Why there is no authorization, in words for a reason. */
  problem?: string;
  readonly canLogin: boolean;

  constructor(
    readonly base: string,
    private readonly o: VrmSourceOptions,
    private readonly deps: VrmDeps,
  ) {
    this.canLogin = o.token === undefined;
    if (o.token !== undefined) this.authorization = `Token ${o.token}`;
  }

  /** The header value, logging in first when needed (one login at a time). */
  async header(): Promise<string | undefined> {
    if (this.authorization) return this.authorization;
    if (!this.canLogin || this.deps.clock.now() < this.blockedUntil) return undefined;
    this.loggingIn ??= this.login().finally(() => (this.loggingIn = undefined));
    return this.loggingIn;
  }

  /** A 401/403 with this header: the Bearer token is no longer good. */
  expire(header: string): void {
    if (this.canLogin && this.authorization === header) this.authorization = undefined;
  }

  async request(method: 'GET' | 'POST', path: string, options: { header?: string; json?: unknown }): Promise<Answer> {
    const http = (await this.deps.http()).extend({ retry: { limit: 0 }, throwHttpErrors: false });
    const response = await http(`${this.base}${path}`, {
      method,
      responseType: 'text',
      headers: { accept: 'application/json', ...(options.header ? { 'x-authorization': options.header } : {}) },
      ...(options.json !== undefined ? { json: options.json } : {}),
    });
    return { status: response.statusCode, body: response.body, headers: response.headers };
  }

  /** A 429: nothing more on this account until its Retry-After. */
  rateLimited(answer: Answer): number {
    const after = [answer.headers['retry-after']].flat()[0];
    const wait = after !== undefined && /^\d+$/.test(after.trim()) ? Number(after) * 1000 : VRM_RATE_LIMIT_WAIT_MS;
    this.blockedUntil = this.deps.clock.now() + wait;
    return wait;
  }

  private async login(): Promise<string | undefined> {
    const log = this.deps.log;
    try {
      const answer = await this.request('POST', '/v2/auth/login', { json: { username: this.o.username, password: this.o.password } });
      const token = (parseJson(answer.body) as { token?: unknown } | undefined)?.token;
      if (answer.status === 200 && typeof token === 'string' && token.length > 0) {
        this.deps.secrets?.add(token);
        this.authorization = `Bearer ${token}`;
        this.problem = undefined;
        log.info('VRM: logged in (username and password; Victron deprecates these Bearer logins: an access token is the lasting way)');
        return this.authorization;
      }
      if (answer.status === 429) {
        const wait = this.rateLimited(answer);
        this.problem = `VRM refuses more requests for now (HTTP 429); next try in ${Math.ceil(wait / 1000)} s`;
      } else if (answer.status === 200 || answer.status === 400 || answer.status === 401 || answer.status === 403) {
        this.blockedUntil = this.deps.clock.now() + VRM_REFUSED_WAIT_MS;
        this.problem = `the VRM login was refused (${errorText(answer)}): check vrm.username and vrm.password; with two-factor login use an access token (vrm.token)`;
      } else {
        this.problem = `the VRM login failed (${errorText(answer)})`;
      }
    } catch (err) {
      this.problem = `VRM could not be reached (${(err as { code?: string }).code ?? 'error'})`;
    }
    log.warn(`VRM: ${this.problem}`);
    return undefined;
  }
}

/** One installation's diagnostics, polled once per interval for every source that reads it. */
class Site {
  readonly wanted: Wanted[] = [];
  intervalS = Number.POSITIVE_INFINITY;
  private timer?: TimerHandle;
  private stopped = false;

  constructor(
    private readonly id: number,
    private readonly account: Account,
    private readonly deps: VrmDeps,
  ) {}

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    if (ms <= 0) void Promise.resolve().then(() => this.poll());
    else this.timer = this.deps.clock.setTimeout(() => void this.poll(), ms);
  }

  private reject(problem: string): void {
    for (const { measurement } of this.wanted) measurement.reject(problem);
  }

  async poll(): Promise<void> {
    if (this.stopped) return;
    const interval = this.intervalS * 1000;
    const now = this.deps.clock.now();
    const account = this.account;
    if (now < account.blockedUntil) {
      if (account.problem) this.reject(account.problem);
      this.schedule(account.blockedUntil - now);
      return;
    }
    let next = interval;
    try {
      let header = await account.header();
      let answer = header ? await this.diagnostics(header) : undefined;
      if (header && answer && (answer.status === 401 || answer.status === 403) && account.canLogin) {
        this.deps.log.info(`VRM: installation ${this.id} answered HTTP ${answer.status}; logging in again`);
        account.expire(header);
        header = await account.header();
        answer = header ? await this.diagnostics(header) : undefined;
      }
      if (this.stopped) return;
      if (!answer) {
        this.reject(account.problem ?? 'no VRM credentials');
        next = Math.max(interval, account.blockedUntil - this.deps.clock.now());
      } else {
        next = this.take(answer, interval);
      }
    } catch (err) {
      if (this.stopped) return;
      const problem = `VRM could not be reached (${(err as { code?: string }).code ?? 'error'})`;
      this.deps.log.warn(`VRM installation ${this.id}: ${problem}`);
      this.reject(problem);
    }
    this.schedule(next);
  }

  private diagnostics(header: string): Promise<Answer> {
    return this.account.request('GET', `/v2/installations/${this.id}/diagnostics?count=1000`, { header });
  }

  /** Takes an answer; returns the wait until the next poll. */
  private take(answer: Answer, interval: number): number {
    const log = this.deps.log;
    if (answer.status === 429) {
      const wait = this.account.rateLimited(answer);
      const problem = `VRM refuses more requests for now (HTTP 429); next try in ${Math.ceil(wait / 1000)} s`;
      log.warn(`VRM installation ${this.id}: ${problem}`);
      this.reject(problem);
      return Math.max(wait, interval);
    }
    if (answer.status === 401 || answer.status === 403) {
      const problem = this.account.canLogin
        ? `VRM refused installation ${this.id} after a fresh login (${errorText(answer)}): does this account have access to it?`
        : `VRM refused the access token for installation ${this.id} (${errorText(answer)}): check vrm.token and vrm.installation_id`;
      log.warn(`VRM: ${problem}`);
      this.reject(problem);
      return Math.max(interval, VRM_REFUSED_WAIT_MS);
    }
    const records = answer.status === 200 ? (parseJson(answer.body) as { records?: unknown } | undefined)?.records : undefined;
    if (answer.status !== 200 || !Array.isArray(records)) {
      const problem = answer.status === 200 ? 'VRM answered in an unexpected shape (no records)' : `VRM answered ${errorText(answer)}`;
      log.warn(`VRM installation ${this.id}: ${problem}`);
      this.reject(problem);
      return interval;
    }
    const now = this.deps.clock.now();
    for (const { measurement, code } of this.wanted) {
      const found = readCode(records as unknown[], code);
      if (typeof found === 'string') {
        measurement.reject(found);
        continue;
      }
      const at = found.at ?? now;
      const ageS = (now - at) / 1000;
      if (ageS > measurement.staleAfterS) {
        measurement.reject(`VRM data is ${Math.floor(ageS / 60)} min old (limit ${Math.round(measurement.staleAfterS / 60)} min): is the GX online, and its VRM log interval 1 min?`);
        continue;
      }
      measurement.dataAt = at;
      measurement.set(found.value);
    }
    log.debug(`VRM installation ${this.id}: ${records.length} diagnostics records`);
    return interval;
  }
}

/** A code's numeric value and when it was logged, or why there is none. `grid` sums the phases. */
export function readCode(records: unknown[], code: string): { value: number; at?: number } | string {
  const byCode = new Map<string, Record<string, unknown>>();
  for (const record of records) {
    if (!record || typeof record !== 'object') continue;
    const r = record as Record<string, unknown>;
    // The first record of a code counts (as in the seed): a second device with it is ignored.
    if (typeof r.code === 'string' && !byCode.has(r.code)) byCode.set(r.code, r);
  }
  const codes = code === GRID_CODE ? GRID_PHASES.filter((c) => byCode.has(c)) : [code];
  const known = () => [...byCode.keys()].slice(0, 12).join(', ');
  if (codes.length === 0 || !byCode.has(codes[0]!)) {
    return `VRM has no diagnostics code '${code === GRID_CODE ? 'g1p' : code}' for this installation${byCode.size ? ` (it has ${known()}${byCode.size > 12 ? ', …' : ''})` : ''}`;
  }
  let sum = 0;
  let at: number | undefined;
  for (const c of codes) {
    const r = byCode.get(c)!;
    const value = numberOf(r);
    if (value === undefined) return `VRM's ${c} is not a number: ${quote(String(r.formattedValue ?? r.rawValue), 40)}`;
    sum += value;
    const stamp = typeof r.timestamp === 'number' && Number.isFinite(r.timestamp) ? r.timestamp * 1000 : undefined;
    if (stamp !== undefined) at = at === undefined ? stamp : Math.min(at, stamp);
  }
  return { value: sum, at };
}

/** rawValue when it is a number (or a numeric string), else the first word of formattedValue. */
function numberOf(record: Record<string, unknown>): number | undefined {
  const numeric = (v: unknown) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(v) ? Number(v) : Number.NaN;
    return Number.isFinite(n) ? n : undefined;
  };
  return numeric(record.rawValue) ?? (typeof record.formattedValue === 'string' ? numeric(record.formattedValue.trim().split(/\s+/)[0]) : undefined);
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** "HTTP 401: 'Invalid credentials'" from VRM's error body ({ success, errors, error_code }). */
function errorText(answer: Answer): string {
  const doc = parseJson(answer.body) as { errors?: unknown } | undefined;
  const errors = doc?.errors;
  const text = typeof errors === 'string' ? errors : errors && typeof errors === 'object' ? Object.values(errors).filter((v) => typeof v === 'string').join('; ') : '';
  return `HTTP ${answer.status}${text ? `: ${quote(text, 120)}` : ''}`;
}
