// The GivEnergy adapter end to end: simulated dongle on TCP -> adapter -> Mosquitto, and every
// control through HA, GivTCP's MQTT topics and its REST API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder, eventually, sleep } from '../../helpers/mqtt-client.js';
import { tempDir } from '../../helpers/app.js';
import { AUTH, DEV, SERIAL, startGivEnergy } from '../../helpers/givenergy.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const setup = (opts: { arm?: number; dataDir?: string } = {}) => startGivEnergy(broker, opts);

test('simulator registers reach MQTT with the right values, units and discovery', async () => {
  const rec = await Recorder.connect(broker.port, [`homeassistant/device/${DEV}/config`, `homeassistant/device/${DEV}_battery_1/config`, `energy2mqtt/${DEV}/#`, `energy2mqtt/${DEV}_battery_1/#`]);
  const s = await setup();
  try {
    const config = JSON.parse((await rec.waitFor(`homeassistant/device/${DEV}/config`, (p) => p !== '')).payload);
    assert.deepEqual(deviceDiscoveryProblems(`homeassistant/device/${DEV}/config`, config), []);
    assert.equal(config.dev.serial_number, SERIAL);
    assert.equal(config.dev.model, 'Gen3 Hybrid');
    const c = config.cmps;
    assert.deepEqual([c.pv_power.unit_of_measurement, c.pv_power.device_class, c.pv_power.state_class], ['W', 'power', 'measurement']);
    for (const key of ['pv_energy_today', 'import_energy_today', 'export_energy_today', 'charge_energy_today', 'discharge_energy_today', 'load_energy_today', 'pv_energy_total', 'import_energy_total', 'export_energy_total']) {
      assert.deepEqual([c[key].unit_of_measurement, c[key].device_class, c[key].state_class], ['kWh', 'energy', 'total_increasing'], key);
    }
    // Every option the battery-mode select offers can be chosen; the rate sliders move in the register's steps.
    assert.deepEqual(c.battery_mode.options, ['Eco', 'Eco (Paused)', 'Timed Demand', 'Timed Export', 'Export (Paused)']);
    assert.deepEqual([c.charge_rate.step, c.discharge_rate.step, c.charge_rate.max], [81.9, 81.9, 3600], '1 % of the 8.19 kWh pack');
    const battery = JSON.parse((await rec.waitFor(`homeassistant/device/${DEV}_battery_1/config`, (p) => p !== '')).payload);
    assert.deepEqual(deviceDiscoveryProblems(`homeassistant/device/${DEV}_battery_1/config`, battery), []);
    const state = async (key: string, device = DEV) => (await rec.waitFor(`energy2mqtt/${device}/${key}`)).payload;
    assert.equal(await state('pv_power'), '128');
    assert.equal(await state('grid_power'), '-139');
    assert.equal(await state('import_power'), '139');
    assert.equal(await state('soc'), '17');
    assert.equal(await state('grid_voltage'), '239.5');
    assert.equal(await state('battery_mode'), 'Eco');
    assert.equal(await state('charge_slot_1_start'), '00:30:00');
    assert.equal(await state('soc', `${DEV}_battery_1`), '17');
    // Battery and load totals are summed from the daily counters, across days and restarts.
    assert.equal(await state('charge_energy_total'), '8.4');
    s.sim.ir[36] = 86; // 8.6 kWh charged today (a jump to 13 kWh within seconds would be refused as a spike)
    await s.adapter.poll(false);
    await rec.waitFor(`energy2mqtt/${DEV}/charge_energy_total`, (p) => p === '8.6');
    s.sim.hr.splice(35, 3, 23, 4, 29); // the inverter's clock: the next day
    s.sim.ir[36] = 2; // and its daily counter restarted
    await s.adapter.poll(false);
    await rec.waitFor(`energy2mqtt/${DEV}/charge_energy_total`, (p) => p === '8.8');
    assert.equal(rec.last(`energy2mqtt/${DEV}/charge_energy_today`)!.payload, '0.2');
    // A register change on the device shows up after the next poll.
    s.sim.ir[18] = 2500;
    s.sim.ir[20] = 1500;
    const mark = rec.mark();
    await s.adapter.poll(false);
    await rec.waitFor(`energy2mqtt/${DEV}/pv_power`, (p) => p === '4000', 3000, mark);
  } finally {
    await s.stop();
    await rec.close();
  }
});

interface Case {
  command: string;
  mqtt: string;
  rest: unknown;
  ha?: [entity: string, payload: string];
  /** Registers set before, so that the command has something to change. */
  before: Record<number, number>;
  writes: Array<[number, number]>;
}

