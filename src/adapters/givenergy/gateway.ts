// The GivEnergy Gateway (device type 7xxx): the grid-side box in front of up to three parallel
// All in One units. It answers at 0x11 with a rollup in IR 1600–1859. Register meanings and
// scales from the peer library givenergy-modbus (model/gateway.py, GatewayV1 layout, which
// select_gateway() now always picks: firmware GAAA0014 falsified the V2 word order, #360);
// signs settled by the captures in test/fixtures/givenergy/captures/gateway_2aio_a, whose
// power balance closes to the watt (see the tests).
import type { SensorSpec } from '../../core/entity.js';
import type { ControlFact, Page } from './ems.js';
import { amps, kwh, plantFlowRows, power, volts } from './entities.js';
import { ascii } from './model.js';
import { s16, splitFlows, u32, type RegisterBank } from './registers.js';

/**
 * What the peer library reads from a Gateway each refresh: IR 0–59 and 180–239 (every non-EMS
 * model) and the rollup IR 1600–1859 in pages of 60 (manifest REFRESH_IR_RANGES "is_gateway":
 * 1600, 1660, 1720, 1780 × 60 and 1840 × 20); the identity page HR 0–59 comes from detect.
 * gatewayTelemetry needs only the rollup.
 */
export const GATEWAY_PAGES: readonly Page[] = [
  { device: 0x11, fn: 0x04, base: 0, count: 60, full: false },
  { device: 0x11, fn: 0x04, base: 180, count: 60, full: false },
  { device: 0x11, fn: 0x04, base: 1600, count: 60, full: false },
  { device: 0x11, fn: 0x04, base: 1660, count: 60, full: false },
  { device: 0x11, fn: 0x04, base: 1720, count: 60, full: false },
  { device: 0x11, fn: 0x04, base: 1780, count: 60, full: false },
  { device: 0x11, fn: 0x04, base: 1840, count: 20, full: false },
  { device: 0x11, fn: 0x03, base: 0, count: 60, full: true },
];

export const GATEWAY_MAX_AIOS = 3;

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** One All in One behind the Gateway. Energies in kWh are the battery (DC) side: the AIOs' sum is IR 1795/1798. */
export interface GatewayAio {
  /** 1–3. */
  slot: number;
  serial: string;
  soc: number | undefined;
  /** W, + discharge − charge (IR 1816+i negated: the register reads + charge). */
  power: number | undefined;
  chargeToday: number | undefined;
  dischargeToday: number | undefined;
  chargeTotal: number | undefined;
  dischargeTotal: number | undefined;
}

/** IR 1600–1603: two ASCII words then two bytes per word as decimal digits ("GA" "AA" 0x0000 0x0104 → GAAA0014). */
function firmware(words: number[] | undefined): string | undefined {
  if (!words) return undefined;
  const digits = words.slice(2).map((w) => `${w >> 8}${w & 0xff}`).join('');
  return ascii(words.slice(0, 2)) + digits;
}

/** Plant values from the Gateway rollup IR 1600–1859 at 0x11. Undefined when not read. `hr` is unused: no HR block is decoded yet. */
export function gatewayTelemetry(ir: RegisterBank, _hr?: RegisterBank) {
  const r = (n: number) => ir.get(n);
  const signed = (n: number) => (r(n) === undefined ? undefined : s16(r(n)!));
  const negated = (n: number) => (r(n) === undefined ? undefined : -s16(r(n)!) || 0);
  const deci = (n: number, isSigned = false) => (r(n) === undefined ? undefined : round3((isSigned ? s16(r(n)!) : r(n)!) * 0.1));
  const total = (hi: number) => (r(hi) === undefined || r(hi + 1) === undefined ? undefined : round3(u32(r(hi)!, r(hi + 1)!) * 0.1));
  const grid = signed(1616); // p_ac1, the grid port: + export − import (the balance below closes only so)
  const battery = negated(1619); // p_liberty, the AIO port: the register reads + charge
  const faults = r(1622) === undefined || r(1623) === undefined ? undefined : u32(r(1622)!, r(1623)!);

  const aios: GatewayAio[] = [];
  for (let i = 0; i < GATEWAY_MAX_AIOS; i++) {
    const words = ir.range(1841 + 5 * i, 5);
    const serial = words ? ascii(words) : '';
    if (!serial) continue;
    aios.push({
      slot: i + 1,
      serial,
      soc: r(1801 + i),
      power: negated(1816 + i),
      chargeToday: deci(1705 + 3 * i),
      chargeTotal: total(1706 + 3 * i),
      dischargeToday: deci(1750 + 3 * i),
      dischargeTotal: total(1751 + 3 * i),
    });
  }

  return {
    firmware: firmware(ir.range(1600, 4)),
    /** IR 1604, the peer library's WorkMode (2 = on grid). */
    workMode: r(1604),
    faultCode: faults,
    fault: faults === undefined ? undefined : faults !== 0,
    gridVoltage: deci(1608, true),
    gridCurrent: deci(1609, true),
    loadVoltage: deci(1610),
    loadCurrent: deci(1611),
    pvCurrent: deci(1612, true),
    pvPower: r(1617),
    // batteryPower: the AIOs' AC side at the Gateway (IR 1619), + discharge − charge.
    ...splitFlows(grid, battery),
    /** IR 1702, the AIOs' own sum of IR 1816–1818 (+ discharge); differs from IR 1619 by the AIOs' losses. */
    aioPower: negated(1702),
    loadPower: r(1618),
    // Today (kWh, IR 1640–1655) and lifetime (u32 high word first, V1 order) counters.
    importToday: deci(1640),
    pvToday: deci(1643),
    exportToday: deci(1646),
    /** AC side into / out of the AIOs (IR 1649/1652); the battery (DC) side is batteryChargeToday. */
    aioChargeToday: deci(1649),
    aioDischargeToday: deci(1652),
    loadToday: deci(1655),
    importTotal: total(1641),
    pvTotal: total(1644),
    exportTotal: total(1647),
    aioChargeTotal: total(1650),
    aioDischargeTotal: total(1653),
    loadTotal: total(1656),
    /** Battery (DC) side, the sum of the per-AIO counters (IR 1795–1800). */
    chargeToday: deci(1795),
    dischargeToday: deci(1798),
    chargeTotal: total(1796),
    dischargeTotal: total(1799),
    aioCount: r(1700),
    aioOnline: r(1701),
    /** IR 1703, the peer library's battery State code. */
    aioState: r(1703),
    batteryFirmware: r(1704),
    firstAioSerial: ir.range(1627, 5) ? ascii(ir.range(1627, 5)!) : undefined,
    aios,
  };
}

