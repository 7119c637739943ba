// A GivEnergy inverter and its batteries over the dongle: detection, a fast and a full polling
// plan, telemetry and controls as HA entities, GivTCP's MQTT control topics, and the cache the
// GivTCP-compatible REST API serves. Writes go through Controls' safety rules.
import { z } from 'zod';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import type { EntitySpec } from '../../core/entity.js';
import { clip, oneLine, quote, shownPayload } from '../../core/outside-text.js';
import { WriteBudget, writeBudgetState } from '../../io/write-budget.js';
import { SafeWriter } from '../../io/safe-writer.js';
import { DongleClient } from './client.js';
import { BATTERY_MODES, COMMANDS, ControlError, PAUSE_MODES, WRITE_ALLOWED, batteryMode, rateStepW, registerToRate, type Write } from './controls.js';
import { detectModel, type InverterModel } from './model.js';
import type { GivenergyInverterOptions } from './options.js';
import { EnergyGuard, RegisterBank, STATUS, batteryTelemetry, inverterClock, inverterTelemetry, slotToTime, type InverterTelemetry } from './registers.js';


interface SensorRow {
  key: string;
  name: string;
  get: (t: InverterTelemetry) => number | string | boolean | undefined;
  spec?: Partial<EntitySpec> & Record<string, unknown>;
  energy?: 'today' | 'total';
}

