// The water heater as a user runs it: the add-on with a real Mosquitto, the grid power published
// on MQTT by a simulated house, and the pins on the pigpiod simulator over TCP (its own socket
// protocol) driving the physics: relay, servo, regulator, tank. What the pins do, and what HA shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder, eventually, sleep } from '../../helpers/mqtt-client.js';
import { startApp, tempDir } from '../../helpers/app.js';
import { spawnAddOn } from '../../helpers/main-process.js';
import { PigpiodSimulator, attachPigpiod } from '../../../src/simulators/pigpiod.js';
import { WaterHeaterPhysics, type HouseDay, type WaterHeaterPhysicsOptions } from '../../../src/simulators/water-heater-physics.js';
import { WaterHeaterAdapter } from '../../../src/adapters/water-heater/adapter.js';
import { FakeHomeAssistant } from '../../helpers/fake-ha.js';

const RELAY = 17;
const SERVO = 21;
const DEVICE = 'water_heater_water_heater';
const T = `energy2mqtt/${DEVICE}`;

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

/** A sunny moment that lasts: 3.2 kW of PV, 400 W of load. */
const steadySun: HouseDay = { durationS: 86_400, pvW: () => 3200, loadW: () => 400, describe: 'steady sun' };

/** The house: physics advanced in real time, the grid power published every second like a meter. */
class House {
  readonly physics: WaterHeaterPhysics;
  private timer?: NodeJS.Timeout;
  private publisher?: NodeJS.Timeout;
  private last = performance.now();

  constructor(
    readonly sim: PigpiodSimulator,
    private readonly rec: Recorder,
    options: Partial<WaterHeaterPhysicsOptions> = {},
  ) {
    this.physics = new WaterHeaterPhysics({ day: steadySun, startS: 12 * 3600, heaterW: 3000, servo: { speedDegPerS: 300 }, ...options });
    attachPigpiod(sim, this.physics, { relayGpio: RELAY, servoGpio: SERVO });
  }

  start(): void {
    this.last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.physics.advance(now - this.last);
      this.last = now;
    }, 50);
    this.publishing(true);
  }

  publishing(on: boolean): void {
    clearInterval(this.publisher);
    if (!on) return;
    this.publisher = setInterval(() => {
      const physics = this.physics;
      const readings: Array<[string, number]> = [['home/grid', physics.gridW], ['home/heater', physics.heaterW]];
      if (Number.isFinite(physics.batterySoc)) readings.push(['home/battery', physics.batteryW], ['home/soc', physics.batterySoc * 100]);
      for (const [topic, value] of readings) void this.rec.publish(topic, String(Math.round(value))).catch(() => undefined);
    }, 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.publisher);
  }
}

const SOURCES = [
  { name: 'grid', mqtt: { topic: 'home/grid', unit: 'W' }, stale_after: 60 },
  { name: 'soc', mqtt: { topic: 'home/soc', unit: '%' }, stale_after: 60 },
  { name: 'battery', mqtt: { topic: 'home/battery', unit: 'W' }, stale_after: 60 },
  { name: 'heater', mqtt: { topic: 'home/heater', unit: 'W' }, stale_after: 60 },
];

function heaterOptions(port: number, extra: Record<string, unknown> = {}) {
  return {
    automation: { sources: SOURCES },
    water_heater: [{
      backend: 'pigpiod', pigpiod: { host: '127.0.0.1', port }, relay: { gpio: RELAY }, servo: { gpio: SERVO, release_after_ms: 0 },
      grid: 'grid', max_power_w: 3000, min_power_w: 300, stale_after: 4, min_on_s: 0, min_off_s: 0, ...extra,
    }],
  };
}

const relayOn = (sim: PigpiodSimulator) => sim.pin(RELAY).driven && sim.pin(RELAY).level === 1;

