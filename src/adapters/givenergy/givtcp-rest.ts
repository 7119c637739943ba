// GivTCP's REST API, so scripts and dashboards written for GivTCP keep working: POST /<command>
// with GivTCP's JSON payloads, GET /getData, /readData, /getCache, /runAll returning the cached
// data. One port per inverter (port, port + 1, ...), as GivTCP does; an optional bearer token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Adapter } from '../adapters/adapter.js';
import type { GivEnergyAdapter } from '../adapters/givenergy/adapter.js';
import { ControlError } from '../adapters/givenergy/controls.js';
import type { GivenergyRestOptions } from '../adapters/givenergy/options.js';
import type { Logger } from '../core/logger.js';

const MAX_BODY = 4096;

export class GivTcpRestServer implements Adapter {
  readonly id = 'givenergy_rest';
  private servers: Server[] = [];

  constructor(
    private readonly options: GivenergyRestOptions,
    private readonly inverters: GivEnergyAdapter[],
    private readonly log: Logger,
    private readonly host = '0.0.0.0',
  ) {}

  /** The ports actually listened on (after start). */
  ports: number[] = [];

  async start(): Promise<void> {
    for (const [i, inverter] of this.inverters.entries()) {
      const server = createServer((req, res) => void this.handle(inverter, req, res));
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
      this.log.info(`GivTCP-compatible REST API for ${inverter.options.host} on port ${actual}${this.options.token ? ' (bearer token required)' : ''}`);
    }
  }

  private authorised(req: IncomingMessage): boolean {
    const token = this.options.token;
    if (!token) return true;
    const given = Buffer.from(req.headers.authorization ?? '');
    const wanted = Buffer.from(`Bearer ${token}`);
    return given.length === wanted.length && timingSafeEqual(given, wanted);
  }

  private async handle(inverter: GivEnergyAdapter, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (!this.authorised(req)) return reply(401, { error: 'a valid bearer token is required' });
      const route = (req.url ?? '/').split('?')[0]!.replace(/^\/+/, '');
      if (['getCache', 'readData', 'getData', 'runAll'].includes(route)) {
        if (route === 'getData' || route === 'runAll') await inverter.poll(true);
        return reply(200, inverter.cache());
      }
      if (req.method !== 'POST') return reply(405, { error: `use POST for /${route}` });
      const body = await readBody(req);
      let payload: unknown;
      try {
        payload = body.trim() === '' ? {} : JSON.parse(body);
      } catch {
        return reply(400, { error: 'the body is not valid JSON' });
      }
      const result = await inverter.execute(route, payload);
      return reply(200, { result: `${route}: ${result.written} register(s) written, ${result.skipped} already set`, ...result });
    } catch (err) {
      if (err instanceof ControlError) return reply(/unknown command/.test(err.message) ? 404 : 400, { error: err.message });
      this.log.warn(`REST ${req.method} ${req.url}: ${(err as Error).message}`);
      return reply(502, { error: (err as Error).message });
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ControlError(`the body is larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
