// The myVaillant cloud on a real HTTP socket: Keycloak's login page with the ALTCHA proof-of-work,
// the token endpoint (code + PKCE, refresh), and the end-user API with a system report that
// follows commands after a lag, and quota errors on demand. For tests, benchmarks and the demo.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// Reports are arbitrary JSON from the fixtures; fields are read where the API reads them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export const API_PATH = '/service-connected-control/end-user-app-api/v1';

export interface VaillantSimOptions {
  users: Array<{ username: string; password: string }>;
  homes: unknown[];
  /** systemId -> system report (GET /systems/{id}/tli). */
  systems: Record<string, Json>;
  /** PBKDF2 iterations of the ALTCHA challenge (the portal uses 5000). */
  altchaCost?: number;
  tokenLifetimeS?: number;
  refreshLifetimeS?: number;
  /** How long the report takes to show a command. */
  lagMs?: number;
}

export class MyVaillantSimulator {
  readonly requests: Array<{ method: string; path: string; body?: unknown }> = [];
  /** Every altcha solution is refused (like the portal when the proof-of-work is wrong). */
  rejectAltcha = false;
  /** The next API call answers with this status (e.g. 503 during an outage). */
  failNext?: number;
  private server?: Server;
  private secret = randomBytes(16);
  private sessions = new Map<string, { challenge: string; realm: string }>();
  private codes = new Map<string, { challenge: string; username: string }>();
  private access = new Map<string, number>();
  private refresh = new Map<string, number>();
  private quotaUntil = 0;
  private pending: Array<{ at: number; apply: () => void }> = [];
  port = 0;

  constructor(readonly options: VaillantSimOptions) {}

