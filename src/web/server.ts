// The add-on's own page: a small node:http server for the static page, a JSON snapshot, a live
// stream of changes (server-sent events) and the rule toggles. As an add-on it listens on the
// ingress port and answers only the Supervisor's ingress proxy; HA authenticates the user there.
// Outside HA it listens on a local port. Toggles go through the bridge's command path, as a
// command from HA would.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { snapshot, entityView, deviceView, flowOf, rulesOf, type SurplusOptions, type RuleView, type FlowView } from './state.js';
import { Timelines } from './timeline.js';
import { DayRecorder } from './day-recorder.js';
import { Worker } from 'node:worker_threads';
import type { ReplayJob } from './replay-worker.js';
import type { AutomationOptions } from '../automation/options.js';
import type { Bridge, CommandResult } from '../core/bridge.js';
import type { Engine } from '../automation/engine.js';
import type { Rule, RuleDecision } from '../automation/rule.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import type { Entity } from '../core/device.js';
import type { EntitySpec } from '../core/entity.js';

/** The Supervisor's ingress proxy: the only peer an add-on's ingress port answers. */
export const INGRESS_PEER = '172.30.32.2';
/** Keeps connections open through proxies that close idle ones. */
const HEARTBEAT_MS = 25_000;
const MAX_BODY = 1024;
/** Bytes of events a viewer may leave unread before it is dropped. */
const MAX_BUFFERED = 1 << 20;
/** Live streams at once: a few people and tabs, not a crowd. */
const MAX_VIEWERS = 20;
const STATIC = ['index.html', 'app.js', 'style.css'] as const;
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
const SLUG = /^[a-z0-9_]{1,64}$/;
/** A replay that takes longer is stopped. */
const REPLAY_LIMIT_MS = 60_000;
const replayBody = z.object({ day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), changes: z.record(z.string().regex(SLUG), z.record(z.string().regex(SLUG), z.number())).default({}) }).strict();

const toggleBody = z.object({ enabled: z.boolean().optional(), dry_run: z.boolean().optional(), mode: z.string().min(1).max(40).optional() }).strict();

export interface WebServerOptions {
  bridge: Bridge;
  engine?: Engine;
  surplusOptions?: SurplusOptions;
  /** The automation options, for the day replay. */
  automation?: AutomationOptions;
  store: Store;
  clock: Clock;
  log: Logger;
  /** Running as an add-on: only `allowedPeer` is answered. */
  ingress: boolean;
  /** Default INGRESS_PEER; tests make it the loopback address. */
  allowedPeer?: string;
  host: string;
  port: number;
}

interface StaticFile {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

export class WebServer {
  private server?: Server;
  private readonly clients = new Set<ServerResponse>();
  private readonly files = new Map<string, StaticFile>();
  readonly timelines: Timelines;
  readonly days?: DayRecorder;
  private replaying = false;
  /** When each device last had an entity change (ms since epoch). */
  private readonly updatedAt = new Map<string, number>();
  private readonly pendingEntities = new Set<Entity<EntitySpec>>();
  private readonly lastSent = new Map<string, string>();
  private readonly lastRule = new Map<string, string>();
  private readonly lastAvailable = new Map<string, boolean>();
  private lastFlow = '';
  private flushQueued = false;
  private unsubscribe?: () => void;
  private heartbeat?: TimerHandle;
  private stopped = false;
  private hostRefused = false;

  constructor(private readonly options: WebServerOptions) {
    this.timelines = new Timelines(options.store, options.clock);
    if (options.engine && options.automation) this.days = new DayRecorder(options.engine.sources, options.store, options.clock, options.automation.timezone);
  }

