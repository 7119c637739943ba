// The GivEVC end to end: the simulated charger on Modbus TCP -> the adapter -> the add-on's
// Mosquitto, and every control from HA's command topic as the register it must write, read back
// where the charger reports it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder, eventually } from '../../helpers/mqtt-client.js';
import { startApp, type TestApp } from '../../helpers/app.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';
import { GivEvcSimulator, type GivEvcSimulatorOptions } from '../../../src/simulators/givevc.js';
import { GivEvcAdapter, LOCAL_CONTROL_DISABLED } from '../../../src/adapters/givenergy-evc/adapter.js';
import { givenergyEvcOptions } from '../../../src/adapters/givenergy-evc/options.js';
import { wallClock } from '../../../src/adapters/givenergy-evc/registers.js';

/** A serial per test: the broker keeps every test's retained states, which must not answer the next one's waits. */
let serials = 0;
const nextSerial = () => `WF2306G${String(100 + ++serials)}${process.pid % 1000}`;

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

interface Setup {
  sim: GivEvcSimulator;
  t: TestApp;
  rec: Recorder;
  adapter: GivEvcAdapter;
  link: string;
  serial: string;
  dev: string;
  port: number;
  state(key: string, predicate?: (p: string) => boolean, timeoutMs?: number, since?: number): Promise<string>;
  command(key: string, payload: string): Promise<void>;
  /** Writes the simulator took since `from`, as "HR=value". */
  writesSince(from: number): string[];
  stop(): Promise<void>;
}

async function setup(o: { sim?: GivEvcSimulatorOptions; viaOptions?: boolean; timeoutMs?: number; restPort?: number } = {}): Promise<Setup> {
  const serial = nextSerial();
  const DEV = `givenergy_evc_${serial.toLowerCase()}`;
  const sim = new GivEvcSimulator({ rampAPerS: 100, serial, ...o.sim });
  const port = await sim.listen();
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/#', 'homeassistant/#']);
  const entry = { host: '127.0.0.1', port, poll_interval: 1 };
  const t = o.viaOptions
    ? await startApp(broker.port, { givenergy_evc: [entry], ...(o.restPort ? { givenergy_rest: { enabled: true, port: o.restPort, token: REST_TOKEN } } : {}) })
    : await startApp(broker.port, {}, {
        extraAdapters: (contextFor) => {
          const adapter = new GivEvcAdapter(givenergyEvcOptions.parse(entry), contextFor('test evc'));
          adapter.tuning.timeoutMs = o.timeoutMs ?? 400;
          return [adapter];
        },
      });
  const adapter = t.app.adapters.find((a) => a.id === 'givenergy_evc/127.0.0.1') as GivEvcAdapter;
  assert.ok(adapter, 'the adapter runs');
  return {
    sim, t, rec, adapter, serial, dev: DEV, port,
    link: `givenergy_evc_link_127_0_0_1_${port}`,
    state: async (key, predicate, timeoutMs, since) => (await rec.waitFor(`energy2mqtt/${DEV}/${key}`, predicate, timeoutMs, since)).payload,
    command: (key, payload) => rec.publish(`energy2mqtt/${DEV}/${key}/set`, payload),
    writesSince: (from) => sim.writes.slice(from).map((w) => `${w.address}=${w.values.join(',')}${w.exception ? `!${w.exception}` : ''}`),
    stop: async () => {
      await t.stop();
      await rec.close();
      await sim.close();
    },
  };
}

const REST_TOKEN = 'evc-rest-token-1';

const online = (s: Setup) => s.rec.waitFor(`energy2mqtt/${s.dev}/availability`, (p) => p === 'online', 8000);

