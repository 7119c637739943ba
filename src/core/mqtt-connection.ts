// The one MQTT connection. A persistent session (stable client id, clean session off) lets the
// broker keep QoS 1 commands for us while we are away. mqtt.js retries at a fixed period, so the
// retry schedule here is our own: exponential backoff with jitter, reset after a good connect.
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import type { Logger } from './logger.js';
import { reconnectWait, type Backoff } from './backoff.js';

/** Reconnect waits grow up to this (ms, ±20 % jitter): the bridge is back within 5 s of the broker. */
export const MAX_RECONNECT_WAIT_MS = 4000;

export interface BrokerSettings {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  clientId: string;
}

export interface ConnectionOptions {
  broker: BrokerSettings;
  /** The bridge's last will (offline); an adapter's own connection needs none. */
  will?: { topic: string; payload: string };
  backoff?: Backoff;
  /** A clean session forgets subscriptions and queued messages on disconnect (default: kept). */
  clean?: boolean;
  keepaliveS?: number;
}

export interface MqttMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

type Events = {
  connect: [sessionPresent: boolean];
  disconnect: [];
  message: [MqttMessage];
  /** Why a connection attempt failed. */
  problem: [reason: string];
};

const CONNACK_REASONS: Record<number, string> = {
  1: 'the broker does not accept this protocol version',
  2: 'the broker rejected the client id',
  3: 'the broker is unavailable',
  4: 'bad user name or password (check mqtt.username and mqtt.password)',
  5: 'not authorised (check mqtt.username and mqtt.password)',
};

export class MqttConnection extends EventEmitter<Events> {
  private client?: MqttClient;
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private stopping = false;
  private wasConnected = false;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly log: Logger,
  ) {
    super();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Starts connecting; resolves at the first successful connection (it keeps retrying until then). */
  start(): Promise<void> {
    const { broker, will } = this.options;
    const opts: IClientOptions = {
      clientId: broker.clientId,
      clean: this.options.clean ?? false,
      protocolVersion: 4,
      keepalive: this.options.keepaliveS ?? 30,
      connectTimeout: 10_000,
      reconnectPeriod: 0, // we schedule reconnects ourselves
      queueQoSZero: false,
      resubscribe: false, // we subscribe again ourselves after every connect
      username: broker.username || undefined,
      password: broker.password || undefined,
      will: will ? { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true } : undefined,
    };
    if (broker.tls) {
      opts.protocol = 'mqtts';
      opts.rejectUnauthorized = broker.rejectUnauthorized ?? true;
      if (broker.ca) opts.ca = readFileSync(broker.ca);
      if (broker.cert) opts.cert = readFileSync(broker.cert);
      if (broker.key) opts.key = readFileSync(broker.key);
    }
    const scheme = broker.tls ? 'mqtts' : 'mqtt';
    this.log.info(`connecting to ${scheme}://${broker.host}:${broker.port} as ${broker.clientId}`);
    const client = mqtt.connect({ ...opts, host: broker.host, port: broker.port });
    this.client = client;

    const firstConnect = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    client.on('connect', (connack) => {
      // Without TCP_NODELAY a state published right after the PUBACK of a QoS 1 command waits
      // for the broker's delayed ACK (about 40 ms): Nagle's algorithm holds small writes.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.attempt = 0;
      this.wasConnected = true;
      this.log.info(`connected to the MQTT broker${connack.sessionPresent ? ' (session resumed)' : ''}`);
      this.emit('connect', connack.sessionPresent);
    });
    let attemptFailed = false;
    client.on('close', () => {
      if (this.wasConnected) {
        this.wasConnected = false;
        if (!this.stopping) this.log.warn('disconnected from the MQTT broker');
        this.emit('disconnect');
      } else if (!attemptFailed && !this.stopping) {
        // No error and no CONNACK: the broker hung up on us (a protocol or client id problem).
        this.log.warn('the MQTT broker closed the connection before accepting it');
        this.emit('problem', 'the broker closed the connection before accepting it');
      }
      attemptFailed = false;
      this.scheduleReconnect();
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      attemptFailed = true;
      const reason = typeof err.code === 'number' ? CONNACK_REASONS[err.code] : undefined;
      this.log.warn(`MQTT: ${reason ?? err.message}`);
      this.emit('problem', reason ?? err.message);
    });
    client.on('message', (topic, payload, packet) => this.emit('message', { topic, payload, retain: packet.retain }));
    return firstConnect;
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.retryTimer) return;
    const delay = reconnectWait(this.attempt++, this.options.backoff ?? { initialMs: 500, maxMs: MAX_RECONNECT_WAIT_MS });
    this.log.debug(`reconnecting in ${delay} ms (attempt ${this.attempt})`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, delay);
  }

  /** Publishes when connected; while disconnected the message is dropped (state is replayed on reconnect). */
  async publish(topic: string, payload: string, opts: { retain?: boolean; qos?: 0 | 1 } = {}): Promise<boolean> {
    const client = this.client;
    if (!client?.connected) return false;
    try {
      await client.publishAsync(topic, payload, { retain: opts.retain ?? false, qos: opts.qos ?? 0 });
      return true;
    } catch (err) {
      this.log.debug(`publish to ${topic} failed: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * Hands what is buffered to the socket now. mqtt.js corks the stream until the next tick; a
   * crash handler exits before that, so the fail-safe messages would never leave.
   */
  flushNow(): void {
    const stream = this.client?.stream as { writableCorked?: number; uncork?: () => void } | undefined;
    while (stream?.uncork && (stream.writableCorked ?? 0) > 0) stream.uncork();
  }

  async subscribe(topics: string[], qos: 0 | 1 = 1): Promise<void> {
    if (!this.client?.connected) return;
    await this.client.subscribeAsync(topics, { qos });
  }

  async unsubscribe(topics: string[]): Promise<void> {
    if (!this.client?.connected) return;
    await this.client.unsubscribeAsync(topics);
  }

  /** Publishes the given goodbye (e.g. availability offline), then closes the connection. */
  async stop(goodbye?: { topic: string; payload: string }): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    if (goodbye && client.connected) {
      await Promise.race([
        client.publishAsync(goodbye.topic, goodbye.payload, { qos: 1, retain: true }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    }
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }
}
