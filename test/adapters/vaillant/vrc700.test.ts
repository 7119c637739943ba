// Every fixture of the research (TLI and VRC700) read through the simulated cloud to MQTT; every
// control of a VRC700 system as the VRC700 request; a controller that is neither shown as such.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { loadScenario, shortOf, vaillantWith } from '../../helpers/vaillant.js';
import { eventually } from '../../helpers/mqtt-client.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';
import { SimulatedClock } from '../../../src/core/clock.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const VRC = '4d6354e40143a24b8caa0666a79f705b3df9e59e';
const V = shortOf(VRC);

// scenario -> [topic under energy2mqtt/, expected state]
const EXPECTED: Record<string, Array<[string, string]>> = {
  current_power: [[`${shortOf('4f5dff076e0dd0245aa0993a3d6f0e38754dd926')}/outdoor_temperature`, '8'], [`${shortOf('4f5dff076e0dd0245aa0993a3d6f0e38754dd926')}_dhw_255/temperature`, '43'], [`${shortOf('4f5dff076e0dd0245aa0993a3d6f0e38754dd926')}_zone_0/heating_mode`, 'TIME_CONTROLLED']],
  quick_veto_historical: [[`${shortOf('91b3ac21d0e3060c99d117422bede91c3fe1cb51')}_zone_0/quick_veto`, 'ON'], [`${shortOf('91b3ac21d0e3060c99d117422bede91c3fe1cb51')}_zone_0/room_temperature`, '20.4'], [`${shortOf('91b3ac21d0e3060c99d117422bede91c3fe1cb51')}_dhw_255/setpoint`, '49']],
  two_systems: [
    [`${shortOf('e763593de7370e8d6f90fea50daacd9883e2e532')}_zone_2/room_temperature`, 'None'],
    [`${shortOf('e763593de7370e8d6f90fea50daacd9883e2e532')}_dhw_255/setpoint`, '48'],
    [`${shortOf('eed6a6500c47dc8f433846e845bb662e13fe469e')}_dhw_255/temperature`, 'None'],
    [`${shortOf('eed6a6500c47dc8f433846e845bb662e13fe469e')}_dhw_255/setpoint`, '45'],
  ],
  no_system: [[`${shortOf('1835c08766437e41a9c69bdf454e0ec8bfb0e82f')}_zone_1/special_function`, 'HOLIDAY'], [`${shortOf('1835c08766437e41a9c69bdf454e0ec8bfb0e82f')}_zone_0/heating_mode`, 'MANUAL']],
  inactive_zone: [[`${shortOf('3f745bfcd23f0d4f02fd119df1a6facf6944a4e4')}_dhw_255/setpoint`, '53'], [`${shortOf('3f745bfcd23f0d4f02fd119df1a6facf6944a4e4')}/outdoor_temperature`, '13.2']],
  vrc700_flexotherm: [
    [`${V}/outdoor_temperature`, '9.3'],
    [`${V}/flow_temperature`, '26.6'],
    [`${V}_zone_1/heating_mode`, 'AUTO'],
    [`${V}_zone_1/desired_setpoint`, '19'],
    [`${V}_dhw_255/temperature`, '45'],
    [`${V}_dhw_255/setpoint`, '47'],
    [`${V}_dhw_255/mode`, 'AUTO'],
    [`${V}_dhw_255/boost`, 'OFF'],
    [`${V}_dhw_255/water_heater`, '{"mode":"eco","target":47,"current":45}'],
  ],
};

for (const [scenario, expected] of Object.entries(EXPECTED)) {
  test(`fixture ${scenario}: read through the simulator to MQTT`, async () => {
    const s = await vaillantWith(broker.port, loadScenario(scenario));
    try {
      for (const [topic, want] of expected) {
        const m = await s.rec.waitFor(`energy2mqtt/${topic}`, (p) => p === want, 5000).catch(() => undefined);
        assert.equal(m?.payload ?? s.rec.last(`energy2mqtt/${topic}`)?.payload, want, `${scenario}: ${topic}`);
      }
      const devices = () => s.rec.messages.filter((m) => m.topic.startsWith('homeassistant/device/vaillant_') && m.payload !== '');
      for (const [topic] of expected) await s.rec.waitFor(`homeassistant/device/${topic.split('/')[0]}/config`, (p) => p !== '');
      for (const m of devices()) assert.deepEqual(deviceDiscoveryProblems(m.topic, JSON.parse(m.payload)), [], m.topic);
      const reads = s.calls().filter((c) => c.method === 'GET' && /^\/systems\/[^/]+(\/tli)?$/.test(c.path));
      for (const id of Object.keys(loadScenario(scenario).systems)) {
        const vrc700 = scenario === 'vrc700_flexotherm';
        assert.ok(reads.some((c) => (vrc700 ? c.base === 'vrc700' && c.path === `/systems/${id}` : c.base === 'app' && c.path === `/systems/${id}/tli`)), `${scenario}: report of ${id} read where its controller is`);
        assert.equal(s.calls().filter((c) => c.path === `/systems/${id}/meta-info/control-identifier`).length, 1, 'the controller is asked once');
      }
      assert.ok(!s.t.logs.some((l) => / (WARN|ERROR) /.test(l) && /vaillant/i.test(l) && !/Ambisense/.test(l)), s.t.logs.filter((l) => /WARN|ERROR/.test(l)).join(''));
    } finally {
      await s.stop();
    }
  });
}

