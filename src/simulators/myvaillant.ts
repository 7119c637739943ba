// The myVaillant cloud on a real HTTP socket: Keycloak's login page with the ALTCHA proof-of-work,
// the token endpoint (code + PKCE, refresh), and the end-user API with a system report that
// follows commands after a lag, and quota errors on demand. For tests, benchmarks and the demo.
// It stands for the cloud, not for one client: it serves the paths of the research
// (shared/research/vaillant.md §1.4–1.6) that myPyllant and the sensonet library use — TLI and VRC700
// systems, meta-info, energy (emf/v2), runtime statistics, trouble codes and Ambisense rooms — and
// answers 404 for anything else.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// Reports are arbitrary JSON from the fixtures; fields are read where the API reads them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export const API_PATH = '/service-connected-control/end-user-app-api/v1';
/** VRC700 controllers: system report and most writes (myPyllant const.py API_URL_BASE["vrc700"]). */
export const VRC700_PATH = '/service-connected-control/vrc700/v1';
/** VRC700 controllers: zone heating mode and hot-water setpoint (myPyllant SYSTEM_CONTROL_API_URL_BASE). */
export const SYSTEM_CONTROL_PATH = '/service-connected-control/system-control/v1';

export type VaillantControlIdentifier = 'tli' | 'vrc700';

/** Wh one device turns over in one hour (for GET emf/v2/{id}/devices/{uuid}/buckets). */
export type VaillantEnergyModel = (q: { systemId: string; deviceUuid: string; deviceType: string; operationMode: string; energyType: string; hourStart: number }) => number;

export interface VaillantTroubleCode { code: string; type: string; title: string; description: string; occurrenceTimestamp?: string }

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
  /** Controller type per system (GET …/meta-info/control-identifier). Default: `vrc700` when the
   *  report says `properties.system.controllerType: "VRC700"`, else `tli`. A VRC700 system is read at
   *  vrc700/v1/systems/{id} and answers 404 at …/systems/{id}/tli; a TLI system the other way round. */
  controllers?: Record<string, VaillantControlIdentifier>;
  /** Ambisense rooms per system (GET api/v1/ambisense/facilities/{id}/rooms, e.g. the ambisense
   *  fixture's rooms.json). Systems without answer 409 NO_FACILITY_FOR_SYSTEM_ID. */
  rooms?: Record<string, unknown[]>;
  /** GET emf/v2/{id}/currentSystem per system (snake_case, the current_system.json shape). Default: the
   *  current_power fixture's devices (its own ids for that system, ids derived from the systemId for others). */
  currentSystems?: Record<string, Json>;
  /** Energy per device and hour; default {@link defaultEnergyModel}. */
  energyModel?: VaillantEnergyModel;
  /** GET …/meta-info/time-zone per system; default Europe/Berlin. */
  timeZones?: Record<string, string>;
  /** GET …/meta-info/connection-status per system; default true. */
  connected?: Record<string, boolean>;
  /** Time source for token expiry, the report lag, quota and the energy counters; default the wall clock. */
  clock?: { now(): number };
}

const HOUR = 3_600_000;

/** A heat pump that heats more at night and makes hot water at 05–07 and 18–19 UTC; other devices idle.
 *  Deterministic: the same hour always gives the same Wh. */
export const defaultEnergyModel: VaillantEnergyModel = ({ deviceType, operationMode, energyType, hourStart }) => {
  if (deviceType !== 'HEATPUMP') return 0;
  const h = new Date(hourStart).getUTCHours();
  const electrical = operationMode === 'HEATING' ? 400 * (1 + 0.5 * Math.cos((2 * Math.PI * (h - 4)) / 24))
    : operationMode === 'DOMESTIC_HOT_WATER' ? ([5, 6, 18].includes(h) ? 600 : 0) : 0;
  const factor: Record<string, number> = { CONSUMED_ELECTRICAL_ENERGY: 1, EARNED_ENVIRONMENT_ENERGY: 2, HEAT_GENERATED: 3 };
  return Math.round(electrical * (factor[energyType] ?? 0) * 1000) / 1000;
};