test('detected from the options by its serial; telemetry reaches MQTT with units HA accepts', async () => {
  const s = await setup({ viaOptions: true });
  try {
    assert.equal((await s.rec.waitFor(`energy2mqtt/${s.link}/serial`, (p) => p === s.serial, 8000)).payload, s.serial);
    await online(s);
    await s.rec.waitFor(`energy2mqtt/${s.link}/connection`, (p) => p === 'OFF');
    assert.equal(await s.state('charging_state'), 'idle');
    assert.equal(await s.state('plug_status'), 'disconnected');
    assert.equal(await s.state('serial'), s.serial);
    assert.equal(await s.state('voltage_l1'), '230');
    assert.equal(await s.state('meter_energy'), '1234.5');
    assert.equal(await s.state('phases'), '3', 'three live phases');
    assert.equal(await s.state('plug_and_go'), 'ON');
    assert.equal(await s.state('charge_limit'), '32');

    s.sim.plugIn();
    assert.equal(await s.state('plug_status', (p) => p === 'connected', 5000), 'connected');
    await s.state('charging_state', (p) => p === 'charging', 5000);
    await s.state('current_l1', (p) => p === '32', 5000);
    assert.equal(await s.state('current_l3', (p) => p === '32'), '32');
    assert.equal(await s.state('active_power', (p) => p === '22080'), '22080', '32 A × 3 × 230 V');
    assert.equal(await s.state('charge_control', (p) => p === 'ON'), 'ON', 'plug and go started the session');
    await s.state('session_duration', (p) => Number(p) >= 1, 5000);
    // 0.1 kWh at 22 kW takes 16 s: the counting itself is tested on a simulated clock (simulator.test.ts).
    s.sim.sessionWh = 1500;
    await s.state('session_energy', (p) => p === '1.5', 5000);

    const discovery = await s.rec.waitFor(`homeassistant/device/${s.dev}/config`, (p) => p.includes('sync_time'));
    const payload = JSON.parse(discovery.payload) as { cmps: Record<string, Record<string, unknown>> };
    assert.deepEqual(deviceDiscoveryProblems(discovery.topic, payload), []);
    const cmp = (key: string) => Object.values(payload.cmps).find((c) => String(c.unique_id).endsWith(`_${key}`))!;
    assert.equal(cmp('meter_energy').state_class, 'total_increasing');
    assert.equal(cmp('meter_energy').unit_of_measurement, 'kWh');
    assert.equal(cmp('charge_limit').p, 'number');
    assert.equal(cmp('charge_limit').min, 6);
    assert.equal(cmp('charge_limit').max, 32);
    assert.equal(cmp('charge_control').p, 'switch');
    assert.equal(cmp('sync_time').p, 'button');
    assert.deepEqual(cmp('charging_state').options, ['unknown', 'idle', 'connected', 'starting', 'charging', 'startup_failure', 'end_of_charging', 'system_failure', 'scheduled', 'updating', 'unstable_cp']);
    const link = await s.rec.waitFor(`homeassistant/device/${s.link}/config`);
    assert.deepEqual(deviceDiscoveryProblems(link.topic, JSON.parse(link.payload)), []);
  } finally {
    await s.stop();
  }
});

test('each control from HA reaches its register, is read back where the charger reports it, and is not written again', async () => {
  const s = await setup({ sim: { carCapacityKwh: 100 } });
  try {
    await online(s);
    await s.state('charge_limit');
    s.sim.plugIn();
    await s.state('charging_state', (p) => p === 'charging', 5000);
    const cases: Array<[key: string, payload: string, written: string, shown: string, check: () => boolean]> = [
      ['charge_limit', '16', '91=160', '16', () => s.sim.limitTenths === 160],
      ['charge_limit', '6.5', '91=65', '6.5', () => s.sim.limitTenths === 65],
      ['charge_control', 'OFF', '95=2', 'OFF', () => s.sim.control === 2],
      ['charge_control', 'ON', '95=1', 'ON', () => s.sim.control === 1],
      ['plug_and_go', 'OFF', '93=1', 'OFF', () => !s.sim.plugAndGoEnabled],
      ['plug_and_go', 'ON', '93=0', 'ON', () => s.sim.plugAndGoEnabled],
    ];
    for (const [key, payload, written, shown, check] of cases) {
      const from = s.sim.writes.length;
      const mark = s.rec.mark();
      await s.command(key, payload);
      await eventually(() => s.sim.writes.length > from, 5000, `${key} ${payload} written`);
      assert.deepEqual(s.writesSince(from), [written], `${key} ${payload}`);
      assert.ok(check(), `${key} ${payload} took effect in the charger`);
      await s.state(key, (p) => p === shown, 5000, mark);
      await s.command(key, payload);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(s.writesSince(from), [written], `${key} ${payload} not written again: the charger holds it`);
    }
    // The car follows the new limit, and stops drawing when stopped.
    await s.state('current_l1', (p) => p === '6.5', 5000);
    const stopAt = s.sim.writes.length;
    const stopMark = s.rec.mark();
    await s.command('charge_control', 'OFF');
    await s.state('charging_state', (p) => p === 'end_of_charging', 5000, stopMark);
    await s.state('active_power', (p) => p === '0', 5000, stopMark);
    assert.deepEqual(s.writesSince(stopAt), ['95=2']);

    // The clock: the fields that differ are written and the charger shows our time.
    const from = s.sim.writes.length;
    await s.command('sync_time', 'PRESS');
    await eventually(() => s.writesSince(from).some((w) => w.startsWith('102=')), 5000, 'the seconds written');
    await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_failed') && p.includes('sync_time'), 500).then(
      (m) => assert.fail(`sync_time failed: ${m.payload}`),
      () => undefined,
    );
    const charger = s.sim.clockFields();
    const ours = wallClock(Date.now());
    const diff = Math.abs(Date.UTC(charger[0]!, charger[1]! - 1, charger[2], charger[3], charger[4], charger[5]) - Date.UTC(ours[0]!, ours[1]! - 1, ours[2], ours[3], ours[4], ours[5]));
    assert.ok(diff <= 2000, `the charger's clock is ours within 2 s (off by ${diff} ms)`);
    assert.ok(s.writesSince(from).every((w) => /^(97|98|99|100|101|102)=\d+$/.test(w)), `only clock registers: ${s.writesSince(from).join(' ')}`);
    assert.deepEqual(s.sim.writes.filter((w) => w.exception), [], 'the charger refused nothing');
    assert.ok(Number((await s.rec.waitFor(`energy2mqtt/${s.link}/writes_today`, (p) => Number(p) >= 9)).payload) >= 9, 'writes counted');
  } finally {
    await s.stop();
  }
});

