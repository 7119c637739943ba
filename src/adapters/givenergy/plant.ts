// What one dongle's installation is made of, by family: the pages a poll reads (the inverter's
// own and those of the devices behind it), how the inverter's telemetry is decoded, and the
// devices of their own that HA shows beside the inverter (LV battery modules). The adapter
// polls a plan and publishes it; it does not know the families.
import type { SensorSpec } from '../../core/entity.js';
import { BATTERY_ROWS } from './entities.js';
import { EMS_FAMILY_CONTROLS, SINGLE_PHASE_CONTROLS, THREE_PHASE_FAMILY_CONTROLS, type FamilyControls } from './family-controls.js';
import {
  BAMS_ADDRESS, BCU_ADDRESS, BCU_ROWS, BMU_ADDRESS, BMU_ROWS, bamsPages, bcuPages, bmuPages, bmuTelemetry, bcuTelemetry, moduleCount,
  moduleIndices, sensorsPerModule, stackCount, stackReadings, type BmuTelemetry, type StackReadings,
} from './hv-battery.js';
import type { InverterModel } from './model.js';
import { RegisterBank, batteryTelemetry, inverterTelemetry, type InverterTelemetry } from './registers.js';
import { THREE_PHASE_PAGES, THREE_PHASE_ROWS, threePhaseTelemetry } from './three-phase.js';
import { EMS_PAGES, EMS_ROWS, EMS_UNIT_ROWS, emsTelemetry, type EmsInverter } from './ems.js';
import { GATEWAY_PAGES, GATEWAY_ROWS, GATEWAY_UNIT_ROWS, gatewayTelemetry, type GatewayAio } from './gateway.js';

/** One register page a poll reads: fast polls read every page not marked `full`. */
export interface PageRead {
  device: number;
  fn: 0x03 | 0x04;
  base: number;
  count: number;
  full: boolean;
}

/** The holding and input registers of each device address, filled page by page. */
export class DeviceBanks {
  private readonly byDevice = new Map<number, { hr: RegisterBank; ir: RegisterBank }>();

  /** The inverter's banks are the adapter's own (its writer and controls read them). */
  adopt(device: number, banks: { hr: RegisterBank; ir: RegisterBank }): void {
    this.byDevice.set(device, banks);
  }

  of(device: number): { hr: RegisterBank; ir: RegisterBank } {
    let banks = this.byDevice.get(device);
    if (!banks) this.byDevice.set(device, (banks = { hr: new RegisterBank(), ir: new RegisterBank() }));
    return banks;
  }

  store(read: Pick<PageRead, 'device' | 'fn' | 'base'>, values: number[]): void {
    const banks = this.of(read.device);
    (read.fn === 0x03 ? banks.hr : banks.ir).set(read.base, values);
  }
}

/** The inverter's telemetry, whichever bank it comes from (three-phase units add their phases). */
export type Telemetry = Partial<InverterTelemetry>;

/** A sensor row of a device beside the inverter, reading that device's decoded values. */
export interface PartRow<T> {
  spec: SensorSpec;
  read: (values: T) => number | string | null;
}

/** A device of its own in HA (a battery module, a battery stack, an inverter behind an EMS). */
export interface Part<T = unknown> {
  /** Appended to the inverter's device id: `battery_1`, `stack`, `module_3`. */
  key: string;
  name: string;
  model: string;
  serial?: string;
  /** What GivTCP's REST cache lists it under (Battery_Details), if anything. */
  cacheName?: string;
  decode(banks: DeviceBanks): T;
  rows: ReadonlyArray<PartRow<T>>;
  /** GivTCP's cache entry for it. */
  cache?(values: T): Record<string, unknown>;
}

export interface Plan {
  reads: PageRead[];
  /** The inverter's values under the single-phase names (the EMS and Gateway: their plant's). */
  telemetry(banks: DeviceBanks): Telemetry;
  /** The inverter rows of entities.ts apply (an inverter, not a plant controller). */
  inverterRows: boolean;
  /** What the family can be told to do (GivTCP's commands on its registers); none: read only. */
  controls?: FamilyControls;
  /** Rows of the family on the inverter's own device (three-phase phases, the EMS's plant values). */
  family?: { decode(banks: DeviceBanks): unknown; rows: ReadonlyArray<PartRow<unknown>> };
  parts: Part[];
}

/** Reads one page; undefined when the device does not answer (no such device). */
export type PageReader = (device: number, fn: 0x03 | 0x04, base: number, count: number) => Promise<number[] | undefined>;

/** The single-phase inverter's own pages (research givenergy.md §2.1). */
function singlePhaseReads(model: InverterModel): PageRead[] {
  const at = (fn: 0x03 | 0x04, base: number, full: boolean): PageRead => ({ device: model.address, fn, base, count: 60, full });
  return [at(0x04, 0, false), at(0x03, 0, false), at(0x03, 60, true), at(0x03, 120, true), ...(model.acRateRegisters ? [at(0x03, 300, true)] : [])];
}

