// The engine end to end: measurements over real MQTT (or HA's websocket API), decisions on a
// simulated clock, commands out through real MQTT, HA or the bridge's command path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually, sleep } from '../helpers/mqtt-client.js';
import { startApp, tempDir, type TestApp } from '../helpers/app.js';
import { FakeHomeAssistant } from '../helpers/fake-ha.js';
import { testAdapters, type TestAdapter } from '../helpers/test-adapter.js';
import { SimulatedClock } from '../../src/core/clock.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

let seq = 0;

interface Scenario {
  t: TestApp;
  clock: SimulatedClock;
  rec: Recorder;
  gridTopic: string;
  /** Publishes the grid power (positive = import) and waits until the engine has it. */
  grid(watts: number): Promise<void>;
  /** Moves the simulated clock second by second, then waits for the switching to be sent. */
  advance(seconds: number): Promise<void>;
  commands(topic: string): string[];
  /** Waits until exactly these commands were received on the topic (and no more come at once). */
  expectCommands(topic: string, expected: string[], message?: string): Promise<void>;
  /** Waits until the rule's state sensor shows this. */
  state(rule: string, expected: string): Promise<void>;
  /** Waits until the rule's latest reason matches. */
  reason(rule: string, pattern: RegExp): Promise<void>;
  stop(): Promise<void>;
}

function switchRule(name: string, topic: string, extra: Record<string, unknown> = {}) {
  return { type: 'surplus_switch', name, power_w: 1200, target: { mqtt: { command_topic: topic } }, enable_delay: 60, disable_delay: 180, ...extra };
}

