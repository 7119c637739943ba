// The vaillant_pv rule on a simulated clock, steering the simulated myVaillant cloud through the
// Vaillant adapter's entities: each strategy, the report lag, and a boost the user started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { MyVaillantSimulator } from '../../src/simulators/myvaillant.js';
import type { VaillantAdapter } from '../../src/adapters/vaillant/adapter.js';
import { SimulatedClock } from '../../src/core/clock.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const FIX = 'test/fixtures/vaillant/current_power';
const SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';
let seq = 0;

async function setup(mode: string, opts: { tank?: number; lagMs?: number; userBoost?: boolean; desired?: number } = {}) {
  const report = JSON.parse(readFileSync(`${FIX}/${SYSTEM}/system.json`, 'utf8'));
  if (opts.tank !== undefined) report.state.dhw[0].currentDhwTemperature = opts.tank;
  if (opts.userBoost) report.state.dhw[0].currentSpecialFunction = 'CYLINDER_BOOST';
  if (opts.desired !== undefined) report.state.zones[0].desiredRoomTemperatureSetpoint = opts.desired;
  const sim = new MyVaillantSimulator({ users: [{ username: 'anna@example.com', password: 'pw-secret-1' }], homes: JSON.parse(readFileSync(`${FIX}/homes.json`, 'utf8')), systems: { [SYSTEM]: report }, altchaCost: 200, lagMs: opts.lagMs ?? 0 });
  await sim.listen();
  // Monday 10:00 (the zone's program heats to 22 °C from 04:00 to 22:00).
  const clock = new SimulatedClock(new Date(2026, 10, 23, 10, 0, 0).getTime());
  const gridTopic = `vpv${++seq}/grid`;
  const automation = {
    sources: [{ name: 'grid', mqtt: { topic: gridTopic }, stale_after: 86_400 }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'vaillant_pv', name: 'Heat pump', account: 'anna@example.com', mode, power_w: 2000, enable_delay: 0, disable_delay: 0, min_on: 0, min_off: 0, max_starts_per_hour: 0, target: { mqtt: {} } }],
  };
  const t = await startApp(broker.port, { vaillant: [{ username: 'anna@example.com', password: 'pw-secret-1', identity_url: sim.identityUrl, api_url: sim.apiUrl, request_budget_per_hour: 1000 }], automation }, { clock });
  const adapter = t.app.adapters.find((a) => a.id.startsWith('vaillant/')) as VaillantAdapter;
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/rule_heat_pump/reason']);
  const engine = t.app.engine!;
  const writes = () => sim.requests.filter((r) => r.method !== 'GET' && r.path.includes('/tli/')).map((r) => `${r.method} ${r.path.replace(/^.*\/tli\//, '')}${r.body && Object.keys(r.body as object).length ? ' ' + JSON.stringify(r.body) : ''}`);
  return {
    sim, clock, adapter, rec, writes, report,
    async grid(w: number) {
      await rec.publish(gridTopic, String(w), { qos: 0 });
      await eventually(() => engine.sources.get('grid')!.value === w, 3000, 'grid');
    },
    /** Minutes pass: the report is fetched each minute, the engine ticks each second. */
    async minutes(n: number) {
      for (let m = 0; m < n; m++) {
        for (let s = 0; s < 60; s++) clock.advance(1000);
        await engine.settled();
        await adapter.poll();
        engine.evaluate();
        await engine.settled();
      }
    },
    reason: () => rec.last('energy2mqtt/rule_heat_pump/reason')?.payload ?? '',
    stop: async () => (await t.stop(), await rec.close(), await sim.close()),
  };
}

test('hotwater: boost while the tank is more than 5 °C below its setpoint; cancelled when the surplus goes', async () => {
  const s = await setup('hotwater', { tank: 40 });
  try {
    await s.grid(-3000);
    await s.minutes(1);
    assert.deepEqual(s.writes(), ['POST domestic-hot-water/255/boost']);
    await s.grid(800);
    await s.minutes(1);
    assert.deepEqual(s.writes(), ['POST domestic-hot-water/255/boost', 'DELETE domestic-hot-water/255/boost']);
  } finally {
    await s.stop();
  }
});

test('hotwater: a tank within 5 °C of its setpoint is left alone', async () => {
  const s = await setup('hotwater', { tank: 44 });
  try {
    await s.grid(-3000);
    await s.minutes(2);
    assert.deepEqual(s.writes(), []);
    await eventually(() => /within 5 °C of its 48 °C setpoint: nothing to do/.test(s.reason()), 2000, 'the reason');
  } finally {
    await s.stop();
  }
});

