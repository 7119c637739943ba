// surplus_follow: a load set to a level follows the surplus. A recorded day through the replay,
// an MQTT number (with an enable switch) through Mosquitto, an HA number and a light on the fake
// Home Assistant, and the options' one-sentence errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp, tempDir } from '../helpers/app.js';
import { FakeHomeAssistant } from '../helpers/fake-ha.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { parseTrace, replay } from '../../src/automation/replay.js';
import { automationOptions } from '../../src/automation/options.js';
import { parseOptions } from '../../src/options.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('follow');
const DAY = 'test/fixtures/traces/composite_2022-03-18_pv-serf_load-emhass_10s.csv';

/** An EV charger: 6 to 16 A on one phase, told its current on one topic and enabled on another. */
function evRule(extra: Record<string, unknown> = {}) {
  return {
    type: 'surplus_follow', name: 'EV', target: { mqtt: { command_topic: 'ev/current/set' } }, switch_target: { mqtt: { command_topic: 'ev/enable/set' } },
    watts_per_unit: 230, min: 6, max: 16, unit: 'A', target_export_w: 100, deadband_w: 50, rate_limit_w_per_s: 200, interval: 10,
    enable_delay: 60, disable_delay: 180, ...extra,
  };
}

test('a recorded day: the EV takes most of the export, keeps about 100 W of it, and does not flap', async () => {
  const csv = readFileSync(DAY, 'utf8');
  const trace = parseTrace(csv, ['grid_w', 'pv_w', 'load_w']);
  const sources = ['grid_w', 'pv_w', 'load_w'].map((name) => ({ name, mqtt: { topic: name }, stale_after: 600 }));
  const options = automationOptions.parse({ sources, surplus: { grid: 'grid_w' }, rules: [evRule()] });
  const result = await replay(options, trace, log);
  const ev = result.loads.find((l) => l.rule === 'EV')!;

  // What a perfect follower would move: the export above 100 W, from 1380 W (6 A) up to 3680 W (16 A).
  let ideal = 0;
  for (const row of trace) {
    const spare = -row.values.get('grid_w')! - 100;
    if (spare >= 1380) ideal += (Math.min(spare, 3680) * 10) / 3_600_000;
  }
  assert.ok(ideal > 15, `the day has ${ideal.toFixed(1)} kWh to follow`);
  assert.ok(ev.energyKwh > 0.85 * ideal && ev.energyKwh < 1.1 * ideal, `moved ${ev.energyKwh.toFixed(2)} kWh of the ${ideal.toFixed(2)} kWh a perfect follower would`);
  assert.ok(ev.starts >= 1 && ev.starts <= 3, `${ev.starts} starts: the afternoon clouds do not make it flap`);
  assert.ok(ev.changes > 20 && ev.changes < 400, `${ev.changes} level changes: it follows, at most one every 10 s`);
  const on = result.decisions.find((d) => d.state === 'on')!;
  assert.match(on.reason, /^switched on at its minimum 6 A \(1380 W\): \d+ W surplus covered the 1380 W it needs$/);
  assert.ok(result.decisions.some((d) => d.state === 'waiting' && /waiting: \d+ W surplus covers the 1380 W its minimum needs; \d+ s of 60 s/.test(d.reason)));
  // Without feedback the rule sees the recorded export whatever it sets, runs at its maximum, and moves more.
  const naive = await replay(options, trace, log, { feedback: false });
  assert.ok(naive.loads[0]!.energyKwh > ev.energyKwh * 1.1, 'feedback matters');

  // npm run simulate shows the same day with the level changes.
  const dir = tempDir();
  writeFileSync(join(dir, 'options.json'), JSON.stringify({ automation: { sources, surplus: { grid: 'grid_w' }, rules: [evRule()] } }));
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/automation/simulate.ts', '--options', join(dir, 'options.json'), '--trace', DAY, '--quiet'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`EV\\s+${ev.starts}\\s+\\d+ h \\d\\d min\\s+${ev.energyKwh.toFixed(2)} kWh\\s+${ev.changes}`));
});

