// For the demo only: a house meter on MQTT. It publishes the grid power of a sunny day squeezed
// into a few minutes, with passing clouds, and adds the load the demo rule switches on, so the
// automation engine has something real to react to. Other simulated loads (the heat pump) add
// their draw with addLoad, so what they do shows in the grid power: the loop closes.
import mqtt, { type MqttClient } from 'mqtt';

export const DEMO_GRID_TOPIC = 'demo/meter/grid_power';
export const DEMO_LOAD_TOPIC = 'demo/boiler/set';
const LOAD_W = 2000;

export class DemoMeter {
  private client?: MqttClient;
  private timer?: NodeJS.Timeout;
  private loadOn = false;
  private step = 60; // mid-morning, so something happens soon
  private readonly loads: Array<() => number> = [];

  /** A load whose draw (W, read every second) the house meter adds to the grid power. */
  addLoad(drawW: () => number): void {
    this.loads.push(drawW);
  }

  async start(port: number): Promise<void> {
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: 'energy2mqtt_demo_meter' });
    this.client = client;
    await client.subscribeAsync(DEMO_LOAD_TOPIC);
    client.on('message', (_topic, payload) => (this.loadOn = payload.toString() === 'ON'));
    this.timer = setInterval(() => {
      // A 4-minute "day": 600 W of house load, up to 4.5 kW of PV, clouds now and then.
      const phase = (this.step++ % 240) / 240;
      const pv = Math.max(0, Math.sin(phase * Math.PI)) * 4500 * (Math.sin(this.step / 7) > 0.8 ? 0.3 : 1);
      const others = this.loads.reduce((sum, drawW) => sum + drawW(), 0);
      const grid = Math.round(600 + (this.loadOn ? LOAD_W : 0) + others - pv);
      void client.publishAsync(DEMO_GRID_TOPIC, JSON.stringify({ power: grid }));
    }, 1000);
  }

  /** The automation options that steer the demo boiler with the demo meter. */
  static options(): Record<string, unknown> {
    return {
      sources: [{ name: 'grid', mqtt: { topic: DEMO_GRID_TOPIC, json_path: 'power', unit: 'W' }, stale_after: 30 }],
      surplus: { grid: 'grid' },
      rules: [{ type: 'surplus_switch', name: 'Demo boiler', power_w: LOAD_W, target: { mqtt: { command_topic: DEMO_LOAD_TOPIC } }, enable_delay: 10, disable_delay: 20 }],
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.client?.endAsync();
  }
}
