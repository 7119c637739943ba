// Three-phase GivEnergy inverters (device type 4xxx hybrid, 6xxx AC): their telemetry lives in the
// register banks at 1000+, not in IR 0–59. Register meanings follow the peer library
// givenergy-modbus (model/inverter_threephase.py); where its scale or sign disagrees with the wire
// (the three-phase captures in test/fixtures/givenergy/captures/three_phase_hv_a), the wire wins and
// the comment says why. Field names match InverterTelemetry wherever the quantity exists.
import type { SensorSpec } from '../../core/entity.js';
import { amps, power, volts } from './entities.js';
import { STATUS, s16, slotToTime, u32, type InverterTelemetry, type RegisterBank } from './registers.js';

/** One read of a poll. `full`: only on the full refresh (configuration, not telemetry). */
export interface ThreePhasePage {
  fn: 0x03 | 0x04;
  base: number;
  count: number;
  full: boolean;
}

/**
 * The three-phase banks as the peer library's refresh reads them (seen on the wire in
 * giv3hy11_hass174_180s.txt and giv3hy11_da011_detect_10min.log): IR 1000–1359 in six pages of 60,
 * IR 1360–1413 as one page of 54; HR 1000–1119 in two pages of 60 and HR 1120–1124 as one of 5.
 * The identity page HR 0–59 (device type, serials, clock) is read as on every other model.
 */
