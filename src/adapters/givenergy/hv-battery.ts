// GivEnergy high-voltage battery stacks (All in One 80xx, HV Gen3 hybrids 81xx, three-phase 4xxx):
// a BAMS at 0xA0 counting the stacks, one BCU per stack at 0x70 + stack (the cluster view), and
// one BMU per module at 0x50 + running module index (cells and temperatures). Register meanings
// follow the peer library dewet22/givenergy-modbus (model/hv_bcu.py, model/aio_battery.py,
// model/plant.py, client/client.py); where the captures in test/fixtures/givenergy/captures
// contradict it, the comment says so. The LV batteries at 0x32–0x37 are batteryTelemetry's.
import type { SensorSpec } from '../../core/entity.js';
import { amps, celsius, kwh, power, volts } from './entities.js';
import { s16, u32, type RegisterBank } from './registers.js';

/** One read a poll makes: input registers (fn 4) at a device address. */
export interface HvPage {
  device: number;
  fn: 0x04;
  base: number;
  count: number;
}

export const BAMS_ADDRESS = 0xa0;
export const BCU_ADDRESS = 0x70;
export const BMU_ADDRESS = 0x50;
/** BMUs live in 0x50–0x6F; 0x70 is the first BCU (plant.py _HV_BMU_BAND_END). */
const BMU_BAND_END = 0x70;
/** An All in One has one stack of at most four modules, 0x50–0x53 (plant.py _AIO_MAX_MODULES). */
export const AIO_MAX_MODULES = 4;

const page = (device: number, base: number, count: number): HvPage => ({ device, fn: 0x04, base, count });

/** The BAMS probe: IR61 is the number of stacks (client.py cold path reads IR(60,5) at 0xA0). */
export function bamsPages(): HvPage[] {
  return [page(BAMS_ADDRESS, 60, 5)];
}

/**
 * A stack's BCU: the cluster block IR 60–119 (what the peer polls on every refresh), and
 * IR 120–179, which carries the BCU's own serial at IR 138–142 (hv_bcu.py, #375). The second
 * block was answered by the All in One and the three-phase stack in their captures; the Gen3
 * capture never asked for it.
 */
export function bcuPages(stack = 0): HvPage[] {
  return [page(BCU_ADDRESS + stack, 60, 60), page(BCU_ADDRESS + stack, 120, 60)];
}

/** Module n (0-based, counted across stacks): its own IR 60–119 block at 0x50 + n. */
export function bmuPages(module: number): HvPage[] {
  return [page(BMU_ADDRESS + module, 60, 60)];
}

export const HV_PAGES = { bams: bamsPages, bcu: bcuPages, bmu: bmuPages } as const;

/** Stacks the BAMS reports (IR61 at 0xA0); undefined when not read. */
export function stackCount(bams: RegisterBank): number | undefined {
  return bams.get(61);
}

/** Modules a BCU reports (IR64): which 0x50 + n addresses exist. Undefined when not read. */
export function moduleCount(bcu: RegisterBank): number | undefined {
  return bcu.get(64);
}

/**
 * The module indices (0x50 + index) of a plant's stacks, given each stack's module count in
 * stack order: numbered on from one stack to the next and cut at 0x6F (plant.py
 * _hv_bmu_candidates); an All in One stops at four (_aio_module_candidates).
 */
export function moduleIndices(modulesPerStack: readonly number[], aio = false): number[] {
  const out: number[] = [];
  let next = 0;
  for (const n of modulesPerStack) {
    const end = Math.min(next + Math.max(0, n), BMU_BAND_END - BMU_ADDRESS);
    for (let i = next; i < end; i++) out.push(i);
    next = end;
  }
  return aio ? out.slice(0, AIO_MAX_MODULES) : out;
}

/** BCU operating status IR70 (hv_bcu.py BcuStatus, from the GivEnergy installer app). */
export const BCU_STATUS = ['initialising', 'precharging', 'standby', 'charging', 'discharging', 'error', 'updating', 'powered_off', 'production'] as const;

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const chars = (words: number[]): string => words.flatMap((w) => [w >> 8, w & 0xff]).filter((c) => c > 0x20 && c < 0x7f).map((c) => String.fromCharCode(c)).join('');
const isLetters = (w: number | undefined): boolean => w !== undefined && [w >> 8, w & 0xff].every((c) => c >= 0x41 && c <= 0x5a);