test('through Mosquitto: an MQTT number and its enable switch, up, down, held at the minimum, off, and fail-safe', async () => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T10:00:00Z'));
  const current = 'follow1/ev/current/set';
  const enable = 'follow1/ev/enable/set';
  const rec = await Recorder.connect(broker.port, ['follow1/#', 'energy2mqtt/rule_ev/#']);
  const automation = {
    sources: [{ name: 'grid', mqtt: { topic: 'follow1/grid' }, stale_after: 3600 }],
    surplus: { grid: 'grid' },
    rules: [evRule({ target: { mqtt: { command_topic: current } }, switch_target: { mqtt: { command_topic: enable } }, enable_delay: 30, disable_delay: 60 })],
  };
  const t = await startApp(broker.port, { automation }, { clock });
  const engine = t.app.engine!;
  const grid = async (watts: number) => {
    await rec.publish('follow1/grid', String(watts), { qos: 0 });
    await eventually(() => engine.sources.get('grid')!.value === watts, 3000, `grid ${watts} W`);
  };
  const advance = async (seconds: number) => {
    for (let i = 0; i < seconds; i++) clock.advance(1000);
    await engine.settled();
  };
  const payloads = (topic: string) => rec.on(topic).map((m) => m.payload);
  const expect = async (topic: string, expected: string[]) => {
    await eventually(() => payloads(topic).length >= expected.length, 3000, `${JSON.stringify(expected)} on ${topic}, got ${JSON.stringify(payloads(topic))}`).catch(() => undefined);
    assert.deepEqual(payloads(topic), expected);
  };
  /** Waits until the rule has given this reason (each tick may replace it with the next one). */
  const reason = async (pattern: RegExp) => {
    const seen = () => rec.on('energy2mqtt/rule_ev/reason').map((m) => m.payload);
    await eventually(() => seen().some((p) => pattern.test(p)), 3000, `reason ${pattern}, got ${JSON.stringify(seen().slice(-3))}`);
  };
  try {
    clock.advance(1000);
    await grid(-3000);
    await advance(10);
    await reason(/^waiting: 3000 W surplus covers the 1380 W its minimum needs; 10 s of 30 s$/);
    await advance(21);
    await expect(current, ['6']);
    await expect(enable, ['ON']);
    assert.ok(rec.on('energy2mqtt/rule_ev/reason').some((m) => /^switched on at its minimum 6 A \(1380 W\): 3000 W surplus covered the 1380 W it needs$/.test(m.payload)));
    await grid(-1620); // it draws 1380 W now
    await advance(10);
    // 1520 W more than the 100 W to keep; the rate limit allows 2000 W in 10 s: 2900 W, 12 A.
    await expect(current, ['6', '12']);
    await reason(/^up to 12 A \(2760 W\) from 6 A: 1620 W exported, keeping 100 W for export$/);
    await grid(-240);
    await advance(10);
    await reason(/^on at 12 A \(2760 W\): 240 W exported; next change/);
    await grid(500); // a cloud: 500 W import at 12 A
    await advance(10);
    await expect(current, ['6', '12', '9']);
    await grid(1500); // a thick one: even 6 A would import
    await advance(1);
    await expect(current, ['6', '12', '9', '6']);
    await reason(/^holding at its minimum 6 A \(1380 W\): importing 1500 W, \d+ W short; 0 s of 60 s$/);
    await advance(60);
    await expect(enable, ['ON', 'OFF']);
    await reason(/^switched off: importing 1500 W at its minimum 6 A \(1380 W\)/);
    assert.equal(rec.last('energy2mqtt/rule_ev/state')?.payload, 'off');

    // Sun again, then a crash: the fail-safe sends off and the minimum in the call itself.
    await grid(-4000);
    await advance(31);
    await expect(enable, ['ON', 'OFF', 'ON']);
    const before = payloads(current).length;
    engine.failSafe();
    await expect(enable, ['ON', 'OFF', 'ON', 'OFF']);
    await eventually(() => payloads(current).length === before + 1, 3000, 'the minimum');
    assert.equal(payloads(current).at(-1), '6');
    await grid(-5000);
    await advance(30);
    assert.deepEqual(payloads(enable), ['ON', 'OFF', 'ON', 'OFF'], 'nothing after the fail-safe');
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('Home Assistant: a number (charge current) and a dimmed heater (light brightness), given back when disabled', async () => {
  const ha = await FakeHomeAssistant.start();
  ha.setState('sensor.grid_power', '0', { unit_of_measurement: 'W' });
  ha.setState('number.wallbox_max_current', '0', { min: 0, max: 32, step: 1 });
  ha.setState('light.heater_dimmer', 'off');
  const clock = new SimulatedClock(Date.parse('2026-06-21T10:00:00Z'));
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/rule_wallbox/#', 'energy2mqtt/rule_heater/#']);
  const automation = {
    home_assistant: { url: ha.url, token: ha.token },
    sources: [{ name: 'grid', ha_entity: 'sensor.grid_power', stale_after: 3600 }],
    surplus: { grid: 'grid' },
    rules: [
      { type: 'surplus_follow', name: 'Wallbox', priority: 1, target: { ha_entity: 'number.wallbox_max_current' }, watts_per_unit: 690, min: 6, max: 16, unit: 'A', enable_delay: 0, disable_delay: 0, interval: 5, rate_limit_w_per_s: 1000 },
      { type: 'surplus_follow', name: 'Heater', priority: 2, target: { ha_entity: 'light.heater_dimmer' }, watts_per_unit: 20, min: 10, max: 100, step: 5, unit: '%', enable_delay: 0, disable_delay: 30, interval: 5, rate_limit_w_per_s: 1000 },
    ],
  };
  const t = await startApp(broker.port, { automation }, { clock });
  const engine = t.app.engine!;
  const grid = async (watts: number) => {
    ha.setState('sensor.grid_power', String(watts));
    await eventually(() => engine.sources.get('grid')!.value === watts, 3000, `grid ${watts} W`);
  };
  const advance = async (seconds: number) => {
    for (let i = 0; i < seconds; i++) clock.advance(1000);
    await engine.settled();
  };
  try {
    await eventually(() => engine.sources.get('grid')!.value === 0, 3000, 'the first grid state');
    // 5000 W export: the wallbox (priority 1) starts at 6 A, 4140 W on three phases; the heater
    // gets what is left (860 W, 100 W kept for export) and starts at its minimum, 10 % = 200 W.
    await grid(-5000);
    await advance(1);
    await eventually(() => ha.state('number.wallbox_max_current') === '6' && ha.state('light.heater_dimmer') === 'on', 3000, 'both on');
    assert.deepEqual(ha.dataCalls, [
      { domain: 'number', service: 'set_value', entity_id: 'number.wallbox_max_current', data: { value: 6 } },
      { domain: 'light', service: 'turn_on', entity_id: 'light.heater_dimmer', data: { brightness_pct: 10 } },
    ]);
    await rec.waitFor('energy2mqtt/rule_heater/reason', (p) => /^switched on at its minimum 10 % \(200 W\): 860 W surplus, after 4140 W kept for higher priorities covered the 200 W it needs$/.test(p), 3000);
    // The meter shows both (660 W exported). The heater held its minimum meanwhile (while the
    // wallbox's 4140 W were still reserved, it looked short); after its 5 s interval it rises by
    // the 560 W beyond the 100 W to keep: 38 %, 35 % in its 5 % steps (700 W).
    await grid(-660);
    await advance(5);
    await eventually(() => ha.dataCalls.length === 3, 3000, 'the heater raised');
    assert.deepEqual(ha.dataCalls[2], { domain: 'light', service: 'turn_on', entity_id: 'light.heater_dimmer', data: { brightness_pct: 35 } });
    await eventually(() => rec.on('energy2mqtt/rule_heater/reason').some((m) => m.payload === 'up to 35 % (700 W) from 10 %: 660 W exported, keeping 100 W for export'), 3000, 'the reason');
    assert.equal(ha.state('number.wallbox_max_current'), '6', 'the wallbox kept its 6 A: 660 W are not a step of 690 W');
    // Disabled from HA: the wallbox is given back as it was (0 A), through number.set_value.
    await rec.publish('energy2mqtt/rule_wallbox/enabled/set', 'OFF');
    await eventually(() => ha.state('number.wallbox_max_current') === '0', 3000, 'the wallbox back at 0');
    await rec.waitFor('energy2mqtt/rule_wallbox/reason', (p) => p.startsWith('disabled'), 3000);
  } finally {
    await t.stop();
    await rec.close();
    await ha.stop();
  }
});

test('bad surplus_follow options stop the start with one sentence naming the option', () => {
  const base = { sources: [{ name: 'grid', mqtt: { topic: 'g' } }], surplus: { grid: 'grid' } };
  const rule = { type: 'surplus_follow', name: 'EV', target: { mqtt: { command_topic: 'ev/set' } }, watts_per_unit: 230, min: 6, max: 16 };
  const fails = (r: Record<string, unknown>, pattern: RegExp) => {
    assert.throws(() => parseOptions({ automation: { ...base, rules: [r] } }), (err: Error) => {
      assert.match(err.message, pattern);
      assert.equal(err.message.split(/\.\s/).length, 1, `one sentence: ${err.message}`);
      return true;
    });
  };
  fails({ ...rule, target: { ha_entity: 'switch.charger' } }, /^Invalid option automation\.rules\.0\.target\.ha_entity: use a number, input_number or light entity id/);
  fails({ ...rule, switch_target: { ha_entity: 'number.charger' } }, /^Invalid option automation\.rules\.0\.switch_target\.ha_entity: use a switch, input_boolean, light or fan entity id/);
  fails({ ...rule, min: 16, max: 6 }, /^Invalid option automation\.rules\.0\.min: must be below max/);
  fails({ ...rule, watts_per_unit: 0 }, /^Invalid option automation\.rules\.0\.watts_per_unit: /);
  fails({ ...rule, max: undefined }, /^Invalid option automation\.rules\.0\.max: /);
  fails({ ...rule, off_level: 8 }, /^Invalid option automation\.rules\.0\.off_level: must not be above min/);
  fails({ ...rule, target: { ha_entity: 'number.x', brightness: 'raw' } }, /^Invalid option automation\.rules\.0\.target\.brightness: applies to a light/);
  fails({ ...rule, target: {} }, /^Invalid option automation\.rules\.0\.target: give exactly one of mqtt\.command_topic, entity or ha_entity/);
  assert.doesNotThrow(() => parseOptions({ automation: { ...base, rules: [{ ...rule, target: { ha_entity: 'input_number.heat_pump_limit' } }] } }));
});
