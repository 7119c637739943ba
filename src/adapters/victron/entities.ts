// Every Victron entity, one row each: its HA declaration, the GX paths (N/<portal id>/<path>) its
// value is made of, and for a control the settings a change from HA writes. Paths and encodings
// are Venus OS's (research/victron-tempo.md §1.4–1.6): dbus-systemcalc-py's system service and
// the ESS settings under settings/0/Settings/CGwacs.
import type { BinarySensorSpec, CommandOf, EntitySpec, NumberSpec, SelectSpec, SensorSpec, SwitchSpec, TimeSpec, ValueOf } from '../../core/entity.js';
import type { Write, WriteRule } from '../../io/safe-writer.js';
import { VICTRON_KEYS } from './ids.js';

/** The last value the GX published on each path (null: invalid on the GX; absent: never seen). */
export type Values = ReadonlyMap<string, unknown>;

type Read<S extends EntitySpec> = (v: Values) => ValueOf<S> | null;

export interface Row<S extends EntitySpec = EntitySpec> {
  spec: S;
  /** The paths the value is made of: a message on one of them updates the entity. */
  paths: readonly string[];
  read: Read<S>;
  /** The settings a command writes, in order (values the GX holds are skipped by the writer). */
  write?: (command: CommandOf<S>, v: Values) => Array<Write<string>>;
  /** Shown only once the GX publishes one of its paths (phases a single-phase system lacks). */
  optional?: boolean;
}

function row<S extends EntitySpec>(r: Row<S>): Row {
  return r as unknown as Row;
}

export const SYSTEM = 'system/0';
export const CGWACS = 'settings/0/Settings/CGwacs';
export const SETTINGS = {
  minSoc: `${CGWACS}/BatteryLife/MinimumSocLimit`,
  socLimit: `${CGWACS}/BatteryLife/SocLimit`,
  state: `${CGWACS}/BatteryLife/State`,
  hub4Mode: `${CGWACS}/Hub4Mode`,
  gridSetpoint: `${CGWACS}/AcPowerSetPoint`,
  maxChargePower: `${CGWACS}/MaxChargePower`,
  maxDischargePower: `${CGWACS}/MaxDischargePower`,
  dynamicEss: 'settings/0/Settings/DynamicEss/Mode',
  schedule: (index: number, field: 'Day' | 'Start' | 'Duration' | 'Soc' | 'AllowDischarge') => `${CGWACS}/BatteryLife/Schedule/Charge/${index}/${field}`,
} as const;

/** What may be written, and in which range (the GX's own ranges, narrowed where the GUI does). */
export const WRITE_ALLOWED = new Map<string, WriteRule>([
  [SETTINGS.minSoc, { min: 0, max: 100 }],
  // 1 (restart with BatteryLife), 9 (keep charged), 10 (without BatteryLife), 0 with external control.
  [SETTINGS.state, { min: 0, max: 10, check: (v) => ([0, 1, 9, 10].includes(v) ? undefined : `BatteryLife state ${v} is not one the GX takes (0, 1, 9 or 10)`) }],
  [SETTINGS.hub4Mode, { min: 1, max: 3 }],
  [SETTINGS.gridSetpoint, { min: -100_000, max: 100_000 }],
  [SETTINGS.maxChargePower, { min: -1, max: 100_000 }],
  [SETTINGS.maxDischargePower, { min: -1, max: 100_000 }],
  ...[0, 1, 2, 3, 4].flatMap((i): Array<[string, WriteRule]> => [
    [SETTINGS.schedule(i, 'Day'), { min: -11, max: 11 }],
    [SETTINGS.schedule(i, 'Start'), { min: 0, max: 86_399 }],
    [SETTINGS.schedule(i, 'Duration'), { min: 0, max: 86_340 }],
    [SETTINGS.schedule(i, 'Soc'), { min: 0, max: 100 }],
    [SETTINGS.schedule(i, 'AllowDischarge'), { min: 0, max: 1 }],
  ]),
]);

// ---- reading values ----

