// Bridge benchmarks through a real Mosquitto: discovery of 500 entities, state latency, command
// round trip, idle memory. Reference targets are from issue 2.
import { spawn } from 'node:child_process';
import type { Adapter } from '../src/adapters/adapter.js';
import type { ContextFor } from '../src/adapters/index.js';
import type { Entity } from '../src/core/device.js';
import type { EntitySpec } from '../src/core/entity.js';
import type { TestBroker } from '../test/helpers/broker.js';
import { startApp } from '../test/helpers/app.js';
import { Recorder, eventually, sleep } from '../test/helpers/mqtt-client.js';
import { summary, type Row } from './stats.js';

const DEVICES = 10;
const PER_DEVICE = 50;

/** Declares 10 devices x 50 power sensors, plus one number per device for commands. */
class ManyEntities implements Adapter {
  readonly id = 'bench';
  sensors: Entity<EntitySpec>[] = [];
  commanded: Array<(v: number) => void> = [];
  constructor(private readonly contextFor: ContextFor) {}
  async start(): Promise<void> {
    const { devices } = this.contextFor('bench');
    for (let d = 0; d < DEVICES; d++) {
      const device = devices.device({ id: `bench_${d}`, name: `Bench ${d}` }, this.id);
      for (let e = 0; e < PER_DEVICE - 1; e++) {
        const s = device.sensor({ key: `p${e}`, name: `Power ${e}`, deviceClass: 'power', unit: 'W', stateClass: 'measurement' });
        s.update(e);
        this.sensors.push(s);
      }
      device.number({ key: 'limit', name: 'Limit', min: 0, max: 1_000_000, step: 1, command: (v) => (this.commanded.forEach((f) => f(v)), v) }).update(0);
    }
  }
  async stop(): Promise<void> {}
  failSafe(): void {}
}

export async function benchBridge(broker: TestBroker): Promise<Row[]> {
  const rows: Row[] = [];

  // 1. Discovery plus first state for 500 entities, until the subscriber has all of it.
  const startupSamples: number[] = [];
  for (let run = 0; run < 5; run++) {
    const base = `b${run}`;
    const rec = await Recorder.connect(broker.port, [`hass${run}/device/+/config`, `${base}/+/+`]);
    const t0 = performance.now();
    let adapter: ManyEntities | undefined;
    const t = await startApp(broker.port, { base_topic: base, discovery_prefix: `hass${run}`, log_level: 'error' }, { extraAdapters: (c) => [(adapter = new ManyEntities(c))] });
    const wanted = DEVICES * PER_DEVICE;
    await eventually(() => rec.messages.filter((m) => m.topic.endsWith('/config') && m.topic.includes('bench_')).length >= DEVICES && new Set(rec.messages.filter((m) => m.topic.startsWith(`${base}/bench_`)).map((m) => m.topic)).size >= wanted, 10_000, 'all discovery and states');
    startupSamples.push(performance.now() - t0);
    void adapter;
    await t.stop();
    await rec.close();
  }
  rows.push(summary('discovery + first state, 500 entities (start to last message received)', startupSamples, 'ms', '< 500 ms'));

  // 2 and 3 on one running bridge.
  let adapter: ManyEntities | undefined;
  const t = await startApp(broker.port, { log_level: 'error' }, { extraAdapters: (c) => [(adapter = new ManyEntities(c))] });
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/bench_0/p0', 'energy2mqtt/bench_0/limit']);
  await sleep(300);
  const sensor = adapter!.sensors[0]!;
  const stateSamples: number[] = [];
  for (let i = 1; i <= 2000; i++) {
    const mark = rec.mark();
    const t0 = performance.now();
    sensor.update(1000 + i);
    const m = await rec.waitFor('energy2mqtt/bench_0/p0', (p) => p === String(1000 + i), 2000, mark);
    stateSamples.push(m.at - t0);
  }
  rows.push(summary('state change -> message received by a subscriber', stateSamples, 'ms', 'p99 < 5 ms'));

  // HA sends commands at QoS 1 (discovery says qos 1) on the connection it also receives states
  // on. With Mosquitto's default (no set_tcp_nodelay) the broker then holds the state behind its
  // PUBACK until the client's delayed ACK, about 40 ms: measured both ways to show where time goes.
  const pub = await Recorder.connect(broker.port);
  const commandRow = async (metric: string, sender: Recorder): Promise<Row> => {
    const samples: number[] = [];
    for (let i = 1; i <= 500; i++) {
      const value = String(Math.round(Math.random() * 1e6));
      const mark = rec.mark();
      const t0 = performance.now();
      void sender.publish('energy2mqtt/bench_0/limit/set', value, { qos: 1 });
      const m = await rec.waitFor('energy2mqtt/bench_0/limit', (p) => p === value, 2000, mark);
      samples.push(m.at - t0);
    }
    return summary(metric, samples, 'ms', 'p99 < 10 ms');
  };
  rows.push(await commandRow('command (QoS 1) -> handler -> new state, subscriber on its own connection', pub));
  rows.push(await commandRow('the same, state read on the commanding connection (HA), default Mosquitto', rec));
  await pub.close();
  await rec.close();
  await t.stop();

  // 4. Resident memory of the compiled bridge, idle with 500 entities, in its own process.
  const rss = await idleRss(broker.port);
  rows.push({ metric: 'resident memory, compiled bridge idle with 500 entities', value: rss, unit: 'MB', target: '< 70 MB' });
  return rows;
}

function idleRss(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    // The same V8 flag as the add-on's run script (addon/rootfs/etc/services.d/energy2mqtt/run).
    const child = spawn(process.execPath, ['--max-semi-space-size=1', 'bench/idle-bridge.mjs', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(Number(JSON.parse(out).rssMb)) : reject(new Error(`idle-bridge exited with ${code}`))));
  });
}