type LvBattery = ReturnType<typeof batteryTelemetry>;

/** LV battery modules answer their BMS page IR 60–119 at 0x32–0x37; a module has a serial, an empty slot none. */
async function lvBatteries(model: InverterModel, banks: DeviceBanks, read: PageReader): Promise<{ reads: PageRead[]; parts: Part[] }> {
  const reads: PageRead[] = [];
  const parts: Part[] = [];
  for (let device = 0x32; device <= 0x37; device++) {
    const page = await read(device, 0x04, 60, 60);
    if (!page) continue;
    // An empty slot answers too: zeros, or leftovers (a few cell words, two stray registers, as
    // the captured Gen1 and AC plants show at 0x34–0x36). A module names itself by its serial.
    const probe = new RegisterBank();
    probe.set(60, page);
    const serial = batteryTelemetry(probe).serial ?? '';
    if (!/^[A-Z]{2}[0-9A-Z]{4,}/.test(serial)) continue;
    const pageRead: PageRead = { device, fn: 0x04, base: 60, count: 60, full: false };
    banks.store(pageRead, page);
    reads.push(pageRead);
    const n = device - 0x31;
    const part: Part<LvBattery> = {
      key: `battery_${n}`,
      name: `battery ${n} ${serial}`,
      model: 'Battery module',
      serial,
      decode: (b) => batteryTelemetry(b.of(device).ir),
      rows: BATTERY_ROWS,
      cache: (b) => ({ SOC: b.soc ?? null, Cycles: b.cycles ?? null, Remaining_Capacity_Ah: b.remainingAh ?? null, Temperature: b.temperature ?? null }),
      cacheName: serial,
    };
    parts.push(part as Part);
  }
  return { reads, parts };
}

/**
 * An HV battery: the BAMS at 0xA0 counts the stacks, each stack's BCU (0x70 + s) counts its
 * modules, each module's BMU answers at 0x50 + n. The BCU's cluster block is read on every poll;
 * its second block (serial), the BAMS and the modules' cells and temperatures on full refreshes.
 */
async function hvStacks(model: InverterModel, banks: DeviceBanks, read: PageReader): Promise<{ reads: PageRead[]; parts: Part[] }> {
  const reads: PageRead[] = [];
  const parts: Part[] = [];
  const take = async (page: { device: number; fn: 0x04; base: number; count: number }, full: boolean): Promise<boolean> => {
    const values = await read(page.device, page.fn, page.base, page.count);
    if (!values || values.every((w) => w === 0)) return false;
    banks.store(page, values);
    reads.push({ ...page, full });
    return true;
  };
  for (const page of bamsPages()) await take(page, true);
  const stacks = Math.max(1, Math.min(4, stackCount(banks.of(BAMS_ADDRESS).ir) ?? 1));
  const perStack: number[] = [];
  for (let s = 0; s < stacks; s++) {
    const [cluster, second] = bcuPages(s);
    if (!(await take(cluster!, false))) break; // no BCU: no (more) stacks
    await take(second!, true);
    perStack.push(moduleCount(banks.of(BCU_ADDRESS + s).ir) ?? 0);
  }
  const modules = moduleIndices(perStack, model.family === 'aio');
  const answered: number[] = [];
  for (const index of modules) if (await take(bmuPages(index)[0]!, true)) answered.push(index);
  // Which modules belong to which stack: numbered on from one stack to the next.
  let first = 0;
  perStack.forEach((count, s) => {
    const own = answered.filter((i) => i >= first && i < first + count);
    first += count;
    const bcu = BCU_ADDRESS + s;
    const serial = bcuTelemetry(banks.of(bcu).ir).serial;
    const label = `battery stack ${s + 1}${serial ? ` ${serial}` : ''}`;
    const stack: Part<StackReadings> = {
      key: `stack_${s + 1}`,
      name: label,
      model: 'HV battery stack (BCU)',
      serial,
      decode: (b) => stackReadings(b.of(bcu).ir, own.map((i) => b.of(BMU_ADDRESS + i).ir)),
      rows: BCU_ROWS,
      cacheName: serial ?? `stack_${s + 1}`,
      cache: (v) => ({ SOC: v.bcu.soc ?? null, SOH: v.bcu.soh ?? null, Cycles: v.bcu.cycles ?? null, Remaining_Capacity_Ah: v.bcu.remainingAh ?? null, Voltage: v.bcu.voltage ?? null }),
    };
    parts.push(stack as Part);
    for (const i of own) {
      const sensors = () => sensorsPerModule(bcuTelemetry(banks.of(bcu).ir));
      const moduleSerial = bmuTelemetry(banks.of(BMU_ADDRESS + i).ir).serial;
      const module: Part<BmuTelemetry> = {
        key: `module_${i + 1}`,
        name: `battery module ${i + 1}${moduleSerial ? ` ${moduleSerial}` : ''}`,
        model: 'HV battery module (BMU)',
        serial: moduleSerial,
        decode: (b) => bmuTelemetry(b.of(BMU_ADDRESS + i).ir, sensors()),
        rows: BMU_ROWS,
      };
      parts.push(module as Part);
    }
  });
  return { reads, parts };
}