const num = (v: Values, path: string): number | null => {
  const value = v.get(path);
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
};
/** The sum of the phases the GX publishes; null when it publishes none. */
const sum = (v: Values, paths: readonly string[]): number | null => {
  const known = paths.map((p) => num(v, p)).filter((x): x is number => x !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
};
const phases = (prefix: string, suffix = 'Power') => [1, 2, 3].map((l) => `${prefix}/L${l}/${suffix}`);

/** BatteryLife/State in words (dbus-systemcalc-py delegates/batterylife.py, class State). */
export const BATTERY_LIFE_STATES: Record<number, string> = {
  0: 'BatteryLife disabled (external control)',
  1: 'Restarting',
  2: 'Self-consumption',
  3: 'Self-consumption, SoC above 85 %',
  4: 'Self-consumption, SoC at 100 %',
  5: 'Discharge disabled (SoC below the BatteryLife limit)',
  6: 'Force charge',
  7: 'Sustain',
  8: 'Recharge',
  9: 'Keep batteries charged',
  10: 'Self-consumption (without BatteryLife)',
  11: 'Discharge disabled (SoC below minimum)',
  12: 'Recharge (SoC 5 % below minimum)',
};

/** /SystemState/State (the GUI's system overview). */
const SYSTEM_STATES: Record<number, string> = {
  0: 'Off', 1: 'Low power', 2: 'Fault', 3: 'Bulk', 4: 'Absorption', 5: 'Float', 6: 'Storage', 7: 'Equalize',
  8: 'Passthru', 9: 'Inverting', 10: 'Assisting', 11: 'Power supply', 252: 'External control',
  256: 'Discharging', 257: 'Sustain', 258: 'Recharge', 259: 'Scheduled charge',
};

/** The four modes the GX's GUI offers (gui-v2 data/Ess.qml stateModel). */
export const ESS_MODES = ['Optimized with BatteryLife', 'Optimized without BatteryLife', 'Keep batteries charged', 'External control'] as const;
export type EssMode = (typeof ESS_MODES)[number];

export function essModeOf(state: number | null, hub4Mode: number | null): EssMode | null {
  if (hub4Mode === 3) return 'External control';
  if (state === null) return null;
  if (state >= 1 && state <= 8) return 'Optimized with BatteryLife';
  if (state === 9) return 'Keep batteries charged';
  if (state >= 10 && state <= 12) return 'Optimized without BatteryLife';
  return null;
}

/**
 * The writes that select a mode, as the GUI makes them (gui-v2 EssData.qml): leave external
 * control first; write 1 only when the state is not already in 1..8 and 10 only when not in
 * 10..12, since rewriting restarts the GX's BatteryLife state machine.
 */
export function essModeWrites(mode: EssMode, v: Values): Array<Write<string>> {
  const state = num(v, SETTINGS.state);
  const hub4 = num(v, SETTINGS.hub4Mode);
  if (mode === 'External control') return [{ key: SETTINGS.hub4Mode, value: 3 }, { key: SETTINGS.state, value: 0 }];
  // Without the state the guard cannot tell whether a write would restart BatteryLife.
  if (state === null || hub4 === null) throw new Error('the GX has not reported its ESS state yet; nothing was written');
  const writes: Array<Write<string>> = hub4 === 3 ? [{ key: SETTINGS.hub4Mode, value: 1 }] : [];
  if (mode === 'Optimized with BatteryLife' && !(state !== null && state >= 1 && state <= 8)) writes.push({ key: SETTINGS.state, value: 1 });
  if (mode === 'Optimized without BatteryLife' && !(state !== null && state >= 10 && state <= 12)) writes.push({ key: SETTINGS.state, value: 10 });
  if (mode === 'Keep batteries charged') writes.push({ key: SETTINGS.state, value: 9 });
  return writes;
}

/** The BatteryLife states a written state leads to: the GX moves on from 1 and 10 by itself. */
export function stateConfirms(written: number, reported: number): boolean {
  if (written === 1) return reported >= 1 && reported <= 8;
  if (written === 10) return reported >= 10 && reported <= 12;
  return written === reported;
}

// ---- the schedule's day encoding (dbus-systemcalc-py delegates/schedule.py; gui-v2 ListChargeSchedule.qml) ----

const DAY_NAMES: Array<[number, string]> = [
  [7, 'Every day'], [8, 'Weekdays'], [9, 'Weekends'], [0, 'Sunday'], [1, 'Monday'], [2, 'Tuesday'], [3, 'Wednesday'],
  [4, 'Thursday'], [5, 'Friday'], [6, 'Saturday'], [11, 'Monthly'],
];
/** Negative keeps the day while disabled; Sunday (0) disables as -10, monthly as -11. */
const disabledCode = (day: number) => (day === 0 ? -10 : -day);
export const SCHEDULE_DAYS: ReadonlyArray<[number, string]> = [
  ...DAY_NAMES,
  ...DAY_NAMES.map(([code, name]): [number, string] => [disabledCode(code), `Disabled (${name.toLowerCase()})`]),
];
export const SCHEDULE_DAY_OPTIONS = SCHEDULE_DAYS.map(([, name]) => name);

export function scheduleDayName(code: number | null): string | null {
  if (code === null) return null;
  const normalized = code === 10 ? 11 : code; // systemcalc treats 10 and 11 as monthly
  return SCHEDULE_DAYS.find(([c]) => c === normalized)?.[1] ?? null;
}

export const scheduleDayCode = (name: string): number | undefined => SCHEDULE_DAYS.find(([, n]) => n === name)?.[0];

/** A schedule is on when its day is not negative. */
export const scheduleEnabled = (code: number | null): boolean | null => (code === null ? null : code >= 0);

/** Seconds since local midnight as HH:MM:SS, and back. */
export function secondsToTime(seconds: number | null): string | null {
  if (seconds === null || seconds < 0 || seconds >= 86_400) return null;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return [h, m, s].map((x) => String(x).padStart(2, '0')).join(':');
}
export function timeToSeconds(time: string): number {
  const [h, m, s] = time.split(':').map(Number);
  return (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0);
}

// ---- the rows ----

const power = { deviceClass: 'power', unit: 'W', stateClass: 'measurement' } as const;
const energy = { deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing' } as const;

type SensorLook = Omit<SensorSpec, 'key' | 'name' | 'component'>;
const sensor = (key: string, name: string, spec: SensorLook, paths: readonly string[], read: Read<SensorSpec>, optional?: boolean) =>
  row<SensorSpec>({ spec: { ...spec, component: 'sensor', key, name }, paths, read, optional });
const one = (key: string, name: string, spec: SensorLook, path: string, optional?: boolean) =>
  sensor(key, name, spec, [path], (v) => num(v, path), optional);
const phaseRows = (key: string, name: string, prefix: string) =>
  [1, 2, 3].map((l) => one(`${key}_l${l}`, `${name} L${l}`, power, `${prefix}/L${l}/Power`, true));
const words = (table: Record<number, string>, value: number | null) => (value === null ? null : (table[value] ?? `state ${value}`));

/** Number settings written as they are shown. */
const setting = (key: string, name: string, path: string, extra: Omit<NumberSpec, 'component' | 'key' | 'name'>) =>
  row<NumberSpec>({ spec: { component: 'number', key, name, mode: 'box', ...extra }, paths: [path], read: (v) => num(v, path), write: (value) => [{ key: path, value }] });

function scheduleRows(index: number): Row[] {
  const n = index + 1; // "Schedule 1" in the GUI is index 0
  const path = (field: Parameters<typeof SETTINGS.schedule>[1]) => SETTINGS.schedule(index, field);
  return [
    row<SelectSpec>({
      spec: { component: 'select', key: VICTRON_KEYS.scheduleDay(n), name: `Schedule ${n} day`, options: SCHEDULE_DAY_OPTIONS, category: 'config', icon: 'mdi:calendar-clock' },
      paths: [path('Day')],
      read: (v) => scheduleDayName(num(v, path('Day'))),
      write: (name) => [{ key: path('Day'), value: scheduleDayCode(name)! }],
    }),
    row<SwitchSpec>({
      spec: { component: 'switch', key: `schedule_${n}_enabled`, name: `Schedule ${n} enabled`, category: 'config', icon: 'mdi:battery-clock' },
      paths: [path('Day')],
      read: (v) => scheduleEnabled(num(v, path('Day'))),
      // The GUI flips the sign and keeps the day (Sunday's disabled form is -10, monthly's -11).
      write: (on, v) => {
        const day = num(v, path('Day')) ?? -7;
        const enabledDay = day === -10 ? 0 : day === -11 || day === 10 ? 11 : Math.abs(day);
        return [{ key: path('Day'), value: on ? enabledDay : disabledCode(enabledDay) }];
      },
    }),
    row<TimeSpec>({
      spec: { component: 'time', key: `schedule_${n}_start`, name: `Schedule ${n} start`, category: 'config' },
      paths: [path('Start')],
      read: (v) => secondsToTime(num(v, path('Start'))),
      write: (time) => [{ key: path('Start'), value: timeToSeconds(time) }],
    }),
    row<TimeSpec>({
      spec: { component: 'time', key: `schedule_${n}_duration`, name: `Schedule ${n} duration`, category: 'config', icon: 'mdi:timer-outline' },
      paths: [path('Duration')],
      read: (v) => secondsToTime(num(v, path('Duration'))),
      write: (time) => [{ key: path('Duration'), value: timeToSeconds(time) }],
    }),
    setting(VICTRON_KEYS.scheduleSoc(n), `Schedule ${n} target SoC`, path('Soc'), { min: 0, max: 100, step: 1, unit: '%', category: 'config' }),
    row<SwitchSpec>({
      spec: { component: 'switch', key: `schedule_${n}_allow_discharge`, name: `Schedule ${n} self-consumption above limit`, category: 'config' },
      paths: [path('AllowDischarge')],
      read: (v) => (num(v, path('AllowDischarge')) === null ? null : num(v, path('AllowDischarge')) === 1),
      write: (on) => [{ key: path('AllowDischarge'), value: on ? 1 : 0 }],
    }),
  ];
}

export const ROWS: readonly Row[] = [
  one(VICTRON_KEYS.batterySoc, 'Battery SoC', { deviceClass: 'battery', unit: '%', stateClass: 'measurement' }, `${SYSTEM}/Dc/Battery/Soc`),
  one('battery_power', 'Battery power', power, `${SYSTEM}/Dc/Battery/Power`),
  one('battery_voltage', 'Battery voltage', { deviceClass: 'voltage', unit: 'V', stateClass: 'measurement' }, `${SYSTEM}/Dc/Battery/Voltage`),
  one('battery_current', 'Battery current', { deviceClass: 'current', unit: 'A', stateClass: 'measurement' }, `${SYSTEM}/Dc/Battery/Current`),
  sensor('battery_state', 'Battery state', { deviceClass: 'enum', options: ['idle', 'charging', 'discharging'] }, [`${SYSTEM}/Dc/Battery/State`],
    (v) => words({ 0: 'idle', 1: 'charging', 2: 'discharging' }, num(v, `${SYSTEM}/Dc/Battery/State`))),
  one('pv_dc_power', 'PV power (DC)', power, `${SYSTEM}/Dc/Pv/Power`),
  sensor('pv_ac_power', 'PV power (AC)', power, [...phases(`${SYSTEM}/Ac/PvOnGrid`), ...phases(`${SYSTEM}/Ac/PvOnOutput`)],
    (v) => sum(v, [...phases(`${SYSTEM}/Ac/PvOnGrid`), ...phases(`${SYSTEM}/Ac/PvOnOutput`)]), true),
  ...[1, 2, 3].map((l) =>
    sensor(`pv_ac_power_l${l}`, `PV power (AC) L${l}`, power, [`${SYSTEM}/Ac/PvOnGrid/L${l}/Power`, `${SYSTEM}/Ac/PvOnOutput/L${l}/Power`],
      (v) => sum(v, [`${SYSTEM}/Ac/PvOnGrid/L${l}/Power`, `${SYSTEM}/Ac/PvOnOutput/L${l}/Power`]), true)),
  // Grid: positive is import (Venus's sign).
  sensor('grid_power', 'Grid power', power, phases(`${SYSTEM}/Ac/Grid`), (v) => sum(v, phases(`${SYSTEM}/Ac/Grid`))),
  ...phaseRows('grid_power', 'Grid power', `${SYSTEM}/Ac/Grid`),
  sensor('consumption_power', 'AC consumption', power, phases(`${SYSTEM}/Ac/Consumption`), (v) => sum(v, phases(`${SYSTEM}/Ac/Consumption`))),
  sensor('system_state', 'System state', { icon: 'mdi:state-machine' }, [`${SYSTEM}/SystemState/State`], (v) => words(SYSTEM_STATES, num(v, `${SYSTEM}/SystemState/State`))),
  sensor('ess_state', 'ESS state', { icon: 'mdi:battery-heart-variant' }, [SETTINGS.state], (v) => words(BATTERY_LIFE_STATES, num(v, SETTINGS.state))),
  // The GUI's "Active SOC limit": BatteryLife's dynamic limit counts only while BatteryLife is on.
  sensor('active_soc_limit', 'Active SoC limit', { unit: '%', stateClass: 'measurement', icon: 'mdi:battery-lock' }, [SETTINGS.minSoc, SETTINGS.socLimit, SETTINGS.state], (v) => {
    const min = num(v, SETTINGS.minSoc);
    const state = num(v, SETTINGS.state);
    if (min === null) return null;
    const batteryLife = state !== null && state >= 1 && state <= 8;
    return batteryLife ? Math.max(min, num(v, SETTINGS.socLimit) ?? min) : min;
  }),
  row<BinarySensorSpec>({
    spec: { component: 'binary_sensor', key: 'scheduled_charge', name: 'Scheduled charge', deviceClass: 'battery_charging' },
    paths: [`${SYSTEM}/Control/ScheduledCharge`],
    read: (v) => (num(v, `${SYSTEM}/Control/ScheduledCharge`) === null ? null : num(v, `${SYSTEM}/Control/ScheduledCharge`) === 1),
  }),
  one('scheduled_soc', 'Scheduled charge target', { unit: '%', stateClass: 'measurement', icon: 'mdi:battery-arrow-up' }, `${SYSTEM}/Control/ScheduledSoc`),
  sensor(VICTRON_KEYS.dynamicEss, 'Dynamic ESS', { deviceClass: 'enum', options: ['off', 'auto (VRM)', 'buy', 'sell', 'Node-RED'], category: 'diagnostic' }, [SETTINGS.dynamicEss],
    (v) => words({ 0: 'off', 1: 'auto (VRM)', 2: 'buy', 3: 'sell', 4: 'Node-RED' }, num(v, SETTINGS.dynamicEss))),
  // Energy counters the grid meter and the solar chargers publish (kWh, for HA's Energy dashboard).
  sensor('grid_import_energy', 'Grid import', energy, ['grid/+/Ac/Energy/Forward'], (v) => sumMatching(v, /^grid\/\d+\/Ac\/Energy\/Forward$/), true),
  sensor('grid_export_energy', 'Grid export', energy, ['grid/+/Ac/Energy/Reverse'], (v) => sumMatching(v, /^grid\/\d+\/Ac\/Energy\/Reverse$/), true),
  sensor('pv_dc_energy', 'PV yield (DC)', energy, ['solarcharger/+/Yield/User'], (v) => sumMatching(v, /^solarcharger\/\d+\/Yield\/User$/), true),
  // ---- ESS controls ----
  setting(VICTRON_KEYS.minSoc, 'Minimum SoC', SETTINGS.minSoc, { min: 0, max: 100, step: 1, unit: '%', icon: 'mdi:battery-low' }),
  row<SelectSpec>({
    spec: { component: 'select', key: VICTRON_KEYS.essMode, name: 'ESS mode', options: ESS_MODES, icon: 'mdi:home-battery' },
    paths: [SETTINGS.state, SETTINGS.hub4Mode],
    read: (v) => essModeOf(num(v, SETTINGS.state), num(v, SETTINGS.hub4Mode)),
    write: (mode, v) => essModeWrites(mode as EssMode, v),
  }),
  setting('grid_setpoint', 'Grid setpoint', SETTINGS.gridSetpoint, { min: -32_000, max: 32_000, step: 10, unit: 'W', deviceClass: 'power' }),
  setting('max_charge_power', 'Maximum charge power', SETTINGS.maxChargePower, { min: -1, max: 100_000, step: 1, unit: 'W', deviceClass: 'power', category: 'config' }),
  setting('max_discharge_power', 'Maximum inverter power', SETTINGS.maxDischargePower, { min: -1, max: 100_000, step: 1, unit: 'W', deviceClass: 'power', category: 'config' }),
  ...[0, 1, 2, 3, 4].flatMap(scheduleRows),
];

/** The sum over every device instance publishing a path (several grid meters or solar chargers). */
function sumMatching(v: Values, pattern: RegExp): number | null {
  let total: number | null = null;
  for (const [path, value] of v) if (pattern.test(path) && typeof value === 'number') total = (total ?? 0) + value;
  return total;
}
