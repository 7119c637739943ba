// A GivEnergy inverter and its batteries over the dongle: detection, a fast and a full polling
// plan, the entities of entities.ts (declared, read, commanded), the energy totals, GivTCP's MQTT
// control topics and the cache its REST API serves. Writes go through the safe writer.
import { z } from 'zod';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import type { CommandOf, EntitySpec } from '../../core/entity.js';
import { clip, oneLine, quote } from '../../core/outside-text.js';
import { WriteBudget, writeBudgetState } from '../../io/write-budget.js';
import { SafeWriter } from '../../io/safe-writer.js';
import { DongleClient } from './client.js';
import { COMMANDS, ControlError, type Write } from './controls.js';
import { ALL_FAMILY_COMMANDS } from './family-controls.js';
import { GivTcpCommands } from './givtcp-topics.js';
import { DailyTotals, totalsState } from './totals.js';
import { inverterRows, type Readings, type Row } from './entities.js';
import { detectModel, type InverterModel } from './model.js';
import type { GivenergyInverterOptions } from './options.js';
import { DeviceBanks, discoverPlan, type Part, type Plan } from './plant.js';
import { EnergyGuard, RegisterBank, inverterClock } from './registers.js';


/** Rows that count our writes: only where we write (the single-phase control table). */
const WRITE_COUNTERS = new Set(['write_count', 'writes_left_today']);

const persistedShape = z.object({
  writes: z.number().int().min(0),
  savedReserve: z.number().int().min(4).max(99),
  totals: totalsState.default({}),
  budget: writeBudgetState.optional(),
});

