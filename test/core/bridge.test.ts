// The bridge through a real broker, seen the way Home Assistant sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually, sleep } from '../helpers/mqtt-client.js';
import { startApp, tempDir } from '../helpers/app.js';
import { testAdapters, type TestAdapter } from '../helpers/test-adapter.js';
import { deviceDiscoveryProblems } from '../../src/core/ha-acceptance.js';
import { SimulatedClock } from '../../src/core/clock.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const CONFIG = 'homeassistant/device/test_device/config';
const parse = (payload: string) => JSON.parse(payload) as Record<string, any>;

test('discovery and first states reach the broker, and every payload passes HA rules', async () => {
  const rec = await Recorder.connect(broker.port, ['homeassistant/#', 'energy2mqtt/#']);
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, {}, { extraAdapters: testAdapters(holder) });
  try {
    const config = parse((await rec.waitFor(CONFIG, (p) => p !== '')).payload);
    const bridgeConfig = parse((await rec.waitFor('homeassistant/device/bridge/config')).payload);
    assert.deepEqual(deviceDiscoveryProblems(CONFIG, config), []);
    assert.deepEqual(deviceDiscoveryProblems('homeassistant/device/bridge/config', bridgeConfig), []);

    assert.deepEqual(config.availability, [{ topic: 'energy2mqtt/bridge/state' }, { topic: 'energy2mqtt/test_device/availability' }]);
    assert.equal(config.availability_mode, 'all');
    assert.equal(config.dev.via_device, 'energy2mqtt_bridge');
    assert.equal(config.o.name, 'energy2mqtt');
    const power = config.cmps.power;
    assert.deepEqual(
      { unique_id: power.unique_id, default_entity_id: power.default_entity_id, state_topic: power.state_topic, unit: power.unit_of_measurement, dc: power.device_class, sc: power.state_class },
      { unique_id: 'energy2mqtt_test_device_power', default_entity_id: 'sensor.test_device_power', state_topic: 'energy2mqtt/test_device/power', unit: 'W', dc: 'power', sc: 'measurement' },
    );
    assert.equal(config.cmps.target_soc.command_topic, 'energy2mqtt/test_device/target_soc/set');
    assert.equal(config.cmps.target_soc.entity_category, 'config');
    assert.equal(config.cmps.sync_clock.state_topic, undefined, 'a button has no state');
    for (const cmp of Object.values<Record<string, unknown>>(config.cmps)) assert.ok(!('object_id' in cmp));

    assert.equal((await rec.waitFor('energy2mqtt/bridge/state')).payload, 'online');
    assert.equal((await rec.waitFor('energy2mqtt/test_device/availability')).payload, 'online');
    assert.equal((await rec.waitFor('energy2mqtt/test_device/energy_total')).payload, '12.5');
    assert.equal((await rec.waitFor('energy2mqtt/test_device/mode')).payload, 'Eco');
    assert.equal((await rec.waitFor('energy2mqtt/test_device/slot_start')).payload, '00:30:00');
    assert.equal((await rec.waitFor('energy2mqtt/bridge/version')).payload, '0.1.0');
  } finally {
    await t.stop();
    await rec.close();
  }
  // The clean stop leaves the bridge offline, retained, for HA.
  const late = await Recorder.connect(broker.port, ['energy2mqtt/bridge/state']);
  assert.equal((await late.waitFor('energy2mqtt/bridge/state')).payload, 'offline');
  assert.equal(late.last('energy2mqtt/bridge/state')!.retain, true);
  await late.close();
});