const power = { deviceClass: 'power', unit: 'W', stateClass: 'measurement' } as const;
const energyToday = { deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing' } as const;
const v = { deviceClass: 'voltage', unit: 'V', stateClass: 'measurement', category: 'diagnostic' } as const;
const a = { deviceClass: 'current', unit: 'A', stateClass: 'measurement', category: 'diagnostic' } as const;
const hz = { deviceClass: 'frequency', unit: 'Hz', stateClass: 'measurement', category: 'diagnostic' } as const;
const temp = { deviceClass: 'temperature', unit: '°C', stateClass: 'measurement', category: 'diagnostic' } as const;

const TELEMETRY: SensorRow[] = [
  { key: 'pv_power', name: 'PV power', get: (t) => (t.pvPower !== undefined && t.pvPower < 15_000 ? t.pvPower : undefined), spec: { ...power, deadband: 5 } },
  { key: 'pv1_power', name: 'PV1 power', get: (t) => t.pv1Power, spec: power },
  { key: 'pv2_power', name: 'PV2 power', get: (t) => t.pv2Power, spec: power },
  { key: 'grid_power', name: 'Grid power', get: (t) => t.gridPower, spec: power },
  { key: 'import_power', name: 'Grid import power', get: (t) => t.importPower, spec: power },
  { key: 'export_power', name: 'Grid export power', get: (t) => t.exportPower, spec: power },
  { key: 'battery_power', name: 'Battery power', get: (t) => t.batteryPower, spec: power },
  { key: 'charge_power', name: 'Battery charge power', get: (t) => t.chargePower, spec: power },
  { key: 'discharge_power', name: 'Battery discharge power', get: (t) => t.dischargePower, spec: power },
  { key: 'load_power', name: 'Load power', get: (t) => t.loadPower, spec: power },
  { key: 'eps_power', name: 'EPS power', get: (t) => t.epsPower, spec: power },
  { key: 'inverter_power', name: 'Inverter power', get: (t) => t.inverterPower, spec: power },
  { key: 'soc', name: 'Battery state of charge', get: (t) => t.soc, spec: { deviceClass: 'battery', unit: '%', stateClass: 'measurement' } },
  { key: 'pv_energy_today', name: 'PV energy today', get: (t) => t.pvToday, spec: energyToday, energy: 'today' },
  { key: 'import_energy_today', name: 'Grid import today', get: (t) => t.importToday, spec: energyToday, energy: 'today' },
  { key: 'export_energy_today', name: 'Grid export today', get: (t) => t.exportToday, spec: energyToday, energy: 'today' },
  { key: 'charge_energy_today', name: 'Battery charge today', get: (t) => t.chargeToday, spec: energyToday, energy: 'today' },
  { key: 'discharge_energy_today', name: 'Battery discharge today', get: (t) => t.dischargeToday, spec: energyToday, energy: 'today' },
  { key: 'load_energy_today', name: 'Load energy today', get: (t) => t.loadToday, spec: energyToday, energy: 'today' },
  { key: 'pv_energy_total', name: 'PV energy total', get: (t) => t.pvTotal, spec: energyToday, energy: 'total' },
  { key: 'import_energy_total', name: 'Grid import total', get: (t) => t.importTotal, spec: energyToday, energy: 'total' },
  { key: 'export_energy_total', name: 'Grid export total', get: (t) => t.exportTotal, spec: energyToday, energy: 'total' },
  { key: 'battery_throughput_total', name: 'Battery throughput total', get: (t) => t.batteryThroughputTotal, spec: energyToday, energy: 'total' },
  { key: 'pv1_voltage', name: 'PV1 voltage', get: (t) => t.pv1Voltage, spec: v },
  { key: 'pv2_voltage', name: 'PV2 voltage', get: (t) => t.pv2Voltage, spec: v },
  { key: 'pv1_current', name: 'PV1 current', get: (t) => t.pv1Current, spec: a },
  { key: 'pv2_current', name: 'PV2 current', get: (t) => t.pv2Current, spec: a },
  { key: 'grid_voltage', name: 'Grid voltage', get: (t) => t.gridVoltage, spec: v },
  { key: 'grid_current', name: 'Grid current', get: (t) => t.gridCurrent, spec: a },
  { key: 'grid_frequency', name: 'Grid frequency', get: (t) => t.gridFrequency, spec: hz },
  { key: 'eps_voltage', name: 'EPS voltage', get: (t) => t.epsVoltage, spec: v },
  { key: 'eps_frequency', name: 'EPS frequency', get: (t) => t.epsFrequency, spec: hz },
  { key: 'battery_voltage', name: 'Battery voltage', get: (t) => t.batteryVoltage, spec: { ...v, precision: 2 } },
  { key: 'battery_current', name: 'Battery current', get: (t) => t.batteryCurrent, spec: a },
  { key: 'heatsink_temperature', name: 'Heatsink temperature', get: (t) => t.heatsinkTemperature, spec: temp },
  { key: 'charger_temperature', name: 'Charger temperature', get: (t) => t.chargerTemperature, spec: temp },
  { key: 'battery_temperature', name: 'Battery temperature', get: (t) => t.batteryTemperature, spec: temp },
  { key: 'status', name: 'Status', get: (t) => t.status, spec: { deviceClass: 'enum', options: [...STATUS, 'unknown'], category: 'diagnostic' } },
];

const totalState = z.object({ base: z.number().min(0), lastToday: z.number().min(0) });
const persistedShape = z.object({
  writes: z.number().int().min(0),
  savedReserve: z.number().int().min(4).max(99),
  totals: z.record(z.string(), totalState).default({}),
  budget: writeBudgetState.optional(),
});

/** Where a command from GivTCP's topics or REST API came from, for the log and the event. */
export interface GivTcpOrigin {
  source: 'mqtt' | 'rest';
  /** e.g. "GivEnergy/control/SA123/setChargeTarget" or "REST /setChargeTarget from 10.0.0.5". */
  where: string;
}

/** Totals the inverter has no trustworthy register for, summed from their daily counters. */
const ACCUMULATED: Array<[total: string, today: string, name: string]> = [
  ['charge_energy_total', 'charge_energy_today', 'Battery charge total'],
  ['discharge_energy_total', 'discharge_energy_today', 'Battery discharge total'],
  ['load_energy_total', 'load_energy_today', 'Load energy total'],
];

export class GivEnergyAdapter implements Adapter {
  readonly id: string;
  readonly client: DongleClient;
  model?: InverterModel;
  readonly hr = new RegisterBank();
  readonly ir = new RegisterBank();
  readonly batteryBanks = new Map<number, RegisterBank>();
  writeCount = 0;
  lastUpdated?: Date;
  /** EEPROM protection: a cap per minute and a budget per day (the day's count is persisted). */
  readonly budget: WriteBudget;
  /** Every register write goes through it: allow-list, range, equal value skipped, budgets, read-back. */
  private readonly writer: SafeWriter<number>;
  private savedReserve = 4;
  private totals: Record<string, z.infer<typeof totalState>> = {};
  private device?: Device;
  /** The dongle as HA sees it from the start: whether it can be reached, and why not. */
  private dongle?: Device;
  private problem?: string;
  private problemKnown = false;
  private batteryDevices = new Map<number, Device>();
  private entities = new Map<string, Entity<EntitySpec>>();
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
    this.writer = new SafeWriter<number>({
      allowed: WRITE_ALLOWED,
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
      this.ctx.log.error(`${model.name} inverters (device type ${model.dtc}) are not supported yet; nothing is polled`);
      this.dongle?.entities.get('last_error')?.update(`${model.name} inverters are not supported yet`);
      return;
    }
    this.hr.set(0, hr0);
    const address = model.address;
    this.hr.set(60, await this.client.read(address, 0x03, 60, 60));
    this.hr.set(120, await this.client.read(address, 0x03, 120, 60));
    if (model.acRateRegisters) this.hr.set(300, await this.client.read(address, 0x03, 300, 60).catch(() => []));
    this.ir.set(0, await this.client.read(address, 0x04, 0, 60));
    for (let device = 0x32; device <= 0x37; device++) {
      const page = await this.client.read(device, 0x04, 60, 60).catch(() => undefined);
      if (!page || page.every((w) => w === 0)) continue; // an all-zero page: no battery there
      const bank = new RegisterBank();
      bank.set(60, page);
      this.batteryBanks.set(device, bank);
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
    this.totals = saved.totals;
    if (saved.budget) this.budget.restore(saved.budget);
    // Only now: a command arriving earlier would be counted, then overwritten by the stored counts.
    this.model = model;
    this.declare(model);
    this.ctx.log.info(`found a ${model.name} (${model.dtc}, ${model.firmware}) ${model.serial} with ${this.batteryBanks.size} battery module(s), ${model.batteryCapacityKwh} kWh, in ${Date.now() - t0} ms`);
    this.publish();
    this.subscribeGivTcpTopics(model.serial);
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
        const addr = this.model.address;
        this.ir.set(0, await this.client.read(addr, 0x04, 0, 60));
        this.hr.set(0, await this.client.read(addr, 0x03, 0, 60));
        if (full) {
          this.hr.set(60, await this.client.read(addr, 0x03, 60, 60));
          this.hr.set(120, await this.client.read(addr, 0x03, 120, 60));
          if (this.model.acRateRegisters) this.hr.set(300, await this.client.read(addr, 0x03, 300, 60));
        }
        for (const [device, bank] of this.batteryBanks) bank.set(60, await this.client.read(device, 0x04, 60, 60));
        this.lastUpdated = new Date(this.ctx.clock.now());
        this.setAvailable(true);
        this.publish();
        if (this.ctx.log.isLevelEnabled('debug')) {
          const t = inverterTelemetry(this.ir);
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
    const bridge = this.ctx.devices;
    const id = `givenergy_${model.serial.toLowerCase()}`;
    const device = bridge.device(
      { id, name: `GivEnergy ${model.name} ${model.serial}`, manufacturer: 'GivEnergy', model: model.name, modelId: model.dtc, serialNumber: model.serial, swVersion: model.firmware },
      this.id,
    );
    this.device = device;
    const put = (e: Entity<EntitySpec>) => this.entities.set(e.key, e);
    for (const row of TELEMETRY) put(device.add({ component: 'sensor', key: row.key, name: row.name, ...(row.spec ?? {}) } as EntitySpec));
    for (const [key, , name] of ACCUMULATED) put(device.sensor({ key, name, deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing' }));
    put(device.binarySensor({ key: 'fault', name: 'Fault', deviceClass: 'problem' }));
    put(device.sensor({ key: 'battery_capacity', name: 'Battery capacity', deviceClass: 'energy_storage', unit: 'kWh', stateClass: 'measurement', category: 'diagnostic' }));
    put(device.sensor({ key: 'firmware', name: 'Firmware', icon: 'mdi:chip', category: 'diagnostic' }));
    put(device.sensor({ key: 'inverter_time', name: 'Inverter clock', deviceClass: 'timestamp', category: 'diagnostic' }));
    put(device.sensor({ key: 'write_count', name: 'Register writes', icon: 'mdi:counter', stateClass: 'total_increasing', category: 'diagnostic' }));
    put(device.sensor({ key: 'writes_left_today', name: 'Register writes left today', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' }));

    const run = (command: string) => async (value: unknown) => {
      await this.execute(command, value);
      return undefined;
    };
    const onOff = (command: string) => async (on: boolean) => {
      await this.execute(command, on ? 'enable' : 'disable');
      return undefined;
    };
    put(device.switch({ key: 'charge_target_enabled', name: 'Charge target enabled', command: onOff('enableChargeTarget') }));
    put(device.switch({ key: 'charge_schedule', name: 'Charge schedule', command: onOff('enableChargeSchedule') }));
    put(device.switch({ key: 'discharge_schedule', name: 'Discharge schedule', command: onOff('enableDischargeSchedule') }));
    put(device.switch({ key: 'discharge_enabled', name: 'Discharge enabled', command: onOff('enableDischarge') }));
    put(device.switch({ key: 'eco_mode', name: 'Eco mode', category: 'config', command: onOff('setEcoMode') }));
    // The register moves in steps of 1 % of the pack's capacity: the slider offers just those.
    const rate = { min: 0, max: model.batteryMaxPowerW, step: rateStepW(model), deviceRoundsToStep: true, unit: 'W', deviceClass: 'power', mode: 'slider' } as const;
    put(device.number({ key: 'charge_rate', name: 'Battery charge rate', ...rate, command: run('setChargeRate') }));
    put(device.number({ key: 'discharge_rate', name: 'Battery discharge rate', ...rate, command: run('setDischargeRate') }));
    put(device.number({ key: 'target_soc', name: 'Charge target SoC', min: 4, max: 100, step: 1, unit: '%', deviceClass: 'battery', mode: 'slider', command: run('setChargeTarget') }));
    put(device.number({ key: 'battery_reserve', name: 'Battery reserve', min: 4, max: 100, step: 1, unit: '%', deviceClass: 'battery', mode: 'slider', command: run('setBatteryReserve') }));
    put(device.number({ key: 'battery_cutoff', name: 'Battery power cutoff', min: 4, max: 100, step: 1, unit: '%', deviceClass: 'battery', category: 'config', command: run('setBatteryCutoff') }));
    put(device.select({ key: 'battery_mode', name: 'Battery mode', options: BATTERY_MODES, command: run('setBatteryMode') }));
    if (model.generation !== 'Gen1' && model.family !== 'ac') {
      put(device.select({ key: 'pause_mode', name: 'Battery pause mode', options: PAUSE_MODES, command: run('setBatteryPauseMode') }));
    }
    for (const [key, name, command] of [
      ['charge_slot_1_start', 'Charge slot 1 start', 'setChargeStart1'], ['charge_slot_1_end', 'Charge slot 1 end', 'setChargeEnd1'],
      ['discharge_slot_1_start', 'Discharge slot 1 start', 'setDischargeStart1'], ['discharge_slot_1_end', 'Discharge slot 1 end', 'setDischargeEnd1'],
      ['discharge_slot_2_start', 'Discharge slot 2 start', 'setDischargeStart2'], ['discharge_slot_2_end', 'Discharge slot 2 end', 'setDischargeEnd2'],
    ] as const) {
      put(device.time({ key, name, icon: 'mdi:clock-outline', command: run(command) }));
    }
    put(device.text({ key: 'date_time', name: 'Set date and time', category: 'config', pattern: '\\d{2}/\\d{2}/\\d{4} \\d{2}:\\d{2}:\\d{2}', max: 19, command: run('setDateTime') }));
    put(device.button({ key: 'sync_clock', name: 'Sync clock', icon: 'mdi:clock-check-outline', category: 'config', command: run('syncDateTime') }));

    for (const [address, bank] of this.batteryBanks) {
      const n = address - 0x31;
      const t = batteryTelemetry(bank);
      const serial = t.serial || `${model.serial}_${n}`;
      const b = bridge.device(
        { id: `givenergy_${model.serial.toLowerCase()}_battery_${n}`, name: `GivEnergy battery ${n} ${serial}`, manufacturer: 'GivEnergy', model: 'Battery module', serialNumber: serial },
        this.id,
      );
      b.sensor({ key: 'soc', name: 'State of charge', deviceClass: 'battery', unit: '%', stateClass: 'measurement' });
      b.sensor({ key: 'remaining_capacity', name: 'Remaining capacity', unit: 'Ah', stateClass: 'measurement', icon: 'mdi:battery-50', precision: 1 });
      b.sensor({ key: 'cycles', name: 'Cycles', icon: 'mdi:battery-sync', stateClass: 'total_increasing', category: 'diagnostic' });
      b.sensor({ key: 'temperature', name: 'Temperature', ...temp });
      b.sensor({ key: 'cell_min_voltage', name: 'Lowest cell voltage', ...v, precision: 3 });
      b.sensor({ key: 'cell_max_voltage', name: 'Highest cell voltage', ...v, precision: 3 });
      this.batteryDevices.set(address, b);
    }
  }

  /** Pushes the decoded registers into the entities (the bridge publishes what changed). */
  publish(): void {
    const model = this.model;
    if (!model || !this.device) return;
    const t = inverterTelemetry(this.ir);
    const clock = inverterClock(this.hr);
    const day = clock ? `${clock.year}-${clock.month}-${clock.day}` : undefined;
    const now = this.ctx.clock.now();
    const set = (key: string, value: unknown) => this.entities.get(key)?.update((value ?? null) as never);
    for (const row of TELEMETRY) {
      let value = row.get(t);
      if (row.energy && typeof value === 'number') value = this.guard!.accept(row.key, value, now, row.energy, day);
      if (value === undefined && row.energy) continue; // refused (a spike or a drop): keep the last good value
      if (row.key === 'soc' && value === 0 && this.entities.get('soc')?.hasValue) continue; // GivTCP: a 0 SoC reading is a glitch
      set(row.key, value);
    }
    for (const [key, todayKey] of ACCUMULATED) {
      const today = this.entities.get(todayKey)?.value;
      if (typeof today === 'number') set(key, this.accumulate(key, today));
    }
    set('fault', t.fault);
    set('battery_capacity', model.batteryCapacityKwh);
    set('firmware', model.firmware);
    set('write_count', this.writeCount);
    set('writes_left_today', this.budget.left());
    set('inverter_time', clock ? new Date(clock.year, clock.month - 1, clock.day, clock.hour, clock.minute, clock.second).toISOString() : null);
    const hr = (r: number) => this.hr.get(r);
    const flag = (r: number) => (hr(r) === undefined ? null : hr(r) === 1);
    set('charge_target_enabled', flag(20));
    set('charge_schedule', flag(96));
    set('discharge_schedule', flag(59));
    set('discharge_enabled', hr(110) === undefined ? null : hr(110) !== 100);
    set('eco_mode', flag(27));
    set('charge_rate', registerToRate(hr(111), model));
    set('discharge_rate', registerToRate(hr(112), model));
    set('target_soc', hr(116));
    set('battery_reserve', hr(110));
    set('battery_cutoff', hr(114));
    set('battery_mode', batteryMode(this.hr) ?? null);
    set('pause_mode', hr(318) === undefined ? null : PAUSE_MODES[hr(318)!] ?? null);
    for (const [key, r] of [['charge_slot_1_start', 94], ['charge_slot_1_end', 95], ['discharge_slot_1_start', 56], ['discharge_slot_1_end', 57], ['discharge_slot_2_start', 44], ['discharge_slot_2_end', 45]] as const) {
      set(key, slotToTime(hr(r)) ?? null);
    }
    if (clock) set('date_time', `${pad(clock.day)}/${pad(clock.month)}/${clock.year} ${pad(clock.hour)}:${pad(clock.minute)}:${pad(clock.second)}`);
    const reserve = hr(110);
    if (reserve !== undefined && reserve < 100 && reserve >= 4 && reserve !== this.savedReserve) {
      this.savedReserve = reserve;
      void this.persist();
    }
    for (const [address, bank] of this.batteryBanks) {
      const d = this.batteryDevices.get(address);
      if (!d) continue;
      const b = batteryTelemetry(bank);
      const put = (key: string, value: unknown) => d.entities.get(key)?.update((value ?? null) as never);
      put('soc', b.soc);
      put('remaining_capacity', b.remainingAh);
      put('cycles', b.cycles);
      put('temperature', b.temperature);
      put('cell_min_voltage', b.cellMinV);
      put('cell_max_voltage', b.cellMaxV);
    }
  }

  /** total = what earlier days added up to + today; a day's counter joins the base when it resets. */
  private accumulate(key: string, today: number): number {
    const state = (this.totals[key] ??= { base: 0, lastToday: today });
    if (today < state.lastToday) {
      // The guard only lets a today counter drop at a new day: yesterday's last value is final.
      state.base = Math.round((state.base + state.lastToday) * 1000) / 1000;
      void this.persist();
    }
    if (today !== state.lastToday) state.lastToday = today;
    return Math.round((state.base + today) * 1000) / 1000;
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
    // Object.hasOwn: `constructor` and the other names every object has are not commands.
    const make = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!make) throw new ControlError(`unknown command ${quote(command, 60)}`);
    const writes: Write[] = make(payload, { model, hr: this.hr, savedReserve: () => this.savedReserve, now: () => new Date(this.ctx.clock.now()) });
    try {
      const result = await this.writer.apply(writes.map((w) => ({ key: w.register, value: w.value })));
      this.ctx.log.info(`${command}: ${result.written} register(s) written, ${result.skipped} already set`);
      return result;
    } catch (err) {
      throw err instanceof ControlError ? err : new ControlError((err as Error).message);
    } finally {
      this.publish();
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
    this.entities.get('write_count')?.update(this.writeCount);
    this.entities.get('writes_left_today')?.update(this.budget.left());
    void this.persist();
  }

  private persist(): Promise<void> {
    if (!this.model) return Promise.resolve();
    return this.ctx.store.write(`givenergy_${this.model.serial.toLowerCase()}`, { writes: this.writeCount, savedReserve: this.savedReserve, totals: this.totals, budget: this.budget.state() });
  }

  /**
   * GivTCP's control topics: <root>/control/<serial>/<command>, raw payloads. As on every command
   * topic, a retained message (it would run again at every start and reconnect) and an empty one
   * (how a retained message is deleted) are refused.
   */
  private subscribeGivTcpTopics(serial: string): void {
    const root = `${this.options.mqtt_root}/control/${serial}`;
    for (const command of Object.keys(COMMANDS)) {
      const topic = `${root}/${command}`;
      this.ctx.devices.follow(topic, (payload, { retain }) => {
        const from: GivTcpOrigin = { source: 'mqtt', where: topic };
        this.ctx.log.debug(`${topic}: ${quote(payload)}${retain ? ' (retained)' : ''}`);
        if (retain) return this.givTcpRefused(from, payload, 'retained commands are ignored; publish commands without the retain flag');
        if (payload.trim() === '') return this.givTcpRefused(from, payload, 'an empty message is not a command');
        this.runGivTcpCommand(command, givTcpPayload(command, payload), { ...from, raw: payload }).catch(() => undefined);
      });
    }
  }

  /**
   * A command from GivTCP's topics or REST API, run like one from HA: the outcome is logged, and
   * a refusal also published as an event on <base>/bridge/event. Throws what execute() throws.
   */
  async runGivTcpCommand(command: string, payload: unknown, from: GivTcpOrigin & { raw: string }): Promise<{ written: number; skipped: number }> {
    try {
      const result = await this.execute(command, payload);
      this.ctx.devices.event({ type: 'givtcp_command', topic: from.where, source: from.source, result });
      return result;
    } catch (err) {
      this.givTcpRefused(from, from.raw, (err as Error).message);
      throw err;
    }
  }

  /** Logs and publishes a GivTCP command that was refused (before or while running it). */
  givTcpRefused(from: GivTcpOrigin, raw: string, reason: string): void {
    this.ctx.log.warn(`${from.where} (payload ${quote(raw)}) refused: ${oneLine(clip(reason))}`);
    this.ctx.devices.event({ type: 'command_rejected', topic: from.where, payload: shownPayload(raw), reason, source: from.source });
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
    for (const d of this.batteryDevices.values()) d.setAvailable(available);
  }

  /** GivTCP's cached data, for its REST API. */
  cache(): Record<string, unknown> {
    const model = this.model;
    const t = inverterTelemetry(this.ir);
    const e = (key: string) => this.entities.get(key)?.value ?? null;
    return {
      Power: {
        Power: {
          PV_Power: e('pv_power'), PV_Power_String_1: t.pv1Power ?? null, PV_Power_String_2: t.pv2Power ?? null, Grid_Power: t.gridPower ?? null,
          Import_Power: t.importPower ?? null, Export_Power: t.exportPower ?? null, Load_Power: t.loadPower ?? null, Battery_Power: t.batteryPower ?? null,
          Charge_Power: t.chargePower ?? null, Discharge_Power: t.dischargePower ?? null, Invertor_Power: t.inverterPower ?? null, EPS_Power: t.epsPower ?? null,
          SOC: e('soc'), SOC_kWh: typeof e('soc') === 'number' && model ? Math.round(((e('soc') as number) / 100) * model.batteryCapacityKwh * 100) / 100 : null,
        },
      },
      Energy: {
        Today: {
          PV_Energy_Today_kWh: e('pv_energy_today'), Import_Energy_Today_kWh: e('import_energy_today'), Export_Energy_Today_kWh: e('export_energy_today'),
          Battery_Charge_Energy_Today_kWh: e('charge_energy_today'), Battery_Discharge_Energy_Today_kWh: e('discharge_energy_today'), Load_Energy_Today_kWh: e('load_energy_today'),
        },
        Total: {
          PV_Energy_Total_kWh: e('pv_energy_total'), Import_Energy_Total_kWh: e('import_energy_total'), Export_Energy_Total_kWh: e('export_energy_total'),
          Battery_Charge_Energy_Total_kWh: e('charge_energy_total'), Battery_Discharge_Energy_Total_kWh: e('discharge_energy_total'), Load_Energy_Total_kWh: e('load_energy_total'),
          Battery_Throughput_Total_kWh: e('battery_throughput_total'),
        },
      },
      Control: {
        Mode: e('battery_mode'), Enable_Charge_Schedule: onOffText(e('charge_schedule')), Enable_Discharge_Schedule: onOffText(e('discharge_schedule')),
        Enable_Charge_Target: onOffText(e('charge_target_enabled')), Eco_Mode: onOffText(e('eco_mode')), Target_SOC: e('target_soc'), Battery_Power_Reserve: e('battery_reserve'),
        Battery_Power_Cutoff: e('battery_cutoff'), Battery_Charge_Rate: e('charge_rate'), Battery_Discharge_Rate: e('discharge_rate'), Battery_pause_mode: e('pause_mode'),
      },
      Timeslots: {
        Charge_start_time_slot_1: e('charge_slot_1_start'), Charge_end_time_slot_1: e('charge_slot_1_end'),
        Discharge_start_time_slot_1: e('discharge_slot_1_start'), Discharge_end_time_slot_1: e('discharge_slot_1_end'),
        Discharge_start_time_slot_2: e('discharge_slot_2_start'), Discharge_end_time_slot_2: e('discharge_slot_2_end'),
      },
      Invertor_Details: model
        ? { Invertor_Serial_Number: model.serial, Model: model.name, Invertor_Type: model.dtc, Firmware: model.firmware, Battery_Capacity_kWh: model.batteryCapacityKwh, Invertor_Time: e('inverter_time') }
        : {},
      Battery_Details: Object.fromEntries([...this.batteryBanks].map(([address, bank]) => {
        const b = batteryTelemetry(bank);
        return [b.serial || `battery_${address - 0x31}`, { SOC: b.soc ?? null, Cycles: b.cycles ?? null, Remaining_Capacity_Ah: b.remainingAh ?? null, Temperature: b.temperature ?? null }];
      })),
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

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function onOffText(v: unknown): string | null {
  return v === null || v === undefined ? null : v ? 'enable' : 'disable';
}

/** GivTCP's MQTT payloads are raw text; slots come as JSON; battery mode may come as 1/2/3. */
export function givTcpPayload(command: string, raw: string): unknown {
  const text = raw.trim();
  if (/Slot[12]$/.test(command)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  if (command === 'setBatteryMode' && /^[1-3]$/.test(text)) return ['Eco', 'Timed Demand', 'Timed Export'][Number(text) - 1];
  return text.replace(/^"(.*)"$/, '$1');
}