  /** The port it listens on (after start()). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<number> {
    this.loadStatic();
    await this.timelines.load(this.options.engine?.rules.map((r) => r.slug) ?? []);
    await this.days?.start();
    const { bridge, engine } = this.options;
    // What the devices hold now came in while the add-on started.
    for (const device of bridge.allDevices()) {
      if ([...device.entities.values()].some((e) => e.hasValue)) this.updatedAt.set(device.id, this.options.clock.now());
      this.lastAvailable.set(device.id, device.available);
    }
    this.unsubscribe = bridge.onUpdate((entity) => this.entityChanged(entity));
    if (engine) {
      const seen = (rule: Rule, decision: RuleDecision, changed: boolean) => {
        if (this.stopped) return;
        const surplus = bridge.entity('automation', 'surplus');
        const surplusW = surplus?.hasValue && typeof surplus.value === 'number' ? surplus.value : null;
        const recorded = this.timelines.record(rule.slug, { state: decision.state, reason: decision.reason, dryRun: engine.dryRun, surplusW, drawnW: decision.consumingW }, changed);
        if (recorded) this.send('change', { slug: rule.slug, change: recorded });
        this.queueFlush();
      };
      // The engine decided once before the page started: that decision opens the timeline, unless it was the last one kept.
      for (const rule of engine.rules) {
        const decision = engine.decisions.get(rule.slug);
        if (decision) seen(rule, decision, this.timelines.get(rule.slug).changes.at(-1)?.state !== decision.state);
      }
      engine.onDecision(seen);
    }
    this.heartbeat = this.options.clock.setInterval(() => this.broadcast(': ping\n\n'), HEARTBEAT_MS);
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.options.log.info(this.options.ingress ? `page served through Home Assistant's ingress (port ${this.port})` : `page on http://${this.options.host}:${this.port}/`);
    return this.port;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.heartbeat?.cancel();
    for (const client of this.clients) client.end();
    this.clients.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
    await this.timelines.stop();
    await this.days?.stop();
  }

  private loadStatic(): void {
    const dir = new URL('./static/', import.meta.url);
    for (const name of STATIC) {
      const body = readFileSync(new URL(name, dir));
      const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
      this.files.set(name, { type: TYPES[name.split('.').pop()!]!, body, gzip: gzipSync(body, { level: 9 }), etag });
    }
  }

  // ---- live changes ----

  private entityChanged(entity: Entity<EntitySpec>): void {
    if (this.stopped) return;
    this.updatedAt.set(entity.device.id, this.options.clock.now());
    if (this.clients.size === 0) return;
    this.pendingEntities.add(entity);
    this.queueFlush();
  }

  /** Changes that arrive together (a poll updates dozens of entities) leave as one batch. */
  private queueFlush(): void {
    if (this.flushQueued || this.clients.size === 0) return;
    this.flushQueued = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.stopped) return;
    const now = this.options.clock.now();
    const entities = [];
    for (const entity of this.pendingEntities) {
      const view = entityView(entity);
      const id = `${entity.device.id}/${entity.key}`;
      const text = JSON.stringify(view.value);
      if (this.lastSent.get(id) === text) continue;
      this.lastSent.set(id, text);
      entities.push({ device: entity.device.id, ...view });
    }
    this.pendingEntities.clear();
    if (entities.length) this.send('entities', { time: now, entities });
    for (const device of this.options.bridge.allDevices()) {
      // A device that came or whose availability changed: its card again.
      if (this.lastAvailable.get(device.id) === device.available) continue;
      this.lastAvailable.set(device.id, device.available);
      this.send('device', deviceView(device, this.updatedAt.get(device.id), this.options.bridge));
    }
    const flow: FlowView = flowOf(this.options.bridge, this.options.engine, this.options.surplusOptions);
    const flowText = JSON.stringify(flow);
    if (flowText !== this.lastFlow) {
      this.lastFlow = flowText;
      this.send('flow', flow);
    }
    for (const rule of rulesOf(this.options.engine)) {
      const view: RuleView & { dryRun?: boolean } = { ...rule, dryRun: this.options.engine?.dryRun };
      const text = JSON.stringify(view);
      if (this.lastRule.get(rule.slug) === text) continue;
      this.lastRule.set(rule.slug, text);
      this.send('rule', view);
    }
  }

  private send(event: string, data: unknown): void {
    this.broadcast(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private broadcast(text: string): void {
    for (const client of this.clients) {
      // A viewer that does not read (a phone asleep) is let go rather than buffered for; its
      // browser reconnects and starts again from a fresh snapshot.
      if (client.writableLength > MAX_BUFFERED) {
        this.clients.delete(client);
        client.destroy();
        continue;
      }
      client.write(text);
    }
  }

  // ---- requests ----

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'same-origin');
    if (this.options.ingress && !this.fromIngress(req)) {
      this.options.log.warn(`page: refused a request from ${String(req.socket.remoteAddress)}, which is not Home Assistant's ingress`);
      return this.reply(res, 403, { error: 'only reachable through Home Assistant (ingress)' });
    }
    if (!this.options.ingress && !this.localHost(req)) {
      // Once: a rebinding page could fill the log.
      if (!this.hostRefused) this.options.log.warn(`page: refused a request for host ${JSON.stringify(String(req.headers.host ?? '').slice(0, 100))}, not this machine's loopback address`);
      this.hostRefused = true;
      return this.reply(res, 403, { error: 'use http://127.0.0.1:<port>/ or http://localhost:<port>/' });
    }
    const path = (req.url ?? '/').split('?')[0]!;
    try {
      if (req.method === 'GET' || req.method === 'HEAD') return this.get(req, res, path);
      if (req.method === 'POST') return void this.post(req, res, path).catch((err: Error) => this.reply(res, 500, { error: err.message }));
      res.setHeader('Allow', 'GET, HEAD, POST');
      return this.reply(res, 405, { error: 'method not allowed' });
    } catch (err) {
      this.options.log.error({ err }, 'page: a request failed');
      if (!res.headersSent) this.reply(res, 500, { error: 'internal error' });
    }
  }

