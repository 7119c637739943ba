// The GivEnergy EMS (device type 5xxx): a plant controller in front of up to four inverters,
// each with its own batteries. It answers at 0x11 with a plant block at IR 2040–2094 (runtime)
// and HR 2040–2075 (the plant schedule). Register meanings, scales and signs from the peer
// library givenergy-modbus (model/ems.py, model/manifest.py, client/commands.py); the signs of
// IR 2089/2090 and IR 2088 are settled by the captures in test/fixtures/givenergy/captures/
// ems_2_inv_3_bat_a (its README, and the busbar balance the tests check on every page).
import type { SensorSpec } from '../../core/entity.js';
import { celsius, plantFlowRows, power } from './entities.js';
import { ascii } from './model.js';
import { STATUS, s16, slotToTime, splitFlows, type RegisterBank } from './registers.js';

/** One read of a poll: `full` reads only on the slow (configuration) cycle. */
export interface Page {
  device: number;
  fn: 0x03 | 0x04;
  base: number;
  count: number;
  full: boolean;
}

/**
 * What the peer library reads from an EMS: the runtime block every refresh (manifest
 * REFRESH_IR_RANGES "is_ems": IR 2040 × 55; its refresh skips IR 0–59 and 180–239 on an EMS),
 * the schedule block on load_config (LOAD_CONFIG_RANGES "is_ems": HR 2040 × 36), and the identity
 * page detect reads (HR 0–59). Meters at 0x01–0x08 (IR 60 × 30 each) are read as the detected
 * meters, not by this module.
 */
export const EMS_PAGES: readonly Page[] = [
  { device: 0x11, fn: 0x04, base: 2040, count: 55, full: false },
  { device: 0x11, fn: 0x03, base: 2040, count: 36, full: true },
  { device: 0x11, fn: 0x03, base: 0, count: 60, full: true },
];

export const EMS_MAX_INVERTERS = 4;
export const EMS_MAX_METERS = 8;

/** The EMS's 3-bit per-inverter code (IR 2045): only 0 (empty slot) and 2 (present) have been seen (GM #108). */
export const EMS_INVERTER_STATUS = ['absent', 'online', 'unknown'] as const;
/** The 2-bit per-meter code (IR 2043), the peer library's MeterStatus. */
export const METER_STATUS = ['disabled', 'online', 'offline', 'unknown'] as const;

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** A slot the EMS schedules: start/end as "HH:MM:00" (a cleared slot reads 00:00–00:00) and its SoC target. */
export interface EmsSlot {
  start: string | undefined;
  end: string | undefined;
  targetSoc: number | undefined;
}

/** The rollup the EMS keeps for one managed inverter (IR 2045, 2054–2085). */
export interface EmsInverter {
  /** 1–4, the EMS's slot. */
  slot: number;
  serial: string;
  /** The raw 3-bit code of IR 2045. */
  statusCode: number | undefined;
  status: (typeof EMS_INVERTER_STATUS)[number] | undefined;
  /** W, + discharge/export − charge: the sum over slots is IR 2090, the plant's battery power. */
  power: number | undefined;
  soc: number | undefined;
  /** °C. */
  temperature: number | undefined;
}

export interface EmsMeter {
  slot: number;
  status: (typeof METER_STATUS)[number];
  /** W, signed as the meter reports it (slot 1, the grid meter here, equals IR 2089: + import). */
  power: number | undefined;
}

function inverterStatus(code: number | undefined): EmsInverter['status'] {
  if (code === undefined) return undefined;
  return code === 0 ? 'absent' : code === 2 ? 'online' : 'unknown';
}

/** Plant values from IR 2040–2094 and HR 2040–2075 at 0x11. Undefined when not read. */
export function emsTelemetry(ir: RegisterBank, hr: RegisterBank) {
  const r = (n: number) => ir.get(n);
  const signed = (n: number) => (r(n) === undefined ? undefined : s16(r(n)!));
  const status = r(2040);
  // IR 2089 is the grid meter, + import (the 60 s capture's balance, README): flipped to the
  // house convention of inverterTelemetry, + export − import.
  const gridMeter = signed(2089);
  const grid = gridMeter === undefined ? undefined : -gridMeter || 0;
  const battery = signed(2090); // + discharge, − charge (README: the sign pinned by the busbar balance)
  const remainingWh = r(2091);

  const inverters: EmsInverter[] = [];
  for (let i = 0; i < EMS_MAX_INVERTERS; i++) {
    const words = ir.range(2066 + 5 * i, 5);
    const serial = words ? ascii(words) : '';
    if (!serial) continue; // an empty slot reads as zeros (or spaces)
    const packed = r(2045);
    const statusCode = packed === undefined ? undefined : (packed >> (3 * i)) & 0b111;
    const temp = signed(2062 + i);
    inverters.push({
      slot: i + 1,
      serial,
      statusCode,
      status: inverterStatus(statusCode),
      power: signed(2054 + i),
      soc: r(2058 + i),
      temperature: temp === undefined ? undefined : round3(temp * 0.1),
    });
  }

  const meters: EmsMeter[] = [];
  const meterBits = r(2043);
  if (meterBits !== undefined) {
    for (let i = 0; i < EMS_MAX_METERS; i++) {
      const code = (meterBits >> (2 * i)) & 0b11;
      if (code !== 0) meters.push({ slot: i + 1, status: METER_STATUS[code] ?? 'unknown', power: signed(2046 + i) });
    }
  }

  const triple = (base: number): EmsSlot => ({
    start: slotToTime(hr.get(base)),
    end: slotToTime(hr.get(base + 1)),
    targetSoc: hr.get(base + 2),
  });
  const plant = hr.get(2040);
  return {
    status: status === undefined ? undefined : (STATUS[status] ?? 'unknown'),
    fault: status === undefined ? undefined : status === 3,
    meterCount: r(2041),
    inverterCount: r(2044),
    /** IR 2088, "total generation": the generation meter (0x03 on the captured plant); there PV. */
    pvPower: r(2088),
    ...splitFlows(grid, battery),
    /** IR 2086, the load the EMS calculates from its meters (load = generation + battery + grid import). */
    loadPower: r(2086),
    /** IR 2087, a load meter's reading: 0 on the captured plant, which has none. */
    measuredLoadPower: r(2087),
    /** IR 2094, battery power of units outside the managed inverters (0 in every capture). */
    otherBatteryPower: signed(2094),
    /** IR 2091, Wh left in all batteries, as kWh. */
    batteryRemainingKwh: remainingWh === undefined ? undefined : round3(remainingWh / 1000),
    inverters,
    meters,
    // HR 2040–2075: the plant schedule and its controls.
    plantEnabled: plant === undefined ? undefined : plant !== 0,
    exportPowerLimit: hr.get(2071),
    dischargeSlots: [triple(2044), triple(2047), triple(2050)],
    chargeSlots: [triple(2053), triple(2056), triple(2059)],
    exportSlots: [triple(2062), triple(2065), triple(2068)],
  };
}

