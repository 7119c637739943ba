// Every GivEnergy entity, one row each: its HA declaration, how its value is read from the
// registers, which GivTCP command a change from HA becomes, and where GivTCP's cache shows it.
// Nothing else repeats this: the adapter declares, publishes and builds the cache from rows.
import type { BinarySensorSpec, ButtonSpec, CommandOf, EntitySpec, NumberSpec, SelectSpec, SensorSpec, SwitchSpec, TextSpec, TimeSpec, ValueOf } from '../../core/entity.js';
import { BATTERY_MODES, PAUSE_MODES, batteryMode, rateStepW, registerToRate } from './controls.js';
import type { InverterModel } from './model.js';
import { STATUS, inverterClock, slotToTime, type RegisterBank, type batteryTelemetry, type inverterTelemetry } from './registers.js';

/** Single-phase telemetry, or what another family's banks give of the same quantities. */
export type InverterTelemetry = Partial<ReturnType<typeof inverterTelemetry>>;

/** What a row reads from. `energy` runs a counter through the energy guard (undefined: keep the last value). */
export interface Readings {
  model: InverterModel;
  hr: RegisterBank;
  t: InverterTelemetry;
  energy(key: string, value: number | undefined, kind: 'today' | 'total'): number | undefined;
  /** A total summed from its daily counter as published in this pass (for totals no register holds). */
  accumulated(total: string, todayKey: string): number | undefined;
  /** Whether an entity has shown a value yet. */
  shown(key: string): boolean;
  writeCount: number;
  writesLeft: number;
}

/** A row's value: null is unknown, undefined keeps what was published (a refused spike, a glitch). */
type Read<S extends EntitySpec> = (r: Readings) => ValueOf<S> | null | undefined;

export interface Row<S extends EntitySpec = EntitySpec> {
  spec: S;
  read: Read<S>;
  /** The GivTCP command a change from HA becomes, and its payload. */
  command?: { givtcp: string; payload: (value: CommandOf<S>) => unknown };
  /** Where GivTCP's cache (REST getCache) shows it: section, group, name. */
  cache?: readonly [string, string | undefined, string];
  /** Only on inverters that have it. */
  when?: (model: InverterModel) => boolean;
}

/** Checks a row against its own spec type, then lets it join the table. */
export function row<S extends EntitySpec>(r: Row<S>): Row {
  return r as unknown as Row;
}