async function scenario(rules: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<Scenario> {
  const clock = new SimulatedClock(Date.parse('2026-06-21T10:00:00Z'));
  const gridTopic = `home${++seq}/grid/power`;
  const rec = await Recorder.connect(broker.port, [`load${seq}/#`, 'energy2mqtt/#']);
  const automation = {
    sources: [{ name: 'grid', mqtt: { topic: gridTopic, json_path: 'power' }, stale_after: 3600 }],
    surplus: { grid: 'grid' },
    rules,
    ...extra,
  };
  const t = await startApp(broker.port, { automation }, { clock, ...config });
  clock.advance(1000); // lets the bridge publish discovery; readings then fall on whole ticks
  const engine = t.app.engine!;
  const commands = (topic: string) => rec.on(topic).map((m) => m.payload);
  return {
    t, clock, rec, gridTopic,
    async grid(watts) {
      // QoS 0 like most meters; it also keeps the broker's PUBACK from delaying what we read back.
      await rec.publish(gridTopic, JSON.stringify({ power: watts, voltage: 230 }), { qos: 0 });
      await eventually(() => engine.sources.get('grid')!.value === watts, 3000, `grid ${watts} W to arrive`);
    },
    async advance(seconds) {
      for (let i = 0; i < seconds; i++) clock.advance(1000);
      await engine.settled();
    },
    commands,
    async expectCommands(topic, expected, message) {
      const same = () => JSON.stringify(commands(topic)) === JSON.stringify(expected);
      await eventually(same, 2000, `${JSON.stringify(expected)} on ${topic}, got ${JSON.stringify(commands(topic))}`).catch(() => undefined);
      await sleep(50);
      assert.deepEqual(commands(topic), expected, message);
    },
    async state(rule, expected) {
      const last = () => rec.last(`energy2mqtt/rule_${rule}/state`)?.payload;
      await eventually(() => last() === expected, 2000, `${rule} state ${expected}`).catch(() => undefined);
      assert.equal(last(), expected);
    },
    async reason(rule, pattern) {
      const last = () => rec.last(`energy2mqtt/rule_${rule}/reason`)?.payload ?? '';
      await eventually(() => pattern.test(last()), 2000, `${rule} reason ${pattern}`).catch(() => undefined);
      assert.match(last(), pattern);
    },
    async stop() {
      await t.stop();
      await rec.close();
    },
  };
}


test('a cloud cutting surplus for 90 s does not switch off a load whose disable delay is 3 min', async () => {
  const topic = `load${seq + 1}/pump/set`;
  const s = await scenario([switchRule('Pool pump', topic)]);
  try {
    await s.grid(-2000);
    await s.advance(30);
    await s.reason('pool_pump', /waiting: 2000 W surplus covers the 1200 W it needs; 30 s of 60 s/);
    await s.advance(31);
    await s.expectCommands(topic, ['ON']);
    await s.grid(-800); // the pump draws 1200 W now: 800 W still exported
    await s.advance(5);
    await s.grid(400); // a cloud: 400 W import
    await s.advance(89);
    await s.reason('pool_pump', /holding: importing 400 W, more than the 0 W tolerated; 89 s of 180 s/);
    await s.grid(-700); // the sun is back after 90 s
    await s.advance(300);
    await s.expectCommands(topic, ['ON'], 'still on');
    await s.grid(600); // a long cloud
    await s.advance(181);
    await s.expectCommands(topic, ['ON', 'OFF']);
    await s.state('pool_pump', 'off');
  } finally {
    await s.stop();
  }
});

test('minimum on time holds the load through a dip, minimum off time holds it off', async () => {
  const topic = `load${seq + 1}/heatpump/set`;
  const s = await scenario([switchRule('Heat pump', topic, { enable_delay: 0, disable_delay: 0, min_on: 1200, min_off: 1200 })]);
  try {
    await s.grid(-1500);
    await s.advance(1);
    await s.expectCommands(topic, ['ON']);
    await s.grid(900); // a dip five minutes later
    await s.advance(300);
    await s.expectCommands(topic, ['ON']);
    await s.reason('heat_pump', /holding: .*minimum on time, 5 min of 20 min/);
    await s.advance(901);
    await s.expectCommands(topic, ['ON', 'OFF'], 'off once the 20 minutes are over');
    await s.grid(-1500);
    await s.advance(60);
    await s.expectCommands(topic, ['ON', 'OFF'], 'held off');
    await s.reason('heat_pump', /blocked: .*minimum off time/);
    await s.state('heat_pump', 'blocked');
    await s.advance(1141);
    await s.expectCommands(topic, ['ON', 'OFF', 'ON']);
  } finally {
    await s.stop();
  }
});

test('priorities: on a surplus that fits one load only the higher starts; the lower starts when it grows and backs off first', async () => {
  const first = `load${seq + 1}/boiler/set`;
  const second = `load${seq + 1}/pool/set`;
  const s = await scenario([
    switchRule('Pool', second, { priority: 2, power_w: 1000, enable_delay: 60, disable_delay: 60 }),
    switchRule('Boiler', first, { priority: 1, power_w: 1500, enable_delay: 60, disable_delay: 60 }),
  ]);
  try {
    await s.grid(-1800); // fits one of them
    await s.advance(30);
    await s.reason('pool', /off: 300 W surplus, after 1500 W kept for higher priorities/);
    await s.advance(31);
    await s.expectCommands(first, ['ON']);
    await s.expectCommands(second, [], 'only the boiler starts');
    await s.grid(-300); // the meter now shows the boiler
    await s.advance(120);
    await s.expectCommands(second, [], 'the pool does not start on the same watts');
    await s.grid(-1400); // more sun
    await s.advance(61);
    await s.expectCommands(second, ['ON']);
    await s.grid(-400);
    await s.advance(20);
    await s.grid(500); // a cloud: both are running, 500 W import
    await s.advance(61);
    await s.expectCommands(second, ['ON', 'OFF'], 'the lower priority backs off first');
    await s.expectCommands(first, ['ON']);
    await s.grid(-500); // the meter without the pool
    await s.advance(1);
    await s.state('boiler', 'on');
  } finally {
    await s.stop();
  }
});

test('a source that goes silent puts its rules in the safe state within its staleness limit', async () => {
  const topic = `load${seq + 1}/pump/set`;
  const s = await scenario([switchRule('Pump', topic, { enable_delay: 0, min_on: 3600 })], {
    sources: [{ name: 'grid', mqtt: { topic: `home${seq + 1}/grid/power`, json_path: 'power' }, stale_after: 30 }],
  });
  try {
    await s.grid(-2000);
    await s.advance(1);
    await s.expectCommands(topic, ['ON']);
    await s.advance(29); // the reading is 30 s old: still fresh
    await s.expectCommands(topic, ['ON'], 'fresh for 30 s');
    await s.advance(1);
    await s.expectCommands(topic, ['ON', 'OFF'], 'off within the limit, minimum on time or not');
    await s.state('pump', 'blocked');
    await s.reason('pump', /safe state, off: no fresh value from source 'grid' for 31 s \(limit 30 s\)/);
    // A message without a number does not count as fresh, and says why.
    await s.rec.publish(s.gridTopic, '{"voltage": 230}');
    await eventually(() => s.t.app.engine!.sources.get('grid')!.problem !== undefined, 2000, 'the bad message');
    await s.advance(1);
    await s.reason('pump', /last message: no field 'power' in the payload/);
  } finally {
    await s.stop();
  }
});

test('dry run sends no command and still explains every decision', async () => {
  const topic = `load${seq + 1}/pump/set`;
  const s = await scenario([switchRule('Pump', topic)], { dry_run: true });
  try {
    await s.grid(-2000);
    await s.advance(30);
    await s.reason('pump', /^\(dry run\) waiting: 2000 W surplus covers the 1200 W it needs; 30 s of 60 s/);
    await s.advance(31);
    await s.state('pump', 'on');
    await s.reason('pump', /^\(dry run\) on: /);
    await s.grid(1000);
    await s.advance(181);
    await s.state('pump', 'off');
    await s.expectCommands(topic, [], 'nothing was sent');
    assert.ok(s.t.logs.some((l) => l.includes('Pump: (dry run) switched on')));
    // Turning dry run off from HA sends for real from then on.
    await s.rec.publish('energy2mqtt/automation/dry_run/set', 'OFF');
    await eventually(() => !s.t.app.engine!.dryRun, 2000, 'dry run off');
    await s.grid(-2000);
    await s.advance(61);
    await s.expectCommands(topic, ['ON']);
  } finally {
    await s.stop();
  }
});

test('Home Assistant entities: a kW sensor as the source, a switch as the target, given back when the rule is disabled', async () => {
  const ha = await FakeHomeAssistant.start();
  ha.setState('sensor.grid_power', '0.2', { unit_of_measurement: 'kW', device_class: 'power' });
  ha.setState('switch.pool_pump', 'off');
  const clock = new SimulatedClock(Date.parse('2026-06-21T10:00:00Z'));
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/rule_pool_pump/#']);
  const automation = {
    home_assistant: { url: ha.url, token: ha.token },
    sources: [{ name: 'grid', ha_entity: 'sensor.grid_power', stale_after: 3600 }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'surplus_switch', name: 'Pool pump', power_w: 1200, target: { ha_entity: 'switch.pool_pump' }, enable_delay: 60 }],
  };
  const t = await startApp(broker.port, { automation }, { clock });
  const engine = t.app.engine!;
  try {
    await eventually(() => engine.sources.get('grid')!.value === 200, 3000, 'the HA state, converted from kW');
    ha.setState('sensor.grid_power', '-1.6', { unit_of_measurement: 'kW' });
    await eventually(() => engine.sources.get('grid')!.value === -1600, 3000, 'the state change');
    for (let i = 0; i < 61; i++) clock.advance(1000);
    await engine.settled();
    await eventually(() => ha.calls.length === 1, 3000, 'the service call');
    assert.deepEqual(ha.calls[0], { domain: 'homeassistant', service: 'turn_on', entity_id: 'switch.pool_pump' });
    assert.equal(ha.state('switch.pool_pump'), 'on');
    ha.setState('sensor.grid_power', 'unavailable');
    await eventually(() => engine.sources.get('grid')!.problem === 'sensor.grid_power is unavailable', 3000, 'unavailable noted');
    ha.setState('sensor.grid_power', '-0.4', { unit_of_measurement: 'kW' });
    // Disabled from HA: the pump is given back as it was before the rule took it (off).
    await rec.publish('energy2mqtt/rule_pool_pump/enabled/set', 'OFF');
    await eventually(() => ha.calls.length === 2, 3000, 'the restore');
    assert.deepEqual(ha.calls[1], { domain: 'homeassistant', service: 'turn_off', entity_id: 'switch.pool_pump' });
    await rec.waitFor('energy2mqtt/rule_pool_pump/reason', (p) => p.startsWith('disabled'));
    assert.ok(!t.logs.join('').includes(ha.token), 'the token is not logged');
  } finally {
    await t.stop();
    await rec.close();
    await ha.stop();
  }
});

