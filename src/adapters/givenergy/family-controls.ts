// The controls of the families whose settings live outside the single-phase map (controls.ts):
// three-phase hybrids (HR 1109–1123) and the EMS (HR 2040–2071). Each command keeps GivTCP's
// name and payload (its REST API has setACCharge, setForceCharge, setForceDischarge for three-
// phase units and setEmsPlant, setExportLimit for the EMS) and becomes writes through the same
// safe writer: allow-list and range, skipped when held, read back, counted. The registers and
// their ranges are those the peer library (givenergy-modbus) writes on these models; the values
// the captured installations hold fit them (three_phase_hv_a: target 100, reserve 5, slots 01:00).
// Gateway: the peer library writes nothing there, so neither do we.
import { z } from 'zod';
import type { NumberSpec, SwitchSpec } from '../../core/entity.js';
import type { WriteRule } from '../../io/safe-writer.js';
import {
  COMMANDS, SLOT, WRITE_ALLOWED, hhmm, numberIn, parse, pct, range, slotPayload, state, textOf, type Command, type Write,
} from './controls.js';
import { flag, onOff, percent, row, slot, type Row } from './entities.js';
import { timeToSlot } from './registers.js';

/** What a family can be told to do: its commands, the registers they may write, its HA rows. */
export interface FamilyControls {
  commands: Readonly<Record<string, Command>>;
  allowed: ReadonlyMap<number, WriteRule>;
  /** Rows on the inverter's device (HA entities with their GivTCP command). */
  rows: readonly Row[];
  /** The single-phase rows kept, by their GivTCP command (the clock, HR 35–40, is the same on these models). */
  shared: ReadonlySet<string> | 'all';
}

/** GivTCP's own control table: the single-phase hybrids, AC-coupled units and the All in One. */
export const SINGLE_PHASE_CONTROLS: FamilyControls = { commands: COMMANDS, allowed: WRITE_ALLOWED, rows: [], shared: 'all' };

/** The clock at HR 35–40, on every family with the identity page (three-phase: 2026-07-09 21:20:29 in its capture). */
const CLOCK_ALLOWED: Array<[number, WriteRule]> = [[35, range(0, 99)], [36, range(1, 12)], [37, range(1, 31)], [38, range(0, 23)], [39, range(0, 59)], [40, range(0, 59)]];
const CLOCK_COMMANDS = ['setDateTime', 'syncDateTime'];
const clockCommands: Record<string, Command> = { setDateTime: COMMANDS.setDateTime!, syncDateTime: COMMANDS.syncDateTime! };

const onOffCommand = (register: number): Command => (p) => [{ register, value: parse(state, p) ? 1 : 0 }];
const timeCommand = (register: number): Command => (p) => [{ register, value: timeToSlot(parse(hhmm, textOf(p))) }];

// ---- three-phase hybrids (4xxx) and AC (6xxx) ----

const TP = { reserve: 1109, chargeRateLimit: 1110, target: 1111, acCharge: 1112, chargeStart: 1113, chargeEnd: 1114, dischargeStart: 1118, dischargeEnd: 1119, forceDischarge: 1122, forceCharge: 1123 } as const;

function threePhaseSlot(start: number, end: number, pctKey: string, pctRegister: number): Command {
  return (p) => {
    const s = parse(slotPayload(pctKey), p) as { start: string; finish: string } & Record<string, number | undefined>;
    const target = s[pctKey];
    return [{ register: start, value: timeToSlot(s.start) }, { register: end, value: timeToSlot(s.finish) }, ...(target ? [{ register: pctRegister, value: target }] : [])];
  };
}

export const THREE_PHASE_FAMILY_CONTROLS: FamilyControls = {
  commands: {
    ...clockCommands,
    setChargeTarget: (p) => [{ register: TP.target, value: parse(pct('chargeToPercent'), p) }],
    setBatteryReserve: (p) => [{ register: TP.reserve, value: parse(pct('reservePercent'), p) }],
    setACCharge: onOffCommand(TP.acCharge),
    setForceCharge: onOffCommand(TP.forceCharge),
    setForceDischarge: onOffCommand(TP.forceDischarge),
    setChargeSlot1: threePhaseSlot(TP.chargeStart, TP.chargeEnd, 'chargeToPercent', TP.target),
    setDischargeSlot1: threePhaseSlot(TP.dischargeStart, TP.dischargeEnd, 'dischargeToPercent', TP.reserve),
    setChargeStart1: timeCommand(TP.chargeStart),
    setChargeEnd1: timeCommand(TP.chargeEnd),
    setDischargeStart1: timeCommand(TP.dischargeStart),
    setDischargeEnd1: timeCommand(TP.dischargeEnd),
  },
  allowed: new Map<number, WriteRule>([
    ...CLOCK_ALLOWED,
    [TP.reserve, range(4, 100)], [TP.target, range(4, 100)], [TP.acCharge, range(0, 1)], [TP.forceCharge, range(0, 1)], [TP.forceDischarge, range(0, 1)],
    [TP.chargeStart, SLOT], [TP.chargeEnd, SLOT], [TP.dischargeStart, SLOT], [TP.dischargeEnd, SLOT],
  ]),
  rows: [
    onOff('ac_charge', 'AC charge', 'setACCharge', (hr) => flag(hr, TP.acCharge)),
    onOff('force_charge', 'Force charge', 'setForceCharge', (hr) => flag(hr, TP.forceCharge)),
    onOff('force_discharge', 'Force discharge', 'setForceDischarge', (hr) => flag(hr, TP.forceDischarge)),
    percent('target_soc', 'Charge target SoC', TP.target, 'setChargeTarget', 'Target_SOC'),
    percent('battery_reserve', 'Battery reserve', TP.reserve, 'setBatteryReserve', 'Battery_Power_Reserve'),
    slot('charge_slot_1_start', 'Charge slot 1 start', TP.chargeStart, 'setChargeStart1', 'Charge_start_time_slot_1'),
    slot('charge_slot_1_end', 'Charge slot 1 end', TP.chargeEnd, 'setChargeEnd1', 'Charge_end_time_slot_1'),
    slot('discharge_slot_1_start', 'Discharge slot 1 start', TP.dischargeStart, 'setDischargeStart1', 'Discharge_start_time_slot_1'),
    slot('discharge_slot_1_end', 'Discharge slot 1 end', TP.dischargeEnd, 'setDischargeEnd1', 'Discharge_end_time_slot_1'),
  ],
  shared: new Set(CLOCK_COMMANDS),
};

