// HV battery stacks decoded from the real captures in test/fixtures/givenergy/captures (Apache-2.0,
// from dewet22/givenergy-modbus). Cross-checks cite the peer library's own capture tests:
// tests/model/test_three_phase_from_capture.py, tests/model/test_hybrid_hv_gen3_from_capture.py,
// tests/model/test_aio_battery.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { specProblems } from '../../../src/core/entity.js';
import { BCU_ROWS, BMU_ROWS, HV_PAGES, bamsPages, bcuPages, bcuTelemetry, bmuPages, bmuTelemetry, moduleCount, moduleIndices, sensorsPerModule, stackCount, stackReadings, type HvPage } from '../../../src/adapters/givenergy/hv-battery.js';
import { RegisterBank } from '../../../src/adapters/givenergy/registers.js';
import { capturedPages } from '../../helpers/givenergy-captures.js';

const THREE_PHASE = 'three_phase_hv_a/giv3hy11_da011_10min.log';
const THREE_PHASE_HASS = 'three_phase_hv_a/giv3hy11_hass174_180s.txt';
const GEN3 = 'hybrid_hv_gen3_a/givhy80g3hv_hass295_120s.log';
const AIO = 'aio_a/aio_arm612_5min.log';
const AIO_REDETECT = 'aio_a/aio_arm620_redetect_7min.log';

/** Every page a device sent in a capture for one read, in capture order. */
const pagesOf = (file: string, device: number, fn: 0x03 | 0x04, base: number, count = 60) => capturedPages(file, { device, fn, base, count });

/** The last answer to each of a device's pages, as a bank (what a poll leaves behind). */
function bankOf(file: string, pages: HvPage[]): RegisterBank {
  const bank = new RegisterBank();
  for (const p of pages) bank.set(p.base, pagesOf(file, p.device, p.fn, p.base, p.count).at(-1)!);
  return bank;
}
const last = (file: string, device: number, base: number, count = 60) => pagesOf(file, device, 0x04, base, count).at(-1)!;
const bcuBank = (file: string, withSerialBlock = true) => bankOf(file, withSerialBlock ? bcuPages(0) : bcuPages(0).slice(0, 1));
const bmuBanks = (file: string, n: number) => moduleIndices([n]).map((i) => bankOf(file, bmuPages(i)));
const text = (words: number[]) => words.flatMap((w) => [w >> 8, w & 0xff]).filter((c) => c > 0x20 && c < 0x7f).map((c) => String.fromCharCode(c)).join('');

