// The seed's gates (pv_heater_optimizer: daylight window, SoC, grid draw, battery discharge) as
// pure checks. The controller adds persistence for the power gates; this file only judges one
// moment, so it can be tested without a clock.

export type GateName = 'window' | 'soc' | 'grid_import' | 'battery_discharge';

export interface DailyWindow {
  /** "HH:MM" or "HH:MM:SS", local time in `timeZone`. `from` after `to` spans midnight. */
  from: string;
  to: string;
  /** IANA name, e.g. "Europe/Berlin". */
  timeZone: string;
}

export interface GateSettings {
  window?: DailyWindow;
  /** The battery's SoC must be above this (the seed: `min_battery`, strictly above). */
  minSoc?: number;
  /** Grid import must not exceed this, W (the seed: `max_grid_draw`). */
  maxGridImportW?: number;
  /** Battery discharge must not exceed this, W (the seed: `max_battery_discharge`). */
  maxBatteryDischargeW?: number;
}

export interface GateReadings {
  now: number;
  gridW?: number;
  batteryW?: number;
  batterySoc?: number;
}

export interface GateVerdict {
  /** true = passes, false = fails, undefined = not configured. */
  pass: boolean | undefined;
  /** One clause for the reason sentence, with numbers; empty when not configured. */
  detail: string;
}

export type GateVerdicts = Record<GateName, GateVerdict>;

export const GATE_NAMES: readonly GateName[] = ['window', 'soc', 'grid_import', 'battery_discharge'];

const TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

/** Seconds after local midnight for "HH:MM[:SS]"; throws with the text when it is not a time. */
export function parseClockTime(text: string): number {
  const match = TIME.exec(text);
  if (!match) throw new Error(`"${text}" is not a time of day (HH:MM or HH:MM:SS)`);
  return Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3] ?? 0);
}

// Intl.DateTimeFormat is slow to build and this runs every second: one per time zone.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Seconds after local midnight at `now` in `timeZone`. */
export function localSecondOfDay(now: number, timeZone: string): number {
  const parts = formatterFor(timeZone).formatToParts(new Date(now));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return part('hour') * 3600 + part('minute') * 60 + part('second');
}

/** Throws one sentence when the window cannot be evaluated; for the options' check at start. */
export function validateWindow(window: DailyWindow): void {
  parseClockTime(window.from);
  parseClockTime(window.to);
  try {
    formatterFor(window.timeZone);
  } catch {
    throw new Error(`"${window.timeZone}" is not a time zone this Node.js knows`);
  }
}

export function inWindow(window: DailyWindow, now: number): boolean {
  const from = parseClockTime(window.from);
  const to = parseClockTime(window.to);
  const second = localSecondOfDay(now, window.timeZone);
  return from <= to ? second >= from && second < to : second >= from || second < to;
}

const round = (value: number) => Math.round(value);

/**
 * Judges each configured gate at one moment. A configured gate whose reading is missing fails:
 * a controller that cannot see the battery must not assume it is full.
 */
export function evaluateGates(settings: GateSettings, readings: GateReadings): GateVerdicts {
  const verdicts: GateVerdicts = {
    window: { pass: undefined, detail: '' },
    soc: { pass: undefined, detail: '' },
    grid_import: { pass: undefined, detail: '' },
    battery_discharge: { pass: undefined, detail: '' },
  };
  if (settings.window) {
    const { from, to, timeZone } = settings.window;
    const pass = inWindow(settings.window, readings.now);
    const local = localSecondOfDay(readings.now, timeZone);
    const clock = `${String(Math.floor(local / 3600)).padStart(2, '0')}:${String(Math.floor((local % 3600) / 60)).padStart(2, '0')}`;
    verdicts.window = { pass, detail: `local time ${clock} is ${pass ? 'inside' : 'outside'} the window ${from}–${to} (${timeZone})` };
  }
  if (settings.minSoc !== undefined) {
    const soc = readings.batterySoc;
    verdicts.soc =
      soc === undefined
        ? { pass: false, detail: `battery SoC is unknown (minimum ${settings.minSoc} %)` }
        : { pass: soc > settings.minSoc, detail: `battery SoC ${round(soc)} % is ${soc > settings.minSoc ? 'above' : 'not above'} the minimum ${settings.minSoc} %` };
  }
  if (settings.maxGridImportW !== undefined) {
    const grid = readings.gridW;
    verdicts.grid_import =
      grid === undefined
        ? { pass: false, detail: `grid power is unknown (maximum import ${settings.maxGridImportW} W)` }
        : { pass: grid <= settings.maxGridImportW, detail: `grid import ${round(Math.max(0, grid))} W ${grid <= settings.maxGridImportW ? 'is within' : 'exceeds'} the maximum ${settings.maxGridImportW} W` };
  }
  if (settings.maxBatteryDischargeW !== undefined) {
    const battery = readings.batteryW;
    const discharge = battery === undefined ? undefined : Math.max(0, -battery);
    verdicts.battery_discharge =
      discharge === undefined
        ? { pass: false, detail: `battery power is unknown (maximum discharge ${settings.maxBatteryDischargeW} W)` }
        : {
            pass: discharge <= settings.maxBatteryDischargeW,
            detail: `battery discharge ${round(discharge)} W ${discharge <= settings.maxBatteryDischargeW ? 'is within' : 'exceeds'} the maximum ${settings.maxBatteryDischargeW} W`,
          };
  }
  return verdicts;
}