test('max session energy (the add-on\'s, kept across restarts) stops the charge once the session reaches it', async () => {
  const s = await setup();
  try {
    await online(s);
    s.sim.plugIn();
    await s.state('charging_state', (p) => p === 'charging', 5000);
    const from = s.sim.writes.length;
    await s.command('max_session_energy', '2.5');
    await s.state('max_session_energy', (p) => p === '2.5', 5000);
    assert.deepEqual(s.writesSince(from), [], 'a setting of the add-on: nothing written');
    s.sim.sessionWh = 2600;
    await eventually(() => s.sim.control === 2, 5000, 'the charge stopped');
    assert.deepEqual(s.writesSince(from), ['95=2']);
    await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('evc_session_limit'));
    await s.state('charge_control', (p) => p === 'OFF', 5000);
  } finally {
    await s.stop();
  }
  // Started again with the charger away: the charger device is there at once (from the kept
  // serial), unavailable, with the maximum it had.
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/#']);
  const again = await startApp(broker.port, {}, {
    dataDir: s.t.dataDir,
    extraAdapters: (contextFor) => [new GivEvcAdapter(givenergyEvcOptions.parse({ host: '127.0.0.1', port: s.port, poll_interval: 1 }), contextFor('test evc'))],
  });
  try {
    // Published by this run, not the broker's retained copy of the last one.
    const fresh = (key: string, payload: string) => rec.on(`energy2mqtt/${s.dev}/${key}`).some((m) => !m.retain && m.payload === payload);
    await eventually(() => fresh('max_session_energy', '2.5') && fresh('availability', 'offline'), 5000, 'the kept charger published');
    assert.equal(again.app.bridge.getDevice(s.dev)?.available, false);
  } finally {
    await again.stop();
    await rec.close();
  }
});

test('bad input is refused and nothing is written', async () => {
  const s = await setup({ sim: { evseMaxA: 16 } });
  try {
    await online(s);
    await s.state('charge_limit');
    const from = s.sim.writes.length;
    const bad: Array<[string, string]> = [
      ['charge_limit', '40'], ['charge_limit', '5'], ['charge_limit', 'abc'], ['charge_limit', '16.05'], ['charge_limit', 'NaN'],
      ['charge_control', 'maybe'], ['plug_and_go', '2'], ['sync_time', 'NOW'], ['max_session_energy', '-1'],
    ];
    for (const [key, payload] of bad) {
      const mark = s.rec.mark();
      await s.command(key, payload);
      await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes(`/${key}/set`), 3000, mark);
    }
    // Within 6–32 A but above this charger's own maximum (HR32 = 16).
    let mark = s.rec.mark();
    await s.command('charge_limit', '20');
    const failed = await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('charge_limit'), 3000, mark);
    assert.match(failed.payload, /above this charger's maximum of 16 A/);
    mark = s.rec.mark();
    await s.rec.publish(`energy2mqtt/${s.dev}/charge_control/set`, '');
    await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes('charge_control'), 3000, mark);
    assert.deepEqual(s.writesSince(from), [], 'nothing reached the charger');
  } finally {
    await s.stop();
  }
});