test('heating: a 30 min quick veto at the normal setpoint + 2 °C, ended on time although the portal rounds it up', async () => {
  const s = await setup('heating');
  try {
    await s.grid(-3000);
    await s.minutes(1);
    assert.deepEqual(s.writes(), ['POST zones/0/quick-veto {"desiredRoomTemperatureSetpoint":22,"duration":0.5}']);
    const veto = s.report.state.zones[0];
    assert.equal(new Date(veto.quickVetoEndDateTime).getTime() - new Date(veto.quickVetoStartDateTime).getTime(), 3_600_000, 'the portal made it 1 h');
    await s.minutes(30);
    const w = s.writes();
    assert.equal(w[1], 'DELETE zones/0/quick-veto', 'cancelled after 30 minutes');
    assert.equal(w[2], 'POST zones/0/quick-veto {"desiredRoomTemperatureSetpoint":22,"duration":0.5}', 'and started again while the surplus lasts');
  } finally {
    await s.stop();
  }
});

test('hotwater_then_heating: boost first; when the tank is hot and the boost has ended, a quick veto', async () => {
  const s = await setup('hotwater_then_heating', { tank: 38 });
  try {
    await s.grid(-3000);
    await s.minutes(1);
    assert.deepEqual(s.writes(), ['POST domestic-hot-water/255/boost']);
    // The tank reaches its setpoint and the portal ends the boost by itself.
    s.report.state.dhw[0].currentDhwTemperature = 48;
    s.report.state.dhw[0].currentSpecialFunction = 'REGULAR';
    await s.minutes(11); // past the time a command is trusted over the report
    assert.deepEqual(s.writes(), ['POST domestic-hot-water/255/boost', 'POST zones/0/quick-veto {"desiredRoomTemperatureSetpoint":22,"duration":0.5}']);
  } finally {
    await s.stop();
  }
});

