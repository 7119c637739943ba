// Thousands of polling cycles against a faulty dongle: no crash, no wrong value ever published,
// unavailable while it fails, back within one poll interval after.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder, sleep } from '../../helpers/mqtt-client.js';
import { startApp } from '../../helpers/app.js';
import { GivEnergyDongleSimulator } from '../../../src/simulators/givenergy-dongle.js';
import type { GivEnergyAdapter } from '../../../src/adapters/givenergy/adapter.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const DEV = 'givenergy_sa2114g047';
// What the simulated inverter really reports (static in this test).
const TRUTH: Record<string, string> = {
  pv_power: '128', grid_power: '-139', import_power: '139', export_power: '0', soc: '17', load_power: '785', battery_power: '572',
  grid_voltage: '239.5', grid_frequency: '50.02', pv_energy_today: '1.6', import_energy_total: '306.1', battery_mode: 'Eco', status: 'normal',
};

test('2,000 poll cycles under bad CRCs, garbage pages, null and split frames, exceptions and latency: only true values are published', async () => {
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  const port = await sim.listen();
  const rec = await Recorder.connect(broker.port, [`energy2mqtt/${DEV}/#`, `energy2mqtt/${DEV}_battery_1/soc`]);
  const t = await startApp(broker.port, { log_level: 'error', givenergy: [{ host: '127.0.0.1', port, poll_interval: 3600, full_refresh_interval: 3600, frame_gap_ms: 0 }], givenergy_rest: { port: await freePort() } });
  const adapter = t.app.adapters[0] as GivEnergyAdapter;
  try {
    sim.faults = { latencyMs: 0, dropRate: 0, badCrcRate: 0.1, garbageRate: 0.1, exceptionRate: 0.03, nullFrameRate: 0.1, splitFrames: true };
    let failedCycles = 0;
    for (let cycle = 0; cycle < 2000; cycle++) {
      await adapter.poll(cycle % 10 === 0);
      if (!adapter['device']?.available) failedCycles++;
    }
    // The fault clears: one poll later the device is available again.
    sim.faults = { latencyMs: 0, dropRate: 0, badCrcRate: 0, garbageRate: 0, exceptionRate: 0, nullFrameRate: 0, splitFrames: false };
    await adapter.poll(false);
    await sleep(200);
    const stats = adapter.client.stats;
    assert.ok(stats.crcErrors > 100 && stats.garbagePages > 100, JSON.stringify(stats));
    for (const [key, truth] of Object.entries(TRUTH)) {
      const seen = new Set(rec.on(`energy2mqtt/${DEV}/${key}`).map((m) => m.payload));
      assert.deepEqual([...seen], [truth], `${key}: every published value is the true one`);
    }
    assert.deepEqual([...new Set(rec.on(`energy2mqtt/${DEV}_battery_1/soc`).map((m) => m.payload))], ['17']);
    // Cycles that failed three tries in a row made the device unavailable, and it came back.
    const availability = rec.on(`energy2mqtt/${DEV}/availability`).map((m) => m.payload);
    assert.equal(availability.at(-1), 'online');
    assert.equal(availability.filter((p) => p === 'offline').length > 0, failedCycles > 0);
  } finally {
    await t.stop();
    await rec.close();
    await sim.close();
  }
});

test('a dropped connection makes the entities unavailable; they come back within a poll interval of the fault clearing', async () => {
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  const port = await sim.listen();
  const rec = await Recorder.connect(broker.port, [`energy2mqtt/${DEV}/availability`]);
  const t = await startApp(broker.port, { log_level: 'error', givenergy: [{ host: '127.0.0.1', port, poll_interval: 1, full_refresh_interval: 60, frame_gap_ms: 0 }], givenergy_rest: { port: await freePort() } });
  try {
    await rec.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'online');
    sim.faults.dropRate = 1; // every request kills the connection
    const mark = rec.mark();
    await rec.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'offline', 5000, mark);
    sim.faults.dropRate = 0;
    const cleared = Date.now();
    const back = await rec.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'online', 10_000, rec.mark());
    const took = back.at - (performance.now() - (Date.now() - cleared));
    // Reconnect backoff (at most 1.2 s here) plus one poll interval (1 s).
    assert.ok(took < 4000, `back after ${Math.round(took)} ms`);
  } finally {
    await t.stop();
    await rec.close();
    await sim.close();
  }
});