test('a wrong Home Assistant token is reported', async () => {
  const ha = await FakeHomeAssistant.start();
  const automation = { home_assistant: { url: ha.url, token: 'wrong-token-xyz' }, sources: [{ name: 'grid', ha_entity: 'sensor.grid_power' }], surplus: { grid: 'grid' } };
  const t = await startApp(broker.port, { automation });
  try {
    await eventually(() => t.logs.some((l) => l.includes('Home Assistant refused the token: Invalid access token or password')), 3000, 'the refusal');
  } finally {
    await t.stop();
    await ha.stop();
  }
});

test('an entity of this add-on as the source (inverted), and the next possible change shown', async () => {
  const holder: { adapter?: TestAdapter } = {};
  const clock = new SimulatedClock(Date.parse('2026-06-21T10:00:00Z'));
  const topic = `load${++seq}/pump/set`;
  const automation = {
    sources: [{ name: 'grid', entity: 'test_device/power', invert: true, stale_after: 3600 }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'surplus_switch', name: 'Pump', power_w: 1000, target: { mqtt: { command_topic: topic } }, enable_delay: 60 }],
  };
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/rule_pump/#', topic]);
  const t = await startApp(broker.port, { automation }, { clock, extraAdapters: testAdapters(holder) });
  try {
    // The test device reports its power as export here (inverted source): 1500 W.
    holder.adapter!.declared!.device.entities.get('power')!.update(1500);
    await eventually(() => t.app.engine!.sources.get('grid')!.value === -1500, 3000, 'the entity value');
    clock.advance(1000);
    const expected = new Date(clock.now() - 1000 + 60_000).toISOString();
    await rec.waitFor('energy2mqtt/rule_pump/next_change', (p) => p === expected, 3000);
    for (let i = 0; i < 60; i++) clock.advance(1000);
    await t.app.engine!.settled();
    await rec.waitFor(topic, (p) => p === 'ON', 3000);
    await rec.waitFor('energy2mqtt/rule_pump/next_change', (p) => p === 'None', 3000);
  } finally {
    await t.stop();
    await rec.close();
  }
});

