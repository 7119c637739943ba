import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegisterBank, inverterTelemetry, type InverterTelemetry } from '../../../src/adapters/givenergy/registers.js';
import { capturedPages, capturedResponses } from '../../helpers/givenergy-captures.js';
import { THREE_PHASE_CONTROLS, THREE_PHASE_PAGES, THREE_PHASE_ROWS, threePhaseTelemetry } from '../../../src/adapters/givenergy/three-phase.js';

const HASS174 = 'three_phase_hv_a/giv3hy11_hass174_180s.txt'; // tx:/rx: hex, no timestamps
const DETECT = 'three_phase_hv_a/giv3hy11_da011_detect_10min.log'; // <ts> rx <hex>, with HR 1000/1060/1120
const TEN_MIN = 'three_phase_hv_a/giv3hy11_da011_10min.log';
const GEN3 = 'hybrid_hv_gen3_a/givhy80g3hv_hass295_120s.log'; // single-phase 81xx: IR 1000–1413 all zero

/** The pages a capture holds for one read (device, function, base, count). */
const pagesOf = (file: string, fn: 0x03 | 0x04, base: number, count = 60, device = 0x11) => capturedPages(file, { device, fn, base, count });

/** The register state after replaying a whole capture, as the peer's Plant keeps it (last write wins). */
function replay(file: string, device = 0x11) {
  const ir = new RegisterBank();
  const hr = new RegisterBank();
  for (const f of capturedResponses(file)) if (f.device === device) (f.fn === 0x04 ? ir : f.fn === 0x03 ? hr : undefined)?.set(f.base, f.values);
  return { ir, hr };
}

/** Telemetry from one IR page set (each bank's page at the same poll index). */
function pollAt(file: string, i: number) {
  const ir = new RegisterBank();
  for (const { base, count } of THREE_PHASE_PAGES.filter((p) => p.fn === 0x04)) {
    const pages = pagesOf(file, 0x04, base, count);
    ir.set(base, pages[Math.min(i, pages.length - 1)]!);
  }
  return ir;
}

