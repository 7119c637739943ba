import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sensor } from '../../../src/core/discovery/platforms/sensor.js';
import { GATEWAY_CONTROLS, GATEWAY_PAGES, GATEWAY_ROWS, GATEWAY_UNIT_ROWS, gatewayTelemetry } from '../../../src/adapters/givenergy/gateway.js';
import { detectModel } from '../../../src/adapters/givenergy/model.js';
import { RegisterBank } from '../../../src/adapters/givenergy/registers.js';
import { capturedReads, capturedResponses } from '../../helpers/givenergy-captures.js';

const DAY = 'gateway_2aio_a/gateway_gaaa0014_10min_daylight.log';
const NIGHT = 'gateway_2aio_a/gateway_gaaa0014_10min_night.log';
const ROLLUP = [1600, 1660, 1720, 1780, 1840];

/** The responses a device sent for one read, with at least `count` registers from `base`. */
const readsOf = (file: string, device: number, fn: 0x03 | 0x04, base: number, count: number) => capturedReads(file, { device, fn, base, count, atLeast: true });

/** The rollup as the peer library's register cache ends up holding it: every page, later ones over earlier. */
function rollup(file: string): RegisterBank {
  const ir = new RegisterBank();
  for (const p of capturedResponses(file)) if (p.device === 0x11 && p.fn === 0x04 && ROLLUP.includes(p.base)) ir.set(p.base, p.values);
  return ir;
}

test('Gateway pages: what the peer library polls, and each one is answered in the capture', () => {
  // givenergy-modbus manifest.py: REFRESH_IR_RANGES is_gateway = IR 1600..1859 in pages of 60;
  // client._refresh_banks adds IR 0 and 180 on every model but the EMS.
  assert.deepEqual(
    GATEWAY_PAGES.map((p) => [p.fn, p.base, p.count, p.full]),
    [[4, 0, 60, false], [4, 180, 60, false], [4, 1600, 60, false], [4, 1660, 60, false], [4, 1720, 60, false], [4, 1780, 60, false], [4, 1840, 20, false], [3, 0, 60, true]],
  );
  for (const p of GATEWAY_PAGES) readsOf(NIGHT, p.device, p.fn, p.base, p.count);
  const m = detectModel(readsOf(NIGHT, 0x11, 0x03, 0, 60)[0]!.values);
  assert.deepEqual([m.dtc, m.family, m.serial.slice(0, 2)], ['7001', 'gateway', 'GW']);
});

test('Gateway daylight capture: the values the peer golden master pins', () => {
  // test_fixture_golden_master.py::test_gateway_classifies_and_decodes_v1_totals (same capture).
  const t = gatewayTelemetry(rollup(DAY));
  assert.equal(t.firmware, 'GAAA0014');
  assert.equal(t.aioCount, 2);
  assert.equal(t.aioOnline, 2);
  assert.equal(t.importTotal, 12710.8);
  assert.equal(t.pvTotal, 5087.0);
  assert.equal(t.chargeTotal, 8855.9);
  assert.equal(t.aios.length, 2);
  assert.deepEqual(t.aios.map((a) => a.serial), ['CH2414G000', 'CH2542G000']);
  assert.equal(t.firstAioSerial, 'CH2414G000');
  assert.ok(Math.abs(t.aios[0]!.chargeToday! + t.aios[1]!.chargeToday! - t.chargeToday!) < 1e-9, 'per-AIO charge today sums to the battery total');
  // Daylight, near-full batteries absorbing PV surplus: charging, negative.
  assert.ok(t.batteryPower! < 0 && t.aioPower! < 0);
  // (IR 1702 and IR 1816/1817 sit in different pages, read at different instants: no sum check here.)
  assert.ok(t.aios.every((a) => a.power! < 0));
  assert.ok(t.pvPower! > 1000, 'README: p_pv ≈ 2 kW');
  for (const a of t.aios) assert.ok(a.soc! >= 0 && a.soc! <= 100);
  assert.equal(t.fault, false);
  assert.equal(t.workMode, 2);
});

test('Gateway night capture: dark PV, batteries carrying the house', () => {
  // test_fixture_golden_master.py::test_gateway_night_capture_classifies_and_selects_v1.
  const t = gatewayTelemetry(rollup(NIGHT));
  assert.equal(t.firmware, 'GAAA0014');
  assert.equal(t.aioCount, 2);
  assert.equal(t.pvPower, 0);
  assert.ok(t.chargeTotal! > 8000 && t.chargeTotal! < 9000, 'V1 word order (V2 would inflate to ~1.5e8)');
  assert.ok(t.batteryPower! > 0 && t.aioPower! > 0);
  assert.ok(t.aios.every((a) => a.power! > 0));
  assert.equal(t.aios[0]!.power! + t.aios[1]!.power!, t.aioPower);
  assert.deepEqual(t.aios.map((a) => a.serial), ['CH2414G000', 'CH2542G000']);
});

