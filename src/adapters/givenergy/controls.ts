// Every GivTCP control as one command: the HA entities, GivTCP's MQTT control topics and its
// REST API all come here, so they validate and behave the same. A command becomes register
// writes; each write is checked against the allow-list and its range, skipped when the inverter
// already holds the value (EEPROM wear), rate-limited, confirmed by reading it back, and counted.
import { z } from 'zod';
import type { InverterModel } from './model.js';
import { timeToSlot, type RegisterBank } from './registers.js';
import { quote } from '../../core/outside-text.js';
import type { WriteRule } from '../../io/safe-writer.js';

export class ControlError extends Error {}

export const SLOT: WriteRule = { min: 0, max: 2359, check: (v) => (v % 100 > 59 ? `${v} is not a time (HHMM)` : undefined) };
export const range = (min: number, max: number): WriteRule => ({ min, max });
/** The registers a command may write, each with its range (research §2.3). */
export const WRITE_ALLOWED: ReadonlyMap<number, WriteRule> = new Map<number, WriteRule>([
  [20, range(0, 1)], [27, range(0, 1)], [35, range(0, 99)], [36, range(1, 12)], [37, range(1, 31)],
  [38, range(0, 23)], [39, range(0, 59)], [40, range(0, 59)], [44, SLOT], [45, SLOT], [56, SLOT], [57, SLOT],
  [59, range(0, 1)], [94, SLOT], [95, SLOT], [96, range(0, 1)], [110, range(4, 100)], [111, range(0, 100)],
  [112, range(0, 100)], [114, range(4, 100)], [116, range(4, 100)], [313, range(1, 100)], [314, range(1, 100)],
  [318, range(0, 3)],
]);

export const BATTERY_MODES = ['Eco', 'Eco (Paused)', 'Timed Demand', 'Timed Export', 'Export (Paused)'] as const;
export const PAUSE_MODES = ['Disabled', 'PauseCharge', 'PauseDischarge', 'PauseBoth'] as const;

export const state = z
  .union([z.string(), z.boolean(), z.object({ state: z.union([z.string(), z.boolean()]) }).transform((o) => o.state)])
  .transform((v, ctx) => {
    const s = String(v).trim().toLowerCase();
    if (['enable', 'on', 'true', '1'].includes(s)) return true;
    if (['disable', 'off', 'false', '0'].includes(s)) return false;
    ctx.addIssue({ code: 'custom', message: `expected enable or disable, got ${quote(String(v))}` });
    return z.NEVER;
  });
/** A button's payload: GivTCP sends "enable" (or {"state": "enable"}), HA a button's PRESS; REST may send {}. */
export const press = z
  .union([z.string(), z.boolean(), z.object({}).strict(), z.object({ state: z.union([z.string(), z.boolean()]) }).strict().transform((o) => o.state)])
  .transform((v, ctx) => {
    if (typeof v === 'object') return true;
    if (['enable', 'on', 'true', '1', 'press'].includes(String(v).trim().toLowerCase())) return true;
    ctx.addIssue({ code: 'custom', message: `expected enable or PRESS, got ${quote(String(v))}` });
    return z.NEVER;
  });
export const numberIn = (key: string) =>
  z.union([z.number(), z.string(), z.record(z.string(), z.unknown())]).transform((v, ctx) => {
    const raw = typeof v === 'object' ? v[key] : v;
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: `expected a number${typeof v === 'object' ? ` in '${key}'` : `, got ${quote(String(v))}`}` });
      return z.NEVER;
    }
    return n;
  });
export const hhmm = z.string().transform((v, ctx) => {
  const m = /^(\d{1,2}):?(\d{2})(?::\d{2})?$/.exec(v.trim());
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) {
    ctx.addIssue({ code: 'custom', message: `${quote(v)} is not a time (HH:MM)` });
    return z.NEVER;
  }
  return `${m[1]!.padStart(2, '0')}:${m[2]}`;
});
export const slotPayload = (pctKey: string) =>
  z.union([z.string().transform((s, ctx) => parseJson(s, ctx)), z.record(z.string(), z.unknown())]).pipe(
    z.object({ start: hhmm, finish: hhmm, [pctKey]: numberIn(pctKey).pipe(z.number().int().min(4).max(100)).optional() }).passthrough(),
  );
function parseJson(text: string, ctx: z.RefinementCtx): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: `expected JSON like {"start": "01:00", "finish": "04:00"}, got ${quote(text)}` });
    return z.NEVER;
  }
}
const text = (key: string) => z.union([z.string(), z.object({ [key]: z.string() }).transform((o) => o[key] as string)]);