const RESOLUTIONS = ['HOUR', 'DAY', 'MONTH'];
const OPERATION_MODES = ['HEATING', 'DOMESTIC_HOT_WATER', 'COOLING'];
const ENERGY_TYPES = ['CONSUMED_ELECTRICAL_ENERGY', 'EARNED_ENVIRONMENT_ENERGY', 'HEAT_GENERATED', 'CONSUMED_PRIMARY_ENERGY', 'EARNED_SOLAR_ENERGY'];

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
  private troubleCodes = new Map<string, Array<{ serialNumber: string; articleNumber: string; codes: VaillantTroubleCode[] }>>();
  private lateHours = new Map<number, { at: number; missing: boolean }>();
  port = 0;

  constructor(readonly options: VaillantSimOptions) {}

  get identityUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}${API_PATH}`;
  }
  get vrc700Url(): string {
    return `http://127.0.0.1:${this.port}${VRC700_PATH}`;
  }
  get systemControlUrl(): string {
    return `http://127.0.0.1:${this.port}${SYSTEM_CONTROL_PATH}`;
  }

  private now(): number {
    return this.options.clock?.now() ?? Date.now();
  }

  controlIdentifier(systemId: string): VaillantControlIdentifier {
    return this.options.controllers?.[systemId] ?? (this.options.systems[systemId]?.properties?.system?.controllerType === 'VRC700' ? 'vrc700' : 'tli');
  }

  /** GET emf/v2/{id}/currentSystem as served (device data end at the current time). */
  currentSystem(systemId: string): Json | undefined {
    if (!this.options.systems[systemId]) return undefined;
    const given = this.options.currentSystems?.[systemId];
    const cs = structuredClone(given ?? currentSystemTemplate(systemId));
    if (!given) {
      const last = isoZ(this.now());
      for (const d of devicesOf(cs)) {
        d.last_data = last;
        for (const entry of d.data ?? []) entry.to = last;
      }
    }
    return cs;
  }

  /** Adds a code to GET systems/{id}/diagnostic-trouble-codes under the device with this serial number. */
  addTroubleCode(systemId: string, serialNumber: string, code: VaillantTroubleCode, articleNumber = ''): void {
    const list = this.troubleCodeList(systemId);
    let entry = list.find((e) => e.serialNumber === serialNumber);
    if (!entry) list.push((entry = { serialNumber, articleNumber, codes: [] }));
    entry.codes.push({ occurrenceTimestamp: isoZ(this.now()), ...code });
  }

  /**
   * The hour starting at `hourStart` is uploaded late (a gateway that was offline): until
   * `availableAt` its buckets are 0, or missing with `missing`, for every device and series.
   */
  fillLate(hourStart: number, availableAt: number, options: { missing?: boolean } = {}): void {
    this.lateHours.set(hourStart, { at: availableAt, missing: options.missing ?? false });
  }

  clearTroubleCodes(systemId: string): void {
    for (const e of this.troubleCodeList(systemId)) e.codes = [];
  }

  private troubleCodeList(systemId: string) {
    let list = this.troubleCodes.get(systemId);
    if (!list) {
      list = devicesOf(this.currentSystem(systemId) ?? {}).map((d) => ({ serialNumber: String(d.device_serial_number ?? ''), articleNumber: String(d.article_number ?? ''), codes: [] as VaillantTroubleCode[] }));
      this.troubleCodes.set(systemId, list);
    }
    return list;
  }

  /** Wh of one device for one operation mode and energy type between two instants (never past now). */
  energyWh(systemId: string, device: Json, operationMode: string, energyType: string, from: number, to: number): number {
    const model = this.options.energyModel ?? defaultEnergyModel;
    const has = (device.data as Json[] | undefined)?.some((d) => d.operation_mode === operationMode && d.value_type === energyType) ?? false;
    if (!has) return 0;
    const end = Math.min(to, this.now());
    let total = 0;
    for (let t = from; t < end; ) {
      const hourStart = Math.floor(t / HOUR) * HOUR;
      const next = Math.min(hourStart + HOUR, end);
      total += (model({ systemId, deviceUuid: String(device.device_uuid), deviceType: String(device.device_type), operationMode, energyType, hourStart }) * (next - t)) / HOUR;
      t = next;
    }
    return total;
  }

  async listen(): Promise<number> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((err: Error) => send(res, 500, { message: err.message })));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  /** From now on every API call answers 403 "Out of call volume quota" with Retry-After. */
  exhaustQuota(seconds: number): void {
    this.quotaUntil = this.now() + seconds * 1000;
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
    const now = this.now();
    this.pending = this.pending.filter((p) => (p.at <= now ? (p.apply(), false) : true));
    return this.options.systems[systemId];
  }

  private later(apply: () => void): void {
    this.pending.push({ at: this.now() + (this.options.lagMs ?? 0), apply });
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
    for (const [base, prefix] of [['api', API_PATH], ['vrc700', VRC700_PATH], ['control', SYSTEM_CONTROL_PATH]] as const) {
      if (url.pathname.startsWith(`${prefix}/`)) return this.api(req, base, url.pathname.slice(prefix.length), url.searchParams, json as Json | undefined, res);
    }
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
    const parameters = { algorithm: 'PBKDF2/SHA-256', cost: this.options.altchaCost ?? 5000, keyLength: 32, keyPrefix: '00', nonce: randomBytes(16).toString('hex'), salt: randomBytes(16).toString('hex'), expiresAt: Math.floor(this.now() / 1000) + 600 };
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
      this.access.set(access, this.now() + lifetime * 1000);
      this.refresh.set(refresh, this.now() + refreshLifetime * 1000);
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
      if (!until || until < this.now()) return send(res, 400, { error: 'invalid_grant', error_description: 'Token is not active' });
      this.refresh.delete(form.get('refresh_token')!);
      return issue();
    }
    send(res, 400, { error: 'unsupported_grant_type' });
  }

  private api(req: IncomingMessage, base: 'api' | 'vrc700' | 'control', path: string, query: URLSearchParams, body: Json | undefined, res: ServerResponse): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const until = token ? this.access.get(token) : undefined;
    if (!until || until < this.now()) return send(res, 401, { statusCode: 401, message: 'Unauthorized' });
    if (req.headers['ocp-apim-subscription-key'] !== '1e0a2f3511fb4c5bbb1c7f9fedd20b1c') return send(res, 401, { statusCode: 401, message: 'Access denied due to missing subscription key.' });
    if (this.quotaUntil > this.now()) {
      const left = Math.ceil((this.quotaUntil - this.now()) / 1000);
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
    const notFound = () => send(res, 404, { statusCode: 404, message: `no route ${method} ${path}` });
    // Every per-system path names the system right after its collection; unknown systems are 404.
    const sys = /^\/(?:systems|emf\/v2|rts|hem|api\/v1\/ambisense\/facilities)\/([^/]+)/.exec(path)?.[1];
    if (sys !== undefined && !this.options.systems[sys]) return send(res, 404, { statusCode: 404, message: 'system not found' });
    if (base !== 'api') {
      if (!sys || !path.startsWith('/systems/') || this.controlIdentifier(sys) !== 'vrc700') return notFound();
      return base === 'vrc700' ? this.vrc700(method, path, body, res, notFound) : this.systemControl(method, path, body, res, notFound);
    }
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/homes') return send(res, 200, this.options.homes);
    if (method === 'GET' && (m = /^\/systems\/([^/]+)\/meta-info\/(control-identifier|time-zone|connection-status)$/.exec(path))) {
      const id = m[1]!;
      if (m[2] === 'control-identifier') return send(res, 200, { controlIdentifier: this.controlIdentifier(id) });
      if (m[2] === 'time-zone') return send(res, 200, { timeZone: this.options.timeZones?.[id] ?? 'Europe/Berlin' });
      return send(res, 200, { connected: this.options.connected?.[id] ?? true });
    }
    if (method === 'GET' && (m = /^\/systems\/([^/]+)\/diagnostic-trouble-codes$/.exec(path))) return send(res, 200, this.troubleCodeList(m[1]!));
    if (method === 'GET' && (m = /^\/emf\/v2\/([^/]+)\/currentSystem$/.exec(path))) return send(res, 200, this.currentSystem(m[1]!));
    if (method === 'GET' && (m = /^\/emf\/v2\/([^/]+)\/devices\/([^/]+)\/buckets$/.exec(path))) return this.buckets(m[1]!, m[2]!, query, res);
    if (method === 'GET' && (m = /^\/rts\/([^/]+)\/devices$/.exec(path))) return send(res, 200, { statistics: this.statistics(m[1]!) });
    if (method === 'GET' && (m = /^\/api\/v1\/ambisense\/facilities\/([^/]+)\/(rooms|capability)$/.exec(path))) {
      const rooms = this.options.rooms?.[m[1]!];
      if (!rooms) return send(res, 409, { errorCode: 'NO_FACILITY_FOR_SYSTEM_ID', message: `No facility found for system id ${m[1]!}` });
      return send(res, 200, m[2] === 'rooms' ? rooms : { rbrCapable: true });
    }
    if (method === 'GET' && (m = /^\/hem\/([^/]+)\/mpc$/.exec(path))) return send(res, 200, { devices: this.options.systems[m[1]!]?.__mpc ?? [] });
    // TLI: the report and its writes under systems/{id}/tli; a VRC700 system has none of them.
    if (!(m = /^\/systems\/([^/]+)\/tli(\/.*)?$/.exec(path)) || this.controlIdentifier(m[1]!) !== 'tli') return notFound();
    const id = m[1]!;
    const rest = m[2] ?? '';
    if (method === 'GET' && rest === '') return send(res, 200, this.report(id));
    if ((method === 'POST' || method === 'DELETE') && (m = /^\/domestic-hot-water\/(\d+)\/boost$/.exec(rest))) {
      const dhw = this.report(id)?.state?.dhw?.find((d: Json) => d.index === Number(m![1]));
      if (!dhw) return send(res, 404, { message: 'no such hot water' });
      this.later(() => (dhw.currentSpecialFunction = method === 'POST' ? 'CYLINDER_BOOST' : 'REGULAR'));
      return send(res, 200, {});
    }
    if (['POST', 'PATCH', 'DELETE'].includes(method) && (m = /^\/zones\/(\d+)\/quick-veto$/.exec(rest))) {
      const zone = this.report(id)?.state?.zones?.find((z: Json) => z.index === Number(m![1]));
      if (!zone) return send(res, 404, { message: 'no such zone' });
      this.quickVeto(zone, method, body);
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/domestic-hot-water\/(\d+)\/temperature$/.exec(rest))) {
      const cfg = this.report(id)?.configuration?.dhw?.find((d: Json) => d.index === Number(m![1]));
      if (!cfg || !Number.isInteger(body?.setpoint)) return send(res, 400, { message: 'invalid setpoint' });
      this.later(() => (cfg.tappingSetpoint = body!.setpoint));
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/domestic-hot-water\/(\d+)\/operation-mode$/.exec(rest))) {
      const cfg = this.report(id)?.configuration?.dhw?.find((d: Json) => d.index === Number(m![1]));
      if (!cfg || !['TIME_CONTROLLED', 'MANUAL', 'OFF'].includes(body?.operationMode)) return send(res, 400, { message: 'invalid mode' });
      this.later(() => (cfg.operationModeDhw = body!.operationMode));
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/zones\/(\d+)\/manual-mode-setpoint$/.exec(rest))) {
      const report = this.report(id);
      const cfg = report?.configuration?.zones?.find((z: Json) => z.index === Number(m![1]));
      const zone = report?.state?.zones?.find((z: Json) => z.index === Number(m![1]));
      if (!cfg || typeof body?.setpoint !== 'number' || body.type !== 'HEATING') return send(res, 400, { message: 'invalid setpoint' });
      this.later(() => {
        cfg.heating.manualModeSetpointHeating = body!.setpoint;
        if (zone) zone.desiredRoomTemperatureSetpoint = body!.setpoint;
      });
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (m = /^\/zones\/(\d+)\/heating-operation-mode$/.exec(rest))) {
      const cfg = this.report(id)?.configuration?.zones?.find((z: Json) => z.index === Number(m![1]));
      if (!cfg || !['TIME_CONTROLLED', 'MANUAL', 'OFF'].includes(body?.operationMode)) return send(res, 400, { message: 'invalid mode' });
      this.later(() => (cfg.heating.operationModeHeating = body!.operationMode));
      return send(res, 200, {});
    }
    notFound();
  }

  /** POST starts, PATCH changes, DELETE ends a quick veto (TLI and VRC700 alike). */
  private quickVeto(zone: Json, method: string, body: Json | undefined): void {
    const start = new Date(this.now());
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
  }

  /** vrc700/v1: GET systems/{id} (the report, hot water under `domesticHotWater`), zone/{z}/heating/quick-veto,
   *  zone/{z}/heating/comfort-room-temperature, domestic-hot-water/{i}/boost and …/operation-mode. */
  private vrc700(method: string, path: string, body: Json | undefined, res: ServerResponse, notFound: () => void): void {
    const m = /^\/systems\/([^/]+)(\/.*)?$/.exec(path)!;
    const report = this.report(m[1]!)!;
    const rest = m[2] ?? '';
    let r: RegExpExecArray | null;
    if (method === 'GET' && rest === '') return send(res, 200, report);
    if (['POST', 'PATCH', 'DELETE'].includes(method) && (r = /^\/zone\/(\d+)\/heating\/quick-veto$/.exec(rest))) {
      const zone = report.state?.zones?.find((z: Json) => z.index === Number(r![1]));
      if (!zone) return send(res, 404, { message: 'no such zone' });
      if (method !== 'DELETE' && body?.desiredRoomTemperatureSetpoint !== undefined && typeof body.desiredRoomTemperatureSetpoint !== 'number') return send(res, 400, { message: 'invalid setpoint' });
      this.quickVeto(zone, method, body);
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (r = /^\/zone\/(\d+)\/heating\/comfort-room-temperature$/.exec(rest))) {
      const cfg = report.configuration?.zones?.find((z: Json) => z.index === Number(r![1]));
      const zone = report.state?.zones?.find((z: Json) => z.index === Number(r![1]));
      if (!cfg || typeof body?.comfortRoomTemperature !== 'number') return send(res, 400, { message: 'invalid temperature' });
      this.later(() => {
        cfg.heating.dayTemperatureHeating = body.comfortRoomTemperature;
        if (zone) zone.desiredRoomTemperatureSetpointHeating = body.comfortRoomTemperature;
        if (zone && cfg.heating.operationModeHeating === 'DAY' && zone.currentSpecialFunction !== 'QUICK_VETO') zone.desiredRoomTemperatureSetpoint = body.comfortRoomTemperature;
      });
      return send(res, 200, {});
    }
    if ((method === 'POST' || method === 'DELETE') && (r = /^\/domestic-hot-water\/(\d+)\/boost$/.exec(rest))) {
      const dhw = report.state?.domesticHotWater?.find((d: Json) => d.index === Number(r![1]));
      if (!dhw) return send(res, 404, { message: 'no such hot water' });
      this.later(() => (dhw.currentSpecialFunction = method === 'POST' ? 'CYLINDER_BOOST' : 'NONE'));
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (r = /^\/domestic-hot-water\/(\d+)\/operation-mode$/.exec(rest))) {
      const cfg = report.configuration?.domesticHotWater?.find((d: Json) => d.index === Number(r![1]));
      if (!cfg) return send(res, 404, { message: 'no such hot water' });
      if (!['AUTO', 'DAY', 'OFF'].includes(body?.operationMode)) return send(res, 400, { message: 'invalid mode' });
      this.later(() => (cfg.operationModeDomesticHotWater = body!.operationMode));
      return send(res, 200, {});
    }
    notFound();
  }

  /** system-control/v1 (VRC700): zones/{z}/heating-operation-mode and domestic-hot-water/{i}/tapping-setpoint. */
  private systemControl(method: string, path: string, body: Json | undefined, res: ServerResponse, notFound: () => void): void {
    const m = /^\/systems\/([^/]+)(\/.*)?$/.exec(path)!;
    const report = this.report(m[1]!)!;
    const rest = m[2] ?? '';
    let r: RegExpExecArray | null;
    if (method === 'PATCH' && (r = /^\/zones\/(\d+)\/heating-operation-mode$/.exec(rest))) {
      const cfg = report.configuration?.zones?.find((z: Json) => z.index === Number(r![1]));
      const zone = report.state?.zones?.find((z: Json) => z.index === Number(r![1]));
      if (!cfg) return send(res, 404, { message: 'no such zone' });
      if (!['DAY', 'AUTO', 'SET_BACK', 'OFF'].includes(body?.operationMode)) return send(res, 400, { message: 'invalid mode' });
      this.later(() => {
        cfg.heating.operationModeHeating = body!.operationMode;
        if (!zone || zone.currentSpecialFunction === 'QUICK_VETO') return;
        // AUTO follows the time program: its slots are comfort (day) time, outside them set-back.
        if (body!.operationMode === 'DAY' || body!.operationMode === 'AUTO') zone.desiredRoomTemperatureSetpoint = cfg.heating.dayTemperatureHeating ?? zone.desiredRoomTemperatureSetpoint;
        if (body!.operationMode === 'SET_BACK') zone.desiredRoomTemperatureSetpoint = cfg.heating.setBackTemperature ?? zone.desiredRoomTemperatureSetpoint;
      });
      return send(res, 200, {});
    }
    if (method === 'PATCH' && (r = /^\/domestic-hot-water\/(\d+)\/tapping-setpoint$/.exec(rest))) {
      const i = Number(r[1]);
      const cfg = report.configuration?.domesticHotWater?.find((d: Json) => d.index === i);
      const props = report.properties?.domesticHotWater?.find((d: Json) => d.index === i);
      if (!cfg) return send(res, 404, { message: 'no such hot water' });
      const sp = body?.setpoint;
      // 0.5 °C steps, within the limits the report gives.
      if (typeof sp !== 'number' || !Number.isInteger(sp * 2) || sp < (props?.minSetpoint ?? 35) || sp > (props?.maxSetpoint ?? 70)) return send(res, 400, { message: 'invalid setpoint' });
      this.later(() => (cfg.tappingSetpoint = sp));
      return send(res, 200, {});
    }
    notFound();
  }

  /** GET emf/v2/{id}/devices/{uuid}/buckets: Wh per bucket between startDate and endDate (UTC buckets). */
  private buckets(systemId: string, deviceUuid: string, q: URLSearchParams, res: ServerResponse): void {
    const device = devicesOf(this.currentSystem(systemId)!).find((d) => d.device_uuid === deviceUuid);
    if (!device) return send(res, 404, { statusCode: 404, message: 'device not found' });
    const resolution = q.get('resolution') ?? '';
    const operationMode = q.get('operationMode') ?? '';
    const energyType = q.get('energyType') ?? '';
    const start = Date.parse(q.get('startDate') ?? '');
    const end = Date.parse(q.get('endDate') ?? '');
    const bad = !RESOLUTIONS.includes(resolution) ? 'resolution' : !OPERATION_MODES.includes(operationMode) ? 'operationMode'
      : !ENERGY_TYPES.includes(energyType) ? 'energyType' : !Number.isFinite(start) ? 'startDate' : !Number.isFinite(end) || end <= start ? 'endDate' : undefined;
    if (bad) return send(res, 400, { statusCode: 400, message: `invalid query parameter ${bad}` });
    const next = (t: number) => {
      const d = new Date(t);
      if (resolution === 'HOUR') return t + HOUR;
      if (resolution === 'DAY') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    };
    const d0 = new Date(start);
    let t = resolution === 'HOUR' ? Math.floor(start / HOUR) * HOUR : resolution === 'DAY' ? Date.UTC(d0.getUTCFullYear(), d0.getUTCMonth(), d0.getUTCDate()) : Date.UTC(d0.getUTCFullYear(), d0.getUTCMonth(), 1);
    const data: Array<{ startDate: string; endDate: string; value: number }> = [];
    for (; t < end && data.length < 10_000; t = next(t)) {
      const value = this.energyWh(systemId, device, operationMode, energyType, Math.max(t, start), Math.min(next(t), end));
      const late = this.lateHours.get(t);
      if (late && this.now() < late.at) {
        if (!late.missing) data.push({ startDate: isoZ(t), endDate: isoZ(next(t)), value: 0 });
        continue;
      }
      data.push({ startDate: isoZ(t), endDate: isoZ(next(t)), value });
    }
    const totalConsumption = data.reduce((sum, b) => sum + b.value, 0);
    send(res, 200, { startDate: isoZ(start), endDate: isoZ(end), resolution, operationMode, energyType, totalConsumption, data });
  }

  /** GET rts/{id}/devices: per device its running hours and cycles so far and its power now (from the energy model). */
  private statistics(systemId: string): Json[] {
    const model = this.options.energyModel ?? defaultEnergyModel;
    const now = this.now();
    const hourStart = Math.floor(now / HOUR) * HOUR;
    return devicesOf(this.currentSystem(systemId)!).map((d) => {
      const w = OPERATION_MODES.reduce((sum, mode) => sum + model({ systemId, deviceUuid: String(d.device_uuid), deviceType: String(d.device_type), operationMode: mode, energyType: 'CONSUMED_ELECTRICAL_ENERGY', hourStart }), 0);
      const first = Date.parse(d.first_data ?? '') || now;
      const operationTime = w > 0 ? Math.floor(((now - first) / HOUR) * 0.4) : 0;
      return { deviceId: d.device_uuid, operationTime, onOffCycles: Math.floor(operationTime / 2), currentPowerConsumption: Math.round(w) };
    });
  }

  async close(): Promise<void> {
    // Keep-alive sockets of the clients would otherwise hold close() open.
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  // Keys starting with "__" are the simulator's own bookkeeping in the reports, not the cloud's.
  res.end(JSON.stringify(body, (k, v: unknown) => (k.startsWith('__') ? undefined : v)));
}

