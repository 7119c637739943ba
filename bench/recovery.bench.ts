// Recovery with the add-on's own reconnect waits: how long after the broker, or a dongle, comes
// back until the bridge is connected again, or the inverter available again on MQTT. Outages of
// 2 to 20 s, so the waits are caught both growing and at their cap. Before issue 8 the waits
// grew to 30 s (broker) and 60 s (dongle), and an inverter waited for its next poll as well.
import { startTestBroker } from '../test/helpers/broker.js';
import { startApp } from '../test/helpers/app.js';
import { Recorder, sleep } from '../test/helpers/mqtt-client.js';
import { GivEnergyDongleSimulator } from '../src/simulators/givenergy-dongle.js';
import { summary, type Row } from './stats.js';

const DEV = 'givenergy_sa2114g047';
const OUTAGES_S = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20];
const TUNING = { birthDelayMs: { min: 10, max: 30 }, discoveryDebounceMs: 5 }; // the default backoff

async function brokerReturns(): Promise<number[]> {
  const broker = await startTestBroker();
  const t = await startApp(broker.port, { log_level: 'error' }, { tuning: TUNING });
  const samples: number[] = [];
  try {
    for (const outage of OUTAGES_S) {
      await broker.kill();
      while (t.app.connection.connected) await sleep(20);
      await sleep(outage * 1000);
      const connected = new Promise<number>((resolve) => t.app.connection.once('connect', () => resolve(performance.now())));
      await broker.restart();
      const back = performance.now();
      samples.push((await connected) - back);
    }
  } finally {
    await t.stop();
    await broker.stop();
  }
  return samples;
}

async function dongleReturns(): Promise<number[]> {
  const broker = await startTestBroker();
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  const port = await sim.listen();
  const t = await startApp(broker.port, { log_level: 'error', givenergy: [{ host: '127.0.0.1', port, poll_interval: 3600, full_refresh_interval: 3600 }] }, { tuning: TUNING });
  const rec = await Recorder.connect(broker.port, [`energy2mqtt/${DEV}/availability`]);
  const samples: number[] = [];
  try {
    await rec.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'online');
    for (const outage of OUTAGES_S) {
      const gone = rec.mark();
      await sim.close();
      await rec.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'offline', 5000, gone);
      await sleep(outage * 1000);
      const mark = rec.mark();
      await sim.listen(port);
      const back = performance.now();
      samples.push((await rec.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'online', 30_000, mark)).at - back);
    }
  } finally {
    await rec.close();
    await t.stop();
    await sim.close();
    await broker.stop();
  }
  return samples;
}

export async function benchRecovery(): Promise<Row[]> {
  const [broker, dongle] = await Promise.all([brokerReturns(), dongleReturns()]);
  return [
    { ...summary('broker back -> bridge connected (outages 2-20 s; p99 = max of 10)', broker, 'ms', 'max < 5000 ms (before: up to ~36 s)') },
    { ...summary('dongle back -> inverter available on MQTT (outages 2-20 s; p99 = max of 10)', dongle, 'ms', 'max < 15000 ms (before: up to ~72 s)') },
  ];
}