export interface Write {
  register: number;
  value: number;
}

export interface ControlContext {
  model: InverterModel;
  hr: RegisterBank;
  /** The reserve to go back to when discharge is enabled again / Eco resumes. */
  savedReserve: () => number;
  now: () => Date;
}

export type Command = (payload: unknown, ctx: ControlContext) => Write[];

export function parse<T>(schema: z.ZodType<T>, payload: unknown): T {
  const result = schema.safeParse(payload);
  if (!result.success) throw new ControlError(result.error.issues.map((i) => i.message).join('; '));
  return result.data;
}

/** W -> HR111/112 (C/100 of the pack; 50 = 0.5 C), the way the inverter reads it. */
export function rateToRegister(watts: number, model: InverterModel): number {
  if (watts >= model.batteryMaxPowerW) return 50;
  const halfC = (model.batteryCapacityKwh * 1000) / 2;
  return Math.max(0, Math.min(50, Math.round((watts / halfC) * 50)));
}

/** The watts one step of HR111/112 stands for: 1 % of the pack's capacity an hour. */
export function rateStepW(model: InverterModel): number {
  return Math.max(0.1, Math.round(model.batteryCapacityKwh * 100) / 10);
}

/** HR111/112 -> W: whole steps, so the slider and the state agree (82 W steps show 1968, not 1966). */
export function registerToRate(value: number | undefined, model: InverterModel): number | undefined {
  if (value === undefined) return undefined;
  return Math.min(Math.round(value * rateStepW(model) * 10) / 10, model.batteryMaxPowerW);
}

function rateWrites(kind: 'charge' | 'discharge', watts: number, model: InverterModel): Write[] {
  if (watts < 0 || watts > model.batteryMaxPowerW) throw new ControlError(`${kind} rate must be 0 to ${model.batteryMaxPowerW} W for this battery`);
  const writes: Write[] = [{ register: kind === 'charge' ? 111 : 112, value: rateToRegister(watts, model) }];
  if (model.acRateRegisters) {
    // AC-coupled, AIO and Gen3 take the power as a percentage too; 0 is refused there (GM#306).
    writes.push({ register: kind === 'charge' ? 313 : 314, value: Math.max(1, Math.min(100, Math.round((watts / model.batteryMaxPowerW) * 100))) });
  }
  return writes;
}

export const pct = (key: string, min = 4) => numberIn(key).pipe(z.number().int().min(min, { message: `must be at least ${min} %` }).max(100, { message: 'must be at most 100 %' }));

