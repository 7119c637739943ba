// What comes from outside cannot rewrite what we publish, forge a log line or flood the log; a
// secret that is also an everyday word does not rewrite discovery.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { testAdapters, type TestAdapter } from '../helpers/test-adapter.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const FORGED = '1999-01-01 00:00:00.000 ERROR [bridge] the inverter is on fire';

test('a secret that is also a word stays out of MQTT without rewriting discovery or states', async () => {
  const rec = await Recorder.connect(broker.port, ['homeassistant/device/test_device/config', 'energy2mqtt/test_device/#', 'energy2mqtt/bridge/event']);
  const holder: { adapter?: TestAdapter } = {};
  // "power" as the broker password: it is in the discovery payload 5 times and in a state topic.
  const t = await startApp(broker.port, { mqtt: { host: '127.0.0.1', port: broker.port, username: 'user', password: 'power' } }, { extraAdapters: testAdapters(holder) });
  try {
    const config = JSON.parse((await rec.waitFor('homeassistant/device/test_device/config', (p) => p !== '')).payload);
    assert.equal(config.cmps.power.device_class, 'power');
    assert.equal(config.cmps.power.state_topic, 'energy2mqtt/test_device/power');
    assert.ok(!JSON.stringify(config).includes('***'), 'discovery is not rewritten');
    holder.adapter!.declared!.device.entities.get('power')!.update(1234);
    await rec.waitFor('energy2mqtt/test_device/power', (p) => p === '1234');
    // Free text where a secret could appear (a text state, an echoed payload) is masked.
    holder.adapter!.declared!.device.entities.get('label')!.update('my power label');
    await rec.waitFor('energy2mqtt/test_device/label', (p) => p === 'my *** label');
    // A value from a fixed list is never rewritten: "Eco" stays "Eco" with a secret "Eco".
    t.app.secrets.add('Eco');
    holder.adapter!.declared!.device.entities.get('mode')!.update('Timed Export');
    holder.adapter!.declared!.device.entities.get('mode')!.update('Eco');
    await rec.waitFor('energy2mqtt/test_device/mode', (p) => p === 'Eco');
    await rec.publish('energy2mqtt/test_device/mode/set', 'power');
    const event = JSON.parse((await rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected'))).payload);
    assert.equal(event.payload, '***');
    assert.ok(!t.logs.join('').includes('power'), 'the log masks it everywhere');
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('payloads cannot forge a log line or flood the log and the events', async () => {
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event']);
  const t = await startApp(broker.port, {}, { extraAdapters: testAdapters({}) });
  try {
    await rec.publish('energy2mqtt/test_device/mode/set', `Eco\n${FORGED}`);
    await rec.publish('energy2mqtt/test_device/label/set', `x\r\n${FORGED}`);
    const huge = 'A'.repeat(100_000);
    await rec.publish('energy2mqtt/test_device/mode/set', huge);
    await eventually(() => rec.on('energy2mqtt/bridge/event').length >= 3, 5000, 'three rejection events');
    // A user's log lines (t.logs holds what the add-on log shows, one entry per line written).
    const lines = t.logs.join('').split('\n');
    assert.ok(!lines.some((l) => l.startsWith('1999-01-01')), 'no line of its own for the forged text');
    assert.ok(lines.some((l) => l.includes('rejected command on energy2mqtt/test_device/mode/set') && l.includes('\\n1999-01-01')), 'the payload is shown escaped');
    const longest = Math.max(...lines.map((l) => l.length));
    assert.ok(longest < 1500, `the longest log line has ${longest} characters`);
    assert.ok(lines.some((l) => l.includes('… (100000 chars)')), 'the full length is said');
    for (const m of rec.on('energy2mqtt/bridge/event')) assert.ok(m.payload.length < 1000, `event of ${m.payload.length} bytes`);
  } finally {
    await t.stop();
    await rec.close();
  }
});