const CASES: Case[] = [
  { command: 'enableChargeTarget', mqtt: 'disable', rest: { state: 'disable' }, ha: ['charge_target_enabled', 'OFF'], before: { 20: 1, 116: 80 }, writes: [[20, 0], [116, 100]] },
  { command: 'enableChargeSchedule', mqtt: 'disable', rest: { state: 'disable' }, ha: ['charge_schedule', 'OFF'], before: { 96: 1 }, writes: [[96, 0]] },
  { command: 'enableDischargeSchedule', mqtt: 'enable', rest: { state: 'enable' }, ha: ['discharge_schedule', 'ON'], before: { 59: 0 }, writes: [[59, 1]] },
  { command: 'enableDischarge', mqtt: 'disable', rest: { state: 'disable' }, ha: ['discharge_enabled', 'OFF'], before: { 110: 20 }, writes: [[110, 100]] },
  { command: 'setChargeRate', mqtt: '1000', rest: { chargeRate: '1000' }, ha: ['charge_rate', '1000'], before: { 111: 50, 313: 100 }, writes: [[111, 12], [313, 28]] },
  { command: 'setDischargeRate', mqtt: '2000', rest: { dischargeRate: '2000' }, ha: ['discharge_rate', '2000'], before: { 112: 50, 314: 100 }, writes: [[112, 24], [314, 56]] },
  { command: 'setChargeTarget', mqtt: '80', rest: { chargeToPercent: '80' }, ha: ['target_soc', '80'], before: { 116: 100 }, writes: [[116, 80]] },
  { command: 'setBatteryReserve', mqtt: '20', rest: { reservePercent: '20' }, ha: ['battery_reserve', '20'], before: { 110: 4 }, writes: [[110, 20]] },
  { command: 'setChargeSlot1', mqtt: '{"start":"01:00","finish":"04:00","chargeToPercent":"55"}', rest: { start: '01:00', finish: '04:00', chargeToPercent: '55' }, before: { 94: 30, 95: 430, 116: 100 }, writes: [[94, 100], [95, 400], [116, 55]] },
  { command: 'setDischargeSlot1', mqtt: '{"start":"16:00","finish":"19:00"}', rest: { start: '16:00', finish: '19:00' }, before: { 56: 0, 57: 0 }, writes: [[56, 1600], [57, 1900]] },
  { command: 'setDischargeSlot2', mqtt: '{"start":"20:30","finish":"22:00"}', rest: { start: '20:30', finish: '22:00' }, before: { 44: 0, 45: 0 }, writes: [[44, 2030], [45, 2200]] },
  { command: 'setChargeStart1', mqtt: '02:15', rest: { start: '02:15' }, ha: ['charge_slot_1_start', '02:15'], before: { 94: 30 }, writes: [[94, 215]] },
  { command: 'setDischargeEnd2', mqtt: '23:45', rest: { finish: '23:45' }, ha: ['discharge_slot_2_end', '23:45:00'], before: { 45: 0 }, writes: [[45, 2345]] },
  { command: 'setBatteryMode', mqtt: 'Timed Export', rest: { mode: 'Timed Export' }, ha: ['battery_mode', 'Timed Export'], before: { 27: 1, 59: 0, 110: 4 }, writes: [[27, 0], [59, 1]] },
  { command: 'setBatteryMode', mqtt: 'Eco (Paused)', rest: { mode: 'Eco (Paused)' }, ha: ['battery_mode', 'Eco (Paused)'], before: { 27: 0, 59: 1, 110: 4 }, writes: [[27, 1], [59, 0], [110, 100]] },
  { command: 'setBatteryMode', mqtt: 'Eco', rest: { mode: 'Eco' }, ha: ['battery_mode', 'Eco'], before: { 27: 0, 59: 1, 110: 100 }, writes: [[27, 1], [59, 0], [110, 4]] },
  { command: 'setBatteryMode', mqtt: 'Export (Paused)', rest: { mode: 'Export (Paused)' }, ha: ['battery_mode', 'Export (Paused)'], before: { 27: 1, 59: 1, 110: 4 }, writes: [[27, 0], [59, 0]] },
  { command: 'setBatteryPauseMode', mqtt: 'PauseCharge', rest: { mode: 'PauseCharge' }, ha: ['pause_mode', 'PauseCharge'], before: { 318: 0 }, writes: [[318, 1]] },
  { command: 'setEcoMode', mqtt: 'disable', rest: { state: 'disable' }, ha: ['eco_mode', 'OFF'], before: { 27: 1 }, writes: [[27, 0]] },
  { command: 'setDateTime', mqtt: '21/11/2026 10:30:05', rest: { dateTime: '21/11/2026 10:30:05' }, ha: ['date_time', '21/11/2026 10:30:05'], before: { 35: 23, 36: 4, 37: 28, 38: 12, 39: 15, 40: 36 }, writes: [[35, 26], [36, 11], [37, 21], [38, 10], [39, 30], [40, 5]] },
];