test('pigpiod backend on the simulated house: safe at start, follows the export, safe on a stale meter, on a pigpiod drop and on stop', { timeout: 120_000 }, async () => {
  // Whatever ran before left the relay on and the servo pulsing.
  const sim = new PigpiodSimulator({ initialPins: { [RELAY]: { mode: 1, level: 1 } } });
  const port = await sim.listen();
  const rec = await Recorder.connect(broker.port, [`${T}/#`]);
  const house = new House(sim, rec);
  assert.ok(house.physics.relayOn, 'the relay starts pulled in');
  const t = await startApp(broker.port, heaterOptions(port));
  try {
    // Safe before anything else: relay off, servo at the regulator's 0.
    await eventually(() => !relayOn(sim) && sim.pin(SERVO).servoUs === 500, 5000, 'relay off and servo at 500 µs');
    const firstRelay = sim.history.find((h) => h.gpio === RELAY);
    assert.deepEqual([firstRelay?.what, firstRelay?.value], ['write', 0], 'the first thing done to the relay is off');
    await rec.waitFor(`${T}/backend_connected`, (p) => p === 'ON');

    // The sun: 2.8 kW of export. The controller switches on and holds about 100 W of export.
    house.start();
    await eventually(() => relayOn(sim), 30_000, 'the relay on');
    const settled: number[] = [];
    await eventually(() => {
      settled.push(-house.physics.gridW);
      return settled.length > 20 && settled.slice(-20).every((w) => Math.abs(w - 100) < 200);
    }, 60_000, 'export held near 100 W');
    const pulse = sim.pin(SERVO).servoUs;
    assert.ok(pulse > 1000 && pulse < 2500, `servo pulse ${pulse} µs: the regulator part way open`);
    assert.ok(house.physics.heaterW > 2000, `heater ${Math.round(house.physics.heaterW)} W`);
    await rec.waitFor(`${T}/state`, (p) => p === 'heating');
    await rec.waitFor(`${T}/heater_power`, (p) => Number(p) > 2000);
    await rec.waitFor(`${T}/energy_total`, (p) => Number(p) > 0, 10_000);

    // pigpiod drops every client (a daemon restart): the add-on reconnects and makes it safe first.
    const mark = sim.history.length;
    sim.dropClients();
    await eventually(() => sim.history.slice(mark).some((h) => h.gpio === RELAY), 10_000, 'a relay command after the reconnect');
    const afterDrop = sim.history.slice(mark).find((h) => h.gpio === RELAY)!;
    assert.deepEqual([afterDrop.what, afterDrop.value], ['write', 0], 'after a reconnect the relay goes off first');
    await eventually(() => relayOn(sim), 30_000, 'heating again');

    // The meter goes quiet: relay off within stale_after (4 s) and the tick.
    house.publishing(false);
    const quiet = Date.now();
    await eventually(() => !relayOn(sim), 10_000, 'relay off on a stale meter');
    assert.ok(Date.now() - quiet < 7000, `off after ${Date.now() - quiet} ms`);
    await rec.waitFor(`${T}/state`, (p) => p === 'stale');
    house.publishing(true);
    await eventually(() => relayOn(sim), 30_000, 'heating again once the meter is back');
  } finally {
    await t.stop();
    house.stop();
  }
  assert.ok(!relayOn(sim), 'relay off after stop');
  assert.equal(sim.pin(SERVO).servoUs, 500, 'servo at its safe end after stop');
  await rec.close();
  await sim.close();
});

test('thermostat cut-out on the simulated house: the tank gets hot, the heater draws nothing, the level does not wind up', { timeout: 90_000 }, async () => {
  const sim = new PigpiodSimulator();
  const port = await sim.listen();
  const rec = await Recorder.connect(broker.port, [`${T}/#`]);
  // A small tank just under its thermostat: it cuts out a few seconds after the heater starts.
  const house = new House(sim, rec, { tank: { litres: 5, startC: 59, thermostatC: 60, hysteresisC: 10, lossW: 0 } });
  const t = await startApp(broker.port, heaterOptions(port, { heater_power: 'heater' }));
  try {
    house.start();
    await eventually(() => relayOn(sim), 30_000, 'the relay on');
    await eventually(() => house.physics.thermostatOpen, 30_000, 'the thermostat open');
    await rec.waitFor(`${T}/state`, (p) => p === 'tank_hot', 40_000);
    // Held, not wound up: the servo stays where it was over the next seconds, short of full.
    const held = sim.pin(SERVO).servoUs;
    await sleep(4000);
    assert.equal(sim.pin(SERVO).servoUs, held, 'the level is held while the tank is hot');
    assert.ok(held < 2500, `servo ${held} µs: not driven to full power by a heater that draws nothing`);
    await rec.waitFor(`${T}/reason`, (p) => /hot|thermostat/i.test(p));
  } finally {
    await t.stop();
    house.stop();
    await rec.close();
    await sim.close();
  }
});