test('each control of a VRC700 system makes the VRC700 request', async () => {
  const s = await vaillantWith(broker.port, loadScenario('vrc700_flexotherm'));
  try {
    await s.rec.waitFor(`energy2mqtt/${V}_dhw_255/boost`, (p) => p === 'OFF');
    await s.rec.waitFor(`energy2mqtt/${V}_zone_1/heating_mode`, (p) => p === 'AUTO');
    const config = JSON.parse((await s.rec.waitFor(`homeassistant/device/${V}_zone_1/config`, (p) => p !== '')).payload);
    assert.deepEqual(config.cmps.heating_mode.options, ['DAY', 'AUTO', 'SET_BACK', 'OFF']);
    const dhwConfig = JSON.parse((await s.rec.waitFor(`homeassistant/device/${V}_dhw_255/config`, (p) => p !== '')).payload);
    assert.equal(dhwConfig.cmps.setpoint.step, 0.5);
    const sys = `/systems/${VRC}`;
    const cases: Array<[string, string, Array<{ method: string; base: string; path: string; body?: unknown }>]> = [
      [`${V}_dhw_255/boost/set`, 'ON', [{ method: 'POST', base: 'vrc700', path: `${sys}/domestic-hot-water/255/boost`, body: {} }]],
      [`${V}_dhw_255/boost/set`, 'OFF', [{ method: 'DELETE', base: 'vrc700', path: `${sys}/domestic-hot-water/255/boost` }]],
      [`${V}_dhw_255/setpoint/set`, '52.5', [{ method: 'PATCH', base: 'control', path: `${sys}/domestic-hot-water/255/tapping-setpoint`, body: { setpoint: 52.5 } }]],
      [`${V}_dhw_255/water_heater/set/temperature`, '49.5', [{ method: 'PATCH', base: 'control', path: `${sys}/domestic-hot-water/255/tapping-setpoint`, body: { setpoint: 49.5 } }]],
      [`${V}_dhw_255/water_heater/set/mode`, 'heat_pump', [{ method: 'PATCH', base: 'vrc700', path: `${sys}/domestic-hot-water/255/operation-mode`, body: { operationMode: 'DAY' } }]],
      [`${V}_dhw_255/water_heater/set/mode`, 'eco', [{ method: 'PATCH', base: 'vrc700', path: `${sys}/domestic-hot-water/255/operation-mode`, body: { operationMode: 'AUTO' } }]],
      [`${V}_zone_1/heating_mode/set`, 'SET_BACK', [{ method: 'PATCH', base: 'control', path: `${sys}/zones/1/heating-operation-mode`, body: { operationMode: 'SET_BACK' } }]],
      [`${V}_zone_1/climate/set/mode`, 'heat', [{ method: 'PATCH', base: 'control', path: `${sys}/zones/1/heating-operation-mode`, body: { operationMode: 'DAY' } }]],
      [`${V}_zone_1/climate/set/temperature`, '20.5', [{ method: 'PATCH', base: 'vrc700', path: `${sys}/zone/1/heating/comfort-room-temperature`, body: { comfortRoomTemperature: 20.5 } }]],
      [`${V}_zone_1/climate/set/mode`, 'auto', [{ method: 'PATCH', base: 'control', path: `${sys}/zones/1/heating-operation-mode`, body: { operationMode: 'AUTO' } }]],
      [`${V}_zone_1/quick_veto/set`, 'ON', [{ method: 'POST', base: 'vrc700', path: `${sys}/zone/1/heating/quick-veto`, body: { desiredRoomTemperatureSetpoint: 22, duration: 3 } }]],
      [`${V}_zone_1/quick_veto/set`, 'OFF', [{ method: 'DELETE', base: 'vrc700', path: `${sys}/zone/1/heating/quick-veto` }]],
      [`${V}_zone_1/climate/set/temperature`, '21.5', [{ method: 'POST', base: 'vrc700', path: `${sys}/zone/1/heating/quick-veto`, body: { desiredRoomTemperatureSetpoint: 21.5, duration: 3 } }]],
    ];
    const writes = () => s.calls().filter((c) => c.method !== 'GET');
    for (const [topic, payload, expected] of cases) {
      const before = writes().length;
      await s.rec.publish(`energy2mqtt/${topic}`, payload);
      await eventually(() => writes().length >= before + expected.length, 3000, `${topic} ${payload}`);
      assert.deepEqual(writes().slice(before), expected, `${topic} ${payload}`);
    }
    // The simulator accepted each (it answers 400/404 to a wrong path or body): no command failed.
    assert.ok(!s.rec.messages.some((m) => m.topic === 'energy2mqtt/bridge/event' && m.payload.includes('command_failed')), s.rec.messages.filter((m) => m.topic === 'energy2mqtt/bridge/event').map((m) => m.payload).join('\n'));
    assert.ok(!s.calls().some((c) => c.path.includes('/tli')), 'nothing went to a TLI path');
    // And the report follows: the next poll shows the new setpoint.
    await s.adapter.poll();
    assert.equal(s.rec.last(`energy2mqtt/${V}_dhw_255/setpoint`)!.payload, '49.5');
  } finally {
    await s.stop();
  }
});

