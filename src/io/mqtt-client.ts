// MQTT for adapters: a connection of their own to any broker (Victron's GX: plain 1883 or TLS
// 8883, its own credentials, a keepalive), subscriptions with wildcards that really match,
// publishes at QoS 0 or 1, and reconnects with the bridge's caps, subscribing again each time.
// The bridge's subscriptions to topics outside its own (the engine's sources and load states)
// route messages through the same TopicRouter.
import { MqttConnection, type BrokerSettings } from '../core/mqtt-connection.js';
import type { Logger } from '../core/logger.js';

export type MessageHandler = (payload: string, message: { topic: string; retain: boolean }) => void;

/**
 * Whether a topic matches a subscription filter: `+` is one level, `#` (last) the rest, and a
 * wildcard at the first level does not match a `$SYS`-style topic (MQTT 3.1.1 §4.7).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Whether a subscription filter is well formed (`#` only last and alone in its level, `+` alone in its level). */
export function validFilter(filter: string): boolean {
  if (filter === '' || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => (level.includes('#') ? level === '#' && i === levels.length - 1 : !level.includes('+') || level === '+'));
}

/** Handlers by subscription filter; a message goes to every handler whose filter matches. */
export class TopicRouter {
  private readonly handlers = new Map<string, Set<MessageHandler>>();

  /** Adds a handler; true when the filter is new (so the caller subscribes to it). */
  add(filter: string, handler: MessageHandler): boolean {
    if (!validFilter(filter)) throw new Error(`'${filter}' is not a valid MQTT topic filter`);
    let set = this.handlers.get(filter);
    const fresh = !set;
    if (!set) this.handlers.set(filter, (set = new Set()));
    set.add(handler);
    return fresh;
  }

  /** Removes a handler; true when its filter has no handler left (so the caller unsubscribes). */
  remove(filter: string, handler: MessageHandler): boolean {
    const set = this.handlers.get(filter);
    if (!set?.delete(handler) || set.size > 0) return false;
    this.handlers.delete(filter);
    return true;
  }

  get filters(): string[] {
    return [...this.handlers.keys()];
  }

  /** Hands a message to every matching handler; true when at least one took it. */
  dispatch(topic: string, payload: string, retain: boolean): boolean {
    let taken = false;
    for (const [filter, set] of this.handlers) {
      if (!topicMatches(filter, topic)) continue;
      taken = true;
      for (const handler of set) handler(payload, { topic, retain });
    }
    return taken;
  }
}

/** The broker's settings as the bridge's own connection takes them; port and client id have defaults. */
export interface MqttClientSettings extends Omit<BrokerSettings, 'port' | 'clientId'> {
  /** Default: 1883, or 8883 with TLS. */
  port?: number;
  /** Default: energy2mqtt_<name>_<random>, so two add-ons never share one. */
  clientId?: string;
  keepaliveS?: number;
}

/** A connection of an adapter's own to a broker. */
export class MqttClient {
  private readonly connection: MqttConnection;
  private readonly router = new TopicRouter();

  constructor(settings: MqttClientSettings, name: string, log: Logger) {
    const { keepaliveS, ...rest } = settings;
    const broker: BrokerSettings = {
      ...rest,
      port: settings.port ?? (settings.tls ? 8883 : 1883),
      clientId: settings.clientId ?? `energy2mqtt_${name.replace(/[^a-zA-Z0-9_-]/g, '_')}_${Math.random().toString(16).slice(2, 8)}`,
    };
    // A clean session: what was missed while away is read again from the device's own state.
    this.connection = new MqttConnection({ broker, clean: true, keepaliveS }, log);
    this.connection.on('connect', () => void this.connection.subscribe(this.router.filters, 1).catch(() => undefined));
    this.connection.on('message', (msg) => this.router.dispatch(msg.topic, msg.payload.toString('utf8'), msg.retain));
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /** Starts connecting (retrying until stopped); resolves at the first connection. */
  start(): Promise<void> {
    return this.connection.start();
  }

  on(event: 'connect' | 'disconnect', listener: () => void): void;
  /** Why a connection attempt failed (refused, not authorized, a TLS error). */
  on(event: 'problem', listener: (reason: string) => void): void;
  on(event: 'connect' | 'disconnect' | 'problem', listener: (reason: string) => void): void {
    if (event === 'problem') this.connection.on('problem', listener);
    else this.connection.on(event, () => listener(''));
  }

  /** Follows a filter (wildcards allowed), again after every reconnect; returns the way to stop. */
  subscribe(filter: string, handler: MessageHandler, qos: 0 | 1 = 1): () => void {
    if (this.router.add(filter, handler)) void this.connection.subscribe([filter], qos).catch(() => undefined);
    return () => {
      if (this.router.remove(filter, handler)) void this.connection.unsubscribe([filter]).catch(() => undefined);
    };
  }

  /** Publishes when connected; false when not (nothing is queued for later). */
  publish(topic: string, payload: string, options: { qos?: 0 | 1; retain?: boolean } = {}): Promise<boolean> {
    return this.connection.publish(topic, payload, options);
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}

export type MqttClientFactory = (settings: MqttClientSettings, name: string) => MqttClient;
