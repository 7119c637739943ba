// A plain MQTT client that records what it receives, standing in for Home Assistant.
import mqtt, { type MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
}

export class Recorder {
  readonly messages: Received[] = [];
  private waiters: Array<{ match: (m: Received) => boolean; resolve: (m: Received) => void }> = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const m = { topic, payload: payload.toString(), retain: packet.retain, at: performance.now() };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  static async connect(port: number, topics: string[] = [], clientId?: string): Promise<Recorder> {
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: clientId ?? `rec_${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 });
    const recorder = new Recorder(client);
    if (topics.length) await client.subscribeAsync(topics, { qos: 1 });
    return recorder;
  }

  /** Resolves with the first message (already received or coming) that matches. */
  waitFor(topic: string, predicate: (payload: string) => boolean = () => true, timeoutMs = 5000, since = 0): Promise<Received> {
    const match = (m: Received) => m.topic === topic && predicate(m.payload);
    const seen = this.messages.slice(since).find(match);
    if (seen) return Promise.resolve(seen);
    const origin = new Error('waitFor called here');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const got = this.on(topic).map((m) => m.payload.slice(0, 200));
        const error = new Error(`no matching message on ${topic} within ${timeoutMs} ms; received there: ${JSON.stringify(got.slice(-4))}`);
        error.stack = `${error.message}\n${origin.stack?.split('\n').slice(2, 4).join('\n')}`;
        reject(error);
      }, timeoutMs);
      this.waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  last(topic: string): Received | undefined {
    return this.on(topic).at(-1);
  }

  mark(): number {
    return this.messages.length;
  }

  async publish(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until the check passes or the time is up. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