test('what a poll reads: BAMS, BCU per stack, BMU per module', () => {
  assert.deepEqual(bamsPages(), [{ device: 0xa0, fn: 0x04, base: 60, count: 5 }]);
  assert.deepEqual(bcuPages(0), [{ device: 0x70, fn: 0x04, base: 60, count: 60 }, { device: 0x70, fn: 0x04, base: 120, count: 60 }]);
  assert.equal(bcuPages(1)[0]!.device, 0x71);
  assert.deepEqual(bmuPages(5), [{ device: 0x55, fn: 0x04, base: 60, count: 60 }]);
  assert.equal(HV_PAGES.bmu, bmuPages);
  // Module addresses run on across stacks and stop before the first BCU (plant.py _hv_bmu_candidates).
  assert.deepEqual(moduleIndices([6]), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(moduleIndices([3, 2]), [0, 1, 2, 3, 4]);
  assert.equal(moduleIndices([20, 20]).length, 32);
  assert.deepEqual(moduleIndices([6], true), [0, 1, 2, 3], 'an All in One has 0x50–0x53 at most');
  assert.deepEqual(moduleIndices([-1, 2]), [0, 1]);
});

test('every page the poll plans was answered by the devices in the captures', () => {
  for (const [file, modules, serialBlock] of [[THREE_PHASE, 6, true], [AIO, 4, true], [AIO_REDETECT, 4, true], [GEN3, 3, false]] as const) {
    const planned = [...(serialBlock ? bcuPages(0) : bcuPages(0).slice(0, 1)), ...moduleIndices([modules]).flatMap(bmuPages)];
    for (const p of planned) assert.ok(pagesOf(file, p.device, p.fn, p.base, p.count).length > 0);
    // …and nothing answered past the last module.
    assert.throws(() => pagesOf(file, 0x50 + modules, 0x04, 60), /has IR 60\+60/);
  }
});

test('module count: the BAMS counts stacks, the BCU counts modules', () => {
  assert.equal(stackCount(bankOf(THREE_PHASE, [{ device: 0xa0, fn: 0x04, base: 60, count: 60 }])), 1);
  assert.equal(stackCount(bankOf(AIO_REDETECT, bamsPages())), 1);
  assert.equal(moduleCount(bcuBank(THREE_PHASE)), 6);
  assert.equal(moduleCount(bcuBank(GEN3, false)), 3); // peer: test_hv_topology_decodes_from_capture
  assert.equal(moduleCount(bcuBank(AIO)), 4);
  assert.equal(moduleCount(new RegisterBank()), undefined);
  // The BAMS also sums the modules (IR62), cells (IR63) and sensors (IR64) of its stacks.
  assert.deepEqual(last(THREE_PHASE, 0xa0, 60).slice(2, 5), [6, 144, 72]);
  assert.deepEqual(last(AIO, 0xa0, 60).slice(2, 5), [4, 96, 48]);
});

test('three-phase stack (GIV-3HY-11, 6 modules): the BCU cluster block', () => {
  const t = bcuTelemetry(bcuBank(THREE_PHASE));
  assert.deepEqual(
    { modules: t.modules, cells: t.cells, sensors: t.temperatureSensors, status: t.status, soc: t.soc, socMin: t.socMin, soh: t.soh, voltage: t.voltage, loadVoltage: t.loadVoltage },
    { modules: 6, cells: 144, sensors: 72, status: 'standby', soc: 99, socMin: 98, soh: 95, voltage: 477.9, loadVoltage: 479.9 },
  );
  // The stack's SoC is the inverter's (IR1132 on the three-phase bank, inverter_threephase.py).
  assert.equal(last(THREE_PHASE, 0x11, 1120)[12], t.soc);
  assert.deepEqual([t.capacityAh, t.remainingAh, t.cycles, t.chargeTotal, t.dischargeTotal, t.chargeToday, t.dischargeToday], [52, 48.8, 483, 12585.9, 11964.6, 23.7, 17.4]);
  assert.deepEqual([t.minDischargeVoltage, t.maxChargeVoltage, t.dischargeCurrentLimit, t.chargeCurrentLimit], [381.6, 522.7, 25, 25]);
  // IR100 is a count: 12585.9 kWh charged into a stack of 144 cells × 3.2 V × 52 Ah (24 kWh) is
  // ~525 full cycles — the peer's ×0.1 (48.3) is ten times too few.
  assert.ok(Math.abs(t.chargeTotal! / ((144 * 3.2 * 52) / 1000) - t.cycles!) < 0.1 * t.cycles!);
  // Idle: IR76 = 0xFFFF, −0.1 A in the BCU's charge-positive sense, +0.1 A (discharge) here.
  assert.equal(t.current, 0.1);
  assert.equal(t.power, 48);
  assert.deepEqual([t.warningStatus, t.protectionStatus, t.faultStatus], [0, 0, 0]);
  assert.equal(t.serial, 'HB2336G000', 'the BCU serial at IR138–142 (hv_bcu.py, #375)');
  assert.equal(t.firmware, 'BABA0009');
});

test('three-phase stack: the peer capture test values (giv3hy11_hass174_180s.txt)', () => {
  // test_three_phase_hv_bcu_decode_from_capture: modules 6, soc max/min 71/68, 470.3 V, SoH 95;
  // test_three_phase_inverter_battery_decode_from_capture: inverter battery_soc 71.
  const t = bcuTelemetry(bankOf(THREE_PHASE_HASS, bcuPages(0)));
  assert.deepEqual([t.modules, t.socMax, t.socMin, t.voltage, t.soh], [6, 71, 68, 470.3, 95]);
  assert.equal(last(THREE_PHASE_HASS, 0x11, 1120)[12], 71);
  assert.equal(t.soc, 71);
});

test('three-phase stack: six modules of 24 LiFePO4 cells, 12 sensors each', () => {
  const bcu = bcuTelemetry(bcuBank(THREE_PHASE));
  assert.equal(sensorsPerModule(bcu), 12);
  const modules = bmuBanks(THREE_PHASE, 6).map((b) => bmuTelemetry(b, sensorsPerModule(bcu)));
  assert.equal(modules.length, 6);
  for (const m of modules) {
    assert.equal(m.cellCount, 24);
    assert.equal(m.cellVoltages.length, 24);
    assert.ok(m.cellMinVoltage! >= 3.34 && m.cellMaxVoltage! <= 3.36, `${m.cellMinVoltage}–${m.cellMaxVoltage} V`);
    assert.equal(m.temperatures.length, 12);
    assert.ok(m.temperatureMin! > 29 && m.temperatureMax! < 37);
    assert.equal(m.serial, 'HY2336G000');
  }
  // Module 0x50, cell by cell as sent (IR60–83 in mV).
  assert.deepEqual(modules[0]!.cellVoltages.slice(10, 14), [3.35, 3.348, 3.35, 3.35]);
  assert.deepEqual([modules[0]!.cellMinVoltage, modules[0]!.cellMaxVoltage, modules[0]!.cellSpread], [3.348, 3.35, 2]);
  assert.deepEqual(modules[0]!.temperatures.slice(0, 3), [34.7, 34.8, 34.1]);
  // The six modules' cells add up to the BCU's stack voltage, within 1 %.
  const sum = modules.reduce((a, m) => a + m.voltage!, 0);
  assert.ok(Math.abs(sum - bcu.voltage!) / bcu.voltage! < 0.01, `${sum} vs ${bcu.voltage}`);
});

test('three-phase stack: IR102–113 of a module are the next module’s sensors, not its own', () => {
  // The last module has nobody after it: its IR102–109 and 111–113 are empty (IR110 holds its
  // serial's prefix), and IR68 says 72 = 6 × 12.
  const m55 = last(THREE_PHASE, 0x55, 60);
  assert.deepEqual([...m55.slice(42, 50), ...m55.slice(51, 54)], new Array(11).fill(0));
  // In one poll round 0x53's second twelve (read first) equal 0x54's first twelve.
  const m53 = pagesOf(THREE_PHASE, 0x53, 0x04, 60)[0]!;
  const m54 = pagesOf(THREE_PHASE, 0x54, 0x04, 60)[0]!;
  assert.deepEqual(m53.slice(42, 54), m54.slice(30, 42));
  // So a module's temperatures are its own twelve, not the 24 the peer reads.
  const b53 = new RegisterBank();
  b53.set(60, m53);
  assert.deepEqual(bmuTelemetry(b53).temperatures, m53.slice(30, 42).map((t) => t / 10));
});

test('three-phase stack: module 0x55 stores its serial split (IR110 + IR115–118)', () => {
  const raw = last(THREE_PHASE, 0x55, 60);
  assert.equal(text([raw[110 - 60]!]), 'HY');
  assert.equal(raw[114 - 60], 0);
  assert.equal(text(raw.slice(115 - 60, 119 - 60)), '2336G000');
  // Read as one IR114–118 block (the peer's decode_cells_temps_serial) the prefix is lost.
  assert.equal(text(raw.slice(114 - 60, 119 - 60)), '2336G000');
  assert.equal(bmuTelemetry(bankOf(THREE_PHASE, bmuPages(5))).serial, 'HY2336G000');
  // The other five keep it whole at IR114–118.
  assert.equal(text(last(THREE_PHASE, 0x50, 60).slice(114 - 60, 119 - 60)), 'HY2336G000');
});

test('HV Gen3 hybrid (GIV-HY-8.0-G3-HV, 3 modules of 52 Ah)', () => {
  const t = bcuTelemetry(bcuBank(GEN3, false));
  assert.deepEqual(
    { modules: t.modules, cells: t.cells, sensors: t.temperatureSensors, status: t.status, soc: t.soc, socMin: t.socMin, soh: t.soh, voltage: t.voltage, capacityAh: t.capacityAh, remainingAh: t.remainingAh, cycles: t.cycles },
    { modules: 3, cells: 72, sensors: 36, status: 'standby', soc: 100, socMin: 96, soh: 97, voltage: 238.2, capacityAh: 52, remainingAh: 48.6, cycles: 283 },
  );
  // README: the BCU's SOC 96–100 % against the inverter's 100 % (IR59, the single-phase layout).
  assert.equal(last(GEN3, 0x11, 0)[59], 100);
  assert.equal(t.soc, 100);
  // IR76 = 1: +0.1 A charging into a full stack, −0.1 A in this adapter's convention.
  assert.equal(t.current, -0.1);
  assert.deepEqual([t.chargeTotal, t.dischargeTotal, t.chargeToday, t.dischargeToday], [3712.2, 3417.4, 10.1, 1.1]);
  // IR 120–179 was not polled here: no BCU serial, never a made-up one.
  assert.equal(t.serial, undefined);
  assert.equal(t.firmware, 'BABA0009');

  const modules = bmuBanks(GEN3, 3).map((b) => bmuTelemetry(b, sensorsPerModule(t)));
  for (const m of modules) {
    assert.equal(m.cellCount, 24);
    assert.ok(m.cellMinVoltage! >= 3.33 && m.cellMaxVoltage! <= 3.34, `${m.cellMinVoltage}–${m.cellMaxVoltage}`); // README: ~3.34 V/cell
    assert.equal(m.serial, 'HY2446G000'); // README: HV BMU modules, week 46 of 2024; peer: bmu.is_valid()
    assert.equal(m.temperatures.length, 12);
  }
  assert.deepEqual([modules[1]!.cellMinVoltage, modules[1]!.cellMaxVoltage], [3.332, 3.337]);
  assert.equal(modules[0]!.voltage, 80.076); // 24 × 3336 mV + 12 mV
  // The three modules' cells against the BCU (238.2 V) and the inverter (240.07 V, peer v_battery).
  const sum = modules.reduce((a, m) => a + m.voltage!, 0);
  assert.ok(Math.abs(sum - 240.07) < 1 && sum > t.voltage!, String(sum));
});

test('All in One (ARM 612): BCU at 0x70, modules 0x50–0x53 with whole serials', () => {
  const t = bcuTelemetry(bcuBank(AIO));
  assert.deepEqual(
    { modules: t.modules, cells: t.cells, sensors: t.temperatureSensors, status: t.status, soc: t.soc, socMax: t.socMax, socMin: t.socMin, soh: t.soh, voltage: t.voltage, capacityAh: t.capacityAh, remainingAh: t.remainingAh },
    { modules: 4, cells: 96, sensors: 48, status: 'charging', soc: 34, socMax: 34, socMin: 35, soh: 95, voltage: 314.9, capacityAh: 49.3, remainingAh: 17.1 },
  );
  assert.equal(last(AIO, 0x11, 0)[59], 34, 'the inverter shows the stack SoC');
  // Charging: IR76 = +9 (+0.9 A in the BCU's sense) is −0.9 A here, like the inverter's IR52 < 0.
  assert.equal(t.current, -0.9);
  assert.equal(t.power, -283);
  assert.equal(t.serial, 'HC0000G000');
  assert.equal(t.firmware, 'BAAA0010');

  const modules = bmuBanks(AIO, 4).map((b) => bmuTelemetry(b, sensorsPerModule(t)));
  for (const m of modules) {
    assert.equal(m.cellCount, 24);
    assert.ok(Math.abs(m.cellMinVoltage! - 3.28) <= 0.01 && Math.abs(m.cellMaxVoltage! - 3.28) <= 0.01); // peer: v_cell_01 ≈ 3.28
    assert.ok(m.serial!.startsWith('HX')); // peer: serial_number.startswith("HX")
    assert.equal(m.serial, 'HX0000G000');
    assert.equal(m.temperatures.length, 12);
  }
  assert.equal(modules[0]!.temperatures[0], 20.2); // peer: t_cell_01 ≈ 20.2
  assert.ok(new Set(modules.map((m) => m.temperatures[0])).size > 1, 'each module from its own address');
});

test('All in One (ARM 620, BAAA0013): every module stores its serial split', () => {
  const t = bcuTelemetry(bcuBank(AIO_REDETECT));
  assert.equal(t.firmware, 'BAAA0013'); // README: "this firmware (BAAA0013)"
  assert.equal(t.serial, 'HC2414G000');
  assert.deepEqual([t.status, t.soc, t.socMin, t.current], ['discharging', 42, 40, 1.2]);
  assert.equal(last(AIO_REDETECT, 0x11, 0)[59], 42);
  // Discharging: the inverter's battery power is positive too (IR52).
  assert.ok(last(AIO_REDETECT, 0x11, 0)[52]! > 0 && t.power! > 0);
  for (const b of bmuBanks(AIO_REDETECT, 4)) {
    assert.equal(b.get(114), 0);
    const m = bmuTelemetry(b, sensorsPerModule(t));
    assert.equal(m.serial, 'HX2414G000');
    assert.equal(m.cellCount, 24);
    assert.ok(m.cellMinVoltage! > 3.26 && m.cellMaxVoltage! < 3.28);
  }
});

test('serial layouts: whole, split, and absent', () => {
  const words = (s: string) => Array.from({ length: s.length / 2 }, (_, i) => (s.charCodeAt(2 * i) << 8) | s.charCodeAt(2 * i + 1));
  const whole = new RegisterBank();
  whole.set(60, new Array(60).fill(0));
  whole.set(114, words('HX2414G832'));
  assert.equal(bmuTelemetry(whole).serial, 'HX2414G832');
  const split = new RegisterBank();
  split.set(60, new Array(60).fill(0));
  split.set(110, words('HY'));
  split.set(115, words('2336G123'));
  assert.equal(bmuTelemetry(split).serial, 'HY2336G123');
  // A temperature at IR110 (0x0141, 32.1 °C) is not a prefix.
  const temp = new RegisterBank();
  temp.set(60, new Array(60).fill(0));
  temp.set(110, [0x0141]);
  temp.set(115, words('2336G123'));
  assert.equal(bmuTelemetry(temp).serial, undefined);
  assert.equal(bmuTelemetry(new RegisterBank()).serial, undefined);
});

test('temperatures: signed tenths, the −273 °C empty-slot sentinel dropped', () => {
  const b = new RegisterBank();
  b.set(60, new Array(60).fill(0));
  b.set(90, [0xffec, 0xf556, 215]);
  const m = bmuTelemetry(b, 3);
  assert.deepEqual(m.temperatures, [-2, 21.5]);
  assert.deepEqual([m.temperatureMin, m.temperatureMax], [-2, 21.5]);
  assert.equal(m.cellCount, 0);
  assert.equal(m.cellMinVoltage, undefined);
});

test('nothing read: every value unknown, never 0', () => {
  const t = bcuTelemetry(new RegisterBank());
  for (const [k, v] of Object.entries(t)) assert.equal(v, undefined, k);
  const m = bmuTelemetry(new RegisterBank());
  assert.deepEqual([m.cellCount, m.voltage, m.temperatureMax, m.serial], [undefined, undefined, undefined, undefined]);
  const s = stackReadings(new RegisterBank());
  for (const r of BCU_ROWS) assert.equal(r.read(s), null, r.spec.key);
  for (const r of BMU_ROWS) assert.equal(r.read(m), null, r.spec.key);
});

test('rows: valid HA declarations with stable keys, read from the three-phase stack', () => {
  for (const rows of [BCU_ROWS, BMU_ROWS]) {
    const keys = rows.map((r) => r.spec.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const r of rows) assert.deepEqual(specProblems(r.spec), [], r.spec.key);
  }
  assert.deepEqual(BCU_ROWS.map((r) => r.spec.key).slice(0, 6), ['soc', 'soc_min', 'soh', 'voltage', 'current', 'power']);
  const stack = stackReadings(bcuBank(THREE_PHASE), bmuBanks(THREE_PHASE, 6));
  const value = (key: string) => BCU_ROWS.find((r) => r.spec.key === key)!.read(stack);
  assert.deepEqual([value('soc'), value('soh'), value('voltage'), value('modules'), value('status'), value('cycles')], [99, 95, 477.9, 6, 'standby', 483]);
  const modules = stack.modules;
  assert.equal(value('cell_min_voltage'), Math.min(...modules.map((m) => m.cellMinVoltage!)));
  assert.equal(value('cell_max_voltage'), Math.max(...modules.map((m) => m.cellMaxVoltage!)));
  assert.equal(value('temperature_max'), Math.max(...modules.flatMap((m) => m.temperatures)));
  assert.equal(value('temperature_min'), Math.min(...modules.flatMap((m) => m.temperatures)));
  assert.ok((value('cell_min_voltage') as number) >= 3.34);
  const m0 = BMU_ROWS.find((r) => r.spec.key === 'cell_max_voltage')!.read(modules[0]!);
  assert.equal(m0, 3.35);
  assert.equal(BMU_ROWS.find((r) => r.spec.key === 'cells')!.read(modules[5]!), 24);
});
