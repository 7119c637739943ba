// A local stand-in for Home Assistant's REST API as a client sees it, directly (/api/...) or
// through the Supervisor's proxy (/core/api/...): a bearer token (401 "401: Unauthorized"
// otherwise, aiohttp's text), GET /services, and POST /services/<domain>/<service>. Like HA
// 2024+ (components/api: has_service -> HTTPBadRequest), an unknown service is a 400 with
// aiohttp's "400: Bad Request"; older versions and some proxies said 404, so that is a switch.
// Data that the service's schema refuses is also a 400, as HA's vol.Invalid is.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Got } from 'got';

export interface FakeHaRestCall {
  domain: string;
  service: string;
  data: Record<string, unknown>;
  /** The path prefix used: '/api' (HA) or '/core/api' (the Supervisor's proxy). */
  prefix: string;
  authorization?: string;
}

/** The fields HA's schemas take, per service (legacy notify platforms and persistent_notification). */
const SCHEMA: Record<string, { required: string[]; optional: string[] }> = {
  notify: { required: ['message'], optional: ['title', 'target', 'data'] },
  'persistent_notification.create': { required: ['message'], optional: ['title', 'notification_id'] },
  'persistent_notification.dismiss': { required: ['notification_id'], optional: [] },
};

export class FakeHomeAssistantRest {
  /** Every call of an existing service with accepted data. */
  readonly calls: FakeHaRestCall[] = [];
  /** Every request (method, path, authorization header) including refused ones. */
  readonly requests: Array<{ method: string; path: string; authorization?: string; status: number }> = [];
  /** How an unknown service is answered: 400 (HA today) or 404. */
  unknownServiceStatus: 400 | 404 = 400;
  /** The next service call answers with this status (e.g. 502 while HA restarts behind the Supervisor). */
  failNext?: number;
  readonly services: Set<string>;
  private server?: Server;
  port = 0;

  private constructor(
    readonly token: string,
    services: string[],
  ) {
    this.services = new Set(services);
  }

  static async start(options: { token?: string; services?: string[] } = {}): Promise<FakeHomeAssistantRest> {
    const fake = new FakeHomeAssistantRest(options.token ?? 'ha-rest-token-0123456789', options.services ?? ['notify.mobile_app_pixel_7', 'notify.notify', 'persistent_notification.create', 'persistent_notification.dismiss']);
    fake.server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => fake.server!.listen(0, '127.0.0.1', () => resolve()));
    fake.port = (fake.server.address() as { port: number }).port;
    return fake;
  }

  /** HA's API directly (outside the add-on: ha_api_url). */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  /** The same API as the Supervisor proxies it. */
  get supervisorApiUrl(): string {
    return `http://127.0.0.1:${this.port}/core/api`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const authorization = req.headers.authorization;
    const answer = (status: number, payload: unknown, type = 'application/json') => {
      this.requests.push({ method: req.method ?? 'GET', path, authorization, status });
      res.writeHead(status, { 'content-type': type });
      res.end(type === 'application/json' ? JSON.stringify(payload) : String(payload));
    };
    const prefix = /^\/(core\/)?api(?=\/)/.exec(path)?.[0];
    if (!prefix) return answer(404, '404: Not Found', 'text/plain');
    if (authorization !== `Bearer ${this.token}`) return answer(401, '401: Unauthorized', 'text/plain');
    const rest = path.slice(prefix.length);
    if (req.method === 'GET' && rest === '/services') {
      const domains = new Map<string, Record<string, unknown>>();
      for (const full of this.services) {
        const [domain, service] = full.split('.') as [string, string];
        domains.set(domain, { ...domains.get(domain), [service]: { name: service, fields: {} } });
      }
      return answer(200, [...domains].map(([domain, services]) => ({ domain, services })));
    }
    const m = /^\/services\/([^/]+)\/([^/]+)$/.exec(rest);
    if (req.method !== 'POST' || !m) return answer(404, '404: Not Found', 'text/plain');
    const [domain, service] = [m[1]!, m[2]!];
    if (this.failNext) {
      const status = this.failNext;
      this.failNext = undefined;
      return answer(status, `${status}: Bad Gateway`, 'text/plain');
    }
    let data: unknown;
    try {
      data = body ? JSON.parse(body) : {};
    } catch {
      return answer(400, { message: 'Data should be valid JSON.' });
    }
    if (!this.services.has(`${domain}.${service}`)) return answer(this.unknownServiceStatus, this.unknownServiceStatus === 400 ? '400: Bad Request' : '404: Not Found', 'text/plain');
    const schema = SCHEMA[`${domain}.${service}`] ?? SCHEMA[domain];
    if (schema) {
      const record = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
      const fields = Object.keys(record);
      const refused = schema.required.some((f) => typeof record[f] !== 'string') || fields.some((f) => !schema.required.includes(f) && !schema.optional.includes(f));
      if (refused) return answer(400, '400: Bad Request', 'text/plain');
    }
    this.calls.push({ domain, service, data: data as Record<string, unknown>, prefix, ...(authorization ? { authorization } : {}) });
    return answer(200, []);
  }
}

/** A got instance that sends requests for the host `supervisor` to the fake (only DNS is replaced). */
export function viaSupervisor(http: Got, port: number): Got {
  return http.extend({
    hooks: {
      beforeRequest: [
        (options) => {
          const url = new URL(String(options.url));
          if (url.hostname === 'supervisor') options.url = new URL(`http://127.0.0.1:${port}${url.pathname}${url.search}`);
        },
      ],
    },
  });
}