test('states are retained, published past the deadband only, and refreshed periodically', async () => {
  const clock = new SimulatedClock(Date.now());
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, { state_refresh_interval: 60 }, { clock, extraAdapters: testAdapters(holder) });
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/test_device/power']);
  try {
    clock.advance(50);
    await rec.waitFor('energy2mqtt/test_device/power', (p) => p === '0');
    const power = holder.adapter!.declared!.device.entities.get('power')!;
    power.update(5); // inside the 10 W deadband
    await sleep(150);
    assert.deepEqual(rec.on('energy2mqtt/test_device/power').map((m) => m.payload), ['0']);
    power.update(15.4);
    await rec.waitFor('energy2mqtt/test_device/power', (p) => p === '15');
    power.update(20); // inside the deadband again: held back until the refresh
    await sleep(150);
    assert.equal(rec.last('energy2mqtt/test_device/power')!.payload, '15');
    clock.advance(60_000);
    await rec.waitFor('energy2mqtt/test_device/power', (p) => p === '20');
    const seen = rec.on('energy2mqtt/test_device/power').length;
    clock.advance(60_000); // nothing changed: the refresh still re-publishes for continuity
    await eventually(() => rec.on('energy2mqtt/test_device/power').length > seen, 2000, 'refresh');
    const late = await Recorder.connect(broker.port, ['energy2mqtt/test_device/power']);
    const retained = await late.waitFor('energy2mqtt/test_device/power');
    assert.equal(retained.retain, true);
    assert.equal(retained.payload, '20');
    await late.close();
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('commands: a valid one reaches the handler and updates state; invalid ones are refused with an event', async () => {
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/#']);
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, {}, { extraAdapters: testAdapters(holder) });
  try {
    await rec.waitFor('energy2mqtt/test_device/target_soc', (p) => p === '100');
    const calls = holder.adapter!.declared!.calls;
    await rec.publish('energy2mqtt/test_device/target_soc/set', '80');
    await rec.waitFor('energy2mqtt/test_device/target_soc', (p) => p === '80');
    assert.deepEqual(calls, [{ key: 'target_soc', value: 80, source: 'mqtt' }]);

    const cases: Array<[string, string, RegExp]> = [
      ['energy2mqtt/test_device/target_soc/set', '101', /must be at most 100/],
      ['energy2mqtt/test_device/mode/set', 'Turbo', /expected one of: Eco, Timed Demand, Timed Export/],
      ['energy2mqtt/test_device/power/set', '5', /sensor 'power' takes no commands/],
      ['energy2mqtt/test_device/nothing/set', 'ON', /no entity 'nothing'/],
      ['energy2mqtt/test_device/slot_start/set', '25:00', /HH:MM/],
    ];
    for (const [topic, payload, reason] of cases) {
      const mark = rec.mark();
      await rec.publish(topic, payload);
      const event = parse((await rec.waitFor('energy2mqtt/bridge/event', () => true, 3000, mark)).payload);
      assert.equal(event.type, 'command_rejected');
      assert.equal(event.topic, topic);
      assert.equal(event.payload, payload);
      assert.match(event.reason, reason);
    }
    assert.equal(calls.length, 1, 'no rejected command reached the handler');
    assert.ok(t.logs.some((l) => l.includes('rejected command on energy2mqtt/test_device/mode/set (payload "Turbo")')));

    await rec.publish('energy2mqtt/test_device/sync_clock/set', 'PRESS');
    await eventually(() => calls.some((c) => c.key === 'sync_clock'), 3000, 'button press');
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('a device declared after the connection is up gets its availability (HA needs it with mode all)', async () => {
  const t = await startApp(broker.port);
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/late_device/availability']);
  try {
    const device = t.app.bridge.device({ id: 'late_device', name: 'Late device' }, 'test');
    device.sensor({ key: 'power', name: 'Power', deviceClass: 'power', unit: 'W', stateClass: 'measurement' }).update(1);
    await rec.waitFor('energy2mqtt/late_device/availability', (p) => p === 'online');
  } finally {
    await t.app.bridge.getDevice('late_device')?.remove();
    await t.stop();
    await rec.close();
  }
});

test('a retained command is not replayed at start-up', async () => {
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event']);
  await rec.publish('energy2mqtt/test_device/eco/set', 'ON', { retain: true });
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, {}, { extraAdapters: testAdapters(holder) });
  try {
    const event = parse((await rec.waitFor('energy2mqtt/bridge/event')).payload);
    assert.equal(event.topic, 'energy2mqtt/test_device/eco/set');
    assert.match(event.reason, /retained commands are ignored/);
    assert.deepEqual(holder.adapter!.declared!.calls, []);
  } finally {
    await rec.publish('energy2mqtt/test_device/eco/set', '', { retain: true });
    await t.stop();
    await rec.close();
  }
});

test("HA's birth message re-publishes discovery, then every state", async () => {
  const rec = await Recorder.connect(broker.port, ['homeassistant/device/#', 'energy2mqtt/#']);
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, {}, { extraAdapters: testAdapters(holder) });
  try {
    await rec.waitFor('energy2mqtt/test_device/label');
    await sleep(100);
    const mark = rec.mark();
    await rec.publish('homeassistant/status', 'online');
    const config = await rec.waitFor(CONFIG, () => true, 3000, mark);
    const state = await rec.waitFor('energy2mqtt/test_device/label', () => true, 3000, mark);
    assert.ok(config.at <= state.at, 'discovery comes before state');
    await rec.waitFor('energy2mqtt/test_device/availability', (p) => p === 'online', 3000, mark);
    await rec.waitFor('homeassistant/device/bridge/config', () => true, 3000, mark);
    await rec.publish('homeassistant/status', 'offline');
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('removed entities and devices leave HA, also across restarts', async () => {
  const dataDir = tempDir();
  const holder: { adapter?: TestAdapter } = {};
  let t = await startApp(broker.port, {}, { dataDir, extraAdapters: testAdapters(holder) });
  const rec = await Recorder.connect(broker.port, [CONFIG, 'energy2mqtt/test_device/#']);
  try {
    await rec.waitFor('energy2mqtt/test_device/label', (p) => p === 'home');
    // In this run: the entity is first reduced to its platform, then left out, and its state cleared.
    let mark = rec.mark();
    holder.adapter!.declared!.device.removeEntity('label');
    const stub = parse((await rec.waitFor(CONFIG, (p) => p !== '' && parse(p).cmps.label?.p === 'text' && !parse(p).cmps.label.unique_id, 3000, mark)).payload);
    assert.deepEqual(stub.cmps.label, { p: 'text' });
    await rec.waitFor(CONFIG, (p) => p !== '' && !('label' in parse(p).cmps), 3000, mark);
    await rec.waitFor('energy2mqtt/test_device/label', (p) => p === '', 3000, mark);
    await t.stop();

    // Next run, the same adapter no longer declares 'mode': removed after start-up.
    mark = rec.mark();
    t = await startApp(broker.port, {}, { dataDir, extraAdapters: testAdapters(holder, ['mode']) });
    await rec.waitFor(CONFIG, (p) => p !== '' && parse(p).cmps.mode?.p === 'select' && !parse(p).cmps.mode.unique_id, 3000, mark);
    await rec.waitFor(CONFIG, (p) => p !== '' && !('mode' in parse(p).cmps) && 'power' in parse(p).cmps, 3000, mark);
    await t.stop();

    // Next run without the adapter at all: the device goes, retained topics emptied.
    mark = rec.mark();
    t = await startApp(broker.port, {}, { dataDir });
    await rec.waitFor(CONFIG, (p) => p === '', 3000, mark);
    await rec.waitFor('energy2mqtt/test_device/availability', (p) => p === '', 3000, mark);
    await t.stop();
    const fresh = await Recorder.connect(broker.port, [CONFIG, 'energy2mqtt/test_device/#']);
    await sleep(300);
    assert.deepEqual(fresh.messages.map((m) => m.topic), [], 'nothing retained is left of the device');
    await fresh.close();
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('the log level set from HA applies at once and survives a restart', async () => {
  const dataDir = tempDir();
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/bridge/log_level']);
  let t = await startApp(broker.port, { log_level: 'info' }, { dataDir });
  try {
    await rec.waitFor('energy2mqtt/bridge/log_level', (p) => p === 'info');
    const first = rec.mark(); // after this run's 'info': an older retained 'debug' came before it
    await rec.publish('energy2mqtt/bridge/log_level/set', 'debug');
    await rec.waitFor('energy2mqtt/bridge/log_level', (p) => p === 'debug', 3000, first);
    assert.equal(t.app.logs.level, 'debug');
    await t.stop();
    const mark = rec.mark();
    t = await startApp(broker.port, { log_level: 'info' }, { dataDir });
    assert.equal(t.app.logs.level, 'debug');
    await rec.waitFor('energy2mqtt/bridge/log_level', (p) => p === 'debug', 3000, mark);
  } finally {
    await t.stop();
    await rec.close();
  }
});
