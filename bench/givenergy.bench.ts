// GivEnergy benchmarks against the simulated dongle, frame gap 0 (GivTCP needs >= 1 s for a
// partial and >= 2.5 s for a full refresh because of its 0.25 s gap; detection takes it 12-48 s).
import type { TestBroker } from '../test/helpers/broker.js';
import { freePort } from '../test/helpers/broker.js';
import { startApp } from '../test/helpers/app.js';
import { Recorder, sleep } from '../test/helpers/mqtt-client.js';
import { GivEnergyDongleSimulator } from '../src/simulators/givenergy-dongle.js';
import type { GivEnergyAdapter } from '../src/adapters/givenergy/adapter.js';
import { summary, type Row } from './stats.js';

const DEV = 'givenergy_sa2114g047';

export async function benchGivenergy(broker: TestBroker): Promise<Row[]> {
  const rows: Row[] = [];
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  const port = await sim.listen();
  const options = (base: string) => ({ base_topic: base, log_level: 'error', givenergy: [{ host: '127.0.0.1', port, poll_interval: 3600, full_refresh_interval: 3600, frame_gap_ms: 0, daily_write_budget: 5000 }] });

  // Detection at start-up: connect, identify the model, probe six battery addresses, declare.
  const detect: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const t = await startApp(broker.port, { ...options(`gd${i}`), givenergy_rest: { port: await freePort() } });
    detect.push(performance.now() - t0);
    await t.stop();
  }
  rows.push(summary('detection at start-up (connect, model, 6 battery probes, entities)', detect, 'ms', '< 1000 ms'));

  const t = await startApp(broker.port, { ...options('gbench'), givenergy_rest: { port: await freePort() } });
  const adapter = t.app.adapters[0] as GivEnergyAdapter;
  adapter.writeLimits = { minGapMs: 0, perMinute: 1_000_000 };
  const rec = await Recorder.connect(broker.port, [`gbench/${DEV}/pv1_power`]);
  const pub = await Recorder.connect(broker.port);
  await sleep(200);

  const full: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    await adapter.poll(true);
    full.push(performance.now() - t0);
  }
  rows.push(summary('full refresh, inverter + one battery (6 pages)', full, 'ms', '< 20 ms'));

  const change: number[] = [];
  for (let i = 1; i <= 300; i++) {
    sim.ir[18] = 1000 + i;
    const mark = rec.mark();
    const t0 = performance.now();
    await adapter.poll(false);
    const m = await rec.waitFor(`gbench/${DEV}/pv1_power`, (p) => p === String(1000 + i), 2000, mark);
    change.push(m.at - t0);
  }
  rows.push(summary('register change -> fast poll -> MQTT message received', change, 'ms'));

  const command: number[] = [];
  for (let i = 0; i < 300; i++) {
    const target = 10 + (i % 80);
    sim.hr[116] = target === 10 ? 11 : 10; // always a change to write
    await adapter.poll(true);
    const written = new Promise<number>((resolve) => (sim.onWrite = () => resolve(performance.now())));
    const t0 = performance.now();
    void pub.publish(`gbench/${DEV}/target_soc/set`, String(target), { qos: 0 });
    command.push((await written) - t0);
  }
  rows.push(summary('HA command -> register written at the dongle', command, 'ms', 'p99 < 50 ms'));

  await rec.close();
  await pub.close();
  await t.stop();
  await sim.close();
  return rows;
}