export const THREE_PHASE_PAGES: readonly ThreePhasePage[] = [
  { fn: 0x04, base: 1000, count: 60, full: false }, // PV
  { fn: 0x04, base: 1060, count: 60, full: false }, // grid, per phase, load, inverter output
  { fn: 0x04, base: 1120, count: 60, full: false }, // battery, temperatures
  { fn: 0x04, base: 1180, count: 60, full: false }, // EPS per phase
  { fn: 0x04, base: 1240, count: 60, full: false }, // second meter
  { fn: 0x04, base: 1300, count: 60, full: false }, // fault words, firmware
  { fn: 0x04, base: 1360, count: 54, full: false }, // energy today / total
  { fn: 0x03, base: 1000, count: 60, full: true }, // grid protection settings
  { fn: 0x03, base: 1060, count: 60, full: true }, // battery settings, rates, SoC limits, slots 1–2
  { fn: 0x03, base: 1120, count: 5, full: true }, // force discharge / charge, maintenance mode
];

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** Decoded three-phase telemetry: InverterTelemetry's fields plus the per-phase ones. */
export function threePhaseTelemetry(ir: RegisterBank, hr: RegisterBank) {
  const r = (n: number) => ir.get(n);
  const scaled = (n: number, f: number, signed = false) => {
    const v = r(n);
    return v === undefined ? undefined : round3((signed ? s16(v) : v) * f);
  };
  /** u32 (high word first) × f; signed: two's complement over 32 bits. */
  const wide = (hi: number, f: number, signed = false) => {
    const a = r(hi);
    const b = r(hi + 1);
    if (a === undefined || b === undefined) return undefined;
    const v = u32(a, b);
    return round3((signed && a & 0x8000 ? v - 0x1_0000_0000 : v) * f);
  };
  const sum = (...vs: Array<number | undefined>) => (vs.some((v) => v === undefined) ? undefined : round3(vs.reduce<number>((a, v) => a + v!, 0)));
  const diff = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : round3(a - b));

  const status = r(1076);
  const pv1 = wide(1017, 0.1);
  const pv2 = wide(1019, 0.1);
  const imported = wide(1079, 0.1); // meter, always ≥ 0
  const exported = wide(1081, 0.1);
  const discharge = wide(1136, 0.1);
  const charge = wide(1138, 0.1);
  const chargeTotal = wide(1394, 0.1);
  const dischargeTotal = wide(1390, 0.1);

  const phases = [0, 1, 2].map((i) => ({
    /** Phase to neutral, V (IR 1094–1096; ≈ line voltage / √3 on the wire). */
    voltage: scaled(1094 + i, 0.1),
    /** Line to line, V (IR 1061–1063; the peer's v_ac1..3, ≈ 405 V on a 230/400 V grid). */
    lineVoltage: scaled(1061 + i, 0.1),
    /** The inverter's AC current on this phase, A (IR 1064–1066). */
    current: scaled(1064 + i, 0.1),
    /** Grid power on this phase, W, + export − import (IR 1083–1085; the three sum to the meter's net). */
    power: scaled(1083 + i, 1, true),
    /** Inverter output on this phase, W, signed (IR 1091–1093; the three sum to IR 1069/1070). */
    inverterPower: scaled(1091 + i, 1, true),
    /** House load on this phase, W (IR 1086–1088; the three sum to IR 1089/1090). */
    loadPower: scaled(1086 + i, 1),
    epsVoltage: scaled(1181 + i, 0.1),
    epsCurrent: scaled(1184 + i, 0.1),
    epsPower: wide(1187 + 2 * i, 0.1),
  }));

  const base: InverterTelemetry = {
    status: status === undefined ? undefined : (STATUS[status] ?? 'unknown'),
    fault: status === undefined ? undefined : status === 3,
    pv1Power: pv1,
    pv2Power: pv2,
    pvPower: sum(pv1, pv2),
    pv1Voltage: scaled(1001, 0.1),
    pv2Voltage: scaled(1002, 0.1),
    pv1Current: scaled(1009, 0.1),
    pv2Current: scaled(1010, 0.1),
    gridPower: diff(exported, imported), // + export, − import
    importPower: imported,
    exportPower: exported,
    batteryPower: diff(discharge, charge), // + discharge, − charge (peer #262: IR 52 reads frozen here)
    chargePower: charge,
    dischargePower: discharge,
    loadPower: wide(1089, 0.1),
    epsPower: sum(...phases.map((p) => p.epsPower)),
    inverterPower: wide(1069, 0.1, true),
    gridVoltage: undefined, // per phase only: phases[].voltage
    gridFrequency: scaled(1067, 0.01),
    gridCurrent: undefined, // per phase only: phases[].current
    epsVoltage: undefined, // per phase only: phases[].epsVoltage
    epsFrequency: scaled(1180, 0.01),
    batteryVoltage: scaled(1131, 0.1), // as the BMS reports it
    batteryCurrent: scaled(1140, 0.01, true), // centi-amps (peer #264), + discharge
    heatsinkTemperature: scaled(1128, 0.1, true),
    chargerTemperature: undefined, // no such sensor; see boost / buck-boost temperatures
    batteryTemperature: undefined, // the HV stack's BCU reports it, not the inverter
    soc: r(1132),
    pvToday: wide(1412, 0.1),
    exportToday: wide(1384, 0.1),
    importToday: wide(1380, 0.1),
    chargeToday: wide(1392, 0.1),
    dischargeToday: wide(1388, 0.1),
    loadToday: wide(1396, 0.1),
    pvTotal: wide(1374, 0.1),
    exportTotal: wide(1386, 0.1),
    importTotal: wide(1382, 0.1),
    batteryThroughputTotal: sum(chargeTotal, dischargeTotal), // peer #262: IR 6/7 read frozen here
  };

  const flag = (n: number) => (hr.get(n) === undefined ? undefined : hr.get(n) === 1);
  return {
    ...base,
    phases,
    batteryVoltageInverter: scaled(1133, 0.1),
    boostTemperature: scaled(1129, 0.1, true),
    buckBoostTemperature: scaled(1130, 0.1, true),
    systemMode: r(1075),
    /** IR 1300–1307 as read: one bit per fault, tables in the peer's inverter_threephase.py. */
    faultWords: ir.range(1300, 8),
    /** IR 1244/1245 (peer: p_meter2), W. Tracks evening PV on the captured plant; meaning unconfirmed. */
    meter2Power: wide(1244, 0.1),
    pv1Today: wide(1366, 0.1),
    pv2Today: wide(1370, 0.1),
    acChargeToday: wide(1376, 0.1),
    acChargeTotal: wide(1378, 0.1),
    inverterOutToday: wide(1360, 0.1),
    inverterOutTotal: wide(1362, 0.1),
    chargeTotal,
    dischargeTotal,
    loadTotal: wide(1398, 0.1),
    // Settings (HR, read on the full refresh).
    batteryReserveSoc: hr.get(1078),
    dischargeLimitPercent: hr.get(1108),
    socReserve: hr.get(1109),
    chargeLimitPercent: hr.get(1110),
    chargeTargetSoc: hr.get(1111),
    acChargeEnabled: flag(1112),
    chargeSlot1: slot(hr, 1113),
    chargeSlot2: slot(hr, 1115),
    dischargeSlot1: slot(hr, 1118),
    dischargeSlot2: slot(hr, 1120),
    forceDischargeEnabled: flag(1122),
    forceChargeEnabled: flag(1123),
  };
}

function slot(hr: RegisterBank, start: number): { start: string; end: string } | undefined {
  const from = slotToTime(hr.get(start));
  const to = slotToTime(hr.get(start + 1));
  return from === undefined || to === undefined ? undefined : { start: from, end: to };
}

export type ThreePhaseTelemetry = ReturnType<typeof threePhaseTelemetry>;

