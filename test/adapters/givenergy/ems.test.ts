import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sensor } from '../../../src/core/discovery/platforms/sensor.js';
import { EMS_CONTROLS, EMS_PAGES, EMS_ROWS, EMS_UNIT_ROWS, emsTelemetry } from '../../../src/adapters/givenergy/ems.js';
import { detectModel } from '../../../src/adapters/givenergy/model.js';
import { RegisterBank, inverterTelemetry } from '../../../src/adapters/givenergy/registers.js';
import { capturedReads } from '../../helpers/givenergy-captures.js';

const DIR = 'ems_2_inv_3_bat_a';
const EMS_60S = `${DIR}/ems_arm1036_60s.log`;
const EMS_30MIN = `${DIR}/ems_arm1036_30min.log`;
const AC_2X = `${DIR}/ac_arm282_2x_givbat52_30min.log`; // inverter #1, 2× Giv-Bat 5.2
const AC_1X = `${DIR}/ac_arm282_1x_givbat512gen3_30min.log`; // inverter #2, 1× Giv-Bat 5.12 Gen3

/** The responses a device sent for one read, with at least `count` registers from `base`. */
const readsOf = (file: string, device: number, fn: 0x03 | 0x04, base: number, count: number) => capturedReads(file, { device, fn, base, count, atLeast: true });

const bank = (base: number, values: number[]) => {
  const b = new RegisterBank();
  b.set(base, values);
  return b;
};

test('EMS pages: what the peer library polls, and each one is answered in the capture', () => {
  // givenergy-modbus manifest.py: REFRESH_IR_RANGES is_ems = IR(2040, 55); LOAD_CONFIG_RANGES is_ems = HR(2040, 36).
  assert.deepEqual(
    EMS_PAGES.map((p) => [p.device, p.fn, p.base, p.count, p.full]),
    [[0x11, 4, 2040, 55, false], [0x11, 3, 2040, 36, true], [0x11, 3, 0, 60, true]],
  );
  for (const p of EMS_PAGES) readsOf(EMS_30MIN, p.device, p.fn, p.base, p.count);
  // The device the pages go to is an EMS: HR0 0x5001, ARM firmware 1036, serial EMS2522000 (README).
  const m = detectModel(readsOf(EMS_60S, 0x11, 0x03, 0, 60)[0]!.values);
  assert.deepEqual([m.dtc, m.family, m.armFirmware, m.serial], ['5001', 'ems', 1036, 'EMS2522000']);
});

test('EMS 60 s capture: the rollup of two managed inverters and a busbar that balances to the watt', () => {
  const ir = readsOf(EMS_60S, 0x11, 0x04, 2040, 55).at(-1)!;
  const hr = readsOf(EMS_60S, 0x11, 0x03, 2040, 36).at(-1)!;
  const t = emsTelemetry(bank(2040, ir.values), bank(2040, hr.values));

  assert.equal(t.status, 'normal');
  assert.equal(t.fault, false);
  // Peer golden master (test_fixture_golden_master.py::test_ems_plant_classifies_and_decodes_topology):
  // inverter_count == 2, two managed inverters, each with a serial.
  assert.equal(t.inverterCount, 2);
  assert.equal(t.inverters.length, 2);
  assert.deepEqual(t.inverters.map((u) => u.slot), [1, 2]);
  for (const u of t.inverters) assert.match(u.serial, /^CE\d{4}G\d{3}$/, 'AC inverters carry the CE family prefix');
  // The README's active tick (22:05:22): inverter powers 1042 + 1469 = total battery 2511,
  // the grid meter at −1834 (it reads + import), the calculated load 677, no generation.
  assert.equal(ir.at?.slice(11, 19), '22:05:22');
  assert.deepEqual(t.inverters.map((u) => u.power), [1042, 1469]);
  assert.equal(t.batteryPower, 2511);
  assert.equal(t.inverters.reduce((s, u) => s + u.power!, 0), t.batteryPower);
  assert.deepEqual([t.gridPower, t.exportPower, t.importPower], [1834, 1834, 0]);
  assert.deepEqual([t.dischargePower, t.chargePower], [2511, 0]);
  assert.equal(t.loadPower, 677);
  assert.equal(t.pvPower, 0);
  assert.equal(t.pvPower! + t.batteryPower! - t.gridPower!, t.loadPower, 'generation + battery − export = load');
  assert.deepEqual(t.inverters.map((u) => u.soc), [31, 16]);
  assert.deepEqual(t.inverters.map((u) => u.temperature), [50.3, 50.3]);
  assert.deepEqual(t.inverters.map((u) => [u.statusCode, u.status]), [[2, 'online'], [2, 'online']]);
  assert.equal(t.batteryRemainingKwh, 4.105);
  assert.equal(t.otherBatteryPower, 0);
  // Meter slot 1 is the grid meter: its power is IR 2089 itself.
  assert.deepEqual(t.meters.map((m) => [m.slot, m.status]), [[1, 'online'], [3, 'online']]);
  assert.equal(t.meters[0]!.power, -t.gridPower!);

  // Peer _assert_ems_rollup (tests/client/test_mock_plant_integration.py): export_power_limit 9500, plant_enabled.
  assert.equal(t.exportPowerLimit, 9500);
  assert.equal(t.plantEnabled, true);
  assert.deepEqual(t.dischargeSlots[0], { start: '23:30:00', end: '23:59:00', targetSoc: 4 });
  assert.deepEqual(t.chargeSlots.map((s) => s.targetSoc), [100, 100, 100]);
  assert.deepEqual(t.exportSlots[0], { start: '22:05:00', end: '23:30:00', targetSoc: 4 });
});

