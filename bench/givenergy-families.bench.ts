// GivEnergy benchmarks per inverter family (issue 13), each against a real installation's
// registers (givenergy-capture.ts) served by the dongle simulator over TCP, frame gap 0:
// - detection: from starting the add-on to the discovery of the inverter and of every device
//   behind it (batteries, HV stacks and modules, an EMS's inverters, a Gateway's AIOs) received
//   by an HA-like MQTT client, each start with a fresh simulator, data directory and App;
// - a full refresh: one `adapter.poll(true)`, every page of the family's plan.
// GivTCP, for comparison (research/givenergy.md §1.10): detection 12-48 s in user logs, and a
// 0.25 s gap between frames, so >= 1 s for a partial and >= 2.5 s for a full refresh.
import type { TestBroker } from '../test/helpers/broker.js';
import { startApp, type TestApp } from '../test/helpers/app.js';
import { Recorder, sleep } from '../test/helpers/mqtt-client.js';
import { GivEnergyDongleSimulator } from '../src/simulators/givenergy-dongle.js';
import { CAPTURE_PLANTS, capturePlant, type CapturePlant } from '../src/simulators/givenergy-capture.js';
import type { GivEnergyAdapter } from '../src/adapters/givenergy/adapter.js';
import { summary, type Row } from './stats.js';

const STARTS = 15;
const REFRESHES = 100;
const GIVTCP_GAP_S = 0.25;

const options = (port: number) => ({
  log_level: 'warning',
  givenergy: [{ host: '127.0.0.1', port, poll_interval: 3600, full_refresh_interval: 3600, frame_gap_ms: 0, daily_write_budget: 5000 }],
});

export async function benchGivenergyFamilies(broker: TestBroker): Promise<Row[]> {
  const rows: Row[] = [];
  const rec = await Recorder.connect(broker.port, ['homeassistant/device/+/config']);
  try {
    for (const plant of Object.keys(CAPTURE_PLANTS) as CapturePlant[]) rows.push(...(await benchPlant(broker, rec, plant)));
  } finally {
    await rec.close();
  }
  return rows;
}

/** Resolves once the adapter has detected the inverter (startApp normally returns after that already). */
async function detected(adapter: GivEnergyAdapter, plant: string, timeoutMs = 10_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!adapter.model || !adapter.plan) {
    if (performance.now() > until) throw new Error(`${plant}: the inverter was not detected within ${timeoutMs} ms`);
    await sleep(1);
  }
}

async function benchPlant(broker: TestBroker, rec: Recorder, plant: CapturePlant): Promise<Row[]> {
  const profile = capturePlant(plant);
  const detection: number[] = [];
  let family = '';
  let behind = 0;
  let pages = 0;
  let fastPages = 0;
  const full: number[] = [];
  let failedPolls = 0;
  let wirePages = 0;

  for (let i = 0; i < STARTS; i++) {
    const sim = new GivEnergyDongleSimulator({ capture: profile });
    const port = await sim.listen();
    let t: TestApp | undefined;
    try {
      const mark = rec.mark(); // earlier starts' discovery (the same serials) is not this one's
      const t0 = performance.now();
      t = await startApp(broker.port, options(port));
      const adapter = t.app.adapters[0] as GivEnergyAdapter;
      await detected(adapter, plant);
      const id = `givenergy_${adapter.model!.serial.toLowerCase()}`;
      const ids = [id, ...adapter.plan!.parts.map((p) => `${id}_${p.key}`)];
      let last = 0;
      for (const device of ids) last = Math.max(last, (await rec.waitFor(`homeassistant/device/${device}/config`, (p) => p !== '', 5000, mark)).at);
      detection.push(last - t0);
      family = `${adapter.model!.name} (${adapter.model!.dtc})`;
      behind = ids.length - 1;
      pages = adapter.plan!.reads.length;
      fastPages = adapter.plan!.reads.filter((r) => !r.full).length;

      // The last start also serves the full refreshes.
      if (i === STARTS - 1) {
        adapter.writeLimits = { minGapMs: 0, perMinute: 1_000_000 };
        await adapter.poll(true); // warm-up
        const before = t.logs.filter((l) => l.includes('poll failed')).length;
        const requests = sim.requests;
        for (let n = 0; n < REFRESHES; n++) {
          const r0 = performance.now();
          await adapter.poll(true);
          full.push(performance.now() - r0);
        }
        failedPolls = t.logs.filter((l) => l.includes('poll failed')).length - before;
        wirePages = (sim.requests - requests) / REFRESHES;
      }
    } finally {
      await t?.stop();
      await sim.close();
    }
  }

  const failed = failedPolls ? `; ${failedPolls} of ${REFRESHES} polls FAILED` : '';
  // The requests the simulator answered per refresh: the plan's pages, unless a poll stopped early.
  const wire = wirePages === pages ? '' : `; ${wirePages} requests per refresh at the dongle`;
  return [
    summary(`${plant}: ${family}, ${behind} device(s) behind; detection (start -> last device's discovery)`, detection, 'ms', 'GivTCP 12-48 s'),
    summary(
      `${plant}: full refresh, ${pages} pages (${fastPages} fast)${wire}${failed}`,
      full,
      'ms',
      `GivTCP >= 2.5 s (0.25 s gap; ${pages} pages = ${(pages * GIVTCP_GAP_S).toFixed(2)} s)`,
    ),
  ];
}