/** A BCU's cluster values. Every field is undefined when its register was not read. */
export function bcuTelemetry(bank: RegisterBank) {
  const r = (n: number) => bank.get(n);
  const scaled = (n: number, f: number) => (r(n) === undefined ? undefined : round3(r(n)! * f));
  const total = (hi: number) => (r(hi) === undefined || r(hi + 1) === undefined ? undefined : round3(u32(r(hi)!, r(hi + 1)!) * 0.1));
  const status = r(70);
  const voltage = scaled(73, 0.1);
  // IR76 is + while the stack charges (status 3, AIO capture 07:57: +0.9 A) and − while it
  // discharges (status 4, AIO redetect capture: −1.2 A against the inverter's +418 W). Turned
  // here to this adapter's battery convention: + discharge, − charge (inverterTelemetry IR52).
  const current = r(76) === undefined ? undefined : round3(-s16(r(76)!) * 0.1);
  const soc = r(80);
  const version = bank.range(60, 4);
  const serial = bank.range(138, 5);
  return {
    /** IR60–63: two ASCII words, then one digit per byte ("BAAA" 0x0000 0x0103 = "BAAA0013"). */
    firmware: version ? chars(version.slice(0, 2)) + version.slice(2).flatMap((w) => [w >> 8, w & 0xff]).map((d) => String(d)).join('') : undefined,
    modules: r(64),
    /** IR67: cells in the whole stack (24 per module on every capture; IR65, "cells per module", reads 0). */
    cells: r(67),
    /** IR68: temperature sensors in the whole stack (12 per module). */
    temperatureSensors: r(68),
    statusCode: status,
    status: status === undefined ? undefined : (BCU_STATUS[status] ?? 'unknown'),
    voltage,
    /** IR74, the peer's load_voltage: the voltage on the inverter side of the BCU's contactor. */
    loadVoltage: scaled(74, 0.1),
    current,
    /** V × I: IR79 (the peer's milli battery_power) only moves in 100 W steps and is signed. */
    power: voltage === undefined || current === undefined ? undefined : Math.round(voltage * current),
    /** IR80 high byte: the state of charge the inverter shows (equal to IR59 / IR1132 in every capture). */
    soc: soc === undefined ? undefined : soc >> 8,
    /** The peer's battery_soc_max (IR80 high byte) and battery_soc_min (low byte). */
    socMax: soc === undefined ? undefined : soc >> 8,
    socMin: soc === undefined ? undefined : soc & 0xff,
    soh: r(81),
    chargeTotal: total(82),
    dischargeTotal: total(84),
    chargeToday: total(90),
    dischargeToday: total(92),
    capacityAh: scaled(98, 0.1),
    remainingAh: scaled(99, 0.1),
    /** IR100 as a count: the peer scales it by 0.1, which the energy throughput rules out (see the test). */
    cycles: r(100),
    minDischargeVoltage: scaled(102, 0.1),
    maxChargeVoltage: scaled(103, 0.1),
    dischargeCurrentLimit: scaled(104, 0.1),
    chargeCurrentLimit: scaled(105, 0.1),
    /** IR114–119: raw warning/protection/fault words; their bits are not documented. */
    warningStatus: r(114) === undefined || r(115) === undefined ? undefined : u32(r(114)!, r(115)!),
    protectionStatus: r(116) === undefined || r(117) === undefined ? undefined : u32(r(116)!, r(117)!),
    faultStatus: r(118) === undefined || r(119) === undefined ? undefined : u32(r(118)!, r(119)!),
    serial: serial ? chars(serial) || undefined : undefined,
  };
}

export type BcuTelemetry = ReturnType<typeof bcuTelemetry>;

/** Temperature sensors per module: the stack's sensors over its modules (72 / 6 = 12 on every capture). */
export function sensorsPerModule(bcu: BcuTelemetry): number | undefined {
  return bcu.temperatureSensors && bcu.modules ? Math.floor(bcu.temperatureSensors / bcu.modules) : undefined;
}