export type GatewayTelemetry = ReturnType<typeof gatewayTelemetry>;

type Read<T> = (t: T) => number | string | null;
const e = (key: string, name: string, read: (t: GatewayTelemetry) => number | undefined) => ({ spec: { ...kwh, key, name } as SensorSpec, read: (t: GatewayTelemetry) => read(t) ?? null });

/** The Gateway's plant sensors. */
export const GATEWAY_ROWS: ReadonlyArray<{ spec: SensorSpec; read: Read<GatewayTelemetry> }> = [
  ...plantFlowRows<GatewayTelemetry>('PV power'),
  e('pv_energy_today', 'PV energy today', (t) => t.pvToday),
  e('import_energy_today', 'Grid import today', (t) => t.importToday),
  e('export_energy_today', 'Grid export today', (t) => t.exportToday),
  e('charge_energy_today', 'Battery charge today', (t) => t.chargeToday),
  e('discharge_energy_today', 'Battery discharge today', (t) => t.dischargeToday),
  e('load_energy_today', 'Load energy today', (t) => t.loadToday),
  e('pv_energy_total', 'PV energy total', (t) => t.pvTotal),
  e('import_energy_total', 'Grid import total', (t) => t.importTotal),
  e('export_energy_total', 'Grid export total', (t) => t.exportTotal),
  e('charge_energy_total', 'Battery charge total', (t) => t.chargeTotal),
  e('discharge_energy_total', 'Battery discharge total', (t) => t.dischargeTotal),
  e('load_energy_total', 'Load energy total', (t) => t.loadTotal),
  { spec: { ...volts, key: 'grid_voltage', name: 'Grid voltage' }, read: (t) => t.gridVoltage ?? null },
  { spec: { ...amps, key: 'grid_current', name: 'Grid current' }, read: (t) => t.gridCurrent ?? null },
  { spec: { ...volts, key: 'load_voltage', name: 'Load voltage' }, read: (t) => t.loadVoltage ?? null },
  { spec: { component: 'sensor', key: 'aio_count', name: 'All in One units', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' }, read: (t) => t.aioCount ?? null },
  { spec: { component: 'sensor', key: 'fault_code', name: 'Fault code', icon: 'mdi:alert-circle-outline', category: 'diagnostic' }, read: (t) => t.faultCode ?? null },
  { spec: { component: 'sensor', key: 'firmware', name: 'Firmware', icon: 'mdi:chip', category: 'diagnostic' }, read: (t) => t.firmware ?? null },
];

/** Per All in One, from the Gateway rollup. */
export const GATEWAY_UNIT_ROWS: ReadonlyArray<{ spec: SensorSpec; read: Read<GatewayAio> }> = [
  { spec: { ...power, key: 'power', name: 'Battery power' }, read: (u) => u.power ?? null },
  { spec: { component: 'sensor', key: 'soc', name: 'Battery state of charge', deviceClass: 'battery', unit: '%', stateClass: 'measurement' }, read: (u) => u.soc ?? null },
  { spec: { ...kwh, key: 'charge_energy_today', name: 'Battery charge today' }, read: (u) => u.chargeToday ?? null },
  { spec: { ...kwh, key: 'discharge_energy_today', name: 'Battery discharge today' }, read: (u) => u.dischargeToday ?? null },
  { spec: { ...kwh, key: 'charge_energy_total', name: 'Battery charge total' }, read: (u) => u.chargeTotal ?? null },
  { spec: { ...kwh, key: 'discharge_energy_total', name: 'Battery discharge total' }, read: (u) => u.dischargeTotal ?? null },
  { spec: { component: 'sensor', key: 'serial', name: 'Serial number', icon: 'mdi:identifier', category: 'diagnostic' }, read: (u) => u.serial },
];

/**
 * The peer library has no Gateway write set: write_safe_registers(GATEWAY) falls through to
 * the single-phase inverter set, and HR 313/314 are deliberately not write-safe there. What
 * GivTCP writes on a Gateway (at 0x11) is the AC charge/discharge limit pair below, read back
 * as 50/100 from HR 300–359 in the gateway_2aio_a captures (givenergy-modbus #373, #427).
 * Nothing here writes them yet.
 */
export const GATEWAY_CONTROLS: readonly ControlFact[] = [
  { register: 313, meaning: 'AIO charge power limit (AC), % of the battery maximum', range: '1–100 %', source: 'GivTCP (givenergy-modbus #373/#427); not write-safe in givenergy-modbus' },
  { register: 314, meaning: 'AIO discharge power limit (AC), % of the battery maximum', range: '1–100 %', source: 'GivTCP (givenergy-modbus #373/#427); not write-safe in givenergy-modbus' },
];
