// The register maps a heat pump reads: the Saia-Burgess ALE3 (Viessmann's own "Energiezähler",
// FC03 holding registers, wire addresses 0–51) and an Eastron SDM630 (FC04 float32 input
// registers). Sources: shared research viessmann-pvheater.md §1.5 (ALE3 datasheet, mbmd sbc.go,
// the 262-A emulator) and §2.1 (mbmd sdm.go). Encoding is pure; the banks only hold the last
// encoded image so a poll costs a copy, not an encode.
import type { ExceptionCode, RegisterBank } from './modbus-slave.js';

export type PhaseValues = readonly [l1: number, l2: number, l3: number];

/** What the meter serves, already in the heat pump's sign convention. */
export interface MeterReading {
  /** Active power per phase, W (signed). */
  powerW: PhaseValues;
  /** Voltage per phase, V; 230 V when not measured. */
  voltageV?: PhaseValues;
  /** Reactive power per phase, var; 0 when not given. */
  reactivePowerVar?: PhaseValues;
  /** cos φ per phase (−1…1); 1 when not given. */
  powerFactor?: PhaseValues;
  /** Frequency, Hz (SDM630 only); 50 when not given. */
  frequencyHz?: number;
  /** Energy counters, Wh. ALE3: T1 total / T2 total (mbmd reads T2 as export); SDM630: import / export. */
  importEnergyWh?: number;
  exportEnergyWh?: number;
  /** ALE3 partial counters (resettable by the master), Wh; equal to the totals when not given. */
  importPartialWh?: number;
  exportPartialWh?: number;
  /** ALE3 tariff in use. */
  tariff?: 1 | 2;
}

export interface Ale3Identity {
  /** R1, firmware version ×10 (11 = 1.1). */
  firmware?: number;
  /** R15, hardware version ×10. */
  hardware?: number;
  /** R16–18, up to 48 bits, high word first. */
  serialNumber?: number;
  /** R4–5, the baud rate the meter reports. */
  baudRate?: number;
  /** R24, the meter's Modbus address. */
  unitId?: number;
  /** R7–14, two ASCII characters per register. */
  typeString?: string;
  /** R23, response timeout the meter reports, ms. */
  responseTimeoutMs?: number;
}

export const ALE3_REGISTER_COUNT = 52;
/** The real meter answers at most 20 registers per read, exception 02 beyond (datasheet p. 5). */
export const ALE3_MAX_READ = 20;
export const ALE3_TYPE_STRING = 'ALE3D5FD10C2A00';

/** Wire (0-based PDU) addresses; the datasheet's R numbers are these + 1. */
export const ALE3 = {
  firmware: 0,
  registerCount: 1,
  flagCount: 2,
  baudRate: 3, // u32, 3–4
  typeString: 6, // 8 registers, 6–13
  hardware: 14,
  serialNumber: 15, // 3 registers, 15–17
  status: 21,
  responseTimeout: 22,
  modbusAddress: 23,
  errors: 24,
  tariff: 26,
  energyT1Total: 27, // u32, 0.01 kWh
  energyT1Partial: 29,
  energyT2Total: 31,
  energyT2Partial: 33,
  /** Per phase, five registers from here: U (1 V), I (0.1 A), P (0.01 kW), Q (0.01 kvar), cos φ (0.01). */
  phase: [35, 40, 45] as const,
  powerTotal: 50,
  reactiveTotal: 51,
} as const;

const DEFAULT_VOLTAGE = 230;

/** Round to an integer count of `unit`, clamped to int16 and masked to 16 bits (two's complement). */
export function int16Units(value: number, unit: number): number {
  const counts = Number.isFinite(value) ? Math.round(value / unit) : 0;
  return Math.max(-32768, Math.min(32767, counts)) & 0xffff;
}

function uint16Units(value: number, unit: number): number {
  const counts = Number.isFinite(value) ? Math.round(value / unit) : 0;
  return Math.max(0, Math.min(0xffff, counts));
}

/** Energy counters count whole 10 Wh steps (never ahead of the energy) and wrap like a u32. */
function energyCounts(wh: number | undefined): number {
  if (wh === undefined || !Number.isFinite(wh) || wh < 0) return 0;
  return Math.floor(wh / 10) % 0x1_0000_0000;
}

function putU32(regs: Uint16Array, address: number, value: number): void {
  regs[address] = Math.floor(value / 0x10000) & 0xffff;
  regs[address + 1] = value & 0xffff;
}

