// A local stand-in for Home Assistant's websocket API: auth, subscribe_entities (with its
// compressed a/c/r events), subscribe_events state_changed, get_states, call_service.
import { WebSocketServer, type WebSocket } from 'ws';

interface State {
  state: string;
  attributes: Record<string, unknown>;
}

export class FakeHomeAssistant {
  readonly calls: Array<{ domain: string; service: string; entity_id: string }> = [];
  /** The calls that carried service data (number.set_value, light.turn_on with a brightness). */
  readonly dataCalls: Array<{ domain: string; service: string; entity_id: string; data: Record<string, unknown> }> = [];
  private states = new Map<string, State>();
  private subs: Array<{ socket: WebSocket; id: number; ids?: Set<string>; kind: 'entities' | 'events' }> = [];
  private constructor(private readonly server: WebSocketServer, readonly url: string, readonly token: string) {}

  static async start(token = 'ha-long-lived-token-123'): Promise<FakeHomeAssistant> {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => server.once('listening', () => r()));
    const port = (server.address() as { port: number }).port;
    const ha = new FakeHomeAssistant(server, `ws://127.0.0.1:${port}/api/websocket`, token);
    server.on('connection', (socket) => ha.serve(socket));
    return ha;
  }

  private serve(socket: WebSocket): void {
    const send = (m: unknown) => socket.send(JSON.stringify(m));
    let authed = false;
    send({ type: 'auth_required', ha_version: '2026.11.0' });
    socket.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as Record<string, any>;
      if (!authed) {
        if (msg.type === 'auth' && msg.access_token === this.token) {
          authed = true;
          send({ type: 'auth_ok', ha_version: '2026.11.0' });
        } else {
          send({ type: 'auth_invalid', message: 'Invalid access token or password' });
          socket.close();
        }
        return;
      }
      switch (msg.type) {
        case 'subscribe_entities': {
          const ids = new Set<string>(msg.entity_ids ?? []);
          this.subs.push({ socket, id: msg.id, ids, kind: 'entities' });
          send({ id: msg.id, type: 'result', success: true, result: null });
          const a: Record<string, unknown> = {};
          for (const id of ids) {
            const st = this.states.get(id);
            if (st) a[id] = { s: st.state, a: st.attributes, c: 'ctx', lc: 1, lu: 1 };
          }
          send({ id: msg.id, type: 'event', event: { a } });
          return;
        }
        case 'subscribe_events':
          this.subs.push({ socket, id: msg.id, kind: 'events' });
          send({ id: msg.id, type: 'result', success: true, result: null });
          return;
        case 'unsubscribe_events':
          this.subs = this.subs.filter((s) => !(s.socket === socket && s.id === msg.subscription));
          send({ id: msg.id, type: 'result', success: true, result: null });
          return;
        case 'get_states':
          send({ id: msg.id, type: 'result', success: true, result: [...this.states].map(([entity_id, s]) => ({ entity_id, ...s })) });
          return;
        case 'call_service': {
          const entityId = String(msg.target?.entity_id ?? msg.service_data?.entity_id);
          this.calls.push({ domain: msg.domain, service: msg.service, entity_id: entityId });
          if (!this.states.has(entityId)) {
            send({ id: msg.id, type: 'result', success: false, error: { code: 'not_found', message: `Entity ${entityId} not found` } });
            return;
          }
          if (msg.service_data && typeof msg.service_data === 'object') this.dataCalls.push({ domain: msg.domain, service: msg.service, entity_id: entityId, data: msg.service_data });
          if (msg.service === 'set_value' && (msg.domain === 'number' || msg.domain === 'input_number')) {
            // HA refuses a value outside the entity's range, as a number entity does.
            const value = Number(msg.service_data?.value);
            const { min, max } = (this.states.get(entityId)!.attributes ?? {}) as { min?: number; max?: number };
            if (!Number.isFinite(value) || (min !== undefined && value < min) || (max !== undefined && value > max)) {
              send({ id: msg.id, type: 'result', success: false, error: { code: 'invalid_format', message: `Value ${String(msg.service_data?.value)} for ${entityId} is outside valid range ${min} - ${max}` } });
              return;
            }
            this.setState(entityId, String(value));
          }
          if (msg.domain === 'light' && msg.service === 'turn_on' && msg.service_data) {
            const pct = msg.service_data.brightness_pct as number | undefined;
            const brightness = pct !== undefined ? Math.round(pct * 2.55) : (msg.service_data.brightness as number | undefined);
            this.setState(entityId, 'on', { ...this.states.get(entityId)!.attributes, brightness });
          }
          if (msg.service === 'turn_on' || msg.service === 'turn_off') this.setState(entityId, msg.service === 'turn_on' ? 'on' : 'off');
          send({ id: msg.id, type: 'result', success: true, result: { context: { id: 'x' } } });
          return;
        }
        default:
          send({ id: msg.id, type: 'result', success: false, error: { code: 'unknown_command', message: 'Unknown command.' } });
      }
    });
    socket.on('close', () => (this.subs = this.subs.filter((s) => s.socket !== socket)));
  }

  /** Changes a state and tells every subscriber, as HA does. */
  setState(id: string, state: string, attributes?: Record<string, unknown>): void {
    const old = this.states.get(id);
    const next = { state, attributes: attributes ?? old?.attributes ?? {} };
    this.states.set(id, next);
    for (const sub of this.subs) {
      if (sub.socket.readyState !== sub.socket.OPEN) continue;
      if (sub.kind === 'entities' && sub.ids?.has(id)) {
        const event = old ? { c: { [id]: { '+': { s: state, a: attributes, lc: 2, lu: 2 } } } } : { a: { [id]: { s: state, a: next.attributes } } };
        sub.socket.send(JSON.stringify({ id: sub.id, type: 'event', event }));
      } else if (sub.kind === 'events') {
        sub.socket.send(JSON.stringify({ id: sub.id, type: 'event', event: { event_type: 'state_changed', data: { entity_id: id, old_state: old ? { entity_id: id, ...old } : null, new_state: { entity_id: id, ...next } } } }));
      }
    }
  }

  state(id: string): string | undefined {
    return this.states.get(id)?.state;
  }

  async stop(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