test('a boost the user started by hand is neither duplicated nor cancelled', async () => {
  const s = await setup('hotwater', { tank: 38, userBoost: true });
  try {
    await s.grid(-3000);
    await s.minutes(2);
    await eventually(() => /the user's hot-water boost is running; left alone/.test(s.reason()), 2000, 'the reason');
    await s.grid(800);
    await s.minutes(2);
    assert.deepEqual(s.writes(), [], 'no request at all');
  } finally {
    await s.stop();
  }
});

test('the report lags the command: the boost is trusted, not sent again', async () => {
  const s = await setup('hotwater', { tank: 38, lagMs: 3_600_000 });
  try {
    await s.grid(-3000);
    await s.minutes(8); // the report still says REGULAR all this time
    assert.deepEqual(s.writes(), ['POST domestic-hot-water/255/boost']);
    // The reason arrives over MQTT after the evaluation: wait for it (under load it can lag).
    await eventually(() => /hot-water boost running/.test(s.reason()), 3000, 'the reason');
  } finally {
    await s.stop();
  }
});

test('in an eco period the zone reads 0 °C: the veto starts from the time program instead', async () => {
  const s = await setup('heating', { desired: 0 });
  try {
    await s.grid(-3000);
    await s.minutes(1);
    assert.deepEqual(s.writes(), ['POST zones/0/quick-veto {"desiredRoomTemperatureSetpoint":24,"duration":0.5}']);
  } finally {
    await s.stop();
  }
});

test('a heat-pump report that stops coming puts the rule in its safe state, saying why', async () => {
  const s = await setup('hotwater', { tank: 40 });
  try {
    await s.grid(-3000);
    await s.minutes(1);
    assert.deepEqual(s.writes(), ['POST domestic-hot-water/255/boost']);
    s.sim.exhaustQuota(24 * 3600); // the cloud answers nothing useful from now on
    await s.minutes(14);
    assert.doesNotMatch(s.reason(), /no fresh report/, 'a report 14 min old is still used');
    await s.minutes(2);
    await eventually(() => /no fresh report from the heat pump/.test(s.reason()), 3000, "the rule's reason");
    assert.match(s.reason(), /safe state, no quick mode: no fresh report from the heat pump/);
  } finally {
    await s.stop();
  }
});

/** Two myVaillant accounts, each in its own cloud: anna's with two systems, bob's with one. */
async function twoAccounts(rule: Record<string, unknown>) {
  const TWO = 'test/fixtures/vaillant/two_systems';
  const [A, B] = ['e763593de7370e8d6f90fea50daacd9883e2e532', 'eed6a6500c47dc8f433846e845bb662e13fe469e'];
  const cold = (file: string) => {
    const report = JSON.parse(readFileSync(file, 'utf8'));
    report.state.dhw[0].currentDhwTemperature = 30;
    return report;
  };
  const anna = new MyVaillantSimulator({ users: [{ username: 'anna@example.com', password: 'pw-secret-1' }], homes: JSON.parse(readFileSync(`${TWO}/homes.json`, 'utf8')), systems: { [A]: cold(`${TWO}/${A}/system.json`), [B]: cold(`${TWO}/${B}/system.json`) }, altchaCost: 200 });
  const bob = new MyVaillantSimulator({ users: [{ username: 'bob@example.com', password: 'pw-secret-2' }], homes: JSON.parse(readFileSync(`${FIX}/homes.json`, 'utf8')), systems: { [SYSTEM]: cold(`${FIX}/${SYSTEM}/system.json`) }, altchaCost: 200 });
  await anna.listen();
  await bob.listen();
  const clock = new SimulatedClock(new Date(2026, 10, 23, 10, 0, 0).getTime());
  const gridTopic = `vpv${++seq}/grid`;
  const account = (sim: MyVaillantSimulator, username: string, password: string) => ({ username, password, identity_url: sim.identityUrl, api_url: sim.apiUrl, request_budget_per_hour: 1000 });
  const automation = {
    sources: [{ name: 'grid', mqtt: { topic: gridTopic }, stale_after: 86_400 }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'vaillant_pv', name: 'Heat pump', mode: 'hotwater', power_w: 2000, enable_delay: 0, disable_delay: 0, min_on: 0, min_off: 0, max_starts_per_hour: 0, target: { mqtt: {} }, ...rule }],
  };
  const t = await startApp(broker.port, { vaillant: [account(anna, 'anna@example.com', 'pw-secret-1'), account(bob, 'bob@example.com', 'pw-secret-2')], automation }, { clock });
  const adapters = t.app.adapters.filter((a) => a.id.startsWith('vaillant/')) as VaillantAdapter[];
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/rule_heat_pump/reason']);
  const engine = t.app.engine!;
  const writes = (sim: MyVaillantSimulator) => sim.requests.filter((r) => r.method !== 'GET' && r.path.includes('/systems/')).map((r) => `${r.method} ${r.path.replace(/^.*\/systems\//, '')}`);
  await rec.publish(gridTopic, '-3000', { qos: 0 });
  await eventually(() => engine.sources.get('grid')!.value === -3000, 3000, 'grid');
  for (let m = 0; m < 2; m++) {
    for (let s = 0; s < 60; s++) clock.advance(1000);
    await engine.settled();
    for (const a of adapters) await a.poll();
    engine.evaluate();
    await engine.settled();
  }
  /** Waits for the rule to say this (its reasons arrive over MQTT after the evaluation). */
  const says = async (pattern: RegExp) => {
    const last = () => rec.last('energy2mqtt/rule_heat_pump/reason')?.payload ?? '';
    await eventually(() => pattern.test(last()), 3000, `the reason ${pattern}`).catch((err: Error) => {
      throw new Error(`${err.message}; the rule says: ${last()}`);
    });
  };
  return { anna, bob, writes, says, stop: async () => (await t.stop(), await rec.close(), await anna.close(), await bob.close()) };
}

test('two accounts, two systems: the rule boosts only the system of its own account it names', async () => {
  const s = await twoAccounts({ account: 'anna@example.com', system: 'eed6a650' });
  try {
    await s.says(/^on: hot-water boost/);
    assert.deepEqual(s.writes(s.anna), ['POST eed6a6500c47dc8f433846e845bb662e13fe469e/tli/domestic-hot-water/255/boost']);
    assert.deepEqual(s.writes(s.bob), [], "bob's heat pump is not touched");
  } finally {
    await s.stop();
  }
});

test('a system the account does not have, or none named among several: the rule refuses with one sentence naming the option', async () => {
  let s = await twoAccounts({ account: 'anna@example.com', system: 'abcdef12' });
  try {
    await s.says(/refused to start: the option system \('abcdef12'\) names no system of anna@example\.com; its systems: e763593d, eed6a650/);
    assert.deepEqual([s.writes(s.anna), s.writes(s.bob)], [[], []]);
  } finally {
    await s.stop();
  }
  s = await twoAccounts({ account: 'anna@example.com' });
  try {
    await s.says(/refused to start: anna@example\.com has 2 systems \(e763593d, eed6a650\): set the option system/);
    assert.deepEqual([s.writes(s.anna), s.writes(s.bob)], [[], []]);
  } finally {
    await s.stop();
  }
  s = await twoAccounts({ account: 'bob@example.com', mode: 'heating', zone: 4 });
  try {
    await s.says(/refused to start: the option zone \(4\) names no zone of system 4f5dff07; its zones: 0/);
    assert.deepEqual(s.writes(s.bob), []);
  } finally {
    await s.stop();
  }
});