function apparentVa(powerW: number, reactiveVar: number): number {
  return Math.hypot(Number.isFinite(powerW) ? powerW : 0, Number.isFinite(reactiveVar) ? reactiveVar : 0);
}

/** The 52 ALE3 holding registers for a reading. */
export function encodeAle3(reading: MeterReading, identity: Ale3Identity = {}): Uint16Array {
  const regs = new Uint16Array(ALE3_REGISTER_COUNT);
  regs[ALE3.firmware] = identity.firmware ?? 11;
  regs[ALE3.registerCount] = ALE3_REGISTER_COUNT;
  regs[ALE3.flagCount] = 0;
  putU32(regs, ALE3.baudRate, identity.baudRate ?? 19200);
  // 15 characters in 8 registers; the 16th is not documented, a space keeps it printable.
  const type = (identity.typeString ?? ALE3_TYPE_STRING).padEnd(16, ' ').slice(0, 16);
  for (let i = 0; i < 8; i++) regs[ALE3.typeString + i] = ((type.charCodeAt(2 * i) & 0xff) << 8) | (type.charCodeAt(2 * i + 1) & 0xff);
  regs[ALE3.hardware] = identity.hardware ?? 11;
  const serial = Math.max(0, Math.floor(identity.serialNumber ?? 0)) % 2 ** 48;
  regs[ALE3.serialNumber] = Math.floor(serial / 2 ** 32) & 0xffff;
  regs[ALE3.serialNumber + 1] = Math.floor(serial / 0x10000) & 0xffff;
  regs[ALE3.serialNumber + 2] = serial & 0xffff;
  regs[ALE3.status] = 0;
  regs[ALE3.responseTimeout] = identity.responseTimeoutMs ?? 60;
  regs[ALE3.modbusAddress] = identity.unitId ?? 1;
  regs[ALE3.errors] = 0;
  regs[ALE3.tariff] = reading.tariff === 2 ? 4 : 0;
  putU32(regs, ALE3.energyT1Total, energyCounts(reading.importEnergyWh));
  putU32(regs, ALE3.energyT1Partial, energyCounts(reading.importPartialWh ?? reading.importEnergyWh));
  putU32(regs, ALE3.energyT2Total, energyCounts(reading.exportEnergyWh));
  putU32(regs, ALE3.energyT2Partial, energyCounts(reading.exportPartialWh ?? reading.exportEnergyWh));
  let totalW = 0;
  let totalVar = 0;
  for (let phase = 0; phase < 3; phase++) {
    const base = ALE3.phase[phase]!;
    const power = reading.powerW[phase] ?? 0;
    const reactive = reading.reactivePowerVar?.[phase] ?? 0;
    const voltage = reading.voltageV?.[phase] ?? DEFAULT_VOLTAGE;
    regs[base] = uint16Units(voltage, 1);
    regs[base + 1] = voltage > 0 ? uint16Units(apparentVa(power, reactive) / voltage, 0.1) : 0;
    regs[base + 2] = int16Units(power, 10);
    regs[base + 3] = int16Units(reactive, 10);
    regs[base + 4] = int16Units(reading.powerFactor?.[phase] ?? 1, 0.01);
    totalW += Number.isFinite(power) ? power : 0;
    totalVar += Number.isFinite(reactive) ? reactive : 0;
  }
  regs[ALE3.powerTotal] = int16Units(totalW, 10);
  regs[ALE3.reactiveTotal] = int16Units(totalVar, 10);
  return regs;
}

/** SDM630 input register addresses (each a float32, two registers, high word first). */
export const SDM630 = {
  voltage: [0x00, 0x02, 0x04] as const,
  current: [0x06, 0x08, 0x0a] as const,
  power: [0x0c, 0x0e, 0x10] as const,
  apparent: [0x12, 0x14, 0x16] as const,
  reactive: [0x18, 0x1a, 0x1c] as const,
  powerFactor: [0x1e, 0x20, 0x22] as const,
  powerTotal: 0x34,
  apparentTotal: 0x38,
  reactiveTotal: 0x3c,
  powerFactorTotal: 0x3e,
  phaseAngleTotal: 0x42,
  frequency: 0x46,
  importEnergy: 0x48,
  exportEnergy: 0x4a,
} as const;

/** Registers 0x0000–0x004F; the reactive energies (0x4C–0x4F) and unlisted addresses read 0. */
export const SDM630_REGISTER_COUNT = 0x50;
/** Eastron's protocol allows 40 parameters (80 registers) per request. */
export const SDM630_MAX_READ = 80;

