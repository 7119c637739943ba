// Decoding register pages into values with units and signs (shared research givenergy.md §2.4),
// and refusing pages that are known garbage (§1.9).

export const s16 = (v: number): number => (v & 0x8000 ? v - 0x10000 : v);
/** Scaled values without binary-fraction noise (4991 × 0.01 = 49.91, not 49.910000000000004). */
const round3 = (v: number): number => Math.round(v * 1000) / 1000;
export const u32 = (hi: number, lo: number): number => hi * 65536 + lo;

/** GM's check: more than 5 of these words at these offsets means IP/TCP bytes leaked into a page. */
const GARBAGE: Array<[number, number[]]> = [
  [28, [0x4c32]], [30, [0xa119]], [31, [0x34ea]], [32, [0xe77f]], [33, [0xd475]], [35, [0x4500]], [40, [0xe4f9, 0xb619]],
  [41, [0xc0a8]], [43, [0xc0a8]], [46, [0xc5e9]], [50, [0x60ef, 0x503c]], [51, [0x8018]], [52, [0x43e0]], [53, [0xf6ce]],
  [56, [0x080a]], [58, [0xfcc1]], [59, [0x661e]],
];

export function isGarbagePage(values: number[]): boolean {
  if (values.length !== 60) return false;
  return GARBAGE.filter(([i, words]) => words.includes(values[i]!)).length > 5;
}

/** A register bank filled page by page; a register never read is undefined. */
export class RegisterBank {
  private values = new Map<number, number>();

  set(base: number, values: number[]): void {
    values.forEach((v, i) => this.values.set(base + i, v));
  }

  get(register: number): number | undefined {
    return this.values.get(register);
  }

  has(register: number): boolean {
    return this.values.has(register);
  }