test('zero export on the simulated house: no export is visible, the heater probes up while the battery does not discharge', { timeout: 120_000 }, async () => {
  const sim = new PigpiodSimulator();
  const port = await sim.listen();
  const rec = await Recorder.connect(broker.port, [`${T}/#`]);
  // An ESS with a full battery: PV is throttled to the load, the grid stays at 0.
  const house = new House(sim, rec, { zeroExport: { capacityWh: 5000, soc: 0.99, maxChargeW: 2000, maxDischargeW: 3000 } });
  const t = await startApp(broker.port, heaterOptions(port, { zero_export: true, battery_power: 'battery', battery_soc: 'soc', gates: { min_soc: 90 } }));
  try {
    house.start();
    await eventually(() => relayOn(sim), 40_000, 'the relay on: probing');
    await eventually(() => house.physics.heaterW > 800, 60_000, 'the heater taking power the MPPT held back');
    assert.ok(house.physics.pvW > house.physics.loadW + 500, `PV ${Math.round(house.physics.pvW)} W now above the load: the hidden power is used`);
    assert.ok(house.physics.totals.batteryDischargeWh < 5, `the battery gave ${house.physics.totals.batteryDischargeWh.toFixed(1)} Wh to the heater`);
    await rec.waitFor(`${T}/state`, (p) => p === 'probing' || p === 'heating');
  } finally {
    await t.stop();
    house.stop();
    await rec.close();
    await sim.close();
  }
});

test('modes from HA: off, manual (relay and level), boost at full power; gates stop auto', { timeout: 60_000 }, async () => {
  const sim = new PigpiodSimulator();
  const port = await sim.listen();
  const rec = await Recorder.connect(broker.port, [`${T}/#`]);
  // A window that is closed now (a minute long, 12 hours away) and a SoC gate.
  const later = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);
  const t = await startApp(broker.port, heaterOptions(port, { gates: { from: hhmm(later), to: hhmm(new Date(later.getTime() + 60_000)), min_soc: 90 }, battery_soc: 'soc', timezone: 'UTC' }));
  try {
    await rec.publish('home/grid', '-2500');
    await rec.publish('home/soc', '50');
    await rec.waitFor(`${T}/state`, (p) => p === 'gated');
    await rec.waitFor(`${T}/gate_window`, (p) => p === 'OFF');
    await rec.waitFor(`${T}/gate_soc`, (p) => p === 'OFF');
    await rec.waitFor(`${T}/reason`, (p) => /window|SoC/i.test(p));
    assert.ok(!relayOn(sim), 'gated: relay off');

    await rec.publish(`${T}/regulator_level/set`, '40');
    await rec.publish(`${T}/relay/set`, 'ON');
    await rec.waitFor(`${T}/mode`, (p) => p === 'manual');
    await eventually(() => relayOn(sim) && sim.pin(SERVO).servoUs === 500 + Math.round(0.4 * 2000), 5000, 'manual: relay on, servo at 40 %');

    await rec.publish(`${T}/mode/set`, 'boost');
    await eventually(() => relayOn(sim) && sim.pin(SERVO).servoUs === 2500, 5000, 'boost: full power');
    await rec.waitFor(`${T}/boost_until`, (p) => Date.parse(p) > Date.now() + 50 * 60_000);

    await rec.publish(`${T}/mode/set`, 'off');
    await eventually(() => !relayOn(sim), 5000, 'off: relay off');
    await rec.waitFor(`${T}/state`, (p) => p === 'off');
  } finally {
    await t.stop();
    await rec.close();
    await sim.close();
  }
});

test('mqtt backend: the relay and the regulator as command topics', { timeout: 30_000 }, async () => {
  const rec = await Recorder.connect(broker.port, ['house/heater/#', `${T}/state`]);
  const t = await startApp(broker.port, {
    automation: { sources: SOURCES },
    water_heater: [{ backend: 'mqtt', relay_mqtt: { command_topic: 'house/heater/relay' }, regulator_mqtt: { command_topic: 'house/heater/level' }, regulator_max: 10, grid: 'grid', max_power_w: 2000, min_power_w: 200, min_on_s: 0, min_off_s: 0, stale_after: 5 }],
  });
  try {
    // Safe at start: relay OFF and the regulator at 0.
    await rec.waitFor('house/heater/relay', (p) => p === 'OFF');
    await rec.waitFor('house/heater/level', (p) => p === '0');
    await rec.publish(`${T}/regulator_level/set`, '50');
    await rec.publish(`${T}/relay/set`, 'ON');
    await rec.waitFor('house/heater/level', (p) => p === '5', 5000);
    await rec.waitFor('house/heater/relay', (p) => p === 'ON', 5000);
  } finally {
    await t.stop();
  }
  await rec.waitFor('house/heater/relay', (p) => p === 'OFF', 3000, rec.messages.findLastIndex((m) => m.topic === 'house/heater/relay' && m.payload === 'ON'));
  await rec.close();
});