  private fromIngress(req: IncomingMessage): boolean {
    return isAllowedPeer(req.socket.remoteAddress, this.options.allowedPeer ?? INGRESS_PEER);
  }

  /**
   * Outside HA the page answers only for a loopback name and its own port: after DNS rebinding a
   * page of another site reaches 127.0.0.1 under its own name, and Origin and Host agree.
   */
  private localHost(req: IncomingMessage): boolean {
    const port = this.port;
    return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(String(req.headers.host ?? '').toLowerCase());
  }

  private get(req: IncomingMessage, res: ServerResponse, path: string): void {
    const name = path === '/' ? 'index.html' : path.slice(1);
    const file = this.files.get(name);
    if (file) return this.serveFile(req, res, file);
    if (path === '/api/state') {
      const { bridge, engine, surplusOptions, clock } = this.options;
      return this.reply(res, 200, snapshot(bridge, engine, surplusOptions, this.updatedAt, clock.now()));
    }
    if (path === '/api/events') {
      // A HEAD would hold a viewer's slot with nothing to read.
      if (req.method === 'HEAD') {
        res.setHeader('Allow', 'GET');
        return this.reply(res, 405, { error: 'the live stream is read with GET' });
      }
      return this.events(req, res);
    }
    if (path === '/api/replay') return this.reply(res, 200, { days: this.days?.days() ?? [] });
    const timeline = /^\/api\/rules\/([^/]+)\/timeline$/.exec(path);
    if (timeline && SLUG.test(timeline[1]!) && this.options.engine?.rules.some((r) => r.slug === timeline[1])) {
      return this.reply(res, 200, { slug: timeline[1], ...this.timelines.get(timeline[1]!) });
    }
    this.reply(res, 404, { error: 'not found' });
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, file: StaticFile): void {
    res.setHeader('Content-Type', file.type);
    res.setHeader('ETag', file.etag);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Vary', 'Accept-Encoding');
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'");
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304).end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) res.setHeader('Content-Encoding', 'gzip');
    const body = gzip ? file.gzip : file.body;
    res.setHeader('Content-Length', body.length);
    res.writeHead(200).end(req.method === 'HEAD' ? undefined : body);
  }

  private events(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= MAX_VIEWERS) return this.reply(res, 503, { error: `more than ${MAX_VIEWERS} pages are open` });
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.socket?.setNoDelay(true);
    const { bridge, engine, surplusOptions, clock } = this.options;
    // The whole picture first; then only what changes.
    res.write(`retry: 3000\nevent: state\ndata: ${JSON.stringify(snapshot(bridge, engine, surplusOptions, this.updatedAt, clock.now()))}\n\n`);
    // What was sent before this client came is no measure of what it has: it has the snapshot.
    this.lastSent.clear();
    this.lastRule.clear();
    this.lastFlow = '';
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
  }

  private async post(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const refused = this.crossSite(req);
    if (refused) return this.reply(res, 403, { error: refused });
    if (path === '/api/replay') return this.replay(req, res);
    const match = /^\/api\/rules\/([^/]+)$/.exec(path);
    const rule = match && SLUG.test(match[1]!) ? this.options.engine?.rules.find((r) => r.slug === match[1]) : undefined;
    if (!rule) return this.reply(res, 404, { error: 'no such rule' });
    const parsed = await this.jsonBody(req, res, toggleBody, MAX_BODY);
    if (!parsed) return;
    const { bridge } = this.options;
    const results: Record<string, CommandResult> = {};
    // The rule's own HA entities: the command path checks and remembers them as it does for HA.
    if (parsed.data.enabled !== undefined) results.enabled = await bridge.command(`rule_${rule.slug}`, 'enabled', parsed.data.enabled ? 'ON' : 'OFF', 'rest');
    if (parsed.data.mode !== undefined) results.mode = await bridge.command(`rule_${rule.slug}`, 'mode', parsed.data.mode, 'rest');
    if (parsed.data.dry_run !== undefined) results.dry_run = await bridge.command('automation', 'dry_run', parsed.data.dry_run ? 'ON' : 'OFF', 'rest');
    const ok = Object.values(results).every((r) => r.ok);
    this.queueFlush();
    this.reply(res, ok ? 200 : 400, { ok, results, rule: rulesOf(this.options.engine).find((r) => r.slug === rule.slug) });
  }

  /** A request's JSON body checked against `schema`; undefined when it was refused (413 or 400, answered here). */
  private async jsonBody<T>(req: IncomingMessage, res: ServerResponse, schema: z.ZodType<T>, limit: number): Promise<{ data: T } | undefined> {
    const text = await readBody(req, limit);
    if (text === undefined) {
      this.tooLarge(req, res, `body longer than ${limit} bytes`);
      return undefined;
    }
    let parsed;
    try {
      parsed = schema.safeParse(JSON.parse(text));
    } catch {
      this.reply(res, 400, { error: 'body is not JSON' });
      return undefined;
    }
    if (!parsed.success) {
      this.reply(res, 400, { error: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') });
      return undefined;
    }
    return { data: parsed.data };
  }

  /** Replays a recorded day through the rules, as set and with changed settings, in a worker thread. */
  private async replay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { automation } = this.options;
    if (!automation || !this.days) return this.reply(res, 404, { error: 'no automation rules to replay' });
    const parsed = await this.jsonBody(req, res, replayBody, 8 * MAX_BODY);
    if (!parsed) return;
    const csv = await this.days.trace(parsed.data.day);
    if (!csv) return this.reply(res, 404, { error: `nothing was recorded on ${parsed.data.day}` });
    if (this.replaying) return this.reply(res, 409, { error: 'a replay is already running' });
    this.replaying = true;
    try {
      const job: ReplayJob = { options: automation, csv, changes: parsed.data.changes };
      const answer = await runWorker(job);
      this.reply(res, answer.ok ? 200 : 400, answer.ok ? { day: parsed.data.day, ...(answer.result as object) } : { error: answer.error });
    } finally {
      this.replaying = false;
    }
  }

  /**
   * A write must come from the page itself: JSON (so a cross-site form cannot send it without a
   * preflight) and, where the browser says where it comes from, from the same origin.
   */
  private crossSite(req: IncomingMessage): string | undefined {
    if (!/^application\/json\b/.test(String(req.headers['content-type'] ?? ''))) return 'send application/json';
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return 'cross-site requests are refused';
    const origin = req.headers.origin;
    if (!this.options.ingress && origin !== undefined) {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        host = undefined;
      }
      if (host !== req.headers.host) return 'cross-site requests are refused';
    }
    return undefined;
  }

  /** 413 for a body over the limit: the answer first, then the connection is closed (the rest is not read). */
  private tooLarge(req: IncomingMessage, res: ServerResponse, error: string): void {
    res.setHeader('Connection', 'close');
    res.once('finish', () => req.destroy());
    this.reply(res, 413, { error });
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) }).end(text);
  }
}