test('Gateway first night page, decoded register by register', () => {
  const ir = new RegisterBank();
  for (const base of ROLLUP) ir.set(base, readsOf(NIGHT, 0x11, 0x04, base, 20)[0]!.values);
  const t = gatewayTelemetry(ir);
  assert.deepEqual([t.pvPower, t.gridPower, t.exportPower, t.importPower, t.batteryPower, t.dischargePower, t.loadPower, t.aioPower], [0, 7, 7, 0, 747, 747, 740, 784]);
  assert.deepEqual([t.gridVoltage, t.gridCurrent, t.loadVoltage, t.loadCurrent], [243.7, 2.7, 244.3, 4.7]);
  assert.deepEqual([t.importToday, t.pvToday, t.exportToday, t.aioChargeToday, t.aioDischargeToday, t.loadToday], [27.6, 17.8, 17.6, 24.9, 15.6, 18.5]);
  assert.deepEqual([t.importTotal, t.pvTotal, t.exportTotal, t.loadTotal], [12682.7, 5083.9, 2191.8, 11997.9]);
  assert.deepEqual([t.chargeToday, t.dischargeToday], [20.3, 18.2]);
  assert.deepEqual(
    t.aios.map((a) => [a.slot, a.soc, a.power, a.chargeToday, a.dischargeToday, a.chargeTotal, a.dischargeTotal]),
    [[1, 44, 381, 10.1, 9.3, 7862.6, 7987], [2, 46, 403, 10.2, 8.9, 975.3, 1009]],
  );
  assert.deepEqual([t.batteryFirmware, t.aioState, t.faultCode], [620, 0, 0]);
});

test('Gateway power balance closes on every rollup page of both captures', () => {
  for (const file of [DAY, NIGHT]) {
    const pages = readsOf(file, 0x11, 0x04, 1600, 60);
    assert.ok(pages.length >= 20);
    for (const p of pages) {
      const ir = new RegisterBank();
      ir.set(1600, p.values);
      const g = gatewayTelemetry(ir);
      // PV + battery (AIO port, + discharge) − grid (+ export) = load, to the watt on all 52 pages.
      assert.equal(g.pvPower! + g.batteryPower! - g.gridPower!, g.loadPower, `${file} ${p.at}: ${g.pvPower} + ${g.batteryPower} − ${g.gridPower}`);
    }
  }
});

test('Gateway energy counters: the day balances, and conversion losses point the right way', () => {
  for (const file of [DAY, NIGHT]) {
    const t = gatewayTelemetry(rollup(file));
    // manifest.py: pv + import − export + AIO discharge − AIO charge closes within ~0.1 kWh of e_load_today.
    const load = t.pvToday! + t.importToday! - t.exportToday! + t.aioDischargeToday! - t.aioChargeToday!;
    assert.ok(Math.abs(load - t.loadToday!) <= 0.2, `${file}: ${load} vs ${t.loadToday}`);
    // README: AC in > DC stored when charging; DC drawn > AC out when discharging.
    assert.ok(t.aioChargeToday! > t.chargeToday!);
    assert.ok(t.aioDischargeToday! < t.dischargeToday!);
    assert.ok(t.aioChargeTotal! > t.chargeTotal! && t.aioDischargeTotal! < t.dischargeTotal!);
    // Per-AIO DC counters sum to the plant's.
    assert.ok(Math.abs(t.aios.reduce((s, a) => s + a.dischargeToday!, 0) - t.dischargeToday!) < 1e-9);
    assert.ok(Math.abs(t.aios.reduce((s, a) => s + a.chargeTotal!, 0) - t.chargeTotal!) < 0.2);
  }
});

test('Gateway with nothing read: unknown, never 0', () => {
  const t = gatewayTelemetry(new RegisterBank());
  assert.deepEqual([t.firmware, t.pvPower, t.gridPower, t.batteryPower, t.loadPower, t.importTotal, t.fault], [undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  assert.deepEqual(t.aios, []);
  // Peer test_gateway.py vectors: firmware GA000009; V1 total high word first; signed powers.
  const ir = new RegisterBank();
  ir.set(1600, [0x4741, 0x3030, 0x0000, 9]);
  ir.set(1641, [1, 0]);
  ir.set(1616, [0, 3000, 2000, 65536 - 500]);
  const v = gatewayTelemetry(ir);
  assert.deepEqual([v.firmware, v.importTotal, v.pvPower, v.loadPower, v.batteryPower, v.gridPower], ['GA000009', 6553.6, 3000, 2000, 500, 0]);
});

test('Gateway rows: valid sensors that read the decoded values', () => {
  for (const rows of [GATEWAY_ROWS, GATEWAY_UNIT_ROWS]) {
    const keys = rows.map((r) => r.spec.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const r of rows) assert.deepEqual(sensor.problems(r.spec), [], r.spec.key);
  }
  const t = gatewayTelemetry(rollup(DAY));
  const plant = Object.fromEntries(GATEWAY_ROWS.map((r) => [r.spec.key, r.read(t)]));
  assert.deepEqual([plant.import_energy_total, plant.pv_energy_total, plant.charge_energy_total, plant.aio_count, plant.firmware], [12710.8, 5087, 8855.9, 2, 'GAAA0014']);
  assert.equal(plant.battery_power, t.batteryPower);
  const unit = Object.fromEntries(GATEWAY_UNIT_ROWS.map((r) => [r.spec.key, r.read(t.aios[1]!)]));
  assert.equal(unit.serial, 'CH2542G000');
  assert.equal(unit.soc, t.aios[1]!.soc);
  const empty = gatewayTelemetry(new RegisterBank());
  assert.ok(GATEWAY_ROWS.every((r) => r.read(empty) === null));
});

test('Gateway controls: the AC charge/discharge limit pair, read back from the capture', () => {
  assert.deepEqual(GATEWAY_CONTROLS.map((c) => c.register), [313, 314]);
  const hr = readsOf(NIGHT, 0x11, 0x03, 300, 60).at(-1)!.values;
  assert.deepEqual([hr[13], hr[14]], [50, 100], 'HR 313/314 in range as the Gateway reports them');
  assert.ok(GATEWAY_CONTROLS.every((c) => c.range === '1–100 %'));
});
