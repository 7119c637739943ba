// The measurements service: each kind of source through its real boundary (Mosquitto, this
// add-on's entities, Home Assistant's websocket API), units, and staleness with its reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { FakeHomeAssistant } from '../helpers/fake-ha.js';
import { testAdapters, type TestAdapter } from '../helpers/test-adapter.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { readNumber, toBase } from '../../src/measurements/measurement.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

test('MQTT, entity and Home Assistant measurements: units, JSON paths, kinds of value, staleness with the reason', async () => {
  const ha = await FakeHomeAssistant.start();
  ha.setState('sensor.pv_power', '2.5', { unit_of_measurement: 'kW' });
  const clock = new SimulatedClock();
  const holder: { adapter?: TestAdapter } = {};
  const automation = { home_assistant: { url: ha.url, token: ha.token }, sources: [{ name: 'pv', ha_entity: 'sensor.pv_power', stale_after: 120 }] };
  const t = await startApp(broker.port, { automation }, { clock, extraAdapters: testAdapters(holder) });
  const pub = await Recorder.connect(broker.port);
  const m = t.app.measurements;
  try {
    const grid = m.mqtt('grid', 'meter/state', { jsonPath: 'power.total', unit: 'kW' }, 60);
    const soc = m.mqtt('soc', 'battery/soc', { unit: '%' }, 60);
    const power = m.entity('power', 'test_device/power', 30, true);
    const eco = m.entity<boolean>('eco', 'test_device/eco', 30);
    const mode = m.entity<string>('mode', 'test_device/mode', 30);
    const pv = m.get('pv')!;

    await pub.publish('meter/state', JSON.stringify({ power: { total: -1.25 } }));
    await pub.publish('battery/soc', '57');
    await eventually(() => grid.value === -1250 && soc.value === 57, 3000, 'MQTT values');
    assert.equal(grid.describe, 'MQTT meter/state');
    await eventually(() => pv.value === 2500, 3000, 'the HA value in W');
    // An entity of this add-on: numbers in base units (inverted here), a switch, a select.
    holder.adapter!.declared!.device.entities.get('power')!.update(1500);
    holder.adapter!.declared!.device.entities.get('eco')!.update(true);
    assert.deepEqual([power.value, eco.value, mode.value], [-1500, true, 'Eco']);

    // A message without a usable number keeps the old value ageing, and says why.
    await pub.publish('meter/state', JSON.stringify({ power: {} }));
    await eventually(() => grid.problem !== undefined, 3000, 'the bad message');
    assert.equal(grid.value, -1250, 'still the last good value');
    holder.adapter!.declared!.device.entities.get('power')!.update(null);
    assert.equal(power.problem, 'entity test_device/power is unknown');
    ha.setState('sensor.pv_power', 'unavailable');
    await eventually(() => pv.problem === 'sensor.pv_power is unavailable', 3000, 'HA unavailable');

    clock.advance(61_000);
    assert.equal(grid.value, undefined, 'stale after 60 s');
    assert.equal(grid.why(), "no fresh value from source 'grid' for 61 s (limit 60 s); last message: no field 'power.total' in the payload");
    assert.equal(power.value, undefined);
    assert.equal(pv.value, 2500, 'its own limit is 120 s');
    clock.advance(60_000);
    assert.equal(pv.value, undefined);
    assert.match(pv.why(), /^no fresh value from source 'pv' for 121 s \(limit 120 s\); last message: sensor\.pv_power is unavailable$/);
    const never = m.mqtt('never', 'nothing/here', {}, 60);
    assert.equal(never.why(), "no value yet from source 'never'");
  } finally {
    await pub.close();
    await t.stop();
    await ha.stop();
  }
});

test('reading numbers from MQTT payloads and units', () => {
  assert.equal(readNumber(' 1234.5 '), 1234.5);
  assert.equal(readNumber('{"data":{"power":-300}}', 'data.power'), -300);
  assert.equal(readNumber('{"power":"42"}', 'power'), 42);
  assert.deepEqual(readNumber('{"power":null}', 'power'), { problem: "'null' is not a number" });
  assert.deepEqual(readNumber('on'), { problem: "'on' is not a number" });
  assert.deepEqual(readNumber('12', 'power'), { problem: "no field 'power' in the payload" });
  assert.deepEqual(readNumber('{bad', 'power'), { problem: "payload is not JSON, so 'power' cannot be read" });
  assert.equal(toBase(1.5, 'kW'), 1500);
  assert.equal(toBase(80, '%'), 80);
});

test("the Supervisor's token never goes to a Home Assistant URL of the user's own", async () => {
  const { homeAssistantAccess } = await import('../../src/measurements/service.js');
  assert.throws(() => homeAssistantAccess({ url: 'ws://elsewhere:8123/api/websocket' }, 'supervisor-token-1234'), /needs its own token/);
  assert.equal(homeAssistantAccess(undefined, 'supervisor-token-1234').token, 'supervisor-token-1234');
  assert.equal(homeAssistantAccess({ url: 'ws://elsewhere:8123/api/websocket', token: 'mine' }, 'supervisor-token-1234').token, 'mine');
});
