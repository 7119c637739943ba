// GivTCP's REST API, so scripts and dashboards written for GivTCP keep working: POST /<command>
// with GivTCP's JSON payloads; GET /getData, /readData, /getCache, /runAll for the cached data.
// One port per inverter (port, port + 1, ...), as GivTCP does. GivTCP's EV charger routes
// (/setChargeControl, /setCurrentLimit, /setChargeMode, /setMaxSessionEnergy, GET /getEVCCache)
// answer on every port, and on `port` alone when only chargers are configured.
//
// It writes a real inverter, so it is safe by default: off unless enabled; a bearer token on
// every request unless the user opens it on purpose; writes only as application/json and never
// from a web page of another site (a browser sends a text/plain POST from any page it shows,
// without asking first); commands go through the adapter's logged command path.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Adapter } from '../adapter.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { quote, shownPayload } from '../../core/outside-text.js';
import { RateLimitedWarning } from '../../core/rate-limited-log.js';
import { GivEnergyAdapter } from './adapter.js';
import type { EvcGivTcp } from '../givenergy-evc/givtcp-evc.js';
import { ControlError } from './controls.js';
import { WriteRefused } from '../../io/safe-writer.js';
import type { GivenergyRestOptions } from './options.js';

const READS = new Set(['getCache', 'readData', 'getData', 'runAll']);
/** GivTCP's EV charger routes (its REST.py) -> its EVC command (the control topic's name). */
const EVC_ROUTES: Record<string, string> = {
  setChargeControl: 'controlCharge',
  setCurrentLimit: 'setCurrentLimit',
  setChargeMode: 'chargeMode',
  setMaxSessionEnergy: 'setMaxSessionEnergy',
  setChargingMode: 'setChargingMode',
  setImportCap: 'setImportCap',
};
const EVC_READS = new Set(['getEVCCache']);

/** What the REST API needs of an EV charger adapter. */
export interface RestCharger {
  readonly serial?: string;
  readonly givTcp: EvcGivTcp | undefined;
  cache(): Record<string, unknown>;
}
/** GivTCP's payloads are a few dozen bytes. */
const MAX_BODY = 16 * 1024;
/** After a 413 the rest of a body is read and dropped (so the client hears the answer) up to this; then we hang up. */
const MAX_DISCARD = 32 * 1024 * 1024;
/** A refused request (no token, a foreign page, no such endpoint) gets its answer, but not our patience. */
const MAX_DISCARD_REFUSED = 64 * 1024;

export class GivTcpRestServer implements Adapter {
  readonly id = 'givenergy_rest';
  /** The ports actually listened on (after start). */
  readonly ports: number[] = [];
  private servers: Server[] = [];
  private readonly refusals: RateLimitedWarning;

  constructor(
    private readonly options: GivenergyRestOptions,
    private readonly inverters: GivEnergyAdapter[],
    private readonly log: Logger,
    clock: Clock,
    private readonly host = '0.0.0.0',
    private readonly chargers: RestCharger[] = [],
  ) {
    this.refusals = new RateLimitedWarning(log, clock);
  }