export type EmsTelemetry = ReturnType<typeof emsTelemetry>;

type Read<T> = (t: T) => number | string | null;

/** The EMS's plant sensors. */
export const EMS_ROWS: ReadonlyArray<{ spec: SensorSpec; read: Read<EmsTelemetry> }> = [
  ...plantFlowRows<EmsTelemetry>('Generation power'),
  {
    spec: { component: 'sensor', key: 'battery_remaining', name: 'Battery energy remaining', deviceClass: 'energy_storage', unit: 'kWh', stateClass: 'measurement' },
    read: (t) => t.batteryRemainingKwh ?? null,
  },
  { spec: { component: 'sensor', key: 'inverter_count', name: 'Managed inverters', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' }, read: (t) => t.inverterCount ?? null },
  { spec: { component: 'sensor', key: 'meter_count', name: 'Meters', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' }, read: (t) => t.meterCount ?? null },
  { spec: { ...power, key: 'export_power_limit', name: 'Export power limit', category: 'diagnostic' }, read: (t) => t.exportPowerLimit ?? null },
  { spec: { component: 'sensor', key: 'status', name: 'Status', deviceClass: 'enum', options: [...STATUS, 'unknown'], category: 'diagnostic' }, read: (t) => t.status ?? null },
];

/** Per managed inverter, from the EMS's rollup (the inverter's own dongle is not needed). */
export const EMS_UNIT_ROWS: ReadonlyArray<{ spec: SensorSpec; read: Read<EmsInverter> }> = [
  { spec: { ...power, key: 'power', name: 'Battery power' }, read: (u) => u.power ?? null },
  { spec: { component: 'sensor', key: 'soc', name: 'Battery state of charge', deviceClass: 'battery', unit: '%', stateClass: 'measurement' }, read: (u) => u.soc ?? null },
  { spec: { ...celsius, key: 'temperature', name: 'Temperature' }, read: (u) => u.temperature ?? null },
  { spec: { component: 'sensor', key: 'status', name: 'Status', deviceClass: 'enum', options: EMS_INVERTER_STATUS, category: 'diagnostic' }, read: (u) => u.status ?? null },
  { spec: { component: 'sensor', key: 'serial', name: 'Serial number', icon: 'mdi:identifier', category: 'diagnostic' }, read: (u) => u.serial },
];

export interface ControlFact {
  register: number;
  meaning: string;
  range: string;
  /** Where the fact comes from. */
  source: string;
}

const EMS_SOURCE = 'givenergy-modbus manifest.WRITE_SAFE_EMS, client/commands.py set_ems_*';
const slotControls = (kind: string, base: number): ControlFact[] =>
  [1, 2, 3].flatMap((n) => {
    const at = base + 3 * (n - 1);
    return [
      { register: at, meaning: `${kind} slot ${n} start`, range: 'hhmm 0–2359 (minutes < 60); 0 clears', source: EMS_SOURCE },
      { register: at + 1, meaning: `${kind} slot ${n} end`, range: 'hhmm 0–2359 (minutes < 60); 0 clears', source: EMS_SOURCE },
      { register: at + 2, meaning: `${kind} slot ${n} target SoC`, range: '0–100 %', source: EMS_SOURCE },
    ];
  });

/** The holding registers the peer library writes on an EMS (at 0x11): HR 2040 and 2044–2071 (family-controls.ts writes them). */
export const EMS_CONTROLS: readonly ControlFact[] = [
  { register: 2040, meaning: 'Plant control ("Flexi EMS") enable', range: '0 off, 1 on', source: EMS_SOURCE },
  ...slotControls('Discharge', 2044),
  ...slotControls('Charge', 2053),
  ...slotControls('Export', 2062),
  { register: 2071, meaning: 'Plant export power limit', range: '0–65535 W', source: EMS_SOURCE },
];
