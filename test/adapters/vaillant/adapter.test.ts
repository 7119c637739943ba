// The Vaillant adapter end to end: simulated myVaillant cloud over HTTP -> adapter -> Mosquitto,
// and every control as the HTTP request it must make.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { S, SYSTEM, vaillantSetup } from '../../helpers/vaillant.js';
import { Recorder, eventually } from '../../helpers/mqtt-client.js';
import { startApp } from '../../helpers/app.js';
import { MyVaillantSimulator } from '../../../src/simulators/myvaillant.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const setup = (lagMs = 0) => vaillantSetup(broker.port, lagMs);

test('the system report becomes entities with the right values, and discovery HA accepts', async () => {
  const s = await setup();
  try {
    const state = async (topic: string) => (await s.rec.waitFor(`energy2mqtt/${topic}`)).payload;
    assert.equal(await state(`${S}/outdoor_temperature`), '8');
    assert.equal(await state(`${S}/water_pressure`), '1.3');
    assert.equal(await state(`${S}/energy_manager_state`), 'HEATING');
    assert.equal(await state(`${S}/flow_temperature`), 'None', 'absent in this report: unknown, not 0');
    assert.equal(await state(`${S}_zone_0/room_temperature`), '23.3');
    assert.equal(await state(`${S}_zone_0/heating_mode`), 'TIME_CONTROLLED');
    assert.equal(await state(`${S}_dhw_255/temperature`), '43');
    assert.equal(await state(`${S}_dhw_255/setpoint`), '48');
    assert.equal(await state(`${S}_dhw_255/boost`), 'OFF');
    for (const id of [S, `${S}_zone_0`, `${S}_dhw_255`]) {
      const m = await s.rec.waitFor(`homeassistant/device/${id}/config`, (p) => p !== '');
      assert.deepEqual(deviceDiscoveryProblems(m.topic, JSON.parse(m.payload)), [], id);
    }
    const all = s.rec.messages.map((m) => m.payload).join('\n') + s.t.logs.join('');
    assert.ok(!all.includes('secret-pw-42'), 'the password is in no message and no log line');
  } finally {
    await s.stop();
  }
});

test('each control makes the right HTTP request', async () => {
  const s = await setup();
  try {
    await s.rec.waitFor(`energy2mqtt/${S}_dhw_255/boost`);
    const cases: Array<[string, string, { method: string; path: string; body?: unknown }]> = [
      [`${S}_dhw_255/boost`, 'ON', { method: 'POST', path: `/systems/${SYSTEM}/tli/domestic-hot-water/255/boost`, body: {} }],
      [`${S}_dhw_255/boost`, 'OFF', { method: 'DELETE', path: `/systems/${SYSTEM}/tli/domestic-hot-water/255/boost` }],
      [`${S}_dhw_255/setpoint`, '52', { method: 'PATCH', path: `/systems/${SYSTEM}/tli/domestic-hot-water/255/temperature`, body: { setpoint: 52 } }],
      [`${S}_zone_0/heating_mode`, 'OFF', { method: 'PATCH', path: `/systems/${SYSTEM}/tli/zones/0/heating-operation-mode`, body: { operationMode: 'OFF' } }],
      [`${S}_zone_0/quick_veto`, 'ON', { method: 'POST', path: `/systems/${SYSTEM}/tli/zones/0/quick-veto`, body: { desiredRoomTemperatureSetpoint: 22, duration: 3 } }],
      [`${S}_zone_0/quick_veto`, 'OFF', { method: 'DELETE', path: `/systems/${SYSTEM}/tli/zones/0/quick-veto` }],
    ];
    for (const [topic, payload, expected] of cases) {
      const before = s.api().length;
      await s.rec.publish(`energy2mqtt/${topic}/set`, payload);
      await eventually(() => s.api().length > before, 3000, `${topic} ${payload}`);
      assert.deepEqual(s.api().at(-1), expected, `${topic} ${payload}`);
    }
    // The veto takes the temperature and duration set in HA.
    await s.rec.publish(`energy2mqtt/${S}_zone_0/quick_veto_setpoint/set`, '23.5');
    await s.rec.publish(`energy2mqtt/${S}_zone_0/quick_veto_duration/set`, '0.5');
    await s.rec.waitFor(`energy2mqtt/${S}_zone_0/quick_veto_duration`, (p) => p === '0.5');
    const before = s.api().length;
    await s.rec.publish(`energy2mqtt/${S}_zone_0/quick_veto/set`, 'ON');
    await eventually(() => s.api().length > before, 3000, 'veto');
    assert.deepEqual(s.api().at(-1)!.body, { desiredRoomTemperatureSetpoint: 23.5, duration: 0.5 });
  } finally {
    await s.stop();
  }
});

