// A relay on MQTT as Tasmota firmware (Sonoff, Shelly with Tasmota) speaks it, for tests and the
// demo: commands on cmnd/<name>/POWER (ON, OFF, TOGGLE, 1, 0, case-insensitive; an empty payload
// asks for the state), the state on stat/<name>/POWER and stat/<name>/RESULT {"POWER":"ON"}, and
// its availability on tele/<name>/LWT (Online / Offline, retained, Offline as last will).
import mqtt, { type MqttClient } from 'mqtt';

export class MqttRelaySimulator {
  on = false;
  /** Every state it took, in order (for tests: what the relay actually did). */
  readonly history: boolean[] = [];
  private client?: MqttClient;
  private changeWaiters: Array<() => void> = [];

  constructor(readonly name = 'relay') {}

  get commandTopic(): string {
    return `cmnd/${this.name}/POWER`;
  }

  get stateTopic(): string {
    return `stat/${this.name}/POWER`;
  }

  async start(port: number, host = '127.0.0.1'): Promise<void> {
    const lwt = `tele/${this.name}/LWT`;
    const client = await mqtt.connectAsync({
      host, port, clientId: `relay_${this.name}_${Math.random().toString(16).slice(2, 8)}`,
      will: { topic: lwt, payload: Buffer.from('Offline'), qos: 1, retain: true },
    });
    this.client = client;
    client.on('message', (_topic, payload) => this.command(payload.toString().trim()));
    await client.subscribeAsync(this.commandTopic, { qos: 1 });
    await client.publishAsync(lwt, 'Online', { qos: 1, retain: true });
    this.report();
  }

  private command(text: string): void {
    const word = text.toUpperCase();
    if (word === 'ON' || word === '1') this.set(true);
    else if (word === 'OFF' || word === '0') this.set(false);
    else if (word === 'TOGGLE' || word === '2') this.set(!this.on);
    else if (word !== '') {
      void this.client?.publishAsync(`stat/${this.name}/RESULT`, JSON.stringify({ Command: 'Error' }));
      return;
    }
    this.report();
  }

  private set(on: boolean): void {
    if (on !== this.on) this.history.push(on);
    this.on = on;
    for (const wake of this.changeWaiters.splice(0)) wake();
  }

  private report(): void {
    const state = this.on ? 'ON' : 'OFF';
    void this.client?.publishAsync(this.stateTopic, state);
    void this.client?.publishAsync(`stat/${this.name}/RESULT`, JSON.stringify({ POWER: state }));
  }

  /** Resolves when the relay is in the given state (at once if it is), or rejects after timeoutMs. */
  async waitFor(on: boolean, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.on !== on) {
      if (Date.now() >= end) throw new Error(`relay ${this.name} did not turn ${on ? 'on' : 'off'} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.changeWaiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
  }
}
