// A dongle that cannot be reached is visible in HA from the start, with the reason; the reason is
// logged once when it first happens and when it changes, and a deliberate stop is no warning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder } from '../../helpers/mqtt-client.js';
import { startApp } from '../../helpers/app.js';
import { DEV } from '../../helpers/givenergy.js';
import { GivEnergyDongleSimulator } from '../../../src/simulators/givenergy-dongle.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const FAST = { birthDelayMs: { min: 10, max: 30 }, backoff: { initialMs: 100, maxMs: 500 }, discoveryDebounceMs: 5 };

test('a misspelled dongle host shows in HA as a dongle device with the problem and its reason', async () => {
  const dongle = 'givenergy_dongle_no_such_dongle_invalid_8899';
  const rec = await Recorder.connect(broker.port, [`homeassistant/device/${dongle}/config`, `energy2mqtt/${dongle}/#`]);
  const t = await startApp(broker.port, { givenergy: [{ host: 'no-such-dongle.invalid' }] }, { tuning: FAST });
  try {
    const config = JSON.parse((await rec.waitFor(`homeassistant/device/${dongle}/config`, (p) => p !== '')).payload);
    assert.deepEqual(deviceDiscoveryProblems(`homeassistant/device/${dongle}/config`, config), []);
    assert.equal(config.cmps.connection.device_class, 'problem');
    assert.equal((await rec.waitFor(`energy2mqtt/${dongle}/connection`)).payload, 'ON');
    // No DNS at all here answers EAI_AGAIN; a resolver that knows .invalid does not exist says ENOTFOUND.
    assert.match((await rec.waitFor(`energy2mqtt/${dongle}/last_error`, (p) => p !== 'none')).payload, /^(ENOTFOUND|EAI_AGAIN)$/);
    assert.equal((await rec.waitFor(`energy2mqtt/${dongle}/address`)).payload, 'no-such-dongle.invalid:8899');
    assert.equal((await rec.waitFor(`energy2mqtt/${dongle}/availability`)).payload, 'online', 'the dongle device itself is shown');
    const warnings = t.logs.filter((l) => / WARN .*dongle at no-such-dongle\.invalid:8899: (ENOTFOUND|EAI_AGAIN)/.test(l));
    assert.equal(warnings.length, 1, 'logged once, not at every retry');
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('a refused port: the reason is shown, then cleared when the dongle answers and the inverter appears', async () => {
  const port = await freePort();
  const dongle = `givenergy_dongle_127_0_0_1_${port}`;
  const rec = await Recorder.connect(broker.port, [`energy2mqtt/${dongle}/#`, `energy2mqtt/${DEV}/availability`]);
  const started = performance.now();
  const t = await startApp(broker.port, { givenergy: [{ host: '127.0.0.1', port, poll_interval: 3600 }] }, { tuning: FAST });
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  try {
    assert.ok(performance.now() - started < 4000, 'an unreachable dongle does not hold up the start');
    assert.equal((await rec.waitFor(`energy2mqtt/${dongle}/last_error`, (p) => p !== 'none')).payload, 'ECONNREFUSED');
    assert.equal((await rec.waitFor(`energy2mqtt/${dongle}/connection`)).payload, 'ON');
    const mark = rec.mark();
    await sim.listen(port);
    assert.equal((await rec.waitFor(`energy2mqtt/${dongle}/connection`, (p) => p === 'OFF', 15_000, mark)).payload, 'OFF');
    await rec.waitFor(`energy2mqtt/${DEV}/availability`, (p) => p === 'online', 5000, mark);
    assert.equal(rec.last(`energy2mqtt/${dongle}/last_error`)!.payload, 'ECONNREFUSED', 'the last error stays readable');
    assert.equal(t.logs.filter((l) => / WARN .*ECONNREFUSED/.test(l)).length, 1, 'one warning for the one reason');
    assert.ok(t.logs.some((l) => / INFO .*dongle at 127\.0\.0\.1:\d+ reachable again/.test(l)));
    // The dongle hangs up: a new reason, logged.
    await sim.close();
    await rec.waitFor(`energy2mqtt/${dongle}/connection`, (p) => p === 'ON', 5000, mark);
    assert.ok(t.logs.some((l) => / WARN .*dongle at 127\.0\.0\.1:\d+: the dongle closed the connection/.test(l)));
    await sim.listen(port);
    await rec.waitFor(`energy2mqtt/${dongle}/connection`, (p) => p === 'OFF', 15_000, rec.mark());
  } finally {
    const before = t.logs.length;
    await t.stop();
    assert.ok(!t.logs.slice(before).some((l) => / WARN /.test(l)), `a deliberate stop logs no warning: ${t.logs.slice(before).join('')}`);
    await sim.close();
    await rec.close();
  }
});

test('the same inverter through two dongle entries (an address spelled two ways) is read once; the second says why', async () => {
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  const port = await sim.listen();
  const second = `givenergy_dongle_localhost_${port}`;
  const rec = await Recorder.connect(broker.port, [`energy2mqtt/${second}/#`]);
  const t = await startApp(broker.port, { givenergy: [{ host: '127.0.0.1', port, poll_interval: 3600 }, { host: 'localhost', port, poll_interval: 3600 }] }, { tuning: FAST });
  try {
    const reason = (await rec.waitFor(`energy2mqtt/${second}/last_error`, (p) => p !== 'none')).payload;
    assert.equal(reason, `inverter SA2114G047 is already read through 127.0.0.1:${port}; list each inverter once`);
    assert.equal(t.app.bridge.getDevice(DEV)?.owner, `givenergy/127.0.0.1:${port}`);
    await rec.waitFor(`energy2mqtt/${second}/connection`, (p) => p === 'ON');
  } finally {
    await t.stop();
    await sim.close();
    await rec.close();
  }
});
