// Recovery with the add-on's own reconnect waits (no test tuning): after a long outage the
// bridge is back within 5 s of the broker, and an inverter within 15 s of its dongle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker } from '../helpers/broker.js';
import { startApp } from '../helpers/app.js';
import { Recorder, eventually, sleep } from '../helpers/mqtt-client.js';
import { reconnectWait } from '../../src/core/backoff.js';
import { MAX_RECONNECT_WAIT_MS as BROKER_CAP } from '../../src/core/mqtt-connection.js';
import { MAX_RECONNECT_WAIT_MS as DONGLE_CAP } from '../../src/adapters/givenergy/client.js';
import { GivEnergyDongleSimulator } from '../../src/simulators/givenergy-dongle.js';
import { DEV } from '../helpers/givenergy.js';

/** The outage: long enough that the waits of the old schedule (doubling to 30 s / 60 s) had passed 15 s. */
const OUTAGE_MS = 17_000;
const DEFAULT_TUNING = { birthDelayMs: { min: 10, max: 30 }, discoveryDebounceMs: 5 }; // no backoff override

test('reconnect waits grow, but never past the caps that keep recovery within 5 s and 15 s', () => {
  for (const [cap, limit] of [[BROKER_CAP, 5000], [DONGLE_CAP, 10_000]] as const) {
    const waits = Array.from({ length: 60 }, (_, attempt) => reconnectWait(attempt, { initialMs: 500, maxMs: cap }, 1));
    assert.ok(Math.max(...waits) <= limit, `${Math.max(...waits)} ms`);
    assert.ok(waits[3]! > waits[0]!, 'they grow');
  }
  assert.equal(reconnectWait(1000, { initialMs: 1000, maxMs: 10_000 }, 0.5), 10_000, 'no overflow on a long outage');
});

test('after a long outage: the broker back -> bridge connected within 5 s; the dongle back -> inverter available within 15 s', async () => {
  const brokerForOutage = await startTestBroker();
  const brokerForDongle = await startTestBroker();
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  const donglePort = await sim.listen();
  const mqttApp = await startApp(brokerForOutage.port, {}, { tuning: DEFAULT_TUNING });
  const inverterApp = await startApp(brokerForDongle.port, { givenergy: [{ host: '127.0.0.1', port: donglePort, poll_interval: 3600, full_refresh_interval: 3600 }] }, { tuning: DEFAULT_TUNING });
  const watch = await Recorder.connect(brokerForDongle.port, [`energy2mqtt/${DEV}/availability`]);
  try {
    await watch.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'online');
    const brokerCase = (async () => {
      await brokerForOutage.kill();
      await eventually(() => !mqttApp.app.connection.connected, 5000, 'the bridge notices');
      await sleep(OUTAGE_MS);
      const connected = new Promise<number>((resolve) => mqttApp.app.connection.once('connect', () => resolve(performance.now())));
      await brokerForOutage.restart();
      const back = performance.now();
      return (await connected) - back;
    })();
    const dongleCase = (async () => {
      await sim.close();
      await watch.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'offline');
      await sleep(OUTAGE_MS);
      const mark = watch.mark();
      await sim.listen(donglePort);
      const back = performance.now();
      const online = await watch.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'online', 20_000, mark);
      return online.at - back;
    })();
    const [brokerMs, dongleMs] = await Promise.all([brokerCase, dongleCase]);
    assert.ok(brokerMs <= 5000, `bridge reconnected ${Math.round(brokerMs)} ms after the broker came back`);
    assert.ok(dongleMs <= 15_000, `inverter available ${Math.round(dongleMs)} ms after the dongle came back`);
  } finally {
    await watch.close();
    await mqttApp.stop();
    await inverterApp.stop();
    await sim.close();
    await brokerForOutage.stop();
    await brokerForDongle.stop();
  }
});