test('ha backend: a switch and a number in Home Assistant, called through its API', { timeout: 30_000 }, async () => {
  const ha = await FakeHomeAssistant.start();
  ha.setState('switch.heater_supply', 'on');
  ha.setState('number.regulator_0_10v', '7', { min: 0, max: 10 });
  const rec = await Recorder.connect(broker.port, [`${T}/#`]);
  const t = await startApp(broker.port, {
    automation: { home_assistant: { url: ha.url, token: ha.token }, sources: SOURCES },
    water_heater: [{ backend: 'ha', relay_entity: 'switch.heater_supply', regulator_entity: 'number.regulator_0_10v', regulator_max: 10, grid: 'grid', max_power_w: 2000, min_on_s: 0, min_off_s: 0 }],
  });
  try {
    // Off at start, whatever HA had.
    await eventually(() => ha.calls.some((c) => c.entity_id === 'switch.heater_supply' && c.service === 'turn_off'), 5000, 'switch turned off');
    await eventually(() => ha.dataCalls.some((c) => c.entity_id === 'number.regulator_0_10v' && c.data.value === 0), 5000, 'regulator set to 0');
    await rec.publish(`${T}/regulator_level/set`, '30');
    await rec.publish(`${T}/relay/set`, 'ON');
    await eventually(() => ha.dataCalls.some((c) => c.entity_id === 'number.regulator_0_10v' && c.data.value === 3), 5000, 'regulator at 3 of 10');
    await eventually(() => ha.calls.some((c) => c.entity_id === 'switch.heater_supply' && c.service === 'turn_on'), 5000, 'switch on');
  } finally {
    await t.stop();
    await rec.close();
    await ha.stop();
  }
});

test('backend pigpio without the native library: the add-on starts and says why', { timeout: 30_000 }, async () => {
  const rec = await Recorder.connect(broker.port, [`${T}/#`]);
  const t = await startApp(broker.port, {
    automation: { sources: SOURCES },
    water_heater: [{ backend: 'pigpio', relay: { gpio: RELAY }, servo: { gpio: SERVO }, grid: 'grid' }],
  });
  try {
    await rec.waitFor(`${T}/backend_problem`, (p) => /Raspberry Pi 1 to 4 \(not a Pi 5\).*use backend pigpiod/.test(p));
    await rec.waitFor(`${T}/backend_connected`, (p) => p === 'OFF');
    assert.ok(t.app.adapters.some((a) => a instanceof WaterHeaterAdapter));
  } finally {
    await t.stop();
    await rec.close();
  }
});

test('a crash or a signal while heating: the relay is off at pigpiod', { timeout: 90_000 }, async () => {
  const sim = new PigpiodSimulator();
  const port = await sim.listen();
  const meter = await Recorder.connect(broker.port);
  const dir = tempDir();
  const options = join(dir, 'options.json');
  writeFileSync(options, JSON.stringify({ mqtt: { host: '127.0.0.1', port: broker.port }, ...heaterOptions(port) }));
  const sunny = setInterval(() => void meter.publish('home/grid', '-3000').catch(() => undefined), 200);
  try {
    for (const [kind, signal] of [['exception', 'SIGUSR2'], ['rejection', 'SIGUSR2'], ['exception', 'SIGTERM']] as const) {
      const { child, output, exited } = spawnAddOn(options, join(dir, 'data'), kind);
      await eventually(() => relayOn(sim), 30_000, `${kind}: the relay on`).catch((error: Error) => assert.fail(`${error.message}\n${output()}`));
      await sleep(Math.random() * 500);
      child.kill(signal);
      await exited;
      await eventually(() => !relayOn(sim), 3000, `${kind} via ${signal}: relay off`).catch((error: Error) => assert.fail(`${error.message}\n${output()}`));
    }
  } finally {
    clearInterval(sunny);
    await meter.close();
    await sim.close();
  }
});