const near = (actual: number | undefined, expected: number, tolerance: number, what: string) =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected} ± ${tolerance}`);

test('the poll reads the banks the peer library reads, as seen on the wire', () => {
  assert.deepEqual(
    THREE_PHASE_PAGES.map((p) => `${p.fn === 3 ? 'HR' : 'IR'}${p.base}/${p.count}${p.full ? ' full' : ''}`),
    ['IR1000/60', 'IR1060/60', 'IR1120/60', 'IR1180/60', 'IR1240/60', 'IR1300/60', 'IR1360/54', 'HR1000/60 full', 'HR1060/60 full', 'HR1120/5 full'],
  );
  // Every page of the poll was answered by the real three-phase inverter.
  for (const p of THREE_PHASE_PAGES) pagesOf(DETECT, p.fn, p.base, p.count);
  for (const p of THREE_PHASE_PAGES) assert.ok(p.count <= 60 && p.count > 0);
});

// The peer's own capture test (dewet22/givenergy-modbus tests/model/test_three_phase_from_capture.py)
// replays giv3hy11_hass174_180s.txt and asserts: battery_soc 71, i_battery -0.01 A (#264),
// p_battery_charge 8.1, p_battery_discharge 0, p_battery -8.1 (#262), e_battery_throughput
// 11840.2 + 10753.6 (#262), v_battery_bms 470.3, v_ac1..3 405.4/406.6/406.3, i_ac1..3 0.9/0.8/0.9,
// f_ac1 50.02, p_inverter_out 0, p_meter_import 0, p_meter_export 4.0, p_grid_apparent 652,
// p_load_all 339, p_out_ac1..3 0, p_load_ac3 26.9 (its p_load_ac1/2 decode to None).
test('hass174 capture: the values the peer library asserts', () => {
  const { ir, hr } = replay(HASS174);
  const t = threePhaseTelemetry(ir, hr);
  assert.equal(t.soc, 71);
  assert.equal(t.batteryCurrent, -0.01, 'centi-amps (#264): raw 0xffff is -0.01 A, not -0.1');
  assert.deepEqual([t.chargePower, t.dischargePower, t.batteryPower], [8.1, 0, -8.1], 'discharge − charge (#262)');
  assert.equal(t.batteryThroughputTotal, 22593.8);
  assert.deepEqual([t.chargeTotal, t.dischargeTotal], [11840.2, 10753.6]);
  assert.equal(t.batteryVoltage, 470.3);
  assert.deepEqual(t.phases.map((p) => p.lineVoltage), [405.4, 406.6, 406.3]);
  assert.deepEqual(t.phases.map((p) => p.current), [0.9, 0.8, 0.9]);
  assert.equal(t.gridFrequency, 50.02);
  assert.equal(t.inverterPower, 0);
  assert.deepEqual([t.importPower, t.exportPower, t.gridPower], [0, 4, 4]);
  assert.equal(t.loadPower, 339);
  assert.deepEqual(t.phases.map((p) => p.inverterPower), [0, 0, 0]);
  // Where this decoder parts from the peer: IR 1083–1085 are signed whole watts of grid power per
  // phase (the peer reads unsigned deci "p_load_ac", so 1/2 fall out of range and 3 reads 26.9).
  assert.deepEqual(t.phases.map((p) => p.power), [-80, -185, 269]);
  // Phase-to-neutral voltages, ~230 V, ≈ line voltage / √3.
  assert.deepEqual(t.phases.map((p) => p.voltage), [234, 234.7, 234.5]);
  for (const p of t.phases) near(p.voltage, p.lineVoltage! / Math.sqrt(3), 1, 'phase voltage vs line voltage / √3');
  assert.deepEqual(t.phases.map((p) => p.epsVoltage), [234, 233.2, 232.3]);
  assert.equal(t.epsFrequency, 50.02);
  assert.deepEqual([t.status, t.fault, t.systemMode], ['normal', false, 1]);
  assert.deepEqual(t.faultWords, [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([t.heatsinkTemperature, t.boostTemperature, t.buckBoostTemperature], [40.4, 36.8, 38.7]);
  // PV strings are idle in all three captures.
  assert.deepEqual([t.pv1Power, t.pv2Power, t.pvPower, t.pv1Voltage, t.pv2Voltage], [0, 0, 0, 0, 0]);
  // Energy today and totals, kWh.
  assert.deepEqual(
    [t.pvToday, t.importToday, t.exportToday, t.chargeToday, t.dischargeToday, t.loadToday, t.inverterOutToday],
    [0.5, 1, 3.3, 0, 4.1, 1.7, 3.3],
  );
  assert.deepEqual([t.pvTotal, t.importTotal, t.exportTotal, t.loadTotal, t.acChargeTotal], [6035.3, 17430.7, 13849.9, 11861.3, 14029.9]);
  // No HR banks in this capture: settings unknown, never made up.
  assert.deepEqual([t.chargeTargetSoc, t.socReserve, t.acChargeEnabled, t.chargeSlot1], [undefined, undefined, undefined, undefined]);
});

test('detect capture: a discharging battery, HR settings, per-phase sums', () => {
  const { ir, hr } = replay(DETECT);
  const t = threePhaseTelemetry(ir, hr);
  assert.equal(t.soc, 92);
  assert.deepEqual([t.dischargePower, t.chargePower, t.batteryPower, t.batteryCurrent, t.batteryVoltage], [1704.8, 0, 1704.8, 3.61, 471.8]);
  assert.deepEqual([t.inverterPower, t.loadPower, t.importPower, t.exportPower, t.gridPower], [1606, 1636, 3, 0, -3]);
  assert.deepEqual(t.phases.map((p) => [p.voltage, p.current, p.power, p.inverterPower, p.loadPower]), [
    [231.9, 2.8, 0, 549, 549],
    [231.6, 2.6, -536, 516, 1052],
    [233.2, 2.8, 533, 541, 35],
  ]);
  assert.deepEqual([t.pvToday, t.importToday, t.exportToday, t.chargeToday, t.dischargeToday, t.loadToday], [25.4, 19.8, 21.7, 9.1, 6.6, 19.4]);
  assert.equal(t.pvTotal, 6660);
  // HR 1060–1124 as the plant had them set (Re-detect pressed during the capture).
  assert.deepEqual(
    [t.batteryReserveSoc, t.dischargeLimitPercent, t.socReserve, t.chargeLimitPercent, t.chargeTargetSoc, t.acChargeEnabled, t.forceDischargeEnabled, t.forceChargeEnabled],
    [5, 1, 5, 1, 100, false, true, true],
  );
  assert.deepEqual([t.chargeSlot1, t.chargeSlot2, t.dischargeSlot1], [{ start: '01:00:00', end: '01:00:00' }, { start: '00:00:00', end: '00:00:00' }, { start: '01:00:00', end: '01:00:00' }]);
});

test('every captured poll: V×I ≈ battery power, and the per-phase registers add up to the totals', () => {
  let polls = 0;
  for (const file of [HASS174, DETECT, TEN_MIN]) {
    const n = pagesOf(file, 0x04, 1120).length;
    for (let i = 0; i < n; i++) {
      // Take the 1060 and 1120 pages at the same index; they come from the same poll cycle.
      const ir = new RegisterBank();
      ir.set(1060, pagesOf(file, 0x04, 1060)[i] ?? pagesOf(file, 0x04, 1060).at(-1)!);
      ir.set(1120, pagesOf(file, 0x04, 1120)[i]!);
      const t = threePhaseTelemetry(ir, new RegisterBank());
      const vi = t.batteryVoltage! * t.batteryCurrent!;
      near(vi, t.batteryPower!, Math.max(10, Math.abs(t.batteryPower!) * 0.1), `${file} poll ${i}: V×I vs discharge − charge`);
      const sum = (k: 'power' | 'inverterPower' | 'loadPower') => t.phases.reduce((a, p) => a + p[k]!, 0);
      near(sum('power'), t.gridPower!, 0.5, `${file} poll ${i}: Σ phase grid power vs meter export − import`);
      near(sum('inverterPower'), t.inverterPower!, 0.5, `${file} poll ${i}: Σ phase inverter power vs IR 1069/1070`);
      near(sum('loadPower'), t.loadPower!, 0.5, `${file} poll ${i}: Σ phase load vs IR 1089/1090`);
      for (const p of t.phases) near(p.voltage, 232, 15, `${file} poll ${i}: phase voltage`);
      polls++;
    }
  }
  assert.ok(polls >= 25, `${polls} polls checked`);
  // The identity is strong when the battery works: in the detect capture's first poll 3.31 A at
  // 471.x V against 1566.9 W discharge.
  const t = threePhaseTelemetry(pollAt(DETECT, 0), new RegisterBank());
  assert.deepEqual([t.batteryCurrent, t.dischargePower, t.chargePower], [3.31, 1566.9, 0]);
  // Charging in hass174's first poll: 470.3 V × -0.17 A ≈ -80 W against 86.4 W charge.
  const c = threePhaseTelemetry(pollAt(HASS174, 0), new RegisterBank());
  assert.deepEqual([c.batteryCurrent, c.batteryPower, c.inverterPower], [-0.17, -86.4, -194]);
  assert.deepEqual(c.phases.map((p) => p.inverterPower), [-59, -71, -64]);
});

test('a single-phase 81xx that answers IR 1000–1413 with zeros decodes as zeros, without crashing', () => {
  const { ir, hr } = replay(GEN3);
  for (const p of THREE_PHASE_PAGES.filter((p) => p.fn === 0x04)) assert.ok(ir.range(p.base, p.count)?.every((v) => v === 0), `IR ${p.base} all zero`);
  const t = threePhaseTelemetry(ir, hr);
  assert.deepEqual(
    [t.soc, t.pvPower, t.gridPower, t.batteryPower, t.batteryCurrent, t.loadPower, t.gridFrequency, t.pvToday, t.batteryThroughputTotal, t.status, t.fault],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 'waiting', false],
  );
  assert.deepEqual(t.phases.map((p) => [p.voltage, p.current, p.power]), [[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
});

test('nothing read: every value unknown, never 0', () => {
  const t = threePhaseTelemetry(new RegisterBank(), new RegisterBank());
  const base: InverterTelemetry = t; // the same field names and types as the single-phase decode
  const names = Object.keys(inverterTelemetry(new RegisterBank()));
  assert.equal(names.length, 39);
  for (const k of names) {
    assert.ok(k in base, `${k} is a field`);
    assert.equal(base[k as keyof InverterTelemetry], undefined, k);
  }
  assert.deepEqual(t.phases.map((p) => Object.values(p).every((v) => v === undefined)), [true, true, true]);
  for (const row of THREE_PHASE_ROWS) assert.equal(row.read(t), null, row.spec.key);
});

test('signs and widths: s16 per phase, s32 inverter power, u32 energies', () => {
  const ir = new RegisterBank();
  ir.set(1060, new Array(60).fill(0));
  ir.set(1069, [0xffff, 0xfc18]); // -1000 → -100.0 W
  ir.set(1079, [0, 1234, 0, 0]); // import 123.4 W
  ir.set(1083, [0xff38, 100, 0]); // -200 W, +100 W
  const t = threePhaseTelemetry(ir, new RegisterBank());
  assert.deepEqual([t.inverterPower, t.gridPower, t.importPower, t.exportPower], [-100, -123.4, 123.4, 0]);
  assert.deepEqual(t.phases.map((p) => p.power), [-200, 100, 0]);
  const e = new RegisterBank();
  e.set(1380, [1, 2]); // 65538 → 6553.8 kWh
  assert.equal(threePhaseTelemetry(e, new RegisterBank()).importToday, 6553.8);
  const s = new RegisterBank();
  s.set(1076, [3]);
  assert.deepEqual([threePhaseTelemetry(s, new RegisterBank()).status, threePhaseTelemetry(s, new RegisterBank()).fault], ['fault', true]);
});

test('per-phase rows: keys, names, values from the capture', () => {
  const { ir, hr } = replay(HASS174);
  const t = threePhaseTelemetry(ir, hr);
  const rows = Object.fromEntries(THREE_PHASE_ROWS.map((r) => [r.spec.key, r]));
  assert.equal(THREE_PHASE_ROWS.length, 21);
  assert.equal(new Set(THREE_PHASE_ROWS.map((r) => r.spec.key)).size, 21, 'keys are unique');
  assert.deepEqual(
    ['l1_voltage', 'l2_current', 'l3_power', 'l2_power', 'l1_eps_voltage'].map((k) => [rows[k]!.spec.name, rows[k]!.spec.unit, rows[k]!.read(t)]),
    [['L1 voltage', 'V', 234], ['L2 current', 'A', 0.8], ['L3 grid power', 'W', 269], ['L2 grid power', 'W', -185], ['L1 EPS voltage', 'V', 234]],
  );
  assert.equal(rows.l1_power!.spec.deviceClass, 'power');
  assert.equal(rows.l1_voltage!.spec.deviceClass, 'voltage');
});

test('controls: the three-phase holding registers, each once', () => {
  const registers = THREE_PHASE_CONTROLS.map((c) => c.register);
  assert.equal(new Set(registers).size, registers.length);
  for (const r of [1108, 1109, 1110, 1111, 1112, 1113, 1114, 1115, 1116, 1118, 1119, 1120, 1121, 1122, 1123]) assert.ok(registers.includes(r), `HR ${r}`);
  assert.match(THREE_PHASE_CONTROLS.find((c) => c.register === 1111)!.meaning, /charge target/);
});
