// Victron's VRM API (https://vrmapi.victronenergy.com/v2) on a real HTTP socket, for the parts a
// measurement source uses, in the shapes of VRM's OpenAPI description and its clients:
//   POST /v2/auth/login {username, password} -> {token, idUser, verification_mode,
//   verification_sent}; a wrong password -> 401 {success: false, errors, error_code}.
//   GET /v2/auth/logout ends a Bearer token.
//   GET /v2/installations/:idSite/diagnostics?count=… with `X-Authorization: Bearer <login
//   token>` or `X-Authorization: Token <access token>` -> {success, records, num_records}, each
//   record {idSite, timestamp, Device, instance, idDataAttribute, description, formatWithUnit,
//   dbusServiceType, dbusPath, code, bitmask, formattedValue, rawValue, dataAttributeEnumValues}.
//   A missing, unknown or expired token -> 401; an installation the user cannot see -> 403.
//   Rate limit: a rolling window of 200 requests per caller that drains one request every
//   0.33 s; beyond it 429 with a JSON body and Retry-After (seconds).
// Record timestamps are when the GX last logged (its "VRM log interval"), settable, so a client
// sees data minutes old as it does from the real portal. The idDataAttribute numbers are
// illustrative.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { HttpSimulator } from './http-simulator.js';

export interface VrmSimUser {
  username: string;
  password: string;
  idUser?: number;
  installations: number[];
}

export interface VrmSimOptions {
  now?: () => number;
  users?: VrmSimUser[];
  /** Access tokens (Token scheme) and the installations each may read. */
  accessTokens?: Array<{ token: string; installations: number[] }>;
  /** How long a login's Bearer token lives (s). */
  bearerLifetimeS?: number;
  /** The rolling window: capacity, and ms until one request leaves it. */
  rateLimit?: { capacity?: number; drainMs?: number };
}

export interface VrmSimRequest {
  method: string;
  path: string;
  auth: 'none' | 'bearer' | 'token';
  status: number;
  at: number;
}

interface Attribute {
  Device: string;
  instance: number;
  idDataAttribute: number;
  description: string;
  formatWithUnit: string;
  dbusServiceType: string;
  dbusPath: string;
  enum?: string[];
}

const CATALOGUE: Record<string, Attribute> = {
  SOC: { Device: 'Battery Monitor', instance: 512, idDataAttribute: 51, description: 'Battery SOC', formatWithUnit: '%.1F %%', dbusServiceType: 'battery', dbusPath: '/Soc' },
  bp: { Device: 'Battery Monitor', instance: 512, idDataAttribute: 49, description: 'Battery Power', formatWithUnit: '%.0F W', dbusServiceType: 'battery', dbusPath: '/Dc/0/Power' },
  bst: { Device: 'Battery Monitor', instance: 512, idDataAttribute: 215, description: 'Battery state', formatWithUnit: '%s', dbusServiceType: 'battery', dbusPath: '/State', enum: ['Idle', 'Charging', 'Discharging'] },
  g1p: { Device: 'Grid meter', instance: 30, idDataAttribute: 379, description: 'Grid L1 power', formatWithUnit: '%.0F W', dbusServiceType: 'grid', dbusPath: '/Ac/L1/Power' },
  g2p: { Device: 'Grid meter', instance: 30, idDataAttribute: 380, description: 'Grid L2 power', formatWithUnit: '%.0F W', dbusServiceType: 'grid', dbusPath: '/Ac/L2/Power' },
  g3p: { Device: 'Grid meter', instance: 30, idDataAttribute: 381, description: 'Grid L3 power', formatWithUnit: '%.0F W', dbusServiceType: 'grid', dbusPath: '/Ac/L3/Power' },
  ScW: { Device: 'Solar Charger', instance: 279, idDataAttribute: 442, description: 'PV power', formatWithUnit: '%.0F W', dbusServiceType: 'solarcharger', dbusPath: '/Yield/Power' },
};

export const VRM_SIM_DEFAULT_VALUES: Record<string, number> = { SOC: 95, bp: -20, bst: 1, g1p: 12, g2p: -3, g3p: 5, ScW: 850 };

export class VrmSimulator extends HttpSimulator {
  readonly requests: VrmSimRequest[] = [];
  private readonly bearers = new Map<string, { user: VrmSimUser; expiresAt: number }>();
  /** Every Bearer token a login handed out (for tests that look for them where they must not be). */
  readonly issuedTokens: string[] = [];
  private readonly values = new Map<number, Map<string, number>>();
  private readonly loggedAt = new Map<number, number>();
  private readonly windows = new Map<string, { level: number; at: number }>();
  private blockedUntil = 0;

  constructor(readonly options: VrmSimOptions = {}) {
    super();
  }

  /** Logins that succeeded. */
  get logins(): number {
    return this.requests.filter((r) => r.path === '/v2/auth/login' && r.status === 200).length;
  }

  /** Diagnostics requests of an installation (any status). */
  diagnostics(installation: number): VrmSimRequest[] {
    return this.requests.filter((r) => r.path === `/v2/installations/${installation}/diagnostics`);
  }

  /** A value as the GX reports it (W, %), logged now unless the log time is set. */
  setValue(installation: number, code: string, value: number): void {
    this.valuesOf(installation).set(code, value);
  }

  /** When the installation's GX last logged to VRM: the records' timestamp. */
  setLoggedAt(installation: number, at: number): void {
    this.loggedAt.set(installation, at);
  }

  /** Every Bearer token stops working (as after their lifetime). */
  expireTokens(): void {
    this.bearers.clear();
  }