export class GivEnergyAdapter implements Adapter {
  readonly id: string;
  readonly client: DongleClient;
  model?: InverterModel;
  readonly hr = new RegisterBank();
  readonly ir = new RegisterBank();
  /** Every device's registers: the inverter's (hr, ir above) and those behind it. */
  readonly banks = new DeviceBanks();
  /** What a poll reads and what it shows, for the detected family. */
  plan?: Plan;
  writeCount = 0;
  lastUpdated?: Date;
  /** EEPROM protection: a cap per minute and a budget per day (the day's count is persisted). */
  readonly budget: WriteBudget;
  /** Every register write goes through it: allow-list, range, equal value skipped, budgets, read-back. */
  private readonly writer: SafeWriter<number>;
  /** GivTCP's control topics and its REST API run their commands through this. */
  readonly givtcp: GivTcpCommands;
  private savedReserve = 4;
  private readonly totals = new DailyTotals({}, () => void this.persist());
  private device?: Device;
  /** The dongle as HA sees it from the start: whether it can be reached, and why not. */
  private dongle?: Device;
  private problem?: string;
  private problemKnown = false;
  /** The devices beside the inverter (battery modules, stacks), each with its rows bound to entities. */
  /** The family's own rows on the inverter's device (three-phase phases, an EMS's plant values). */
  private familyBound: Array<{ read: (values: unknown) => number | string | null; entity: Entity<EntitySpec> }> = [];
  private parts: Array<{ part: Part; device: Device; bound: Array<{ read: (values: unknown) => number | string | null; entity: Entity<EntitySpec> }> }> = [];
  /** The inverter's rows (entities.ts), each with its entity: what publish() and cache() go through. */
  private bound: Array<{ row: Row; entity: Entity<EntitySpec> }> = [];
  private byKey = new Map<string, Entity<EntitySpec>>();
  private guard?: EnergyGuard;
  private fastTimer?: TimerHandle;
  private fullTimer?: TimerHandle;
  private polling?: Promise<void>;
  private detecting?: Promise<void>;
  private commands: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    readonly options: GivenergyInverterOptions,
    private readonly ctx: AdapterContext,
  ) {
    this.id = `givenergy/${options.host}:${options.port}`;
    this.client = new DongleClient({ host: options.host, port: options.port, frameGapMs: options.frame_gap_ms }, ctx.log);
    this.budget = new WriteBudget(ctx.clock, { perMinute: 60, perDay: options.daily_write_budget });
    this.givtcp = new GivTcpCommands(this, ctx.devices, ctx.log);
    this.writer = new SafeWriter<number>({
      // The detected family's registers; nothing before detection.
      allowed: { get: (register) => this.plan?.controls?.allowed.get(register) },
      budget: this.budget,
      clock: ctx.clock,
      minGapMs: 200, // the dongle copes badly with writes back to back
      device: {
        describe: (register) => `register ${register}`,
        known: (register) => this.hr.get(register),
        write: (register, value) => this.client.write(this.model!.address, register, value),
        readBack: async (register) => {
          const [value] = await this.client.read(this.model!.address, 0x03, register, 1);
          if (value !== undefined) this.hr.set(register, [value]);
          return value;
        },
      },
      onWritten: (warn) => this.written(warn),
    });
  }

  /** Tests loosen the per-minute cap and the gap to drive many commands quickly. */
  set writeLimits(limits: { minGapMs: number; perMinute: number }) {
    this.writer.minGapMs = limits.minGapMs;
    this.budget.limits.perMinute = limits.perMinute;
  }

  get serial(): string | undefined {
    return this.model?.serial;
  }

  async start(): Promise<void> {
    this.declareDongle();
    this.client.on('connected', () => {
      this.setProblem(undefined);
      // Back at once: detect, or poll so the inverter is available again without waiting a poll interval.
      if (!this.model) void this.detect().catch((err: Error) => this.setProblem(`detection failed: ${err.message}`));
      else void this.poll(false);
    });
    this.client.on('disconnected', () => this.setAvailable(false));
    this.client.on('problem', (reason) => this.setProblem(reason));
    this.client.start();
    try {
      await this.client.waitConnected(5000);
      await this.detect();
    } catch (err) {
      // Unreachable at start: the add-on still starts, the dongle device says why; detection follows the first connection.
      this.setProblem(this.problem ?? (err as Error).message);
    }
    this.fastTimer = this.ctx.clock.setInterval(() => void this.poll(false), this.options.poll_interval * 1000);
    this.fullTimer = this.ctx.clock.setInterval(() => void this.poll(true), this.options.full_refresh_interval * 1000);
  }

  /** Model, serials, batteries; then the devices and entities. One detection at a time. */
  detect(): Promise<void> {
    if (this.model) return Promise.resolve();
    this.detecting ??= this.detectNow().finally(() => (this.detecting = undefined));
    return this.detecting;
  }

  private async detectNow(): Promise<void> {
    const t0 = Date.now();
    const hr0 = await this.client.read(0x11, 0x03, 0, 60);
    const model = detectModel(hr0);
    if (!model.supported) {
      this.ctx.log.error(`${model.name} inverters (device type ${model.dtc}) are not supported yet; nothing is polled or written`);
      this.dongle?.entities.get('last_error')?.update(`${model.name} inverters are not supported yet`);
      return;
    }
    this.hr.set(0, hr0);
    this.banks.adopt(0x11, { hr: this.hr, ir: this.ir });
    this.banks.adopt(model.address, { hr: this.hr, ir: this.ir });
    const plan = await discoverPlan(model, this.banks, (device, fn, base, count) => this.client.read(device, fn, base, count).catch(() => undefined));
    for (const page of plan.reads) {
      // The devices behind it were read by discovery, and so was what the banks already hold.
      const own = this.banks.of(page.device);
      if (page.device !== model.address || (page.fn === 0x03 ? own.hr : own.ir).has(page.base)) continue;
      // A page the model may not have (HR 300–359 on some firmware) is not worth failing detection for.
      const optional = page.fn === 0x03 && page.base === 300;
      const values = await this.client.read(page.device, page.fn, page.base, page.count).catch((err: Error) => {
        if (optional) return [];
        throw err;
      });
      this.banks.store(page, values);
    }
    // The same inverter through another dongle entry (its address spelled another way): one of us
    // would write every register twice and overwrite the other's counts.
    const taken = this.ctx.devices.find(`givenergy_${model.serial.toLowerCase()}`);
    if (taken && taken.owner !== this.id) {
      this.setProblem(`inverter ${model.serial} is already read through ${taken.owner.replace(/^givenergy\//, '')}; list each inverter once`);
      return;
    }
    this.guard = new EnergyGuard(model.inverterMaxPowerW);
    const saved = await this.ctx.store.read(`givenergy_${model.serial.toLowerCase()}`, persistedShape, { writes: 0, savedReserve: 4, totals: {} });
    this.writeCount = saved.writes;
    this.savedReserve = saved.savedReserve;
    this.totals.restore(saved.totals);
    if (saved.budget) this.budget.restore(saved.budget);
    // Only now: a command arriving earlier would be counted, then overwritten by the stored counts.
    this.model = model;
    this.plan = plan;
    this.declare(model);
    this.ctx.log.info(`found a ${model.name} (${model.dtc}, ${model.firmware}) ${model.serial} with ${plan.parts.map((p) => p.name).join(', ') || 'nothing'} behind it, ${model.batteryCapacityKwh} kWh, in ${Date.now() - t0} ms`);
    this.refreshEntities();
    // Every GivTCP command name: one this model does not take is refused with a reason, not ignored.
    this.givtcp.subscribe(this.options.mqtt_root, model.serial, [...new Set([...Object.keys(COMMANDS), ...ALL_FAMILY_COMMANDS])]);
  }

  /** One polling cycle: fast (power, SoC, clock, batteries) or full (also settings and slots). */
  poll(full: boolean): Promise<void> {
    if (this.polling || this.stopped) return this.polling ?? Promise.resolve();
    this.polling = (async () => {
      try {
        if (!this.model) {
          if (this.client.connected) await this.detect();
          return;
        }
        for (const page of this.plan!.reads) {
          if (page.full && !full) continue;
          this.banks.store(page, await this.client.read(page.device, page.fn, page.base, page.count));
        }
        this.lastUpdated = new Date(this.ctx.clock.now());
        this.setAvailable(true);
        this.refreshEntities();
        if (this.ctx.log.isLevelEnabled('debug')) {
          const t = this.plan!.telemetry(this.banks);
          this.ctx.log.debug(`${full ? 'full' : 'fast'} poll: PV ${t.pvPower ?? '?'} W, grid ${t.gridPower ?? '?'} W, battery ${t.batteryPower ?? '?'} W, SoC ${t.soc ?? '?'} %, load ${t.loadPower ?? '?'} W`);
        }
      } catch (err) {
        this.ctx.log.warn(`poll failed: ${(err as Error).message}`);
        this.setAvailable(false);
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  // ---- HA entities ----

  private declare(model: InverterModel): void {
    const devices = this.ctx.devices;
    const id = `givenergy_${model.serial.toLowerCase()}`;
    const device = devices.device(
      { id, name: `GivEnergy ${model.name} ${model.serial}`, manufacturer: 'GivEnergy', model: model.name, modelId: model.dtc, serialNumber: model.serial, swVersion: model.firmware },
      this.id,
    );
    this.device = device;
    const plan = this.plan!;
    // Plant controllers (EMS, Gateway) have their own rows; families with their own control
    // registers (three-phase, EMS) their own control rows; a read-only family no write counters.
    const controls = plan.controls;
    const own = new Set(controls?.rows.map((r) => r.spec.key));
    const kept = (r: Row) => {
      if (own.has(r.spec.key)) return false; // the family's row of that name reads its own register
      if (!r.command) return controls !== undefined || !WRITE_COUNTERS.has(r.spec.key);
      return controls !== undefined && (controls.shared === 'all' || controls.shared.has(r.command.givtcp));
    };
    const rows = [...(plan.inverterRows ? inverterRows(model).filter(kept) : []), ...(controls?.rows ?? [])];
    this.bound = rows.map((row) => {
      const command = row.command;
      // A change from HA runs the row's GivTCP command; the adapter publishes what the inverter confirmed.
      const handler = command
        ? async (value: CommandOf<EntitySpec>) => {
            await this.execute(command.givtcp, command.payload(value));
            return undefined;
          }
        : undefined;
      return { row, entity: device.add(row.spec, handler) };
    });
    this.byKey = new Map(this.bound.map((b) => [b.row.spec.key, b.entity]));
    this.familyBound = (plan.family?.rows ?? []).map((r) => ({ read: r.read, entity: device.add(r.spec) }));
    this.parts = this.plan!.parts.map((part) => {
      const device = devices.device(
        { id: `${id}_${part.key}`, name: `GivEnergy ${part.name}`, manufacturer: 'GivEnergy', model: part.model, serialNumber: part.serial, viaDevice: id },
        this.id,
      );
      return { part, device, bound: part.rows.map((r) => ({ read: r.read as (values: unknown) => number | string | null, entity: device.add(r.spec) })) };
    });
  }

  /** Whether a GivTCP command is one of any family (the REST API answers 404 to other names). */
  static isCommand(command: string): boolean {
    return Object.hasOwn(COMMANDS, command) || ALL_FAMILY_COMMANDS.has(command);
  }

  /** An entity's value by its key (for rows that build on another row, e.g. a total on its daily counter). */
  private valueOf(key: string): unknown {
    return this.byKey.get(key)?.value;
  }

  /** Reads every row from the registers into its entity; the bridge publishes what changed. */
  private refreshEntities(): void {
    const model = this.model;
    if (!model || !this.device) return;
    const clock = inverterClock(this.hr);
    const day = clock ? `${clock.year}-${clock.month}-${clock.day}` : undefined;
    const now = this.ctx.clock.now();
    const readings: Readings = {
      model,
      hr: this.hr,
      t: this.plan!.telemetry(this.banks),
      energy: (key, value, kind) => this.guard!.accept(key, value, now, kind, day),
      accumulated: (total, todayKey) => {
        const today = this.valueOf(todayKey);
        return typeof today === 'number' ? this.totals.add(total, today) : undefined;
      },
      shown: (key) => this.byKey.get(key)?.hasValue ?? false,
      writeCount: this.writeCount,
      writesLeft: this.budget.left(),
    };
    for (const { row, entity } of this.bound) {
      const value = row.read(readings);
      if (value !== undefined) entity.update(value);
    }
    const reserve = this.hr.get(110);
    if (reserve !== undefined && reserve < 100 && reserve >= 4 && reserve !== this.savedReserve) {
      this.savedReserve = reserve;
      void this.persist();
    }
    if (this.plan?.family) {
      const values = this.plan.family.decode(this.banks);
      for (const { read, entity } of this.familyBound) entity.update(read(values));
    }
    for (const { part, bound } of this.parts) {
      const values = part.decode(this.banks);
      for (const { read, entity } of bound) entity.update(read(values));
    }
  }

  // ---- commands ----

  /**
   * Runs a GivTCP command (HA entity, MQTT control topic or REST): validates, then writes only
   * what differs, one register at a time, each confirmed by reading it back. Serialised.
   */
  execute(command: string, payload: unknown): Promise<{ written: number; skipped: number }> {
    const run = this.commands.catch(() => undefined).then(() => this.executeNow(command, payload));
    this.commands = run;
    return run;
  }

  private async executeNow(command: string, payload: unknown): Promise<{ written: number; skipped: number }> {
    const model = this.model;
    if (!model) throw new ControlError('the inverter has not been detected yet');
    // Each family's commands write its own registers (the single-phase map means something else
    // on a three-phase unit or an EMS); a Gateway takes none.
    const table = this.plan?.controls?.commands;
    if (!table) throw new ControlError(`${model.name} units take no commands (the register map of their settings is not known well enough to write); nothing was written`);
    // Object.hasOwn: `constructor` and the other names every object has are not commands.
    const make = Object.hasOwn(table, command) ? table[command] : undefined;
    if (!make) {
      const known = Object.hasOwn(COMMANDS, command) || ALL_FAMILY_COMMANDS.has(command);
      throw new ControlError(known ? `${quote(command, 60)} is not a command ${model.name} units take; nothing was written` : `unknown command ${quote(command, 60)}`);
    }
    const writes: Write[] = make(payload, { model, hr: this.hr, savedReserve: () => this.savedReserve, now: () => new Date(this.ctx.clock.now()) });
    try {
      const result = await this.writer.apply(writes.map((w) => ({ key: w.register, value: w.value })));
      this.ctx.log.info(`${command}: ${result.written} register(s) written, ${result.skipped} already set`);
      return result;
    } catch (err) {
      throw err instanceof ControlError ? err : new ControlError((err as Error).message);
    } finally {
      this.refreshEntities();
    }
  }

  /** After each register write: the counters, shown and kept; a warning when the day's budget runs low. */
  private written(warn: boolean): void {
    this.writeCount++;
    if (warn) {
      const { perDay } = this.budget.limits;
      const message = `${this.budget.used} of today's ${perDay} register writes are used; at ${perDay} further writes are refused until midnight (daily_write_budget)`;
      this.ctx.log.warn(message);
      this.ctx.devices.event({ type: 'write_budget', device: this.id, used: this.budget.used, budget: perDay, message });
    }
    this.refreshEntities();
    void this.persist();
  }

  private persist(): Promise<void> {
    if (!this.model) return Promise.resolve();
    return this.ctx.store.write(`givenergy_${this.model.serial.toLowerCase()}`, { writes: this.writeCount, savedReserve: this.savedReserve, totals: this.totals.toJSON(), budget: this.budget.state() });
  }

  // ---- the dongle's own device: reachable or not, and why ----

  private declareDongle(): void {
    const { host, port } = this.options;
    this.dongle = this.ctx.devices.device(
      { id: `givenergy_dongle_${slug(host)}_${port}`, name: `GivEnergy dongle ${host}`, manufacturer: 'GivEnergy', model: 'WiFi/LAN dongle' },
      this.id,
    );
    this.dongle.binarySensor({ key: 'connection', name: 'Connection', deviceClass: 'problem', category: 'diagnostic' });
    this.dongle.sensor({ key: 'last_error', name: 'Last connection error', icon: 'mdi:lan-disconnect', category: 'diagnostic' });
    this.dongle.sensor({ key: 'address', name: 'Address', icon: 'mdi:ip-network', category: 'diagnostic' }).update(`${host}:${port}`);
    this.dongle.entities.get('last_error')!.update('none');
  }

  /** The dongle's connection problem (undefined: none): shown in HA, logged once per new reason. */
  private setProblem(reason: string | undefined): void {
    if (this.problemKnown && reason === this.problem) return;
    this.problemKnown = true;
    const was = this.problem;
    this.problem = reason;
    const { host, port } = this.options;
    if (reason) this.ctx.log.warn(`dongle at ${host}:${port}: ${oneLine(clip(reason))}; will keep trying`);
    else if (was) this.ctx.log.info(`dongle at ${host}:${port} reachable again`);
    this.dongle?.entities.get('connection')?.update(reason !== undefined);
    if (reason) this.dongle?.entities.get('last_error')?.update(reason);
  }

  private setAvailable(available: boolean): void {
    this.device?.setAvailable(available);
    for (const { device } of this.parts) device.setAvailable(available);
  }

  /** GivTCP's cached data, for its REST API: every row with a GivTCP name, and the details GivTCP adds. */
  cache(): Record<string, unknown> {
    const model = this.model;
    const sections: Record<string, Record<string, unknown>> = { Power: { Power: {} }, Energy: { Today: {}, Total: {} }, Control: {}, Timeslots: {} };
    for (const { row, entity } of this.bound) {
      if (!row.cache) continue;
      const [section, group, name] = row.cache;
      const value = entity.value ?? null;
      const target = (group ? (sections[section]![group] as Record<string, unknown>) : sections[section])!;
      // GivTCP shows its switches as enable / disable.
      target[name] = row.spec.component === 'switch' && value !== null ? (value ? 'enable' : 'disable') : value;
    }
    const soc = this.valueOf('soc');
    (sections.Power!.Power as Record<string, unknown>).SOC_kWh = typeof soc === 'number' && model ? Math.round((soc / 100) * model.batteryCapacityKwh * 100) / 100 : null;
    return {
      ...sections,
      Invertor_Details: model
        ? { Invertor_Serial_Number: model.serial, Model: model.name, Invertor_Type: model.dtc, Firmware: model.firmware, Battery_Capacity_kWh: model.batteryCapacityKwh, Invertor_Time: this.valueOf('inverter_time') ?? null }
        : {},
      Battery_Details: Object.fromEntries(this.parts.flatMap(({ part }) => (part.cache && part.cacheName ? [[part.cacheName, part.cache(part.decode(this.banks))]] : []))),
      Stats: { Last_Updated_Time: this.lastUpdated?.toISOString() ?? null, status: this.client.connected ? 'online' : 'offline', Write_Count: this.writeCount },
    };
  }

  /**
   * The inverter runs by itself and has no output of ours to switch off: the safe state is that
   * nothing more is written. Polling stops too; a command under way fails before its next write.
   */
  failSafe(): void {
    this.writer.stop('energy2mqtt is stopping after a failure; nothing is written to the inverter');
    this.stopped = true;
    this.fastTimer?.cancel();
    this.fullTimer?.cancel();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.fastTimer?.cancel();
    this.fullTimer?.cancel();
    await this.polling;
    await this.commands.catch(() => undefined);
    await this.client.stop();
    await this.persist();
  }
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}