test('local control disabled: the charger answers nothing, and HA is told why and what to switch on', async () => {
  const s = await setup({ sim: { localControl: false } });
  try {
    const error = await s.rec.waitFor(`energy2mqtt/${s.link}/last_error`, (p) => p.includes('Local Control'), 8000);
    assert.equal(error.payload, LOCAL_CONTROL_DISABLED);
    assert.equal((await s.rec.waitFor(`energy2mqtt/${s.link}/connection`)).payload, 'ON');
    assert.ok(s.sim.clientCount >= 1 && s.sim.requests >= 1, 'the connection was accepted and asked');
    assert.equal(s.rec.on(`homeassistant/device/${s.dev}/config`).filter((m) => !m.retain && m.payload !== '').length, 0, 'no silent empty charger device');
    const link = await s.rec.waitFor(`homeassistant/device/${s.link}/config`);
    assert.deepEqual(deviceDiscoveryProblems(link.topic, JSON.parse(link.payload)), []);

    // Switched on in the portal: the charger appears.
    s.sim.localControl = true;
    await online(s);
    await s.rec.waitFor(`energy2mqtt/${s.link}/connection`, (p) => p === 'OFF', 5000);
  } finally {
    await s.stop();
  }
});

test('a dropped connection is reconnected and a charger that stops answering is made unavailable, then back', async () => {
  const s = await setup();
  try {
    await online(s);
    const clients = s.sim.clientCount;
    s.sim.dropConnections();
    s.sim.plugIn();
    await s.state('plug_status', (p) => p === 'connected', 8000);
    assert.ok(s.sim.clientCount > clients, 'a new connection');

    // Answers stop on an open connection (the charger hangs): unavailable, with the reason.
    let mark = s.rec.mark();
    s.sim.localControl = false;
    await s.rec.waitFor(`energy2mqtt/${s.dev}/availability`, (p) => p === 'offline', 8000, mark);
    await s.rec.waitFor(`energy2mqtt/${s.link}/connection`, (p) => p === 'ON', 2000);
    mark = s.rec.mark();
    s.sim.localControl = true;
    await s.rec.waitFor(`energy2mqtt/${s.dev}/availability`, (p) => p === 'online', 8000, mark);

    // A command while the charger is gone is refused, nothing written.
    await s.sim.close();
    await s.rec.waitFor(`energy2mqtt/${s.dev}/availability`, (p) => p === 'offline', 8000, mark);
    const failed = s.rec.mark();
    await s.command('charge_limit', '10');
    assert.match((await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('charge_limit'), 3000, failed)).payload, /not answering/);
  } finally {
    await s.stop();
  }
});