  range(from: number, count: number): number[] | undefined {
    const out: number[] = [];
    for (let r = from; r < from + count; r++) {
      const v = this.values.get(r);
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out;
  }

  toObject(): Record<number, number> {
    return Object.fromEntries(this.values);
  }
}

export const STATUS = ['waiting', 'normal', 'warning', 'fault', 'updating'] as const;

/**
 * A signed grid power (+ export, − import) and a signed battery power (+ discharge, − charge),
 * each with its two one-way flows (never negative; undefined when the signed value is unknown).
 */
export function splitFlows(grid: number | undefined, battery: number | undefined) {
  return {
    gridPower: grid,
    importPower: grid === undefined ? undefined : Math.max(0, -grid),
    exportPower: grid === undefined ? undefined : Math.max(0, grid),
    batteryPower: battery,
    chargePower: battery === undefined ? undefined : Math.max(0, -battery),
    dischargePower: battery === undefined ? undefined : Math.max(0, battery),
  };
}

/** Inverter telemetry from IR 0–59 (single-phase hybrid / AC / AIO). Undefined when not read. */
export function inverterTelemetry(ir: RegisterBank) {
  const r = (n: number) => ir.get(n);
  const scaled = (n: number, f: number, signed = false) => {
    const v = r(n);
    return v === undefined ? undefined : round3((signed ? s16(v) : v) * f);
  };
  const total = (hi: number, f: number) => {
    const a = r(hi);
    const b = r(hi + 1);
    return a === undefined || b === undefined ? undefined : round3(u32(a, b) * f);
  };
  const pv1 = r(18);
  const pv2 = r(20);
  const grid = scaled(30, 1, true); // + export, − import
  const battery = scaled(52, 1, true); // + discharge, − charge
  const status = r(0);
  return {
    status: status === undefined ? undefined : (STATUS[status] ?? 'unknown'),
    fault: status === undefined ? undefined : status === 3,
    pv1Power: pv1,
    pv2Power: pv2,
    pvPower: pv1 === undefined || pv2 === undefined ? undefined : pv1 + pv2,
    pv1Voltage: scaled(1, 0.1),
    pv2Voltage: scaled(2, 0.1),
    pv1Current: scaled(8, 0.1),
    pv2Current: scaled(9, 0.1),
    ...splitFlows(grid, battery),
    loadPower: r(42),
    epsPower: r(31),
    inverterPower: scaled(24, 1, true),
    gridVoltage: scaled(5, 0.1),
    gridFrequency: scaled(13, 0.01),
    gridCurrent: scaled(58, 0.01),
    epsVoltage: scaled(53, 0.1),
    epsFrequency: scaled(54, 0.01),
    batteryVoltage: scaled(50, 0.01),
    batteryCurrent: scaled(51, 0.01, true),
    heatsinkTemperature: scaled(41, 0.1, true),
    chargerTemperature: scaled(55, 0.1, true),
    batteryTemperature: scaled(56, 0.1, true),
    soc: r(59),
    pvToday: r(17) === undefined || r(19) === undefined ? undefined : round3((r(17)! + r(19)!) * 0.1),
    exportToday: scaled(25, 0.1),
    importToday: scaled(26, 0.1),
    chargeToday: scaled(36, 0.1),
    dischargeToday: scaled(37, 0.1),
    // House consumption today on a hybrid: what the inverter delivered minus AC charging, plus the
    // grid's net. Below zero the balance is missing a term (on AC and AIO units IR44 is battery
    // discharge, and their PV is not seen): unknown, never a made-up 0.
    loadToday: loadToday(r(44), r(35), r(25), r(26)),
    pvTotal: total(11, 0.1),
    exportTotal: total(21, 0.1),
    importTotal: total(32, 0.1),
    batteryThroughputTotal: total(6, 0.1),
  };
}

export type InverterTelemetry = ReturnType<typeof inverterTelemetry>;

function loadToday(inverterOut?: number, acCharge?: number, exported?: number, imported?: number): number | undefined {
  if (inverterOut === undefined || acCharge === undefined || exported === undefined || imported === undefined) return undefined;
  const kwh = round3((inverterOut - acCharge - exported + imported) * 0.1);
  return kwh < 0 ? undefined : kwh;
}

/** Per-battery BMS data from IR 60–119 at 0x32+i. */
export function batteryTelemetry(ir: RegisterBank) {
  const r = (n: number) => ir.get(n);
  const cells = ir.range(60, 16)?.filter((mv) => mv > 0) ?? [];
  const temps = ir.range(76, 4)?.map((t) => s16(t) / 10) ?? [];
  const remaining = r(88) === undefined || r(89) === undefined ? undefined : u32(r(88)!, r(89)!) / 100;
  return {
    soc: r(100),
    cycles: r(96),
    remainingAh: remaining,
    cellMinV: cells.length ? Math.min(...cells) / 1000 : undefined,
    cellMaxV: cells.length ? Math.max(...cells) / 1000 : undefined,
    temperature: temps.length ? Math.max(...temps) : undefined,
    serial: ir.range(110, 5) ? asciiWords(ir.range(110, 5)!) : undefined,
  };
}

function asciiWords(words: number[]): string {
  return words.flatMap((w) => [w >> 8, w & 0xff]).filter((c) => c > 0x20 && c < 0x7f).map((c) => String.fromCharCode(c)).join('');
}

/** hhmm (530 = 05:30) <-> "05:30:00". */
export function slotToTime(v: number | undefined): string | undefined {
  if (v === undefined) return undefined;
  const h = Math.floor(v / 100);
  const m = v % 100;
  if (h > 23 || m > 59) return undefined;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00`;
}

export function timeToSlot(time: string): number {
  const [h, m] = time.split(':').map(Number);
  return h! * 100 + m!;
}

/** HR35–40: the inverter clock (year − 2000 .. second); undefined when implausible (month 13 happened). */
export function inverterClock(hr: RegisterBank): { year: number; month: number; day: number; hour: number; minute: number; second: number } | undefined {
  const v = hr.range(35, 6);
  if (!v) return undefined;
  const [y, mo, d, h, mi, s] = v as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  return { year: 2000 + y, month: mo, day: d, hour: h, minute: mi, second: s };
}

/** Today counters reset at midnight; totals only grow, and never faster than the inverter could. */
export class EnergyGuard {
  private last = new Map<string, { value: number; at: number; day?: string }>();

  constructor(private readonly maxPowerW: number) {}

  /** Returns the value to publish, or undefined to keep the old one (a drop or a spike). */
  accept(key: string, value: number | undefined, now: number, kind: 'today' | 'total', day?: string): number | undefined {
    if (value === undefined || !Number.isFinite(value) || value < 0) return undefined;
    const prev = this.last.get(key);
    if (!prev) {
      this.last.set(key, { value, at: now, day });
      return value;
    }
    const hours = Math.max(0, (now - prev.at) / 3_600_000);
    const possible = (this.maxPowerW * 1.5 * hours) / 1000 + 0.5; // kWh, with margin
    if (value < prev.value) {
      const newDay = kind === 'today' && day !== undefined && prev.day !== undefined && day !== prev.day;
      if (!newDay) return undefined;
    } else if (value - prev.value > possible) {
      return undefined;
    }
    this.last.set(key, { value, at: now, day });
    return value;
  }
}