/** Whether a socket's peer is `allowed` (an IPv4 peer may come as ::ffff:a.b.c.d on a dual-stack socket). Headers are never trusted. */
export function isAllowedPeer(remoteAddress: string | undefined, allowed: string): boolean {
  return (remoteAddress ?? '').replace(/^::ffff:/i, '') === allowed;
}

/** Runs the replay worker (compiled .js in the add-on, .ts under tsx) and waits for its answer. */
function runWorker(job: ReplayJob): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = new URL(fromSource ? './replay-worker.ts' : './replay-worker.js', import.meta.url);
  // From the sources (tests, the demo) the worker registers tsx's loader first, as the main thread has it.
  const entry = fromSource
    ? new URL(`data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(file.href)});`)}`)
    : file;
  return new Promise((resolve) => {
    // The worker shares the add-on's memory on a small Pi: a day that does not fit fails alone.
    const worker = new Worker(entry, { workerData: job, resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 } });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve({ ok: false, error: `the replay took longer than ${REPLAY_LIMIT_MS / 1000} s` });
    }, REPLAY_LIMIT_MS);
    worker.once('message', (answer: { ok: boolean; result?: unknown; error?: string }) => {
      clearTimeout(timer);
      resolve(answer);
      void worker.terminate();
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, error: err.message });
    });
  });
}

function readBody(req: IncomingMessage, limit = MAX_BODY): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the caller answers 413 and closes the connection after the answer.
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
