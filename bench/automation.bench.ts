// Automation benchmarks: measurement in to command out through Mosquitto, and a day's replay.
import type { TestBroker } from '../test/helpers/broker.js';
import { startApp } from '../test/helpers/app.js';
import { Recorder, sleep } from '../test/helpers/mqtt-client.js';
import { automationOptions } from '../src/automation/options.js';
import { parseTrace, replay } from '../src/automation/replay.js';
import { LogHub } from '../src/core/logger.js';
import { Secrets } from '../src/core/secrets.js';
import { summary, type Row } from './stats.js';

export async function benchAutomation(broker: TestBroker): Promise<Row[]> {
  const rows: Row[] = [];

  // 1. A meter message in, the load's command out, all delays zero.
  const automation = {
    sources: [{ name: 'grid', mqtt: { topic: 'bench/grid' } }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'surplus_switch', name: 'Bench load', power_w: 1000, target: { mqtt: { command_topic: 'bench/load/set' } }, enable_delay: 0, disable_delay: 0 }],
  };
  const t = await startApp(broker.port, { automation, log_level: 'error' });
  const meter = await Recorder.connect(broker.port);
  const load = await Recorder.connect(broker.port, ['bench/load/set']);
  await sleep(200);
  const samples: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const want = i % 2 === 0 ? 'ON' : 'OFF';
    const mark = load.mark();
    const t0 = performance.now();
    void meter.publish('bench/grid', want === 'ON' ? '-2000' : '500', { qos: 0 });
    const m = await load.waitFor('bench/load/set', (p) => p === want, 2000, mark);
    samples.push(m.at - t0);
  }
  rows.push(summary('meter message -> engine -> load command received (delays 0)', samples, 'ms', 'p99 < 10 ms'));
  await meter.close();
  await load.close();
  await t.stop();

  // 2. One day of 1 s readings through five rules.
  const rules = [1, 2, 3, 4, 5].map((n) => ({
    type: 'surplus_switch', name: `Load ${n}`, priority: n, power_w: 400 * n, target: { mqtt: { command_topic: `l${n}/set` } },
    enable_delay: 60, disable_delay: 120, min_on: 300, min_off: 300,
  }));
  const options = automationOptions.parse({ sources: [{ name: 'grid', mqtt: { topic: 'g' } }, { name: 'soc', mqtt: { topic: 's', unit: '%' } }], surplus: { grid: 'grid' }, rules });
  const lines = ['time,grid,soc'];
  for (let s = 0; s < 86_400; s++) {
    const sun = Math.max(0, Math.sin(((s - 21_600) / 43_200) * Math.PI)) * 6000;
    const clouds = Math.sin(s / 97) * Math.sin(s / 1031) * 1500;
    lines.push(`${s},${Math.round(500 - sun - clouds)},${50 + Math.round(s / 2000)}`);
  }
  const trace = parseTrace(lines.join('\n'), ['grid', 'soc']);
  const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('bench');
  const replaySamples: number[] = [];
  let starts = 0;
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    const result = await replay(options, trace, log);
    replaySamples.push(performance.now() - t0);
    starts = result.loads.reduce((sum, l) => sum + l.starts, 0);
  }
  rows.push(summary(`replay of one day at 1 s through five rules (${starts} starts)`, replaySamples, 'ms', '< 2000 ms'));

  // 3. surplus_follow: a meter message in, the new level out (interval, delays and deadband 0).
  const follow = {
    sources: [{ name: 'grid', mqtt: { topic: 'bench/follow/grid' } }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'surplus_follow', name: 'Bench follow', target: { mqtt: { command_topic: 'bench/follow/set' } }, watts_per_unit: 230, min: 6, max: 16, enable_delay: 0, disable_delay: 0, interval: 0, deadband_w: 0, rate_limit_w_per_s: 1_000_000 }],
  };
  const f = await startApp(broker.port, { automation: follow, log_level: 'error' });
  const followMeter = await Recorder.connect(broker.port);
  const followLoad = await Recorder.connect(broker.port, ['bench/follow/set']);
  await sleep(200);
  let mark = followLoad.mark();
  await followMeter.publish('bench/follow/grid', '-3000', { qos: 0 });
  await followLoad.waitFor('bench/follow/set', (p) => p === '6', 2000, mark);
  // From 6 A: 1030 W more export asks for 4 A more (10 A); 810 W import from 10 A asks for 6 A.
  const followSamples: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const up = i % 2 === 0;
    mark = followLoad.mark();
    const t0 = performance.now();
    void followMeter.publish('bench/follow/grid', up ? '-1030' : '810', { qos: 0 });
    const m = await followLoad.waitFor('bench/follow/set', (p) => p === (up ? '10' : '6'), 2000, mark);
    followSamples.push(m.at - t0);
  }
  rows.push(summary('surplus_follow: measurement -> target command, p99', followSamples, 'ms', 'p99 < 10 ms'));
  await followMeter.close();
  await followLoad.close();
  await f.stop();

  // 4. The same day through one surplus_follow rule (an EV, 6 to 16 A).
  const followOptions = automationOptions.parse({
    sources: [{ name: 'grid', mqtt: { topic: 'g' } }, { name: 'soc', mqtt: { topic: 's', unit: '%' } }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'surplus_follow', name: 'EV', target: { mqtt: { command_topic: 'ev/set' } }, watts_per_unit: 230, min: 6, max: 16, unit: 'A' }],
  });
  const followReplay: number[] = [];
  let changes = 0;
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    const result = await replay(followOptions, trace, log);
    followReplay.push(performance.now() - t0);
    changes = result.loads[0]?.changes ?? 0;
  }
  rows.push(summary(`replay of a day through a surplus_follow rule (${changes} level changes)`, followReplay, 'ms', '< 2000 ms'));
  return rows;
}