test('EMS 30 min capture: every page balances, meters and slots as the peer library pins them', () => {
  const pages = readsOf(EMS_30MIN, 0x11, 0x04, 2040, 55);
  assert.ok(pages.length >= 70);
  const hr = new RegisterBank();
  for (const p of pages) {
    const t = emsTelemetry(bank(2040, p.values), hr);
    // load = generation + battery − export, to the watt on every page (the EMS computes IR 2086 so).
    assert.equal(t.pvPower! + t.batteryPower! - t.gridPower!, t.loadPower, `${p.at}: ${t.pvPower} + ${t.batteryPower} − ${t.gridPower}`);
    assert.equal(t.inverters.length, 2);
    for (const u of t.inverters) assert.ok(u.soc! >= 0 && u.soc! <= 100 && u.temperature! > 0 && u.temperature! < 80);
    assert.equal(t.plantEnabled, undefined, 'HR not read: unknown');
  }
  const last = emsTelemetry(bank(2040, pages.at(-1)!.values), bank(2040, readsOf(EMS_30MIN, 0x11, 0x03, 2040, 36).at(-1)!.values));
  // Peer test_ems.py::test_bitfield_decode_matches_fixture: meter 1 ONLINE (−94 W), meter 3 ONLINE (+583 W),
  // meters 2 and 4–8 DISABLED; inverters 1 and 2 code 2, 3 and 4 empty.
  assert.deepEqual(last.meters, [{ slot: 1, status: 'online', power: -94 }, { slot: 3, status: 'online', power: 583 }]);
  assert.deepEqual(last.inverters.map((u) => u.statusCode), [2, 2]);
  // Generation here is meter 3 (583 W): the house runs on it and exports the rest.
  assert.deepEqual([last.pvPower, last.gridPower, last.loadPower, last.batteryPower], [583, 94, 489, 0]);
  assert.equal(last.batteryRemainingKwh, 7.442, 'README: remaining_battery_wh flat at 7442 through the 30 min');
  assert.deepEqual(last.dischargeSlots[0], { start: '19:00:00', end: '23:59:00', targetSoc: 4 });
  assert.equal(last.exportPowerLimit, 9500);
});

test('EMS rollup matches what the managed inverters report on their own dongles', () => {
  // Same plant, same half hour (18:04–18:34): the EMS slot 1 is inverter #1 (2× Giv-Bat 5.2),
  // slot 2 inverter #2 (1× Giv-Bat 5.12 Gen3). Their own IR59 SoC equals the EMS's IR 2058/2059.
  const ems = emsTelemetry(bank(2040, readsOf(EMS_30MIN, 0x11, 0x04, 2040, 55).at(-1)!.values), new RegisterBank());
  const own = (file: string) => {
    const ir = bank(0, readsOf(file, 0x11, 0x04, 0, 60).at(-1)!.values);
    const id = detectModel(readsOf(file, 0x11, 0x03, 0, 60)[0]!.values);
    return { soc: inverterTelemetry(ir).soc, serial: id.serial, battery: id.batterySerial.slice(0, 2) };
  };
  const inv1 = own(AC_2X);
  const inv2 = own(AC_1X);
  assert.deepEqual([inv1.battery, inv2.battery], ['BE', 'AC'], 'Giv-Bat 5.2 and 5.12 Gen3 prefixes (README)');
  assert.deepEqual(ems.inverters.map((u) => u.soc), [inv1.soc, inv2.soc]);
  assert.deepEqual(ems.inverters.map((u) => u.soc), [51, 39]);
  // The redacted serials are identical on both (CE2231G000); the family prefix is what survives.
  assert.deepEqual(ems.inverters.map((u) => u.serial), [inv1.serial, inv2.serial]);
});

