// The GivEVC's holding registers (research/givenergy.md §3, from GivTCP's evc.py): what is read,
// how it decodes, and what may be written with which range. Nothing here opens a socket.
import type { WriteRule } from '../../io/safe-writer.js';

/** The two reads GivTCP makes: HR 0–59 and HR 60–114. */
export const READ_BLOCKS: ReadonlyArray<{ start: number; count: number }> = [
  { start: 0, count: 60 },
  { start: 60, count: 55 },
];
export const REGISTER_COUNT = 115;

export const HR = {
  state: 0,
  cable: 2,
  error: 4,
  currentL1: 6,
  currentL2: 8,
  currentL3: 10,
  /** 32-bit: high word at 12 (see decode), low word at 13 as GivTCP reads it. */
  activePower: 13,
  powerL1: 17,
  powerL2: 20,
  powerL3: 24,
  /** 32-bit: high word at 28, low word at 29 (GivTCP reads 29 alone). */
  meterEnergy: 29,
  evseMax: 32,
  evseMin: 34,
  chargeLimit: 36,
  serialStart: 38,
  serialEnd: 68,
  sessionEnergy: 72,
  sessionStart: 74,
  sessionDuration: 79,
  sessionEnd: 82,
  /** Written with A × 10; read back at 36. */
  chargeLimitWrite: 91,
  /** 0 = enabled, 1 = disabled; read and written here. */
  plugAndGo: 93,
  /** Charge control as the charger reports it (0 Ready, 1 Start, 2 Stop). */
  controlRead: 94,
  /** Charge control as GivTCP writes it. */
  controlWrite: 95,
  clock: 97,
  voltageL1: 109,
  voltageL2: 111,
  voltageL3: 113,
} as const;

export const CHARGING_STATES = [
  'unknown', 'idle', 'connected', 'starting', 'charging', 'startup_failure', 'end_of_charging', 'system_failure', 'scheduled', 'updating', 'unstable_cp',
] as const;
export const PLUG_STATES = ['disconnected', 'connected'] as const;
export const ERRORS: Record<number, string> = {
  0: 'none', 11: 'CP voltage abnormal', 12: 'emergency stop', 13: 'undervoltage', 14: 'overvoltage', 15: 'over-temperature', 16: 'meter failure',
  17: 'leakage', 18: 'output short circuit', 19: 'overcurrent', 21: 'vehicle timeout', 22: 'no diode', 23: 'relay sticking',
  24: 'leakage device failure', 25: 'ground fault', 26: 'failed to start',
};
export const CONTROL = { ready: 0, start: 1, stop: 2 } as const;
/** The clock registers, year first. */
export const CLOCK_FIELDS = ['year', 'month', 'day', 'hour', 'minute', 'second'] as const;

/** The charger's register image (index = holding register), as last read. */
export type Registers = ReadonlyArray<number | undefined>;

export const u16 = (r: Registers, at: number): number | null => r[at] ?? null;
/** A 32-bit value, high word in the register before the one GivTCP reads. */
export function u32(r: Registers, lowAt: number): number | null {
  const lo = r[lowAt];
  const hi = r[lowAt - 1];
  if (lo === undefined || hi === undefined) return null;
  return hi * 65_536 + lo;
}
export const scaled = (value: number | null, factor: number): number | null => (value === null ? null : Math.round(value * factor * 1000) / 1000);

/** One ASCII character per register; zeros skipped (research §3). Printable serials only. */
export function decodeSerial(r: Registers): string | null {
  let text = '';
  for (let at = HR.serialStart; at <= HR.serialEnd; at++) {
    const code = r[at];
    if (code === undefined) return null;
    if (code === 0) continue;
    if (code < 0x21 || code > 0x7e) return null;
    text += String.fromCharCode(code);
  }
  return /^[A-Za-z0-9_-]{4,31}$/.test(text) ? text : null;
}

export function chargingState(r: Registers): (typeof CHARGING_STATES)[number] | null {
  const code = u16(r, HR.state);
  if (code === null) return null;
  return CHARGING_STATES[code] ?? 'unknown';
}

/** The charger's clock as local wall time fields, or null when not plausible. */
export function clockFields(r: Registers): number[] | null {
  const fields = CLOCK_FIELDS.map((_f, i) => r[HR.clock + i]);
  if (fields.some((f) => f === undefined)) return null;
  return fields as number[];
}

/**
 * What may be written, each with its range: the current limit in 0.1 A within 6–32 A (and within
 * the EVSE's own limits, checked by the adapter), plug and go 0/1, charge control 0–2, the clock.
 */
export const WRITE_RULES: ReadonlyMap<number, WriteRule> = new Map<number, WriteRule>([
  [HR.chargeLimitWrite, { min: 60, max: 320 }],
  [HR.plugAndGo, { min: 0, max: 1 }],
  [HR.controlWrite, { min: 0, max: 2 }],
  [HR.clock, { min: 2020, max: 2099 }],
  [HR.clock + 1, { min: 1, max: 12 }],
  [HR.clock + 2, { min: 1, max: 31 }],
  [HR.clock + 3, { min: 0, max: 23 }],
  [HR.clock + 4, { min: 0, max: 59 }],
  [HR.clock + 5, { min: 0, max: 59 }],
]);

/** Where the adapter reads a written setting back: GivTCP writes 91 and 95 but reads 36 and 94. */
export const READ_BACK_AT: ReadonlyMap<number, number> = new Map([
  [HR.chargeLimitWrite, HR.chargeLimit],
  [HR.controlWrite, HR.controlRead],
]);

/** Local wall-clock fields of a time (what the charger's clock shows). */
export function wallClock(ms: number): number[] {
  const d = new Date(ms);
  return [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
}