test("rules act through the bridge's command path, with its validation", async () => {
  const holder: { adapter?: TestAdapter } = {};
  const clock = new SimulatedClock(Date.parse('2026-06-21T10:00:00Z'));
  const gridTopic = `home${++seq}/grid/power`;
  const automation = {
    sources: [{ name: 'grid', mqtt: { topic: gridTopic }, stale_after: 3600 }],
    surplus: { grid: 'grid' },
    rules: [
      { type: 'surplus_switch', name: 'Eco', power_w: 500, target: { entity: 'test_device/eco' }, enable_delay: 0 },
      { type: 'surplus_switch', name: 'Wrong', priority: 2, power_w: 100, target: { entity: 'test_device/mode' }, enable_delay: 0 },
    ],
  };
  const t = await startApp(broker.port, { automation }, { clock, extraAdapters: testAdapters(holder) });
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/rule_wrong/reason']);
  try {
    await rec.publish(gridTopic, '-2000');
    await eventually(() => t.app.engine!.sources.get('grid')!.value === -2000, 3000, 'grid');
    clock.advance(1000);
    await t.app.engine!.settled();
    const calls = holder.adapter!.declared!.calls;
    assert.deepEqual(calls, [{ key: 'eco', value: true, source: 'automation' }]);
    clock.advance(1000);
    await eventually(() => /last switch failed: expected one of: Eco, Timed Demand, Timed Export/.test(rec.last('energy2mqtt/rule_wrong/reason')?.payload ?? ''), 3000, 'the refusal in the reason');
    assert.equal(calls.length, 1, 'the select refused ON: nothing reached the device');
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('values changed from HA persist across restarts, until the options change them', async () => {
  const dataDir = tempDir();
  const topic = `load${seq + 1}/pump/set`;
  let s = await scenario([switchRule('Pump', topic)], {}, { dataDir });
  try {
    await s.rec.publish('energy2mqtt/rule_pump/enable_delay/set', '120');
    await s.rec.waitFor('energy2mqtt/rule_pump/enable_delay', (p) => p === '120');
    await s.rec.publish('energy2mqtt/rule_pump/mode/set', 'off');
    await s.rec.waitFor('energy2mqtt/rule_pump/mode', (p) => p === 'off');
    await s.stop();

    s = await scenario([switchRule('Pump', topic)], {}, { dataDir });
    const mark = s.rec.mark();
    s.clock.advance(1000);
    await s.rec.waitFor('energy2mqtt/rule_pump/enable_delay', (p) => p === '120', 3000, mark);
    await s.rec.waitFor('energy2mqtt/rule_pump/mode', (p) => p === 'off', 3000, mark);
    await s.rec.publish('energy2mqtt/rule_pump/mode/set', 'surplus');
    await s.grid(-2000);
    await s.advance(30);
    await s.reason('pump', /30 s of 120 s/);
    await s.stop();

    // The user edits the option: the new option wins over the older HA value.
    s = await scenario([switchRule('Pump', topic, { enable_delay: 45 })], {}, { dataDir });
    s.clock.advance(1000);
    await s.rec.waitFor('energy2mqtt/rule_pump/enable_delay', (p) => p === '45', 3000);
  } finally {
    await s.stop();
  }
});