/**
 * The plan for a detected inverter: asks the devices behind it (batteries, stacks) with `read`,
 * and leaves what it read in `banks`.
 */
export async function discoverPlan(model: InverterModel, banks: DeviceBanks, read: PageReader): Promise<Plan> {
  const own = (b: DeviceBanks) => b.of(model.address);
  if (model.family === 'ems' || model.family === 'gateway') return controllerPlan(model, banks, read);
  // HV models have a BCU stack; the others LV modules at 0x32+ (an HV unit has none there).
  const extra = model.hv ? await hvStacks(model, banks, read) : await lvBatteries(model, banks, read);
  if (model.family === 'hybrid_3ph' || model.family === 'ac_3ph') {
    // The identity page HR 0–59 keeps the clock; the rest is in the 1000+ banks.
    const reads = [{ device: model.address, fn: 0x03 as const, base: 0, count: 60, full: false }, ...THREE_PHASE_PAGES.map((p) => ({ ...p, device: model.address }))];
    return {
      reads: [...reads, ...extra.reads],
      telemetry: (b) => threePhaseTelemetry(own(b).ir, own(b).hr),
      inverterRows: true,
      controls: THREE_PHASE_FAMILY_CONTROLS,
      family: { decode: (b) => threePhaseTelemetry(own(b).ir, own(b).hr), rows: THREE_PHASE_ROWS as ReadonlyArray<PartRow<unknown>> },
      parts: extra.parts,
    };
  }
  return {
    reads: [...singlePhaseReads(model), ...extra.reads],
    telemetry: (b) => inverterTelemetry(own(b).ir),
    inverterRows: true,
    controls: SINGLE_PHASE_CONTROLS,
    parts: extra.parts,
  };
}

/**
 * An EMS or a Gateway: a plant controller whose rollup carries the units it manages (inverters,
 * All in Ones), each shown as a device of its own. The units' own dongles, if added, show them
 * in full; the rollup needs none.
 */
async function controllerPlan(model: InverterModel, banks: DeviceBanks, read: PageReader): Promise<Plan> {
  const ems = model.family === 'ems';
  const pages = (ems ? EMS_PAGES : GATEWAY_PAGES).map((p) => ({ ...p, device: model.address }));
  for (const page of pages) {
    if (page.fn === 0x03 && page.base === 0) continue; // detection read it
    const values = await read(page.device, page.fn, page.base, page.count);
    if (values) banks.store(page, values);
  }
  const own = (b: DeviceBanks) => b.of(model.address);
  const parts: Part[] = [];
  if (ems) {
    const decode = (b: DeviceBanks) => emsTelemetry(own(b).ir, own(b).hr);
    for (const unit of decode(banks).inverters) {
      const part: Part<EmsInverter | undefined> = {
        key: `inverter_${unit.slot}`,
        name: `inverter ${unit.slot} ${unit.serial} (EMS)`,
        model: 'Inverter managed by the EMS',
        serial: unit.serial,
        decode: (b) => decode(b).inverters.find((u) => u.slot === unit.slot),
        rows: EMS_UNIT_ROWS.map((r) => ({ spec: r.spec, read: (u: EmsInverter | undefined) => (u ? r.read(u) : null) })),
      };
      parts.push(part as Part);
    }
    return { reads: pages, telemetry: decode, inverterRows: false, controls: EMS_FAMILY_CONTROLS, family: { decode, rows: EMS_ROWS as ReadonlyArray<PartRow<unknown>> }, parts };
  }
  const decode = (b: DeviceBanks) => gatewayTelemetry(own(b).ir, own(b).hr);
  for (const unit of decode(banks).aios) {
    const part: Part<GatewayAio | undefined> = {
      key: `aio_${unit.slot}`,
      name: `All in One ${unit.slot} ${unit.serial} (Gateway)`,
      model: 'All in One behind the Gateway',
      serial: unit.serial,
      decode: (b) => decode(b).aios.find((u) => u.slot === unit.slot),
      rows: GATEWAY_UNIT_ROWS.map((r) => ({ spec: r.spec, read: (u: GatewayAio | undefined) => (u ? r.read(u) : null) })),
    };
    parts.push(part as Part);
  }
  // The peer library writes nothing on a Gateway (HR 313/314 are not write-safe there): read only.
  return { reads: pages, telemetry: decode, inverterRows: false, family: { decode, rows: GATEWAY_ROWS as ReadonlyArray<PartRow<unknown>> }, parts };
}
