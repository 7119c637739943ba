// Every GivEVC entity, one row each: its HA declaration, how its value comes from the charger's
// registers (research/givenergy.md §3), and for a control the register writes a command makes.
// The keys are what the ev_charge rule reads and writes (EVC_KEYS).
import type { ButtonSpec, EntitySpec, NumberSpec, SensorSpec, SwitchSpec, ValueOf, CommandOf } from '../../core/entity.js';
import type { Write } from '../../io/safe-writer.js';
import {
  CHARGING_STATES, CLOCK_FIELDS, CONTROL, ERRORS, HR, PLUG_STATES, chargingState, clockFields, decodeSerial, scaled, u16, u32, wallClock, type Registers,
} from './registers.js';

export const EVC_KEYS = {
  chargingState: 'charging_state',
  plugStatus: 'plug_status',
  activePower: 'active_power',
  sessionEnergy: 'session_energy',
  meterEnergy: 'meter_energy',
  chargeLimit: 'charge_limit',
  chargeControl: 'charge_control',
  plugAndGo: 'plug_and_go',
  maxSessionEnergy: 'max_session_energy',
  syncTime: 'sync_time',
  phases: 'phases',
} as const;

export const evcDeviceId = (serial: string) => `givenergy_evc_${serial.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
export const evcLinkId = (host: string, port: number) => `givenergy_evc_link_${host.replace(/[^a-zA-Z0-9]/g, '_')}_${port}`;

/** What a row reads from: the registers, and what the adapter keeps itself. */
export interface Values {
  r: Registers;
  /** Phases the car last drew on (or the supply has), kept across polls. */
  phases: number | null;
  /** Max session energy (kWh, 0 = off): the add-on's, the charger has no such register. */
  maxSessionKwh: number;
}

export interface Row<S extends EntitySpec = EntitySpec> {
  spec: S;
  read?: (v: Values) => ValueOf<S> | null;
  /** The register writes a command makes (checked and confirmed by the safe writer). */
  write?: (value: CommandOf<S>, v: Values, now: number) => Array<Write<number>>;
  /** A setting the adapter keeps itself (no register). */
  local?: true;
}

const row = <S extends EntitySpec>(r: Row<S>) => r as unknown as Row;

type SensorLook = Omit<SensorSpec, 'key' | 'name' | 'component'>;
const sensor = (key: string, name: string, look: SensorLook, read: (v: Values) => number | string | null) =>
  row<SensorSpec>({ spec: { component: 'sensor', key, name, ...look }, read });

const current = { deviceClass: 'current', unit: 'A', stateClass: 'measurement', precision: 1 } as const;
const voltage = { deviceClass: 'voltage', unit: 'V', stateClass: 'measurement', precision: 1 } as const;
const power = { deviceClass: 'power', unit: 'W', stateClass: 'measurement' } as const;
const L = [1, 2, 3] as const;
const CURRENT_AT = [HR.currentL1, HR.currentL2, HR.currentL3];
const VOLTAGE_AT = [HR.voltageL1, HR.voltageL2, HR.voltageL3];
const POWER_AT = [HR.powerL1, HR.powerL2, HR.powerL3];

/** A phase counts as drawing from 1 A up (a three-phase car draws the same on all three). */
const DRAWING_A = 1;
/** A phase with a voltage below this is not connected (a single-phase supply). */
const LIVE_V = 100;

/**
 * Phases from the currents while the car draws, otherwise what was known before, otherwise the
 * supply's voltages (a single-phase supply has no L2/L3 voltage).
 */
export function phasesOf(v: Values): number | null {
  const currents = CURRENT_AT.map((at) => scaled(u16(v.r, at), 0.1));
  if (currents.every((c) => c !== null) && (currents[0] ?? 0) >= DRAWING_A) {
    const drawing = currents.filter((c) => (c ?? 0) >= DRAWING_A).length;
    return drawing >= 2 ? 3 : 1;
  }
  if (v.phases !== null) return v.phases;
  const volts = VOLTAGE_AT.map((at) => scaled(u16(v.r, at), 0.1));
  if (volts.some((x) => x === null)) return null;
  return volts.slice(1).every((x) => (x ?? 0) >= LIVE_V) ? 3 : 1;
}

const hms = (r: Registers, at: number) => {
  const parts = [0, 1, 2].map((i) => u16(r, at + i));
  return parts.some((p) => p === null) ? null : parts.map((p) => String(p).padStart(2, '0')).join(':');
};

export const ROWS: readonly Row[] = [
  sensor(EVC_KEYS.chargingState, 'Charging state', { deviceClass: 'enum', options: CHARGING_STATES, icon: 'mdi:ev-station' }, (v) => chargingState(v.r)),
  sensor(EVC_KEYS.plugStatus, 'Plug status', { deviceClass: 'enum', options: PLUG_STATES, icon: 'mdi:ev-plug-type2' }, (v) => {
    const cable = u16(v.r, HR.cable);
    return cable === null ? null : PLUG_STATES[cable === 1 ? 1 : 0];
  }),
  sensor('error', 'Error', { icon: 'mdi:alert-circle-outline', category: 'diagnostic' }, (v) => {
    const code = u16(v.r, HR.error);
    return code === null ? null : (ERRORS[code] ?? `error ${code}`);
  }),
  ...L.map((l, i) => sensor(`current_l${l}`, `Current L${l}`, current, (v) => scaled(u16(v.r, CURRENT_AT[i]!), 0.1))),
  ...L.map((l, i) => sensor(`voltage_l${l}`, `Voltage L${l}`, voltage, (v) => scaled(u16(v.r, VOLTAGE_AT[i]!), 0.1))),
  sensor(EVC_KEYS.activePower, 'Active power', power, (v) => u32(v.r, HR.activePower)),
  ...L.map((l, i) => row<SensorSpec>({ spec: { component: 'sensor', key: `active_power_l${l}`, name: `Active power L${l}`, ...power, enabledByDefault: false }, read: (v) => u16(v.r, POWER_AT[i]!) })),
  sensor(EVC_KEYS.sessionEnergy, 'Session energy', { deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing', precision: 1 }, (v) => scaled(u16(v.r, HR.sessionEnergy), 0.1)),
  sensor('session_duration', 'Session duration', { deviceClass: 'duration', unit: 's', stateClass: 'measurement' }, (v) => u16(v.r, HR.sessionDuration)),
  sensor('session_start', 'Session start', { icon: 'mdi:clock-start', category: 'diagnostic' }, (v) => hms(v.r, HR.sessionStart)),
  sensor(EVC_KEYS.meterEnergy, 'Meter energy', { deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing', precision: 1 }, (v) => scaled(u32(v.r, HR.meterEnergy), 0.1)),
  sensor('evse_max_current', 'EVSE maximum current', { ...current, precision: 0, category: 'diagnostic' }, (v) => u16(v.r, HR.evseMax)),
  sensor('evse_min_current', 'EVSE minimum current', { ...current, precision: 0, category: 'diagnostic' }, (v) => u16(v.r, HR.evseMin)),
  sensor(EVC_KEYS.phases, 'Phases', { icon: 'mdi:sine-wave', stateClass: 'measurement' }, phasesOf),
  sensor('serial', 'Serial number', { icon: 'mdi:identifier', category: 'diagnostic' }, (v) => decodeSerial(v.r)),
  // No register for it is known (research §3): unknown until one is.
  sensor('firmware', 'Firmware', { icon: 'mdi:chip', category: 'diagnostic' }, () => null),
  sensor('charger_time', 'Charger clock', { icon: 'mdi:clock-outline', category: 'diagnostic' }, (v) => {
    const f = clockFields(v.r);
    if (!f) return null;
    const [y, mo, d, h, mi, s] = f.map((x) => String(x).padStart(2, '0'));
    return `${y}-${mo}-${d} ${h}:${mi}:${s}`;
  }),
  // ---- controls ----
  row<NumberSpec>({
    spec: { component: 'number', key: EVC_KEYS.chargeLimit, name: 'Charge limit', min: 6, max: 32, step: 0.1, unit: 'A', deviceClass: 'current', mode: 'box', icon: 'mdi:current-ac' },
    read: (v) => scaled(u16(v.r, HR.chargeLimit), 0.1),
    write: (amps) => [{ key: HR.chargeLimitWrite, value: Math.round(amps * 10) }],
  }),
  row<SwitchSpec>({
    spec: { component: 'switch', key: EVC_KEYS.chargeControl, name: 'Charge control', icon: 'mdi:ev-station' },
    // GivTCP shows Start while the charger charges whatever HR94 says (research §3).
    read: (v) => {
      const control = u16(v.r, HR.controlRead);
      return control === null ? null : control === CONTROL.start || u16(v.r, HR.state) === 4;
    },
    write: (on) => [{ key: HR.controlWrite, value: on ? CONTROL.start : CONTROL.stop }],
  }),
  row<SwitchSpec>({
    spec: { component: 'switch', key: EVC_KEYS.plugAndGo, name: 'Plug and go', icon: 'mdi:power-plug-outline' },
    read: (v) => {
      const raw = u16(v.r, HR.plugAndGo);
      return raw === null ? null : raw === 0; // 0 = enabled
    },
    write: (on) => [{ key: HR.plugAndGo, value: on ? 0 : 1 }],
  }),
  row<NumberSpec>({
    spec: { component: 'number', key: EVC_KEYS.maxSessionEnergy, name: 'Max session energy', min: 0, max: 200, step: 0.1, unit: 'kWh', deviceClass: 'energy', mode: 'box', icon: 'mdi:battery-charging-high' },
    read: (v) => v.maxSessionKwh,
    local: true,
  }),
  row<ButtonSpec>({
    spec: { component: 'button', key: EVC_KEYS.syncTime, name: 'Sync time', icon: 'mdi:clock-check-outline' },
    write: (_press, _v, now) => wallClock(now).map((value, i) => ({ key: HR.clock + i, value })),
  }),
];

export const CLOCK_KEYS: ReadonlySet<number> = new Set(CLOCK_FIELDS.map((_f, i) => HR.clock + i));
