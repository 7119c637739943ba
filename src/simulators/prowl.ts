// Prowl's public API on a real HTTP socket, as https://www.prowlapp.com/api.php describes it:
// POST /publicapi/add (form fields apikey, application, event, description, priority, url),
// GET /publicapi/verify?apikey=, XML answers with the calls left this hour and the reset time
// (UNIX seconds), the HTTP status equal to the XML code, and the hourly limit per caller (406).
// For tests and the demo; faults on demand (outage: 500).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export const PROWL_SIM_PATH = '/publicapi';

export interface ProwlSimOptions {
  /** The API keys that exist. */
  keys: string[];
  /** Calls per hour before 406 (Prowl: 1000). */
  hourlyLimit?: number;
  /** The simulator's clock (ms), so a test can move the hour on with its own simulated clock. */
  now?: () => number;
}

export interface ProwlReceived {
  apikeys: string[];
  application: string;
  event: string;
  description: string;
  priority: number;
  url?: string;
  at: number;
}

const LIMITS = { application: 256, event: 1024, description: 10_000, url: 512 } as const;
const HOUR_MS = 3_600_000;

export class ProwlSimulator {
  /** Every notification accepted, in order. */
  readonly received: ProwlReceived[] = [];
  /** Every request that reached the server (method and path, no query: it may hold a key). */
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  port = 0;
  private server?: Server;
  private down = false;
  private windowStart?: number;
  private used = 0;
  private readonly now: () => number;

  constructor(readonly options: ProwlSimOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The base URL a client takes as prowl_url. */
  get url(): string {
    return `http://127.0.0.1:${this.port}${PROWL_SIM_PATH}`;
  }

  get hourlyLimit(): number {
    return this.options.hourlyLimit ?? 1000;
  }

  async listen(port = 0): Promise<number> {
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => this.reply(req, res, 500, error(500, 'Internal server error'))));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  /** While on, every call answers 500 with Prowl's XML error. */
  outage(on: boolean): void {
    this.down = on;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const body = await readBody(req);
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== `${PROWL_SIM_PATH}/add` && path !== `${PROWL_SIM_PATH}/verify`) return this.reply(req, res, 404, error(404, 'Not found'));
    if (this.down) return this.reply(req, res, 500, error(500, 'Internal server error'));
    // The hourly count starts with the first call of a window; every call counts, refused or not.
    const now = this.now();
    if (this.windowStart === undefined || now >= this.windowStart + HOUR_MS) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.hourlyLimit) return this.reply(req, res, 406, error(406, 'Your IP address has exceeded the API limit'));
    this.used++;
    if (path === `${PROWL_SIM_PATH}/verify`) {
      if (req.method !== 'GET') return this.reply(req, res, 405, error(405, 'Method not allowed'));
      const key = url.searchParams.get('apikey') ?? '';
      if (!key) return this.reply(req, res, 400, error(400, 'Missing parameter apikey'));
      return this.options.keys.includes(key) ? this.reply(req, res, 200, this.success()) : this.reply(req, res, 401, error(401, 'Invalid API key'));
    }
    if (req.method !== 'POST') return this.reply(req, res, 405, error(405, 'Method not allowed'));
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return this.reply(req, res, 400, error(400, 'The body must be application/x-www-form-urlencoded'));
    }
    const form = new URLSearchParams(body);
    const keys = (form.get('apikey') ?? '').split(',').map((k) => k.trim()).filter(Boolean);
    if (keys.length === 0) return this.reply(req, res, 400, error(400, 'Missing parameter apikey'));
    if (keys.some((k) => !this.options.keys.includes(k))) return this.reply(req, res, 401, error(401, 'Invalid API key(s)'));
    const application = form.get('application') ?? '';
    const event = form.get('event') ?? '';
    const description = form.get('description') ?? '';
    const link = form.get('url') ?? undefined;
    const priority = form.has('priority') ? Number(form.get('priority')) : 0;
    if (!application) return this.reply(req, res, 400, error(400, 'Missing parameter application'));
    if (!event && !description) return this.reply(req, res, 400, error(400, 'Missing parameter event or description'));
    for (const [name, value] of [['application', application], ['event', event], ['description', description], ['url', link ?? '']] as const) {
      if (Array.from(value).length > LIMITS[name]) return this.reply(req, res, 400, error(400, `Parameter ${name} is longer than ${LIMITS[name]} characters`));
    }
    if (!Number.isInteger(priority) || priority < -2 || priority > 2) return this.reply(req, res, 400, error(400, 'Invalid priority'));
    this.received.push({ apikeys: keys, application, event, description, priority, ...(link !== undefined ? { url: link } : {}), at: now });
    this.reply(req, res, 200, this.success());
  }

  private success(): string {
    const resetdate = Math.floor(((this.windowStart ?? this.now()) + HOUR_MS) / 1000);
    return xml(`<success code="200" remaining="${Math.max(0, this.hourlyLimit - this.used)}" resetdate="${resetdate}" />`);
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
    this.requests.push({ method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://sim').pathname, status });
    res.writeHead(status, { 'content-type': 'text/xml; charset=utf-8' });
    res.end(body);
  }
}

function xml(inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<prowl>\n${inner}\n</prowl>\n`;
}

function error(code: number, message: string): string {
  return xml(`<error code="${code}">${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</error>`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Prowl's fields together stay far below this; a larger body is a client's bug.
      if (size <= 1_000_000) chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