/** ISO time like the cloud writes it: UTC, no milliseconds when they are zero. */
function isoZ(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

function devicesOf(cs: Json): Json[] {
  return [cs.primary_heat_generator, ...(cs.secondary_heat_generators ?? []), cs.electric_backup_heater, cs.solar_station, cs.ventilation, cs.gateway]
    .filter((d): d is Json => !!d && typeof d === 'object' && typeof d.device_uuid === 'string');
}

const TEMPLATE_SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';
let template: Json | undefined;

/** The current_power fixture's devices (aroTHERM plus, uniTOWER, recoVAIR); for another system the ids
 *  and serial numbers are derived from its systemId so that systems do not share devices. */
function currentSystemTemplate(systemId: string): Json {
  template ??= JSON.parse(readFileSync(new URL(`./data/vaillant/current_power/${TEMPLATE_SYSTEM}/current_system.json`, import.meta.url), 'utf8')) as Json;
  const cs = structuredClone(template);
  if (systemId !== TEMPLATE_SYSTEM) {
    for (const d of devicesOf(cs)) {
      d.device_uuid = createHash('sha1').update(`${systemId}/${d.device_uuid}`).digest('hex');
      d.device_serial_number = createHash('sha1').update(`${systemId}/${d.device_serial_number}`).digest('hex');
    }
  }
  return cs;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}