test('the zone as a thermostat and the cylinder as a water heater: state, commands, refusals', async () => {
  const s = await setup();
  try {
    // (Earlier tests on this broker left retained states: wait for this run's.)
    const expectState = (topic: string, want: unknown) => s.rec.waitFor(`energy2mqtt/${topic}`, (p) => JSON.stringify(JSON.parse(p)) === JSON.stringify(want));
    await expectState(`${S}_zone_0/climate`, { mode: 'auto', target: 20, current: 23.2875, preset: 'none' });
    await expectState(`${S}_dhw_255/water_heater`, { mode: 'eco', target: 48, current: 43 });
    const config = JSON.parse((await s.rec.waitFor(`homeassistant/device/${S}_zone_0/config`, (p) => p !== '')).payload);
    assert.deepEqual(deviceDiscoveryProblems(`homeassistant/device/${S}_zone_0/config`, config), []);
    assert.equal(config.cmps.climate.temperature_command_topic, `energy2mqtt/${S}_zone_0/climate/set/temperature`);
    assert.deepEqual(config.cmps.climate.preset_modes, ['boost']);
    const cases: Array<[string, string, string[]]> = [
      [`${S}_zone_0/climate/set/temperature`, '21.5', [`POST /systems/${SYSTEM}/tli/zones/0/quick-veto {"desiredRoomTemperatureSetpoint":21.5,"duration":3}`]],
      [`${S}_zone_0/climate/set/preset`, 'none', [`DELETE /systems/${SYSTEM}/tli/zones/0/quick-veto`]],
      [`${S}_zone_0/climate/set/mode`, 'heat', [`PATCH /systems/${SYSTEM}/tli/zones/0/heating-operation-mode {"operationMode":"MANUAL"}`]],
      [`${S}_zone_0/climate/set/temperature`, '19', [`PATCH /systems/${SYSTEM}/tli/zones/0/manual-mode-setpoint {"setpoint":19,"type":"HEATING"}`]],
      [`${S}_dhw_255/water_heater/set/mode`, 'high_demand', [`POST /systems/${SYSTEM}/tli/domestic-hot-water/255/boost`]],
      [`${S}_dhw_255/water_heater/set/temperature`, '52', [`PATCH /systems/${SYSTEM}/tli/domestic-hot-water/255/temperature {"setpoint":52}`]],
      [`${S}_dhw_255/water_heater/set/mode`, 'heat_pump', [`DELETE /systems/${SYSTEM}/tli/domestic-hot-water/255/boost`, `PATCH /systems/${SYSTEM}/tli/domestic-hot-water/255/operation-mode {"operationMode":"MANUAL"}`]],
    ];
    const line = (r: { method: string; path: string; body?: unknown }) => `${r.method} ${r.path}${r.body && Object.keys(r.body as object).length ? ' ' + JSON.stringify(r.body) : ''}`;
    for (const [topic, payload, expected] of cases) {
      const want = expected;
      const before = s.api().filter((r) => r.method !== 'GET').length;
      await s.rec.publish(`energy2mqtt/${topic}`, payload);
      await eventually(() => s.api().filter((r) => r.method !== 'GET').length >= before + want.length, 3000, `${topic} ${payload}`);
      assert.deepEqual(s.api().filter((r) => r.method !== 'GET').slice(before).map(line), want, `${topic} ${payload}`);
    }
    await expectState(`${S}_dhw_255/water_heater`, { mode: 'heat_pump', target: 52, current: 43 });
    for (const [topic, payload, reason] of [
      [`${S}_dhw_255/water_heater/set/mode`, 'turbo', /expected one of: eco, heat_pump, off, high_demand/],
      [`${S}_dhw_255/water_heater/set/temperature`, '99', /expected a temperature from 35 to 70/],
      [`${S}_zone_0/climate/set/preset`, 'away', /expected one of: none, boost/],
    ] as const) {
      const mark = s.rec.mark();
      await s.rec.publish(`energy2mqtt/${topic}`, payload);
      const event = JSON.parse((await s.rec.waitFor('energy2mqtt/bridge/event', () => true, 3000, mark)).payload);
      assert.match(event.reason, reason);
    }
  } finally {
    await s.stop();
  }
});

test("a failed login is shown in the account's API status entity, in the portal's words", async () => {
  const sim = new MyVaillantSimulator({ users: [{ username: 'anna@example.com', password: 'right-password' }], homes: [], systems: {}, altchaCost: 200 });
  await sim.listen();
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/#']);
  const t = await startApp(broker.port, { vaillant: [{ username: 'anna@example.com', password: 'wrong-password', identity_url: sim.identityUrl, api_url: sim.apiUrl }] });
  try {
    await eventually(() => rec.messages.some((m) => m.topic.endsWith('/api_status') && m.payload === 'myVaillant refused the login: Invalid username or password.'), 5000, 'the login error in the entity');
    assert.ok(t.logs.some((l) => l.includes('myVaillant refused the login: Invalid username or password.')));
    assert.ok(!t.logs.join('').includes('wrong-password'));
  } finally {
    await t.stop();
    await rec.close();
    await sim.close();
  }
});