export const power = { component: 'sensor', deviceClass: 'power', unit: 'W', stateClass: 'measurement' } as const;
export const kwh = { component: 'sensor', deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing' } as const;
export const volts = { component: 'sensor', deviceClass: 'voltage', unit: 'V', stateClass: 'measurement', category: 'diagnostic' } as const;
export const amps = { component: 'sensor', deviceClass: 'current', unit: 'A', stateClass: 'measurement', category: 'diagnostic' } as const;
export const hertz = { component: 'sensor', deviceClass: 'frequency', unit: 'Hz', stateClass: 'measurement', category: 'diagnostic' } as const;
export const celsius = { component: 'sensor', deviceClass: 'temperature', unit: '°C', stateClass: 'measurement', category: 'diagnostic' } as const;

/** The power flows a plant controller (EMS, Gateway) reports, as sensors; `pvName` is how it calls its PV. */
export function plantFlowRows<T extends InverterTelemetry>(pvName: string): Array<{ spec: SensorSpec; read: (t: T) => number | null }> {
  const flows: Array<[key: string, name: string, field: keyof InverterTelemetry]> = [
    ['pv_power', pvName, 'pvPower'], ['grid_power', 'Grid power', 'gridPower'], ['import_power', 'Grid import power', 'importPower'],
    ['export_power', 'Grid export power', 'exportPower'], ['battery_power', 'Battery power', 'batteryPower'], ['charge_power', 'Battery charge power', 'chargePower'],
    ['discharge_power', 'Battery discharge power', 'dischargePower'], ['load_power', 'Load power', 'loadPower'],
  ];
  return flows.map(([key, name, field]) => ({ spec: { ...power, key, name }, read: (t: T) => (typeof t[field] === 'number' ? (t[field] as number) : null) }));
}

const sensor = (key: string, name: string, spec: Omit<SensorSpec, 'key' | 'name'>, read: Read<SensorSpec>, cache?: Row['cache']) => row<SensorSpec>({ spec: { ...spec, key, name }, read, cache });
const watts = (key: string, name: string, read: (t: InverterTelemetry) => number | undefined, cacheName?: string) =>
  sensor(key, name, power, (r) => read(r.t) ?? null, cacheName ? ['Power', 'Power', cacheName] : undefined);
const today = (key: string, name: string, read: (t: InverterTelemetry) => number | undefined, cacheName: string) =>
  sensor(key, name, kwh, (r) => r.energy(key, read(r.t), 'today'), ['Energy', 'Today', cacheName]);
const total = (key: string, name: string, read: (t: InverterTelemetry) => number | undefined, cacheName: string) =>
  sensor(key, name, kwh, (r) => r.energy(key, read(r.t), 'total'), ['Energy', 'Total', cacheName]);
/** A total no register holds: summed from its daily counter, kept across days and restarts. */
const summed = (key: string, name: string, todayKey: string, cacheName: string) => sensor(key, name, kwh, (r) => r.accumulated(key, todayKey), ['Energy', 'Total', cacheName]);

export const flag = (hr: RegisterBank, register: number) => (hr.get(register) === undefined ? null : hr.get(register) === 1);
export const onOff = (key: string, name: string, givtcp: string, read: (hr: RegisterBank) => boolean | null, cacheName?: string, extra: Partial<SwitchSpec> = {}) =>
  row<SwitchSpec>({
    spec: { component: 'switch', key, name, ...extra },
    read: (r) => read(r.hr),
    command: { givtcp, payload: (on) => (on ? 'enable' : 'disable') },
    cache: cacheName ? ['Control', undefined, cacheName] : undefined,
  });
export const percent = (key: string, name: string, register: number, givtcp: string, cacheName: string, extra: Partial<NumberSpec> = {}) =>
  row<NumberSpec>({
    spec: { component: 'number', key, name, min: 4, max: 100, step: 1, unit: '%', deviceClass: 'battery', mode: 'slider', ...extra },
    read: (r) => r.hr.get(register) ?? null,
    command: { givtcp, payload: (v) => v },
    cache: ['Control', undefined, cacheName],
  });
const rate = (key: string, name: string, register: number, givtcp: string, cacheName: string) =>
  (model: InverterModel) =>
    row<NumberSpec>({
      // The register moves in steps of 1 % of the pack's capacity: the slider offers just those.
      spec: { component: 'number', key, name, min: 0, max: model.batteryMaxPowerW, step: rateStepW(model), deviceRoundsToStep: true, unit: 'W', deviceClass: 'power', mode: 'slider' },
      read: (r) => registerToRate(r.hr.get(register), r.model) ?? null,
      command: { givtcp, payload: (v) => v },
      cache: ['Control', undefined, cacheName],
    });
export const slot = (key: string, name: string, register: number, givtcp: string, cacheName: string) =>
  row<TimeSpec>({ spec: { component: 'time', key, name, icon: 'mdi:clock-outline' }, read: (r) => slotToTime(r.hr.get(register)) ?? null, command: { givtcp, payload: (v) => v }, cache: ['Timeslots', undefined, cacheName] });

const pad = (n: number) => String(n).padStart(2, '0');

/** A row published only on inverters `when` accepts. */
const only = (when: (model: InverterModel) => boolean, r: Row): Row => ({ ...r, when });
/**
 * Inverters with PV strings of their own. On AC-coupled units and the All in One, IR1/2 and IR8/9
 * echo the grid side (245.7 V, the grid voltage) and IR44 is the battery's discharge output,
 * not PV: the load balance misses the PV the inverter never sees (a capture gives −1.3 kWh), so
 * load energy is not published there, as the peer library does (givenergy-modbus #293).
 */
const ownPv = (m: InverterModel) => !m.acCoupled;

/** The inverter's entities: telemetry, energy, diagnostics and every GivTCP control. */
export function inverterRows(model: InverterModel): Row[] {
  const rows: Row[] = [
    // PV above 15 kW on these inverters is a garbled reading, not sunshine.
    sensor('pv_power', 'PV power', { ...power, deadband: 5 }, (r) => (r.t.pvPower !== undefined && r.t.pvPower < 15_000 ? r.t.pvPower : null), ['Power', 'Power', 'PV_Power']),
    watts('pv1_power', 'PV1 power', (t) => t.pv1Power, 'PV_Power_String_1'),
    watts('pv2_power', 'PV2 power', (t) => t.pv2Power, 'PV_Power_String_2'),
    watts('grid_power', 'Grid power', (t) => t.gridPower, 'Grid_Power'),
    watts('import_power', 'Grid import power', (t) => t.importPower, 'Import_Power'),
    watts('export_power', 'Grid export power', (t) => t.exportPower, 'Export_Power'),
    watts('battery_power', 'Battery power', (t) => t.batteryPower, 'Battery_Power'),
    watts('charge_power', 'Battery charge power', (t) => t.chargePower, 'Charge_Power'),
    watts('discharge_power', 'Battery discharge power', (t) => t.dischargePower, 'Discharge_Power'),
    watts('load_power', 'Load power', (t) => t.loadPower, 'Load_Power'),
    watts('eps_power', 'EPS power', (t) => t.epsPower, 'EPS_Power'),
    watts('inverter_power', 'Inverter power', (t) => t.inverterPower, 'Invertor_Power'),
    // GivTCP: a state of charge of 0 after a real one is a glitch; keep the last value.
    sensor('soc', 'Battery state of charge', { component: 'sensor', deviceClass: 'battery', unit: '%', stateClass: 'measurement' }, (r) => (r.t.soc === 0 && r.shown('soc') ? undefined : (r.t.soc ?? null)), ['Power', 'Power', 'SOC']),
    today('pv_energy_today', 'PV energy today', (t) => t.pvToday, 'PV_Energy_Today_kWh'),
    today('import_energy_today', 'Grid import today', (t) => t.importToday, 'Import_Energy_Today_kWh'),
    today('export_energy_today', 'Grid export today', (t) => t.exportToday, 'Export_Energy_Today_kWh'),
    today('charge_energy_today', 'Battery charge today', (t) => t.chargeToday, 'Battery_Charge_Energy_Today_kWh'),
    today('discharge_energy_today', 'Battery discharge today', (t) => t.dischargeToday, 'Battery_Discharge_Energy_Today_kWh'),
    only(ownPv, today('load_energy_today', 'Load energy today', (t) => t.loadToday, 'Load_Energy_Today_kWh')),
    total('pv_energy_total', 'PV energy total', (t) => t.pvTotal, 'PV_Energy_Total_kWh'),
    total('import_energy_total', 'Grid import total', (t) => t.importTotal, 'Import_Energy_Total_kWh'),
    total('export_energy_total', 'Grid export total', (t) => t.exportTotal, 'Export_Energy_Total_kWh'),
    total('battery_throughput_total', 'Battery throughput total', (t) => t.batteryThroughputTotal, 'Battery_Throughput_Total_kWh'),
    only(ownPv, sensor('pv1_voltage', 'PV1 voltage', volts, (r) => r.t.pv1Voltage ?? null)),
    only(ownPv, sensor('pv2_voltage', 'PV2 voltage', volts, (r) => r.t.pv2Voltage ?? null)),
    only(ownPv, sensor('pv1_current', 'PV1 current', amps, (r) => r.t.pv1Current ?? null)),
    only(ownPv, sensor('pv2_current', 'PV2 current', amps, (r) => r.t.pv2Current ?? null)),
    sensor('grid_voltage', 'Grid voltage', volts, (r) => r.t.gridVoltage ?? null),
    sensor('grid_current', 'Grid current', amps, (r) => r.t.gridCurrent ?? null),
    sensor('grid_frequency', 'Grid frequency', hertz, (r) => r.t.gridFrequency ?? null),
    sensor('eps_voltage', 'EPS voltage', volts, (r) => r.t.epsVoltage ?? null),
    sensor('eps_frequency', 'EPS frequency', hertz, (r) => r.t.epsFrequency ?? null),
    sensor('battery_voltage', 'Battery voltage', { ...volts, precision: 2 }, (r) => r.t.batteryVoltage ?? null),
    sensor('battery_current', 'Battery current', amps, (r) => r.t.batteryCurrent ?? null),
    sensor('heatsink_temperature', 'Heatsink temperature', celsius, (r) => r.t.heatsinkTemperature ?? null),
    sensor('charger_temperature', 'Charger temperature', celsius, (r) => r.t.chargerTemperature ?? null),
    sensor('battery_temperature', 'Battery temperature', celsius, (r) => r.t.batteryTemperature ?? null),
    sensor('status', 'Status', { component: 'sensor', deviceClass: 'enum', options: [...STATUS, 'unknown'], category: 'diagnostic' }, (r) => r.t.status ?? null),
    // Totals summed from the daily counters: no register holds them on every model.
    summed('charge_energy_total', 'Battery charge total', 'charge_energy_today', 'Battery_Charge_Energy_Total_kWh'),
    summed('discharge_energy_total', 'Battery discharge total', 'discharge_energy_today', 'Battery_Discharge_Energy_Total_kWh'),
    only(ownPv, summed('load_energy_total', 'Load energy total', 'load_energy_today', 'Load_Energy_Total_kWh')),
    row<BinarySensorSpec>({ spec: { component: 'binary_sensor', key: 'fault', name: 'Fault', deviceClass: 'problem' }, read: (r) => r.t.fault ?? null }),
    sensor('battery_capacity', 'Battery capacity', { component: 'sensor', deviceClass: 'energy_storage', unit: 'kWh', stateClass: 'measurement', category: 'diagnostic' }, (r) => r.model.batteryCapacityKwh),
    sensor('firmware', 'Firmware', { component: 'sensor', icon: 'mdi:chip', category: 'diagnostic' }, (r) => r.model.firmware),
    sensor('inverter_time', 'Inverter clock', { component: 'sensor', deviceClass: 'timestamp', category: 'diagnostic' }, (r) => {
      const c = inverterClock(r.hr);
      return c ? new Date(c.year, c.month - 1, c.day, c.hour, c.minute, c.second).toISOString() : null;
    }),
    sensor('write_count', 'Register writes', { component: 'sensor', icon: 'mdi:counter', stateClass: 'total_increasing', category: 'diagnostic' }, (r) => r.writeCount),
    sensor('writes_left_today', 'Register writes left today', { component: 'sensor', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' }, (r) => r.writesLeft),

    onOff('charge_target_enabled', 'Charge target enabled', 'enableChargeTarget', (hr) => flag(hr, 20), 'Enable_Charge_Target'),
    onOff('charge_schedule', 'Charge schedule', 'enableChargeSchedule', (hr) => flag(hr, 96), 'Enable_Charge_Schedule'),
    onOff('discharge_schedule', 'Discharge schedule', 'enableDischargeSchedule', (hr) => flag(hr, 59), 'Enable_Discharge_Schedule'),
    onOff('discharge_enabled', 'Discharge enabled', 'enableDischarge', (hr) => (hr.get(110) === undefined ? null : hr.get(110) !== 100)),
    onOff('eco_mode', 'Eco mode', 'setEcoMode', (hr) => flag(hr, 27), 'Eco_Mode', { category: 'config' }),
    rate('charge_rate', 'Battery charge rate', 111, 'setChargeRate', 'Battery_Charge_Rate')(model),
    rate('discharge_rate', 'Battery discharge rate', 112, 'setDischargeRate', 'Battery_Discharge_Rate')(model),
    percent('target_soc', 'Charge target SoC', 116, 'setChargeTarget', 'Target_SOC'),
    percent('battery_reserve', 'Battery reserve', 110, 'setBatteryReserve', 'Battery_Power_Reserve'),
    percent('battery_cutoff', 'Battery power cutoff', 114, 'setBatteryCutoff', 'Battery_Power_Cutoff', { category: 'config', mode: undefined }),
    row<SelectSpec>({
      spec: { component: 'select', key: 'battery_mode', name: 'Battery mode', options: BATTERY_MODES },
      read: (r) => batteryMode(r.hr) ?? null,
      command: { givtcp: 'setBatteryMode', payload: (v) => v },
      cache: ['Control', undefined, 'Mode'],
    }),
    row<SelectSpec>({
      spec: { component: 'select', key: 'pause_mode', name: 'Battery pause mode', options: PAUSE_MODES },
      read: (r) => (r.hr.get(318) === undefined ? null : (PAUSE_MODES[r.hr.get(318)!] ?? null)),
      command: { givtcp: 'setBatteryPauseMode', payload: (v) => v },
      cache: ['Control', undefined, 'Battery_pause_mode'],
      when: (m) => m.generation !== 'Gen1' && m.family !== 'ac',
    }),
    slot('charge_slot_1_start', 'Charge slot 1 start', 94, 'setChargeStart1', 'Charge_start_time_slot_1'),
    slot('charge_slot_1_end', 'Charge slot 1 end', 95, 'setChargeEnd1', 'Charge_end_time_slot_1'),
    slot('discharge_slot_1_start', 'Discharge slot 1 start', 56, 'setDischargeStart1', 'Discharge_start_time_slot_1'),
    slot('discharge_slot_1_end', 'Discharge slot 1 end', 57, 'setDischargeEnd1', 'Discharge_end_time_slot_1'),
    slot('discharge_slot_2_start', 'Discharge slot 2 start', 44, 'setDischargeStart2', 'Discharge_start_time_slot_2'),
    slot('discharge_slot_2_end', 'Discharge slot 2 end', 45, 'setDischargeEnd2', 'Discharge_end_time_slot_2'),
    row<TextSpec>({
      spec: { component: 'text', key: 'date_time', name: 'Set date and time', category: 'config', pattern: '\\d{2}/\\d{2}/\\d{4} \\d{2}:\\d{2}:\\d{2}', max: 19 },
      // No clock read: keep what was shown (a text entity with nothing to show stays as it was).
      read: (r) => {
        const c = inverterClock(r.hr);
        return c ? `${pad(c.day)}/${pad(c.month)}/${c.year} ${pad(c.hour)}:${pad(c.minute)}:${pad(c.second)}` : undefined;
      },
      command: { givtcp: 'setDateTime', payload: (v) => v },
    }),
    row<ButtonSpec>({
      spec: { component: 'button', key: 'sync_clock', name: 'Sync clock', icon: 'mdi:clock-check-outline', category: 'config' },
      read: () => null,
      command: { givtcp: 'syncDateTime', payload: () => 'PRESS' },
    }),
  ];
  return rows.filter((r) => !r.when || r.when(model));
}

/** What a battery module shows: the decoded page of its BMS. */
export type BatteryReadings = ReturnType<typeof batteryTelemetry>;

/** A battery module's entities. */
export const BATTERY_ROWS: ReadonlyArray<{ spec: SensorSpec; read: (b: BatteryReadings) => number | null }> = [
  { spec: { component: 'sensor', key: 'soc', name: 'State of charge', deviceClass: 'battery', unit: '%', stateClass: 'measurement' }, read: (b) => b.soc ?? null },
  { spec: { component: 'sensor', key: 'remaining_capacity', name: 'Remaining capacity', unit: 'Ah', stateClass: 'measurement', icon: 'mdi:battery-50', precision: 1 }, read: (b) => b.remainingAh ?? null },
  { spec: { component: 'sensor', key: 'cycles', name: 'Cycles', icon: 'mdi:battery-sync', stateClass: 'total_increasing', category: 'diagnostic' }, read: (b) => b.cycles ?? null },
  { spec: { ...celsius, key: 'temperature', name: 'Temperature' }, read: (b) => b.temperature ?? null },
  { spec: { ...volts, key: 'cell_min_voltage', name: 'Lowest cell voltage', precision: 3 }, read: (b) => b.cellMinV ?? null },
  { spec: { ...volts, key: 'cell_max_voltage', name: 'Highest cell voltage', precision: 3 }, read: (b) => b.cellMaxV ?? null },
];