test('a system whose controller is neither tli nor vrc700 is shown as not supported and not polled', async () => {
  const scenario = loadScenario('current_power');
  const id = Object.keys(scenario.systems)[0]!;
  // The simulator answers its control-identifier with whatever it is given.
  const s = await vaillantWith(broker.port, { ...scenario, controllers: { [id]: 'scf' as 'tli' } });
  try {
    const m = await s.rec.waitFor(`energy2mqtt/${shortOf(id)}/support`);
    assert.match(m.payload, /not supported/);
    assert.match(m.payload, /scf/);
    // (The current_power test left this system's device retained on the broker: wait for this run's.)
    const config = JSON.parse((await s.rec.waitFor(`homeassistant/device/${shortOf(id)}/config`, (p) => p.includes('scf'))).payload);
    assert.match(config.dev.name, /scf/);
    assert.deepEqual(Object.keys(config.cmps), ['support']);
    await s.adapter.poll();
    await s.adapter.poll();
    const perSystem = s.calls().filter((c) => c.path.includes(id));
    assert.deepEqual(perSystem.map((c) => c.path), [`/systems/${id}/meta-info/control-identifier`], 'asked once, then left alone');
    assert.equal(s.t.logs.filter((l) => / (WARN|ERROR) /.test(l)).length, 1, 'one warning, not one per poll');
  } finally {
    await s.stop();
  }
});

test('a control-identifier answer without a usable identifier is unknown, not TLI: nothing polled, asked again later', async () => {
  const scenario = loadScenario('current_power');
  const id = Object.keys(scenario.systems)[0]!;
  const clock = new SimulatedClock(Date.UTC(2026, 10, 23, 9, 30));
  const controllers: Record<string, string> = { [id]: '' };
  const s = await vaillantWith(broker.port, { ...scenario, clock, controllers: controllers as Record<string, 'tli'> }, { clock });
  try {
    const asked = () => s.calls().filter((c) => c.path === `/systems/${id}/meta-info/control-identifier`).length;
    for (let i = 0; i < 4; i++) {
      clock.advance(120_000);
      await s.adapter.poll();
    }
    assert.equal(asked(), 1, 'not asked on every poll');
    assert.ok(!s.calls().some((c) => c.path.includes(`/systems/${id}/tli`) || c.base !== 'app'), 'no report read on a guessed path');
    const system = s.adapter.systems.get(id)!;
    assert.deepEqual([system.controller, system.controls, system.unsupported], [undefined, undefined, undefined]);
    assert.equal(s.t.logs.filter((l) => / WARN .*the controller is unknown/.test(l)).length, 1, 'said once');
    // Ten minutes on, the cloud answers properly: the system is identified and polled.
    controllers[id] = 'tli';
    clock.advance(600_000);
    await s.adapter.poll();
    assert.equal(asked(), 2);
    assert.equal(system.controller, 'tli');
    assert.ok(s.calls().some((c) => c.path === `/systems/${id}/tli`));
  } finally {
    await s.stop();
  }
});