test('every control, through HA, GivTCP MQTT topics and REST, writes the right registers, and nothing when already set', async () => {
  const s = await setup();
  const pub = await Recorder.connect(broker.port);
  try {
    for (const c of CASES) {
      const ways: Array<[string, () => Promise<unknown>]> = [
        ['mqtt', () => pub.publish(`GivEnergy/control/${SERIAL}/${c.command}`, c.mqtt)],
        ['rest', () => s.post(c.command, c.rest)],
      ];
      if (c.ha) ways.push(['ha', () => pub.publish(`energy2mqtt/${DEV}/${c.ha![0]}/set`, c.ha![1])]);
      for (const [way, send] of ways) {
        for (const [r, v] of Object.entries(c.before)) s.sim.hr[Number(r)] = v;
        await s.adapter.poll(true);
        const start = s.sim.writes.length;
        await send();
        const label = `${c.command} via ${way}`;
        await eventually(() => s.sim.writes.length >= start + c.writes.length, 3000, label);
        await sleep(20);
        assert.deepEqual(s.sim.writes.slice(start).map((w) => [w.register, w.value]), c.writes, label);
        // Again: the inverter already holds these values, so nothing is written.
        await send();
        await sleep(60);
        assert.equal(s.sim.writes.length, start + c.writes.length, `${label}, repeated: no write`);
      }
    }
    assert.equal(s.adapter.writeCount, s.sim.writes.length, 'every write counted');
  } finally {
    await pub.close();
    await s.stop();
  }
});

test('clock sync writes the current time; REST reads return the cache', async () => {
  const s = await setup();
  try {
    const before = s.sim.writes.length;
    const res = await s.post('syncDateTime', {});
    assert.equal(res.status, 200);
    const now = new Date();
    const written = s.sim.writes.slice(before).map((w) => [w.register, w.value]);
    assert.deepEqual(written.slice(0, 3), [[35, now.getFullYear() - 2000], [36, now.getMonth() + 1], [37, now.getDate()]]);
    for (const route of ['getCache', 'readData', 'getData', 'runAll']) {
      const data = (await (await fetch(`${s.restUrl}/${route}`, { headers: AUTH })).json()) as any;
      assert.equal(data.Invertor_Details.Invertor_Serial_Number, SERIAL, route);
      assert.equal(data.Power.Power.PV_Power, 128, route);
      assert.equal(data.Control.Mode, 'Eco', route);
    }
  } finally {
    await s.stop();
  }
});

test('refused commands say why and write nothing', async () => {
  const s = await setup();
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event']);
  try {
    const before = s.sim.writes.length;
    const post = s.post;
    assert.equal((await post('setChargeTarget', { chargeToPercent: '50' }, {})).status, 401, 'the token is required');
    const low = await post('setBatteryReserve', { reservePercent: '2' });
    assert.equal(low.status, 400);
    assert.match(((await low.json()) as { error: string }).error, /must be at least 4 %/);
    const rate = await post('setChargeRate', { chargeRate: '9000' });
    assert.match(((await rate.json()) as { error: string }).error, /charge rate must be 0 to 3600 W/);
    const slot = await post('setChargeSlot1', { start: '25:00', finish: '04:00' });
    assert.match(((await slot.json()) as { error: string }).error, /'25:00' is not a time/);
    assert.equal((await post('reboot', {})).status, 404);
    const gen = await post('setBatteryMode', { mode: 'Turbo' });
    assert.match(((await gen.json()) as { error: string }).error, /expected one of Eco, Eco \(Paused\), Timed Demand, Timed Export/);
    await rec.publish(`GivEnergy/control/${SERIAL}/setChargeTarget`, 'lots');
    const event = JSON.parse((await rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('setChargeTarget'))).payload);
    assert.match(event.reason, /expected a number/);
    assert.equal(s.sim.writes.length, before, 'nothing was written');
    // The inverter answers but does not keep the value: the read-back catches it.
    s.sim.ignoreWrites.add(116);
    const unconfirmed = await post('setChargeTarget', { chargeToPercent: '50' });
    assert.match(((await unconfirmed.json()) as { error: string }).error, /did not confirm register 116: wrote 50, it reports 100/);
  } finally {
    await rec.close();
    await s.stop();
  }
});

test('pause mode is refused on a Gen1 inverter, and the write counter survives a restart', async () => {
  const dataDir = tempDir();
  let s = await setup({ arm: 449, dataDir });
  try {
    await assert.rejects(s.adapter.execute('setBatteryPauseMode', 'PauseBoth'), /not available on Gen1/);
    s.sim.hr[116] = 100;
    await s.adapter.poll(true);
    await s.adapter.execute('setChargeTarget', '70');
    assert.equal(s.adapter.writeCount, 1);
    await s.stop();
    s = await setup({ arm: 449, dataDir });
    assert.equal(s.adapter.writeCount, 1, 'kept in the data directory');
  } finally {
    await s.stop();
  }
});