/** An empty temperature slot: the BMS's 0 K sentinel (battery.py: 0xF556 = −273.0 °C). */
const ABSENT_TEMPERATURE = -2730;

/**
 * A BMU module's values from its own IR 60–119. Cells: IR60–83 in mV (0 = no cell). Temperatures:
 * IR90 on, 0.1 °C; a module has `sensors` of its own (12) — on the HV stacks IR102–113 repeat the
 * next module's sensors, which the peer reads as 24 of this module's. Serial: IR114–118, or split
 * as IR110 (prefix) + IR115–118 (tail) on firmware that stores it so (module 0x55 of the
 * three-phase stack, every module of the BAAA0013 All in One).
 */
export function bmuTelemetry(bank: RegisterBank, sensors = 12) {
  const cells = (bank.range(60, 24) ?? []).filter((mv) => mv > 0);
  const temps = (bank.range(90, sensors) ?? []).map(s16).filter((t) => t > ABSENT_TEMPERATURE && t !== 0).map((t) => t / 10);
  return {
    cellVoltages: cells.map((mv) => mv / 1000),
    cellCount: bank.has(60) ? cells.length : undefined,
    cellMinVoltage: cells.length ? Math.min(...cells) / 1000 : undefined,
    cellMaxVoltage: cells.length ? Math.max(...cells) / 1000 : undefined,
    /** Highest minus lowest cell, in mV. */
    cellSpread: cells.length ? Math.max(...cells) - Math.min(...cells) : undefined,
    /** The sum of the cells: no register holds the module's voltage. */
    voltage: cells.length ? round3(cells.reduce((a, b) => a + b, 0) / 1000) : undefined,
    temperatures: temps,
    temperatureMax: temps.length ? Math.max(...temps) : undefined,
    temperatureMin: temps.length ? Math.min(...temps) : undefined,
    serial: moduleSerial(bank),
  };
}

export type BmuTelemetry = ReturnType<typeof bmuTelemetry>;

function moduleSerial(bank: RegisterBank): string | undefined {
  const whole = bank.range(114, 5);
  if (whole && isLetters(whole[0])) return chars(whole);
  const prefix = bank.get(110);
  const tail = bank.range(115, 4);
  if (whole && whole[0] === 0 && isLetters(prefix) && tail) return chars([prefix!, ...tail]);
  return undefined;
}

/** A stack as its device shows it: the BCU's values and, when its modules were read, theirs. */
export interface StackReadings {
  bcu: BcuTelemetry;
  modules: readonly BmuTelemetry[];
}

/** The stack's values, with the extremes over its modules' cells and sensors. */
export function stackReadings(bcu: RegisterBank, modules: readonly RegisterBank[] = []): StackReadings {
  const t = bcuTelemetry(bcu);
  const sensors = sensorsPerModule(t);
  return { bcu: t, modules: modules.map((m) => bmuTelemetry(m, sensors)) };
}

const extreme = (values: Array<number | undefined>, pick: (...v: number[]) => number): number | null => {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length ? pick(...known) : null;
};

type Row<T> = { spec: SensorSpec; read: (t: T) => number | string | null };
const percent = { component: 'sensor', deviceClass: 'battery', unit: '%', stateClass: 'measurement' } as const;
const ah = { component: 'sensor', unit: 'Ah', stateClass: 'measurement', icon: 'mdi:battery-50', precision: 1 } as const;