test("GivTCP's EVC control topics run through the same checked path", async () => {
  const s = await setup();
  try {
    await online(s);
    await s.state('charge_limit');
    s.sim.plugIn();
    await s.state('charging_state', (p) => p === 'charging', 5000);
    const root = `GivEnergy/control/${s.serial}`;
    let from = s.sim.writes.length;
    await s.rec.publish(`${root}/setCurrentLimit`, '10');
    await eventually(() => s.sim.writes.length > from, 5000, 'setCurrentLimit written');
    assert.deepEqual(s.writesSince(from), ['91=100']);
    from = s.sim.writes.length;
    await s.rec.publish(`${root}/controlCharge`, 'Stop');
    await eventually(() => s.sim.writes.length > from, 5000, 'controlCharge written');
    assert.deepEqual(s.writesSince(from), ['95=2']);
    await s.rec.publish(`${root}/chargeMode`, 'disable');
    await eventually(() => s.writesSince(from).includes('93=1'), 5000, 'plug and go off');
    await s.rec.publish(`${root}/setMaxSessionEnergy`, '12');
    await s.state('max_session_energy', (p) => p === '12', 5000);
    await s.rec.publish(`${root}/setSystemTime`, 'now');
    await eventually(() => s.writesSince(from).some((w) => w.startsWith('102=')), 5000, 'the clock set');
    // What a REST server routes to the same path: a JSON body with one field.
    from = s.sim.writes.length;
    assert.ok(s.adapter.givTcp?.has('setCurrentLimit') && !s.adapter.givTcp.has('setChargeTarget'));
    assert.deepEqual(await s.adapter.givTcp!.run('setCurrentLimit', { current: 12 }, { source: 'rest', where: 'REST /setCurrentLimit', raw: '{"current":12}' }), { written: 1, skipped: 0 });
    assert.deepEqual(s.writesSince(from), ['91=120']);
    assert.equal(s.adapter.cache().charge_limit, 12);

    from = s.sim.writes.length;
    let mark = s.rec.mark();
    await s.rec.publish(`${root}/setCurrentLimit`, '50');
    await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes('setCurrentLimit'), 3000, mark);
    mark = s.rec.mark();
    await s.rec.publish(`${root}/controlCharge`, '');
    await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes('empty'), 3000, mark);
    mark = s.rec.mark();
    await s.rec.publish(`${root}/controlCharge`, 'Pause');
    await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes('Start or Stop'), 3000, mark);
    mark = s.rec.mark();
    await s.rec.publish(`${root}/setChargingMode`, 'Solar');
    assert.match((await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('setChargingMode'), 3000, mark)).payload, /ev_charge rule/);
    mark = s.rec.mark();
    await s.rec.publish(`${root}/chargeMode`, 'Solar'); // GivTCP's chargeMode is plug and go
    assert.match((await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('chargeMode'), 3000, mark)).payload, /enable or disable/);
    assert.deepEqual(s.writesSince(from), []);
  } finally {
    await s.stop();
  }
});

test("GivTCP's EV charger REST routes: each control as its register, the cache, and what is refused", async () => {
  const restPort = await freePort();
  const s = await setup({ viaOptions: true, restPort });
  const url = `http://127.0.0.1:${restPort}`;
  const auth = { authorization: `Bearer ${REST_TOKEN}` };
  const post = (route: string, body: string, headers: Record<string, string> = { ...auth, 'content-type': 'application/json' }) =>
    fetch(`${url}/${route}`, { method: 'POST', body, headers });
  try {
    await online(s);
    await s.state('charge_limit');
    const cache = await fetch(`${url}/getEVCCache`, { headers: auth });
    assert.equal(cache.status, 200);
    assert.equal(((await cache.json()) as { serial: string }).serial, s.serial);
    let from = s.sim.writes.length;
    // GivTCP's payloads, as its REST.py documents them.
    assert.equal((await post('setCurrentLimit', '{"current":"10"}')).status, 200);
    assert.deepEqual(s.writesSince(from), ['91=100']);
    from = s.sim.writes.length;
    assert.equal((await post('setChargeControl', '{"mode":"Stop"}')).status, 200);
    assert.deepEqual(s.writesSince(from), ['95=2']);
    from = s.sim.writes.length;
    assert.equal((await post('setChargeMode', '"disable"')).status, 200);
    assert.deepEqual(s.writesSince(from), ['93=1']);
    assert.equal((await post(`setMaxSessionEnergy?serial=${s.serial}`, '{"energy":"12.5"}')).status, 200);
    await s.state('max_session_energy', (p) => p === '12.5', 5000);
    // Refused, and nothing written: GivTCP's mode loop (an ev_charge rule here), a bad value, no
    // token, a page's text/plain POST, another charger's serial, the inverter's routes.
    from = s.sim.writes.length;
    const mode = await post('setChargingMode', '{"state":"Solar"}');
    assert.equal(mode.status, 400);
    assert.match(((await mode.json()) as { error: string }).error, /ev_charge rule/);
    assert.equal((await post('setCurrentLimit', '{"current":"50"}')).status, 400);
    assert.equal((await post('setCurrentLimit', '{"current":"10"}', { 'content-type': 'application/json' })).status, 401);
    assert.equal((await post('setCurrentLimit', '{"current":"10"}', { ...auth, 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post('setCurrentLimit?serial=XX0000X000', '{"current":"10"}')).status, 404);
    assert.equal((await fetch(`${url}/getCache`, { headers: auth })).status, 404, 'no inverter here');
    assert.deepEqual(s.writesSince(from), []);
  } finally {
    await s.stop();
  }
});