export const COMMANDS: Record<string, Command> = {
  enableChargeTarget: (p) => (parse(state, p) ? [{ register: 20, value: 1 }] : [{ register: 20, value: 0 }, { register: 116, value: 100 }]),
  disableChargeTarget: (p) => {
    parse(press, p);
    return [{ register: 20, value: 0 }, { register: 116, value: 100 }];
  },
  enableChargeSchedule: (p) => [{ register: 96, value: parse(state, p) ? 1 : 0 }],
  enableDischargeSchedule: (p) => [{ register: 59, value: parse(state, p) ? 1 : 0 }],
  enableDischarge: (p, c) => [{ register: 110, value: parse(state, p) ? c.savedReserve() : 100 }],
  setEcoMode: (p) => [{ register: 27, value: parse(state, p) ? 1 : 0 }],
  setChargeRate: (p, c) => rateWrites('charge', parse(numberIn('chargeRate'), p), c.model),
  setDischargeRate: (p, c) => rateWrites('discharge', parse(numberIn('dischargeRate'), p), c.model),
  setChargeTarget: (p) => [{ register: 116, value: parse(pct('chargeToPercent'), p) }],
  // GivTCP clamps a reserve below 4 % up to 4; we refuse it, saying why, rather than write another value.
  setBatteryReserve: (p) => [{ register: 110, value: parse(pct('reservePercent'), p) }],
  setBatteryCutoff: (p) => [{ register: 114, value: parse(pct('dischargeToPercent'), p) }],
  setChargeSlot1: (p) => {
    const s = parse(slotPayload('chargeToPercent'), p) as { start: string; finish: string; chargeToPercent?: number };
    return [{ register: 94, value: timeToSlot(s.start) }, { register: 95, value: timeToSlot(s.finish) }, ...(s.chargeToPercent ? [{ register: 116, value: s.chargeToPercent }] : [])];
  },
  setDischargeSlot1: (p) => {
    const s = parse(slotPayload('dischargeToPercent'), p) as { start: string; finish: string; dischargeToPercent?: number };
    return [{ register: 56, value: timeToSlot(s.start) }, { register: 57, value: timeToSlot(s.finish) }, ...(s.dischargeToPercent ? [{ register: 110, value: s.dischargeToPercent }] : [])];
  },
  setDischargeSlot2: (p) => {
    const s = parse(slotPayload('dischargeToPercent'), p) as { start: string; finish: string; dischargeToPercent?: number };
    return [{ register: 44, value: timeToSlot(s.start) }, { register: 45, value: timeToSlot(s.finish) }, ...(s.dischargeToPercent ? [{ register: 110, value: s.dischargeToPercent }] : [])];
  },
  setChargeStart1: (p) => [{ register: 94, value: timeToSlot(parse(hhmm, textOf(p))) }],
  setChargeEnd1: (p) => [{ register: 95, value: timeToSlot(parse(hhmm, textOf(p))) }],
  setDischargeStart1: (p) => [{ register: 56, value: timeToSlot(parse(hhmm, textOf(p))) }],
  setDischargeEnd1: (p) => [{ register: 57, value: timeToSlot(parse(hhmm, textOf(p))) }],
  setDischargeStart2: (p) => [{ register: 44, value: timeToSlot(parse(hhmm, textOf(p))) }],
  setDischargeEnd2: (p) => [{ register: 45, value: timeToSlot(parse(hhmm, textOf(p))) }],
  setBatteryMode: (p, c) => {
    const mode = parse(text('mode').pipe(z.enum(BATTERY_MODES, { message: `expected one of ${BATTERY_MODES.join(', ')}` })), p);
    switch (mode) {
      case 'Eco':
        return [{ register: 27, value: 1 }, { register: 59, value: 0 }, { register: 110, value: c.savedReserve() }];
      case 'Eco (Paused)':
        return [{ register: 27, value: 1 }, { register: 59, value: 0 }, { register: 110, value: 100 }];
      case 'Timed Demand':
        return [{ register: 27, value: 1 }, { register: 59, value: 1 }];
      case 'Timed Export':
        return [{ register: 27, value: 0 }, { register: 59, value: 1 }];
      case 'Export (Paused)':
        return [{ register: 27, value: 0 }, { register: 59, value: 0 }];
    }
  },
  setBatteryPauseMode: (p, c) => {
    if (c.model.generation === 'Gen1' || c.model.family === 'ac') throw new ControlError('pause mode is not available on Gen1 and AC inverters');
    const mode = parse(text('mode').pipe(z.enum(PAUSE_MODES, { message: `expected one of ${PAUSE_MODES.join(', ')}` })), p);
    return [{ register: 318, value: PAUSE_MODES.indexOf(mode) }];
  },
  setDateTime: (p) => {
    const s = parse(text('dateTime'), p).trim();
    const m = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(s);
    if (!m) throw new ControlError(`${quote(s)} is not a date and time as dd/mm/yyyy hh:mm:ss`);
    const [, d, mo, y, h, mi, se] = m.map(Number) as number[];
    const date = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, se!));
    if (date.getUTCMonth() !== mo! - 1 || date.getUTCDate() !== d! || h! > 23 || mi! > 59 || se! > 59 || y! < 2000 || y! > 2099) throw new ControlError(`${quote(s)} is not a valid date and time`);
    return clockWrites(y!, mo!, d!, h!, mi!, se!);
  },
  syncDateTime: (p, c) => {
    parse(press, p);
    const n = c.now();
    return clockWrites(n.getFullYear(), n.getMonth() + 1, n.getDate(), n.getHours(), n.getMinutes(), n.getSeconds());
  },
};

export function textOf(p: unknown): string {
  if (typeof p === 'string') return p.replace(/^"|"$/g, '');
  if (p && typeof p === 'object') return String(Object.values(p)[0] ?? '');
  return String(p);
}

export function clockWrites(y: number, mo: number, d: number, h: number, mi: number, s: number): Write[] {
  return [y - 2000, mo, d, h, mi, s].map((value, i) => ({ register: 35 + i, value }));
}

/** The battery mode GivTCP shows, from HR27, HR59, HR110 (research §2.6). */
export function batteryMode(hr: RegisterBank): string | undefined {
  const eco = hr.get(27);
  const discharge = hr.get(59);
  const reserve = hr.get(110);
  if (eco === undefined || discharge === undefined || reserve === undefined) return undefined;
  if (eco === 1 && discharge === 0) return reserve === 100 ? 'Eco (Paused)' : 'Eco';
  if (eco === 1 && discharge === 1) return 'Timed Demand';
  if (eco === 0 && discharge === 1) return 'Timed Export';
  if (eco === 0 && discharge === 0) return 'Export (Paused)';
  return undefined;
}