/** The stack's entities (one device per BCU). */
export const BCU_ROWS: ReadonlyArray<Row<StackReadings>> = [
  { spec: { ...percent, key: 'soc', name: 'State of charge' }, read: (s) => s.bcu.soc ?? null },
  { spec: { ...percent, key: 'soc_min', name: 'Lowest state of charge', category: 'diagnostic' }, read: (s) => s.bcu.socMin ?? null },
  { spec: { component: 'sensor', key: 'soh', name: 'State of health', unit: '%', stateClass: 'measurement', icon: 'mdi:battery-heart-variant', category: 'diagnostic' }, read: (s) => s.bcu.soh ?? null },
  { spec: { ...volts, key: 'voltage', name: 'Voltage', category: undefined }, read: (s) => s.bcu.voltage ?? null },
  { spec: { ...amps, key: 'current', name: 'Current', category: undefined }, read: (s) => s.bcu.current ?? null },
  { spec: { ...power, key: 'power', name: 'Power' }, read: (s) => s.bcu.power ?? null },
  { spec: { ...ah, key: 'remaining_capacity', name: 'Remaining capacity' }, read: (s) => s.bcu.remainingAh ?? null },
  { spec: { ...ah, key: 'capacity', name: 'Nominal capacity', category: 'diagnostic' }, read: (s) => s.bcu.capacityAh ?? null },
  { spec: { component: 'sensor', key: 'cycles', name: 'Cycles', icon: 'mdi:battery-sync', stateClass: 'total_increasing', category: 'diagnostic' }, read: (s) => s.bcu.cycles ?? null },
  { spec: { component: 'sensor', key: 'modules', name: 'Modules', icon: 'mdi:battery-high', category: 'diagnostic' }, read: (s) => s.bcu.modules ?? null },
  { spec: { ...kwh, key: 'charge_energy_today', name: 'Charge today' }, read: (s) => s.bcu.chargeToday ?? null },
  { spec: { ...kwh, key: 'discharge_energy_today', name: 'Discharge today' }, read: (s) => s.bcu.dischargeToday ?? null },
  { spec: { ...kwh, key: 'charge_energy_total', name: 'Charge total' }, read: (s) => s.bcu.chargeTotal ?? null },
  { spec: { ...kwh, key: 'discharge_energy_total', name: 'Discharge total' }, read: (s) => s.bcu.dischargeTotal ?? null },
  { spec: { ...celsius, key: 'temperature_max', name: 'Highest temperature' }, read: (s) => extreme(s.modules.map((m) => m.temperatureMax), Math.max) },
  { spec: { ...celsius, key: 'temperature_min', name: 'Lowest temperature' }, read: (s) => extreme(s.modules.map((m) => m.temperatureMin), Math.min) },
  { spec: { ...volts, key: 'cell_min_voltage', name: 'Lowest cell voltage', precision: 3 }, read: (s) => extreme(s.modules.map((m) => m.cellMinVoltage), Math.min) },
  { spec: { ...volts, key: 'cell_max_voltage', name: 'Highest cell voltage', precision: 3 }, read: (s) => extreme(s.modules.map((m) => m.cellMaxVoltage), Math.max) },
  { spec: { component: 'sensor', key: 'status', name: 'Status', deviceClass: 'enum', options: [...BCU_STATUS, 'unknown'], category: 'diagnostic' }, read: (s) => s.bcu.status ?? null },
  { spec: { component: 'sensor', key: 'firmware', name: 'Firmware', icon: 'mdi:chip', category: 'diagnostic' }, read: (s) => s.bcu.firmware ?? null },
];

/** A module's entities (one device per BMU). */
export const BMU_ROWS: ReadonlyArray<Row<BmuTelemetry>> = [
  { spec: { ...volts, key: 'voltage', name: 'Voltage', precision: 2 }, read: (m) => m.voltage ?? null },
  { spec: { ...volts, key: 'cell_min_voltage', name: 'Lowest cell voltage', precision: 3 }, read: (m) => m.cellMinVoltage ?? null },
  { spec: { ...volts, key: 'cell_max_voltage', name: 'Highest cell voltage', precision: 3 }, read: (m) => m.cellMaxVoltage ?? null },
  { spec: { component: 'sensor', key: 'cell_spread', name: 'Cell voltage spread', deviceClass: 'voltage', unit: 'mV', stateClass: 'measurement', category: 'diagnostic' }, read: (m) => m.cellSpread ?? null },
  { spec: { component: 'sensor', key: 'cells', name: 'Cells', icon: 'mdi:battery-outline', category: 'diagnostic' }, read: (m) => m.cellCount ?? null },
  { spec: { ...celsius, key: 'temperature_max', name: 'Highest temperature' }, read: (m) => m.temperatureMax ?? null },
  { spec: { ...celsius, key: 'temperature_min', name: 'Lowest temperature' }, read: (m) => m.temperatureMin ?? null },
];