  get identityUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}${API_PATH}`;
  }

  async listen(): Promise<number> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((err: Error) => send(res, 500, { message: err.message })));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  /** From now on every API call answers 403 "Out of call volume quota" with Retry-After. */
  exhaustQuota(seconds: number): void {
    this.quotaUntil = Date.now() + seconds * 1000;
  }

  replenishQuota(): void {
    this.quotaUntil = 0;
  }

  expireTokens(refreshToo = false): void {
    for (const k of this.access.keys()) this.access.set(k, 0);
    if (refreshToo) for (const k of this.refresh.keys()) this.refresh.set(k, 0);
  }

  /** The report as the API shows it now (commands applied once their lag has passed). */
  report(systemId: string): Json | undefined {
    const now = Date.now();
    this.pending = this.pending.filter((p) => (p.at <= now ? (p.apply(), false) : true));
    return this.options.systems[systemId];
  }

  private later(apply: () => void): void {
    this.pending.push({ at: Date.now() + (this.options.lagMs ?? 0), apply });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const body = await readBody(req);
    const json = body && req.headers['content-type']?.includes('json') ? (JSON.parse(body) as unknown) : undefined;
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, body: json ?? (body || undefined) });
    const realm = /^\/auth\/realms\/([^/]+)\//.exec(url.pathname)?.[1];
    if (realm && url.pathname.endsWith('/protocol/openid-connect/auth')) return this.loginPage(url, realm, res);
    if (url.pathname === '/api/altcha/challenge') return send(res, 200, this.challenge());
    if (realm && url.pathname.endsWith('/login-actions/authenticate')) return this.authenticate(req, body, res);
    if (realm && url.pathname.endsWith('/protocol/openid-connect/token')) return this.token(body, res);
    if (url.pathname.startsWith(API_PATH)) return this.api(req, url.pathname.slice(API_PATH.length), json as Json | undefined, res);
    send(res, 404, { message: 'not found' });
  }

  private loginPage(url: URL, realm: string, res: ServerResponse): void {
    const session = randomBytes(8).toString('hex');
    this.sessions.set(session, { challenge: url.searchParams.get('code_challenge') ?? '', realm });
    const action = `${this.identityUrl}/auth/realms/${realm}/login-actions/authenticate?session_code=${session}&amp;execution=e1&amp;client_id=myvaillant&amp;tab_id=t1`;
    res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': [`AUTH_SESSION_ID=${session}; Path=/auth/realms/${realm}/; HttpOnly`, 'KC_RESTART=x; Path=/'] });
    res.end(`<html><body><form id="kc-form-login" action="${action}" method="post"><input name="username"><input name="password" type="password">` +
      `<altcha-widget challenge="/api/altcha/challenge" name="altcha"></altcha-widget></form></body></html>`);
  }

  private challenge(): unknown {
    const parameters = { algorithm: 'PBKDF2/SHA-256', cost: this.options.altchaCost ?? 5000, keyLength: 32, keyPrefix: '00', nonce: randomBytes(16).toString('hex'), salt: randomBytes(16).toString('hex'), expiresAt: Math.floor(Date.now() / 1000) + 600 };
    return { parameters, signature: createHmac('sha256', this.secret).update(JSON.stringify(parameters)).digest('hex') };
  }

  private altchaValid(field: string | null): boolean {
    if (!field || this.rejectAltcha) return false;
    try {
      const { challenge, solution } = JSON.parse(Buffer.from(field, 'base64').toString()) as { challenge: { parameters: Json; signature: string }; solution: { counter: number; derivedKey: string } };
      const expected = createHmac('sha256', this.secret).update(JSON.stringify(challenge.parameters)).digest('hex');
      if (expected !== challenge.signature) return false;
      const p = challenge.parameters;
      const password = Buffer.concat([Buffer.from(p.nonce, 'hex'), Buffer.from([0, 0, 0, 0])]);
      password.writeUInt32BE(solution.counter, password.length - 4);
      const key = pbkdf2Sync(password, Buffer.from(p.salt, 'hex'), p.cost, p.keyLength, 'sha256').toString('hex');
      return key === solution.derivedKey && key.startsWith(p.keyPrefix);
    } catch {
      return false;
    }
  }

  private authenticate(req: IncomingMessage, body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    const session = /AUTH_SESSION_ID=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    const s = session ? this.sessions.get(session) : undefined;
    const page = (message: string) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<html><body><div class="alert"><span id="kc-feedback-text" aria-live="polite">${message}</span></div></body></html>`);
    };
    if (!s) return page('Cookie not found. Please make sure cookies are enabled in your browser.');
    if (!this.altchaValid(form.get('altcha'))) return page('Altcha verification failed');
    const user = this.options.users.find((u) => u.username === form.get('username') && u.password === form.get('password'));
    if (!user) return page('Invalid username or password.');
    const code = randomBytes(12).toString('hex');
    this.codes.set(code, { challenge: s.challenge, username: user.username });
    res.writeHead(302, { location: `enduservaillant.page.link://login?state=s&session_state=x&code=${code}` });
    res.end();
  }

  private token(body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    const issue = () => {
      const access = randomBytes(24).toString('hex');
      const refresh = randomBytes(24).toString('hex');
      const lifetime = this.options.tokenLifetimeS ?? 300;
      const refreshLifetime = this.options.refreshLifetimeS ?? 1800;
      this.access.set(access, Date.now() + lifetime * 1000);
      this.refresh.set(refresh, Date.now() + refreshLifetime * 1000);
      send(res, 200, { access_token: access, expires_in: lifetime, refresh_expires_in: refreshLifetime, refresh_token: refresh, token_type: 'Bearer', 'not-before-policy': 0, session_state: 'x', scope: 'email profile' });
    };
    if (form.get('grant_type') === 'authorization_code') {
      const c = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      const pkce = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
      if (!c || c.challenge !== pkce) return send(res, 400, { error: 'invalid_grant', error_description: 'Code not valid' });
      return issue();
    }
    if (form.get('grant_type') === 'refresh_token') {
      const until = this.refresh.get(form.get('refresh_token') ?? '');
      if (!until || until < Date.now()) return send(res, 400, { error: 'invalid_grant', error_description: 'Token is not active' });
      this.refresh.delete(form.get('refresh_token')!);
      return issue();
    }
    send(res, 400, { error: 'unsupported_grant_type' });
  }

  private api(req: IncomingMessage, path: string, body: Json | undefined, res: ServerResponse): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const until = token ? this.access.get(token) : undefined;
    if (!until || until < Date.now()) return send(res, 401, { statusCode: 401, message: 'Unauthorized' });
    if (req.headers['ocp-apim-subscription-key'] !== '1e0a2f3511fb4c5bbb1c7f9fedd20b1c') return send(res, 401, { statusCode: 401, message: 'Access denied due to missing subscription key.' });
    if (this.quotaUntil > Date.now()) {
      const left = Math.ceil((this.quotaUntil - Date.now()) / 1000);
      const hms = new Date(left * 1000).toISOString().slice(11, 19);
      res.writeHead(403, { 'content-type': 'application/json', 'retry-after': String(left) });
      res.end(JSON.stringify({ statusCode: 403, message: `Out of call volume quota. Quota will be replenished in ${hms}.` }));
      return;
    }
    if (this.failNext) {
      const status = this.failNext;
      this.failNext = undefined;
      return send(res, status, { message: 'Service Temporarily Unavailable' });
    }
    const method = req.method ?? 'GET';
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/homes') return send(res, 200, this.options.homes);
    if (method === 'GET' && (m = /^\/systems\/([^/]+)\/tli$/.exec(path))) {
      const r = this.report(m[1]!);
      return r ? send(res, 200, r) : send(res, 404, { message: 'system not found' });
    }
    if (method === 'GET' && (m = /^\/hem\/([^/]+)\/mpc$/.exec(path))) return send(res, 200, { devices: this.options.systems[m[1]!]?.__mpc ?? [] });
    if ((m = /^\/systems\/([^/]+)\/tli\/domestic-hot-water\/(\d+)\/boost$/.exec(path))) {
      const dhw = this.report(m[1]!)?.state?.dhw?.find((d: Json) => d.index === Number(m![2]));
      if (!dhw) return send(res, 404, { message: 'no such hot water' });
      this.later(() => (dhw.currentSpecialFunction = method === 'POST' ? 'CYLINDER_BOOST' : 'REGULAR'));
      return send(res, 200, {});
    }
    if ((m = /^\/systems\/([^/]+)\/tli\/zones\/(\d+)\/quick-veto$/.exec(path))) {
      const zone = this.report(m[1]!)?.state?.zones?.find((z: Json) => z.index === Number(m![2]));
      if (!zone) return send(res, 404, { message: 'no such zone' });
      const start = new Date();
      this.later(() => {
        if (method === 'DELETE') {
          zone.currentSpecialFunction = 'NONE';
          zone.quickVetoEndDateTime = '1970-01-01T00:00:00Z';
          // Back to what the schedule asks for.
          if (zone.__beforeVeto !== undefined) zone.desiredRoomTemperatureSetpoint = zone.__beforeVeto;
          return;
        }
        if (zone.currentSpecialFunction !== 'QUICK_VETO') zone.__beforeVeto = zone.desiredRoomTemperatureSetpoint;
        zone.currentSpecialFunction = 'QUICK_VETO';
        if (body?.desiredRoomTemperatureSetpoint !== undefined) zone.desiredRoomTemperatureSetpoint = body.desiredRoomTemperatureSetpoint;
        // The portal rounds the duration to whole hours (users see 0.5 h become 1 h).
        const hours = Math.max(1, Math.round(body?.duration ?? 3));
        zone.quickVetoStartDateTime = start.toISOString();
        zone.quickVetoEndDateTime = new Date(start.getTime() + hours * 3_600_000).toISOString();
      });
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/systems\/([^/]+)\/tli\/domestic-hot-water\/(\d+)\/temperature$/.exec(path))) {
      const cfg = this.report(m[1]!)?.configuration?.dhw?.find((d: Json) => d.index === Number(m![2]));
      if (!cfg || !Number.isInteger(body?.setpoint)) return send(res, 400, { message: 'invalid setpoint' });
      this.later(() => (cfg.tappingSetpoint = body!.setpoint));
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/systems\/([^/]+)\/tli\/domestic-hot-water\/(\d+)\/operation-mode$/.exec(path))) {
      const cfg = this.report(m[1]!)?.configuration?.dhw?.find((d: Json) => d.index === Number(m![2]));
      if (!cfg || !['TIME_CONTROLLED', 'MANUAL', 'OFF'].includes(body?.operationMode)) return send(res, 400, { message: 'invalid mode' });
      this.later(() => (cfg.operationModeDhw = body!.operationMode));
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/systems\/([^/]+)\/tli\/zones\/(\d+)\/manual-mode-setpoint$/.exec(path))) {
      const report = this.report(m[1]!);
      const cfg = report?.configuration?.zones?.find((z: Json) => z.index === Number(m![2]));
      const zone = report?.state?.zones?.find((z: Json) => z.index === Number(m![2]));
      if (!cfg || typeof body?.setpoint !== 'number' || body.type !== 'HEATING') return send(res, 400, { message: 'invalid setpoint' });
      this.later(() => {
        cfg.heating.manualModeSetpointHeating = body!.setpoint;
        if (zone) zone.desiredRoomTemperatureSetpoint = body!.setpoint;
      });
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/systems\/([^/]+)\/tli\/zones\/(\d+)\/heating-operation-mode$/.exec(path))) {
      const cfg = this.report(m[1]!)?.configuration?.zones?.find((z: Json) => z.index === Number(m![2]));
      if (!cfg || !['TIME_CONTROLLED', 'MANUAL', 'OFF'].includes(body?.operationMode)) return send(res, 400, { message: 'invalid mode' });
      this.later(() => (cfg.heating.operationModeHeating = body!.operationMode));
      return send(res, 200, {});
    }
    send(res, 404, { message: `no route ${method} ${path}` });
  }

  async close(): Promise<void> {
    // Keep-alive sockets of the clients would otherwise hold close() open.
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}