function putFloat(regs: Uint16Array, address: number, value: number): void {
  const bytes = Buffer.alloc(4);
  bytes.writeFloatBE(Number.isFinite(value) ? value : 0);
  regs[address] = bytes.readUInt16BE(0);
  regs[address + 1] = bytes.readUInt16BE(2);
}

/** The SDM630 input registers 0x00–0x4F for a reading. */
export function encodeSdm630(reading: MeterReading): Uint16Array {
  const regs = new Uint16Array(SDM630_REGISTER_COUNT);
  let totalW = 0;
  let totalVar = 0;
  let totalVa = 0;
  for (let phase = 0; phase < 3; phase++) {
    const power = reading.powerW[phase] ?? 0;
    const reactive = reading.reactivePowerVar?.[phase] ?? 0;
    const voltage = reading.voltageV?.[phase] ?? DEFAULT_VOLTAGE;
    const apparent = apparentVa(power, reactive);
    putFloat(regs, SDM630.voltage[phase]!, voltage);
    putFloat(regs, SDM630.current[phase]!, voltage > 0 ? apparent / voltage : 0);
    putFloat(regs, SDM630.power[phase]!, power);
    putFloat(regs, SDM630.apparent[phase]!, apparent);
    putFloat(regs, SDM630.reactive[phase]!, reactive);
    putFloat(regs, SDM630.powerFactor[phase]!, reading.powerFactor?.[phase] ?? 1);
    totalW += Number.isFinite(power) ? power : 0;
    totalVar += Number.isFinite(reactive) ? reactive : 0;
    totalVa += apparent;
  }
  putFloat(regs, SDM630.powerTotal, totalW);
  putFloat(regs, SDM630.apparentTotal, totalVa);
  putFloat(regs, SDM630.reactiveTotal, totalVar);
  putFloat(regs, SDM630.powerFactorTotal, totalVa > 0 ? totalW / totalVa : 1);
  putFloat(regs, SDM630.phaseAngleTotal, 0);
  putFloat(regs, SDM630.frequency, reading.frequencyHz ?? 50);
  putFloat(regs, SDM630.importEnergy, Math.max(0, reading.importEnergyWh ?? 0) / 1000);
  putFloat(regs, SDM630.exportEnergy, Math.max(0, reading.exportEnergyWh ?? 0) / 1000);
  return regs;
}

function readImage(image: Uint16Array, address: number, count: number): Uint16Array | undefined {
  if (address < 0 || count < 1 || address + count > image.length) return undefined;
  return image.subarray(address, address + count);
}

/** Which ALE3 partial counter the master reset (by writing 0 to both of its registers). */
export type PartialCounter = 'import' | 'export';

/** The ALE3 as a register bank: FC03 reads, FC16 writes that only reset the partial counters. */
export class Ale3Bank implements RegisterBank {
  readonly readFunction = 3 as const;
  readonly writeFunction = 16 as const;
  readonly maxReadCount = ALE3_MAX_READ;
  private image: Uint16Array;

  constructor(
    private readonly identity: Ale3Identity = {},
    private readonly onPartialReset?: (counter: PartialCounter) => void,
    reading: MeterReading = { powerW: [0, 0, 0] },
  ) {
    this.image = encodeAle3(reading, identity);
  }

  update(reading: MeterReading): void {
    this.image = encodeAle3(reading, this.identity);
  }

  read(address: number, count: number): Uint16Array | undefined {
    return readImage(this.image, address, count);
  }

  // The datasheet marks only the partial counters (reset by writing 0) and the Modbus address as
  // writable; the address is an add-on option here, so a write to it is refused like a read-only one.
  write(address: number, values: readonly number[]): ExceptionCode | undefined {
    const counter = address === ALE3.energyT1Partial ? 'import' : address === ALE3.energyT2Partial ? 'export' : undefined;
    if (!counter || values.length !== 2) return 2;
    if (values[0] !== 0 || values[1] !== 0) return 3;
    this.image[address] = 0;
    this.image[address + 1] = 0;
    this.onPartialReset?.(counter);
    return undefined;
  }
}

/** The SDM630 as a register bank: FC04 float32 reads only. */
export class Sdm630Bank implements RegisterBank {
  readonly readFunction = 4 as const;
  readonly maxReadCount = SDM630_MAX_READ;
  private image: Uint16Array;

  constructor(reading: MeterReading = { powerW: [0, 0, 0] }) {
    this.image = encodeSdm630(reading);
  }

  update(reading: MeterReading): void {
    this.image = encodeSdm630(reading);
  }

  read(address: number, count: number): Uint16Array | undefined {
    return readImage(this.image, address, count);
  }
}
