// Home Assistant's websocket API: authenticate, follow entities' states (subscribe_entities),
// call services. Inside the add-on it is ws://supervisor/core/websocket with SUPERVISOR_TOKEN.
// Reconnects with backoff and subscribes again.
import WebSocket from 'ws';
import type { Logger } from '../core/logger.js';


export interface HaState {
  state: string;
  attributes: Record<string, unknown>;
}

// Home Assistant's messages are loosely shaped JSON; fields are read defensively where used.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class HaClient {
  private socket?: WebSocket;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private states = new Map<string, HaState>();
  private watched = new Set<string>();
  private listeners = new Set<(entityId: string, state: HaState) => void>();
  private subscriptionId?: number;
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private stopped = false;
  private authenticated = false;
  /** Why the last connection failed, for the log and for sources. */
  lastProblem?: string;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.authenticated;
  }

  /** Entities whose states are followed; may be called before or after start(). */
  watch(entityId: string): void {
    this.watched.add(entityId);
    if (this.authenticated) void this.subscribe();
  }

  onState(listener: (entityId: string, state: HaState) => void): void {
    this.listeners.add(listener);
  }

  state(entityId: string): HaState | undefined {
    return this.states.get(entityId);
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = new WebSocket(this.url, { handshakeTimeout: 10_000 });
    this.socket = socket;
    socket.on('message', (data) => this.onMessage(String(data)));
    socket.on('error', (err) => {
      this.lastProblem = err.message;
      this.log.warn(`Home Assistant websocket: ${err.message}`);
    });
    socket.on('close', () => {
      this.authenticated = false;
      this.subscriptionId = undefined;
      for (const p of this.pending.values()) p.reject(new Error('Home Assistant connection closed'));
      this.pending.clear();
      if (this.stopped) return;
      const delay = Math.min(30_000, 1000 * 2 ** this.attempt++);
      this.log.debug(`reconnecting to Home Assistant in ${delay} ms`);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private onMessage(text: string): void {
    let msg: Json;
    try {
      msg = JSON.parse(text) as Json;
    } catch {
      return;
    }
    switch (msg.type) {
      case 'auth_required':
        this.socket?.send(JSON.stringify({ type: 'auth', access_token: this.token }));
        return;
      case 'auth_ok':
        this.authenticated = true;
        this.attempt = 0;
        this.lastProblem = undefined;
        this.log.info(`connected to Home Assistant ${String(msg.ha_version ?? '')}`.trim());
        void this.subscribe();
        return;
      case 'auth_invalid':
        this.lastProblem = `Home Assistant refused the token: ${String(msg.message ?? 'invalid')}`;
        this.log.error(this.lastProblem);
        this.socket?.close();
        return;
      case 'result': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.success) p.resolve(msg.result);
        else p.reject(new Error(String(msg.error?.message ?? 'Home Assistant refused the request')));
        return;
      }
      case 'event':
        if (msg.id === this.subscriptionId) this.applyEntities(msg.event);
        return;
    }
  }

  /** subscribe_entities sends compressed states: a = added (full), c = changed (+ diff), r = removed. */
  private applyEntities(event: Json | undefined): void {
    if (!event) return;
    for (const [id, full] of Object.entries<Json>(event.a ?? {})) {
      this.update(id, { state: String(full.s), attributes: (full.a ?? {}) as Record<string, unknown> });
    }
    for (const [id, diff] of Object.entries<Json>(event.c ?? {})) {
      const old = this.states.get(id) ?? { state: 'unknown', attributes: {} };
      const plus = diff['+'] ?? {};
      const attributes = { ...old.attributes, ...(plus.a ?? {}) };
      for (const key of diff['-']?.a ?? []) delete attributes[key];
      this.update(id, { state: plus.s !== undefined ? String(plus.s) : old.state, attributes });
    }
    for (const id of (event.r ?? []) as string[]) this.states.delete(id);
  }

  private update(id: string, state: HaState): void {
    this.states.set(id, state);
    for (const listener of this.listeners) listener(id, state);
  }

  private async subscribe(): Promise<void> {
    if (!this.watched.size || !this.authenticated) return;
    if (this.subscriptionId !== undefined) {
      const old = this.subscriptionId;
      this.subscriptionId = undefined;
      await this.request({ type: 'unsubscribe_events', subscription: old }).catch(() => undefined);
    }
    const id = this.nextId;
    this.subscriptionId = id;
    await this.request({ type: 'subscribe_entities', entity_ids: [...this.watched] }).catch((err: Error) => {
      this.log.warn(`following Home Assistant entities failed: ${err.message}`);
    });
  }

  /** Calls a service, e.g. callService('switch', 'turn_on', 'switch.pool_pump') or ('number', 'set_value', id, { value: 6 }). */
  callService(domain: string, service: string, entityId: string, data?: Record<string, unknown>): Promise<unknown> {
    return this.request({ type: 'call_service', domain, service, ...(data ? { service_data: data } : {}), target: { entity_id: entityId } });
  }

  private request(body: Record<string, unknown>): Promise<unknown> {
    const socket = this.socket;
    if (!socket || !this.authenticated) return Promise.reject(new Error(`not connected to Home Assistant${this.lastProblem ? ` (${this.lastProblem})` : ''}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('Home Assistant did not answer within 10 s'));
      }, 10_000);
      this.pending.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) });
      socket.send(JSON.stringify({ id, ...body }));
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close();
  }
}