  async start(): Promise<void> {
    // Chargers without an inverter: one port for their routes.
    const served: Array<GivEnergyAdapter | undefined> = this.inverters.length ? this.inverters : [undefined];
    for (const [i, inverter] of served.entries()) {
      const server = createServer((req, res) => void this.handle(inverter, req, res));
      // A client that trickles its request in does not hold a connection for long.
      server.headersTimeout = 10_000;
      server.requestTimeout = 30_000;
      const port = this.options.port === 0 ? 0 : this.options.port + i;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, this.host, () => resolve());
        });
      } catch (err) {
        this.log.error(`the GivTCP REST API could not listen on port ${port}: ${(err as Error).message}`);
        continue;
      }
      this.servers.push(server);
      const actual = (server.address() as { port: number }).port;
      this.ports.push(actual);
      const what = [inverter ? inverter.options.host : undefined, this.chargers.length ? 'the EV charger routes' : undefined].filter(Boolean).join(' and ');
      this.log.info(`GivTCP-compatible REST API for ${what} on port ${actual} (${this.access()})`);
      if (this.options.allow_unauthenticated) {
        this.log.warn(`the GivTCP REST API on port ${actual} is open: anyone who can reach it can write the inverter (allow_unauthenticated is on)`);
      }
    }
  }

  private access(): string {
    if (this.options.allow_unauthenticated) return 'no token required';
    return this.options.allow_unauthenticated_reads ? 'bearer token required for commands' : 'bearer token required';
  }

  private authorised(req: IncomingMessage, read: boolean): boolean {
    if (this.options.allow_unauthenticated || (read && this.options.allow_unauthenticated_reads)) return true;
    const token = this.options.token;
    if (!token) return false;
    // The scheme is case-insensitive (RFC 9110); the token is compared in constant time.
    const match = /^bearer (.*)$/i.exec(req.headers.authorization ?? '');
    const given = Buffer.from(match?.[1] ?? '', 'latin1');
    const wanted = Buffer.from(token, 'latin1');
    return given.length === wanted.length && timingSafeEqual(given, wanted);
  }

  /** The charger a route is for: `?serial=` names one; without it, the only (or first) one. */
  private charger(query: string): RestCharger | undefined {
    const serial = new URLSearchParams(query).get('serial');
    if (serial === null) return this.chargers[0];
    return this.chargers.find((c) => c.serial?.toLowerCase() === serial.toLowerCase());
  }

  private async handle(inverter: GivEnergyAdapter | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const peer = req.socket.remoteAddress ?? 'an unknown address';
    const [path, query = ''] = (req.url ?? '/').split('?') as [string, string?];
    const route = path.startsWith('/') ? path.slice(1) : path; // "//setChargeTarget" is no endpoint
    const origin = req.headers.origin;
    const originAllowed = origin !== undefined && this.options.allowed_origins.includes(origin);
    // A browser says when a page of another site asks, also for a plain GET that carries no Origin.
    const site = req.headers['sec-fetch-site'];
    const crossSite = !originAllowed && (origin !== undefined || site === 'cross-site' || site === 'same-site');
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent) return;
      if (originAllowed) Object.assign(headers, { 'access-control-allow-origin': origin, vary: 'Origin' });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const refuse = (status: 401 | 403, error: string) => {
      this.refusals.warn(`${peer} ${status}`, `REST ${req.method} ${quote(path, 80)} from ${peer} refused (${status}): ${error}`);
      reply(status, { error });
    };
    try {
      this.log.debug(`REST ${req.method} ${quote(path, 80)} from ${peer}`);
      // Object.hasOwn: `constructor` and the other names every object has are not commands.
      const evc = EVC_READS.has(route) || Object.hasOwn(EVC_ROUTES, route);
      const read = evc ? EVC_READS.has(route) : READS.has(route);
      const command = !evc && GivEnergyAdapter.isCommand(route);
      const known = evc ? this.chargers.length > 0 : inverter !== undefined && (read || command);
      if (!known) {
        const why = evc ? ' (no EV charger is configured in givenergy_evc)' : '';
        return discardThen(req, () => reply(404, { error: `no endpoint ${shownPayload(path, 80)}${why}` }), MAX_DISCARD_REFUSED);
      }
      const charger = evc ? this.charger(query) : undefined;
      if (evc && !charger) return discardThen(req, () => reply(404, { error: `no EV charger with serial ${quote(new URLSearchParams(query).get('serial') ?? '', 40)}` }), MAX_DISCARD_REFUSED);
      if (crossSite) {
        const page = origin !== undefined ? quote(origin, 80) : 'another site';
        return discardThen(req, () => refuse(403, `requests from web pages of ${page} are not allowed (see allowed_origins)`), MAX_DISCARD_REFUSED);
      }
      const method = read ? 'GET' : 'POST';
      if (req.method === 'OPTIONS' && originAllowed) {
        // A browser's preflight for a page the user allowed.
        return reply(204, {}, { 'access-control-allow-methods': method, 'access-control-allow-headers': 'authorization, content-type', 'access-control-max-age': '600' });
      }
      if (req.method !== method) return discardThen(req, () => reply(405, { error: `use ${method} for /${route}` }, { allow: method }), MAX_DISCARD_REFUSED);
      if (!this.authorised(req, read)) return discardThen(req, () => refuse(401, 'a valid bearer token is required'), MAX_DISCARD_REFUSED);
      if (read) {
        if (charger) return reply(200, charger.cache());
        if (route === 'getData' || route === 'runAll') await inverter!.poll(true);
        return reply(200, inverter!.cache());
      }
      // The command path of the device the route is for: it logs and publishes refusals.
      const givtcp = charger ? charger.givTcp : inverter!.givtcp;
      if (!givtcp) return discardThen(req, () => reply(503, { error: 'the EV charger has not been detected yet' }), MAX_DISCARD_REFUSED);
      const commandName = charger ? EVC_ROUTES[route]! : route;

      const from = { source: 'rest' as const, where: `REST /${route} from ${peer}` };
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') {
        const reason = `commands must be sent as Content-Type: application/json${type ? `, not ${quote(type, 60)}` : ''}`;
        givtcp.refused(from, '', reason);
        return discardThen(req, () => reply(415, { error: reason }));
      }
      const body = await readBody(req);
      if (body === undefined) {
        const reason = `the body is larger than ${MAX_BODY} bytes`;
        givtcp.refused(from, '', reason);
        return reply(413, { error: reason });
      }
      let payload: unknown;
      try {
        payload = body.trim() === '' ? {} : JSON.parse(body);
      } catch {
        givtcp.refused(from, body, 'the body is not valid JSON');
        return reply(400, { error: 'the body is not valid JSON' });
      }
      const result = await givtcp.run(commandName, payload, { ...from, raw: body });
      return reply(200, { result: `${route}: ${result.written} register(s) written, ${result.skipped} already set`, ...result });
    } catch (err) {
      // Refusals and failures are already logged and published by the command path.
      return reply(err instanceof ControlError || err instanceof WriteRefused ? 400 : 502, { error: (err as Error).message });
    }
  }

  /** No more requests: stop listening and drop the connections (nothing here is an actuator). */
  failSafe(): void {
    for (const server of this.servers) {
      server.close();
      server.closeAllConnections();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map((server) => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }),
    );
  }
}

/** The body as text, or undefined when it is larger than MAX_BODY (the rest is then discarded). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) return Promise.resolve(discard(req));
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.off('data', onData);
        resolve(discard(req, size));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Reads and drops the rest of a request, so the answer can be read by the client; hangs up past `limit`. */
function discard(req: IncomingMessage, already = 0, limit = MAX_DISCARD): undefined {
  let size = already;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) req.socket.destroy();
  });
  req.resume();
  return undefined;
}

/** Answers a request whose body is not wanted: drop it, then reply. */
function discardThen(req: IncomingMessage, answer: () => void, limit = MAX_DISCARD): void {
  discard(req, 0, limit);
  answer();
}