test('EMS with nothing read: unknown, never 0; empty slots are skipped', () => {
  const t = emsTelemetry(new RegisterBank(), new RegisterBank());
  assert.deepEqual([t.status, t.gridPower, t.batteryPower, t.loadPower, t.pvPower, t.batteryRemainingKwh, t.plantEnabled], [undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  assert.deepEqual([t.inverters, t.meters], [[], []]);
  // The peer unit vector (test_ems.py::test_per_inverter_data): slot 1 "ABCDEFGHI", 3500 W, 80 %, 35.0 °C; slot 2 −500 W.
  const ir = new RegisterBank();
  ir.set(2040, new Array(55).fill(0));
  ir.set(2044, [2]);
  ir.set(2054, [3500, 65536 - 500]);
  ir.set(2058, [80, 65]);
  ir.set(2062, [350]);
  ir.set(2066, [0x4142, 0x4344, 0x4546, 0x4748, 0x4900]);
  ir.set(2071, [0x2020, 0x2020, 0x2020, 0x2020, 0x2020]); // a slot padded with spaces is empty too
  const v = emsTelemetry(ir, new RegisterBank());
  assert.deepEqual(v.inverters.map((u) => [u.serial, u.power, u.soc, u.temperature, u.status]), [['ABCDEFGHI', 3500, 80, 35, 'absent']]);
  assert.equal(v.gridPower, 0, 'a zero grid reading is 0, not −0');
});

test('EMS rows: valid sensors that read the decoded values', () => {
  for (const rows of [EMS_ROWS, EMS_UNIT_ROWS]) {
    const keys = rows.map((r) => r.spec.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const r of rows) assert.deepEqual(sensor.problems(r.spec), [], r.spec.key);
  }
  const t = emsTelemetry(bank(2040, readsOf(EMS_60S, 0x11, 0x04, 2040, 55).at(-1)!.values), bank(2040, readsOf(EMS_60S, 0x11, 0x03, 2040, 36).at(-1)!.values));
  const plant = Object.fromEntries(EMS_ROWS.map((r) => [r.spec.key, r.read(t)]));
  assert.deepEqual(
    [plant.grid_power, plant.export_power, plant.battery_power, plant.load_power, plant.battery_remaining, plant.inverter_count, plant.export_power_limit, plant.status],
    [1834, 1834, 2511, 677, 4.105, 2, 9500, 'normal'],
  );
  const unit = Object.fromEntries(EMS_UNIT_ROWS.map((r) => [r.spec.key, r.read(t.inverters[1]!)]));
  assert.deepEqual(unit, { power: 1469, soc: 16, temperature: 50.3, status: 'online', serial: 'CE2231G000' });
  const empty = emsTelemetry(new RegisterBank(), new RegisterBank());
  assert.ok(EMS_ROWS.every((r) => r.read(empty) === null), 'nothing read: every plant row unknown');
});

test('EMS controls: exactly the registers the peer library may write (manifest.WRITE_SAFE_EMS)', () => {
  const regs = EMS_CONTROLS.map((c) => c.register);
  assert.deepEqual(regs, [2040, ...Array.from({ length: 28 }, (_, i) => 2044 + i)]);
  assert.equal(EMS_CONTROLS.find((c) => c.register === 2071)!.range, '0–65535 W');
  assert.match(EMS_CONTROLS.find((c) => c.register === 2055)!.meaning, /^Charge slot 1 target SoC$/);
  assert.match(EMS_CONTROLS.find((c) => c.register === 2062)!.meaning, /^Export slot 1 start$/);
  assert.ok(EMS_CONTROLS.filter((c) => /target SoC/.test(c.meaning)).every((c) => c.range === '0–100 %'));
});