// ---- the EMS (5xxx) ----

const EMS = { plant: 2040, exportLimit: 2071 } as const;
/** Discharge, charge and export slots 1–3: (start, end, target SoC) triplets from these registers. */
const EMS_SLOTS = { Discharge: 2044, Charge: 2053, Export: 2062 } as const;
type SlotKind = keyof typeof EMS_SLOTS;
const slotBase = (kind: SlotKind, n: number) => EMS_SLOTS[kind] + 3 * (n - 1);
const PCT_KEY: Record<SlotKind, string> = { Discharge: 'dischargeToPercent', Charge: 'chargeToPercent', Export: 'exportToPercent' };

/** GivTCP's slot payload {start, finish, <kind>ToPercent?}; the EMS keeps a target per slot (0–100 %). */
function emsSlot(kind: SlotKind, n: number): Command {
  return (p) => {
    const key = PCT_KEY[kind];
    const s = parse(slotPayload(key), p) as { start: string; finish: string } & Record<string, number | undefined>;
    const at = slotBase(kind, n);
    const target = s[key];
    return [{ register: at, value: timeToSlot(s.start) }, { register: at + 1, value: timeToSlot(s.finish) }, ...(target !== undefined ? [{ register: at + 2, value: target }] : [])] satisfies Write[];
  };
}

const slotCommands: Record<string, Command> = {};
const slotRows: Row[] = [];
const slotAllowed: Array<[number, WriteRule]> = [];
for (const kind of Object.keys(EMS_SLOTS) as SlotKind[]) {
  for (const n of [1, 2, 3]) {
    const at = slotBase(kind, n);
    const name = `set${kind}Slot${n}`;
    slotCommands[name] = emsSlot(kind, n);
    slotCommands[`set${kind}Start${n}`] = timeCommand(at);
    slotCommands[`set${kind}End${n}`] = timeCommand(at + 1);
    slotCommands[`set${kind}Target${n}`] = (p) => [{ register: at + 2, value: parse(pct('targetPercent', 0), p) }];
    slotAllowed.push([at, SLOT], [at + 1, SLOT], [at + 2, range(0, 100)]);
    const lower = kind.toLowerCase();
    slotRows.push(
      slot(`${lower}_slot_${n}_start`, `${kind} slot ${n} start`, at, `set${kind}Start${n}`, `${kind}_start_time_slot_${n}`),
      slot(`${lower}_slot_${n}_end`, `${kind} slot ${n} end`, at + 1, `set${kind}End${n}`, `${kind}_end_time_slot_${n}`),
      percent(`${lower}_slot_${n}_target`, `${kind} slot ${n} target SoC`, at + 2, `set${kind}Target${n}`, `${kind}_target_slot_${n}`, { min: 0, category: 'config', mode: 'box' }),
    );
  }
}

export const EMS_FAMILY_CONTROLS: FamilyControls = {
  commands: {
    ...clockCommands,
    setEmsPlant: onOffCommand(EMS.plant),
    // GivTCP's REST payload: {"state": "3600"} (W).
    setExportLimit: (p) => [{ register: EMS.exportLimit, value: parse(numberIn('state').pipe(z.number().int().min(0).max(65535, { message: 'must be at most 65535 W' })), p) }],
    ...slotCommands,
  },
  allowed: new Map<number, WriteRule>([...CLOCK_ALLOWED, [EMS.plant, range(0, 1)], [EMS.exportLimit, range(0, 65535)], ...slotAllowed]),
  rows: [
    row<SwitchSpec>({
      spec: { component: 'switch', key: 'plant_control', name: 'Plant control', icon: 'mdi:home-lightning-bolt' },
      read: (r) => flag(r.hr, EMS.plant),
      command: { givtcp: 'setEmsPlant', payload: (on) => (on ? 'enable' : 'disable') },
    }),
    row<NumberSpec>({
      spec: { component: 'number', key: 'export_limit', name: 'Export power limit', min: 0, max: 65535, step: 1, unit: 'W', deviceClass: 'power', mode: 'box', category: 'config' },
      read: (r) => r.hr.get(EMS.exportLimit) ?? null,
      command: { givtcp: 'setExportLimit', payload: (v) => v },
    }),
    ...slotRows,
  ],
  shared: new Set(CLOCK_COMMANDS),
};

/** Every command name any family takes (so a command another model takes is told apart from a typo). */
export const ALL_FAMILY_COMMANDS: ReadonlySet<string> = new Set([THREE_PHASE_FAMILY_CONTROLS, EMS_FAMILY_CONTROLS].flatMap((c) => Object.keys(c.commands)));