  /** 429 to every request for this long. */
  rateLimitFor(seconds: number): void {
    this.blockedUntil = this.now() + seconds * 1000;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private valuesOf(installation: number): Map<string, number> {
    let values = this.values.get(installation);
    if (!values) {
      values = new Map(Object.entries(VRM_SIM_DEFAULT_VALUES));
      this.values.set(installation, values);
    }
    return values;
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.answer(req, Buffer.concat(chunks).toString('utf8'), res));
  }

  private answer(req: IncomingMessage, body: string, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const header = String(req.headers['x-authorization'] ?? '');
    const auth: VrmSimRequest['auth'] = /^Bearer /i.test(header) ? 'bearer' : /^Token /i.test(header) ? 'token' : 'none';
    const now = this.now();
    const send = (status: number, doc: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method, path, auth, status, at: now });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(doc));
    };
    const fail = (status: number, errors: string | Record<string, string>, errorCode: string | null, headers: Record<string, string> = {}) => send(status, { success: false, errors, error_code: errorCode }, headers);

    // The rolling window, per caller.
    const capacity = this.options.rateLimit?.capacity ?? 200;
    const drainMs = this.options.rateLimit?.drainMs ?? 330;
    const caller = req.socket.remoteAddress ?? 'unknown';
    const window = this.windows.get(caller) ?? { level: 0, at: now };
    window.level = Math.max(0, window.level - (now - window.at) / drainMs);
    window.at = now;
    this.windows.set(caller, window);
    if (now < this.blockedUntil || window.level + 1 > capacity) {
      const wait = now < this.blockedUntil ? this.blockedUntil - now : (window.level + 1 - capacity) * drainMs;
      return fail(429, 'Too many requests, please slow down', 'rate_limited', { 'retry-after': String(Math.max(1, Math.ceil(wait / 1000))) });
    }
    window.level += 1;

    if (method === 'POST' && path === '/v2/auth/login') {
      let credentials: { username?: unknown; password?: unknown } = {};
      try {
        credentials = JSON.parse(body) as typeof credentials;
      } catch {
        return fail(400, 'Invalid JSON body', null);
      }
      if (typeof credentials.username !== 'string' || typeof credentials.password !== 'string') return fail(400, { username: 'required', password: 'required' }, null);
      const user = (this.options.users ?? []).find((u) => u.username === credentials.username && u.password === credentials.password);
      if (!user) return fail(401, 'Incorrect username or password', 'invalid_credentials');
      const token = jwtLike(user.idUser ?? 22);
      this.issuedTokens.push(token);
      this.bearers.set(token, { user, expiresAt: now + (this.options.bearerLifetimeS ?? 3600) * 1000 });
      return send(200, { token, idUser: user.idUser ?? 22, verification_mode: 'password', verification_sent: false });
    }

    const value = header.replace(/^\S+\s+/, '');
    let installations: number[] | undefined;
    if (auth === 'bearer') {
      const session = this.bearers.get(value);
      if (session && session.expiresAt > now) installations = session.user.installations;
      else this.bearers.delete(value);
    } else if (auth === 'token') {
      installations = (this.options.accessTokens ?? []).find((t) => t.token === value)?.installations;
    }

    if (method === 'GET' && path === '/v2/auth/logout') {
      if (auth === 'bearer') this.bearers.delete(value);
      return send(200, { success: true });
    }
    const diagnostics = /^\/v2\/installations\/(\d+)\/diagnostics$/.exec(path);
    if (method === 'GET' && diagnostics) {
      if (!installations) return fail(401, auth === 'none' ? 'No authorization header given' : 'Invalid or expired token', 'invalid_token');
      const idSite = Number(diagnostics[1]);
      if (!installations.includes(idSite)) return fail(403, 'You do not have access to this installation', 'forbidden');
      const records = this.records(idSite, now);
      return send(200, { success: true, records, num_records: records.length });
    }
    return fail(404, 'Route not found', 'not_found');
  }

  private records(idSite: number, now: number): unknown[] {
    const timestamp = Math.floor((this.loggedAt.get(idSite) ?? now) / 1000);
    return [...this.valuesOf(idSite)].map(([code, raw]) => {
      const a = CATALOGUE[code] ?? { Device: 'Gateway', instance: 0, idDataAttribute: 0, description: code, formatWithUnit: '%.2F', dbusServiceType: 'system', dbusPath: `/${code}` };
      const formatted = a.enum ? (a.enum[raw] ?? String(raw)) : formatValue(a.formatWithUnit, raw);
      return {
        idSite, timestamp, Device: a.Device, instance: a.instance, idDataAttribute: a.idDataAttribute, description: a.description,
        formatWithUnit: a.formatWithUnit, dbusServiceType: a.dbusServiceType, dbusPath: a.dbusPath, code, bitmask: 0,
        formattedValue: formatted, rawValue: raw, dataAttributeEnumValues: a.enum ? a.enum.map((nameEnum, valueEnum) => ({ nameEnum, valueEnum })) : [],
      };
    });
  }
}

/** "%.1F %%" with 95 -> "95.0 %". */
function formatValue(format: string, value: number): string {
  return format.replace(/%\.(\d)F/, (_, digits: string) => value.toFixed(Number(digits))).replace('%%', '%');
}

function jwtLike(idUser: number): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ typ: 'JWT', alg: 'RS256' })}.${part({ uid: idUser, jti: randomBytes(8).toString('hex') })}.${randomBytes(32).toString('base64url')}`;
}