type Phase = ThreePhaseTelemetry['phases'][number];

/** Per-phase sensors, L1–L3. */
export const THREE_PHASE_ROWS: ReadonlyArray<{ spec: SensorSpec; read: (t: ThreePhaseTelemetry) => number | string | null }> = [1, 2, 3].flatMap((n) => {
  const at = (pick: (p: Phase) => number | undefined) => (t: ThreePhaseTelemetry) => {
    const p = t.phases[n - 1];
    return (p && pick(p)) ?? null;
  };
  return [
    { spec: { ...volts, key: `l${n}_voltage`, name: `L${n} voltage` }, read: at((p) => p.voltage) },
    { spec: { ...amps, key: `l${n}_current`, name: `L${n} current`, precision: 1 }, read: at((p) => p.current) },
    { spec: { ...power, key: `l${n}_power`, name: `L${n} grid power` }, read: at((p) => p.power) },
    { spec: { ...power, key: `l${n}_inverter_power`, name: `L${n} inverter power` }, read: at((p) => p.inverterPower) },
    { spec: { ...power, key: `l${n}_load_power`, name: `L${n} load power` }, read: at((p) => p.loadPower) },
    { spec: { ...volts, key: `l${n}_eps_voltage`, name: `L${n} EPS voltage` }, read: at((p) => p.epsVoltage) },
    { spec: { ...power, key: `l${n}_eps_power`, name: `L${n} EPS power` }, read: at((p) => p.epsPower) },
  ];
});

/**
 * The holding registers the peer library's three-phase commands write (client/commands.py:
 * RegisterMap, _ThreePhaseCommands.WRITE_SAFE_REGISTERS, slot_map.THREE_PHASE_SLOTS), plus the
 * rate registers GivTCP writes (research givenergy.md §2.3/§2.5). Facts only: nothing writes them yet.
 */
export const THREE_PHASE_CONTROLS: ReadonlyArray<{ register: number; meaning: string; range: string }> = [
  { register: 20, meaning: 'charge target enable (shared with single-phase; written with HR 1111 by the peer)', range: '0/1' },
  { register: 27, meaning: 'battery power mode: 1 match demand (Eco), 0 max power (export) (shared with single-phase)', range: '0/1' },
  { register: 59, meaning: 'discharge enable (shared with single-phase; the peer’s Eco mode writes 0)', range: '0/1' },
  { register: 1078, meaning: 'battery reserve SoC ("Battery Reserve %", three-phase only)', range: '4–100 % (bounds unconfirmed)' },
  { register: 1103, meaning: 'export limit enable (installer tier)', range: '0/1' },
  { register: 1108, meaning: 'battery discharge power limit (peer reads it; GivTCP writes round(W / max battery W × 100))', range: '0–100 %' },
  { register: 1109, meaning: 'SoC reserve, discharge stops here ("Discharge down to %"; shadows HR 110)', range: '4–100 %' },
  { register: 1110, meaning: 'battery charge power limit (peer reads it; GivTCP writes round(W / max battery W × 100))', range: '0–100 %' },
  { register: 1111, meaning: 'charge target SoC (shadows HR 116)', range: '4–100 %' },
  { register: 1112, meaning: 'AC charge enable (the peer’s set_enable_charge on three-phase; replaces HR 96)', range: '0/1' },
  { register: 1113, meaning: 'charge slot 1 start', range: 'hhmm 0–2359' },
  { register: 1114, meaning: 'charge slot 1 end', range: 'hhmm 0–2359' },
  { register: 1115, meaning: 'charge slot 2 start', range: 'hhmm 0–2359' },
  { register: 1116, meaning: 'charge slot 2 end', range: 'hhmm 0–2359' },
  { register: 1118, meaning: 'discharge slot 1 start', range: 'hhmm 0–2359' },
  { register: 1119, meaning: 'discharge slot 1 end', range: 'hhmm 0–2359' },
  { register: 1120, meaning: 'discharge slot 2 start', range: 'hhmm 0–2359' },
  { register: 1121, meaning: 'discharge slot 2 end', range: 'hhmm 0–2359' },
  { register: 1122, meaning: 'force discharge enable', range: '0/1' },
  { register: 1123, meaning: 'force charge enable', range: '0/1' },
  { register: 246, meaning: 'charge slots 3–10 start/end at 246/247, 249/250 … 267/268 (as on single-phase)', range: 'hhmm 0–2359' },
  { register: 276, meaning: 'discharge slots 3–10 start/end at 276/277, 279/280 … 297/298 (as on single-phase)', range: 'hhmm 0–2359' },
];
