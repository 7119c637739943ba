// A water heater on a relay and a power regulator, steered every second on local measurements
// (the seed read a cloud every 3 s): the controller decides, this adapter reads the sources,
// applies the decision through the actuators' backend, shows it in HA, and keeps it safe. Safe
// means relay off and regulator at 0 at start, on stop, on a crash (failSafe), when a measurement
// is stale (the 1 s tick is the deadman) and whenever the backend reconnects (the pins' state
// left behind is never trusted).
import { z } from 'zod';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Entity } from '../../core/device.js';
import type { BinarySensorSpec, NumberSpec, SelectSpec, SensorSpec, SwitchSpec } from '../../core/entity.js';
import { PigpiodPins, createActuators, type HeaterActuators, type PinDriver } from './actuators.js';
import { HeaterController, defaultHeaterSettings, type HeaterCommand, type HeaterInputs, type HeaterSettings } from './controller.js';
import { GATE_NAMES, type GateName } from './gates.js';
import { heaterDeviceId, type WaterHeaterOptions } from './options.js';

const TICK_MS = 1000;
const PERSIST_MS = 60_000;
const MAX_INTEGRATION_GAP_MS = 10_000;
const STATE_MAX = 250;
export const MODES = ['auto', 'off', 'manual', 'boost'] as const;
export type HeaterMode = (typeof MODES)[number];

const energyShape = z.object({ totalWh: z.number().min(0), todayWh: z.number().min(0), day: z.string() });
type Energy = z.infer<typeof energyShape>;

interface Entities {
  mode: Entity<SelectSpec>;
  relay: Entity<SwitchSpec>;
  level: Entity<NumberSpec>;
  targetExport: Entity<NumberSpec>;
  boostMinutes: Entity<NumberSpec>;
  boostUntil: Entity<SensorSpec>;
  heaterPower: Entity<SensorSpec>;
  energyToday: Entity<SensorSpec>;
  energyTotal: Entity<SensorSpec>;
  state: Entity<SensorSpec>;
  reason: Entity<SensorSpec>;
  gates: Record<GateName, Entity<BinarySensorSpec>>;
  connection: Entity<BinarySensorSpec>;
  backendProblem: Entity<SensorSpec>;
}

const GATE_LABELS: Record<GateName, string> = {
  window: 'Gate: time window',
  soc: 'Gate: battery SoC',
  grid_import: 'Gate: grid import',
  battery_discharge: 'Gate: battery discharge',
};

export class WaterHeaterAdapter implements Adapter {
  readonly id: string;
  readonly deviceId: string;
  private actuators?: HeaterActuators;
  private controller?: HeaterController;
  private settings!: HeaterSettings;
  private entities?: Entities;
  private timers: TimerHandle[] = [];
  private mode: HeaterMode = 'auto';
  /** Manual mode's relay and level (0–1), set from HA. */
  private manual = { relay: false, level: 0 };
  private boostUntil?: number;
  private boostMinutes = 60;
  /** What was last sent, so a step that changes nothing sends nothing. */
  private sent?: { relay: boolean; powerW: number };
  private last?: HeaterCommand;
  private failedSafe = false;
  private stopped = false;
  private energy: Energy = { totalWh: 0, todayWh: 0, day: '' };
  private energyDirty = false;
  private integratedAt?: number;
  private heaterW = 0;
  private readonly localDate: Intl.DateTimeFormat;
  private readonly localTime: Intl.DateTimeFormat;

  constructor(
    readonly options: WaterHeaterOptions,
    private readonly ctx: AdapterContext,
    /** Tests hand a pin driver of their own; otherwise the backend's is made at start. */
    private readonly pinsOverride?: PinDriver,
  ) {
    this.deviceId = heaterDeviceId(options.name);
    this.id = `water_heater/${this.deviceId}`;
    this.localDate = new Intl.DateTimeFormat('en-CA', { timeZone: options.timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
    this.localTime = new Intl.DateTimeFormat('en-GB', { timeZone: options.timezone, hour: '2-digit', minute: '2-digit' });
  }

  /** The last decision (tests and the demo look at it). */
  get lastCommand(): HeaterCommand | undefined {
    return this.last;
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    const { ctx, options } = this;
    this.settings = this.controllerSettings(ctx.haChanges.get(this.deviceId, 'target_export_w', z.number(), options.target_export_w));
    this.controller = new HeaterController(this.settings);
    this.mode = ctx.haChanges.get(this.deviceId, 'mode', z.enum(MODES), 'auto');
    this.boostMinutes = ctx.haChanges.get(this.deviceId, 'boost_minutes', z.number(), 60);
    // A boost does not survive a restart: after a crash the heater must not come back at full power.
    if (this.mode === 'boost') this.mode = 'auto';
    this.energy = await ctx.store.read(this.deviceId, energyShape, this.energy);
    this.declare();
    try {
      this.actuators = await this.makeActuators();
    } catch (error) {
      // The native library cannot load here: say so in HA and in the log, and keep the device shown.
      const message = (error as Error).message;
      ctx.log.error(message);
      this.entities?.backendProblem.update(cut(message));
      this.entities?.connection.update(false);
      return;
    }
    const actuators = this.actuators;
    actuators.on('connected', () => {
      if (this.failedSafe || this.stopped) return; // nothing is written after a fail-safe or a stop
      // Never trust the pins' state left behind (a crash, another program): safe first.
      actuators.safeNow();
      this.sent = undefined; // the next step sends its decision again, whatever it is
      ctx.log.info(`${actuators.describe}: connected; relay off and regulator at 0 until the next decision`);
      this.showConnection();
    });
    actuators.on('disconnected', (reason: string) => {
      if (this.stopped) return;
      this.sent = undefined;
      ctx.log.warn(`${actuators.describe}: connection lost (${reason}); the heater's relay is whatever the pins were when it dropped, until it is back`);
      this.showConnection();
    });
    actuators.on('problem', () => this.showConnection());
    await actuators.start();
    // Off at once where it can be sent now; the first step sends (and retries until it lands) its decision.
    if (actuators.connected) actuators.safeNow();
    this.sent = undefined;
    this.showConnection();
    this.integratedAt = ctx.clock.now();
    this.timers.push(ctx.clock.setInterval(() => this.tick(), TICK_MS));
    this.timers.push(ctx.clock.setInterval(() => void this.persist(), PERSIST_MS));
    this.tick();
  }

  private async makeActuators(): Promise<HeaterActuators> {
    const { options, ctx } = this;
    let pins = this.pinsOverride;
    if (!pins && options.backend === 'pigpiod') pins = new PigpiodPins({ host: options.pigpiod!.host!, port: options.pigpiod!.port, backoff: { initialMs: 1000, maxMs: 10_000 } });
    if (!pins && options.backend === 'pigpio') pins = await (await import('./pigpio-native.js')).loadNativePins();
    return createActuators(options, {
      ha: ctx.measurements.homeAssistant,
      publish: (topic, payload) => ctx.devices.publish(topic, payload),
    }, pins);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers.splice(0)) timer.cancel();
    this.integrate(this.ctx.clock.now());
    this.actuators?.safeNow();
    await this.actuators?.close();
    await this.persist();
  }

  failSafe(): void {
    if (this.failedSafe) return;
    this.failedSafe = true;
    for (const timer of this.timers.splice(0)) timer.cancel();
    this.actuators?.safeNow();
  }

  // ---- the loop ----

  private tick(): void {
    if (this.stopped || this.failedSafe || !this.controller) return;
    const now = this.ctx.clock.now();
    this.integrate(now);
    if (this.mode === 'boost' && this.boostUntil !== undefined && now >= this.boostUntil) {
      this.ctx.log.info('boost over: back to auto');
      this.setMode('auto');
    }
    const inputs = this.readInputs(now);
    // The controller runs in every mode, so its gates and reason stay current and auto resumes smoothly.
    const decided = this.controller.step(inputs);
    const command = this.override(decided);
    this.last = command;
    this.apply(command);
    this.show(command);
  }

  private readInputs(now: number): HeaterInputs {
    const { options } = this;
    const value = (name: string | undefined) => {
      if (name === undefined) return undefined;
      const measurement = this.ctx.measurements.get(name);
      if (!measurement || measurement.ageS > options.stale_after) return undefined;
      const v = measurement.value;
      return typeof v === 'number' ? v : undefined;
    };
    const batteryW = value(options.battery_power);
    // Off-grid there is no grid meter: the grid is 0 W, as long as the battery's power is fresh.
    let gridW = options.grid !== undefined ? value(options.grid) : batteryW !== undefined ? 0 : undefined;
    // Zero export probes on the battery's power: without it fresh, the heater must stop as on a stale grid.
    if (options.zero_export && options.battery_power !== undefined && batteryW === undefined) gridW = undefined;
    const mpptMode = value(options.mppt_mode);
    const pvW = value(options.pv_power);
    const forecastW = value(options.pv_forecast);
    return {
      now,
      gridW,
      batteryW,
      batterySoc: value(options.battery_soc),
      heaterW: value(options.heater_power),
      forecastGapW: pvW !== undefined && forecastW !== undefined ? forecastW - pvW : undefined,
      // Victron's MppOperationMode: 1 = voltage or current limited (throttling), 2 = tracking.
      mpptThrottling: mpptMode === undefined ? undefined : mpptMode === 1,
    };
  }

  /** Off, manual and boost replace the controller's decision; a stale source stops even those that need data. */
  private override(decided: HeaterCommand): HeaterCommand {
    const full = this.options.max_power_w;
    switch (this.mode) {
      case 'off':
        return { ...decided, relay: false, level: 0, state: 'off', reason: 'Mode off: relay off.', estimatedHeaterW: 0 };
      case 'manual':
        return {
          ...decided,
          relay: this.manual.relay,
          level: this.manual.level,
          state: this.manual.relay ? 'heating' : 'off',
          reason: `Manual: relay ${this.manual.relay ? 'on' : 'off'}, regulator at ${Math.round(this.manual.level * 100)} %.`,
          estimatedHeaterW: this.manual.relay ? this.manual.level * full : 0,
        };
      case 'boost': {
        const until = this.localTime.format(this.boostUntil ?? this.ctx.clock.now());
        return { ...decided, relay: true, level: 1, state: 'heating', reason: `Boost at full power until ${until}.`, estimatedHeaterW: full };
      }
      default:
        return decided;
    }
  }

  private apply(command: HeaterCommand): void {
    const actuators = this.actuators;
    if (!actuators?.connected) return;
    const powerW = command.relay ? Math.round(command.level * this.options.max_power_w) : 0;
    const sent = this.sent;
    // Regulator first when switching on (the heater starts at the decided power), relay first when switching off.
    if (!sent || sent.relay !== command.relay || Math.abs(sent.powerW - powerW) >= 1) {
      const order = command.relay ? [() => actuators.setPower(powerW), () => actuators.setRelay(true)] : [() => actuators.setRelay(false), () => actuators.setPower(0)];
      this.sent = { relay: command.relay, powerW };
      for (const step of order) {
        step().catch((error: Error) => {
          this.sent = undefined; // try again next second
          this.ctx.log.warn(`${actuators.describe}: ${error.message}`);
        });
      }
    }
    this.heaterW = command.relay ? command.estimatedHeaterW : 0;
  }

  // ---- energy ----

  private integrate(now: number): void {
    const since = this.integratedAt;
    this.integratedAt = now;
    const day = this.localDate.format(now); // "today" is the user's day, not UTC's
    if (this.energy.day !== day) {
      this.energy = { ...this.energy, todayWh: 0, day };
      this.energyDirty = true;
    }
    // Only what auto mode put in counts as diverted surplus; a boost or manual heating does not.
    if (since === undefined || now <= since || now - since > MAX_INTEGRATION_GAP_MS || this.mode !== 'auto' || this.heaterW <= 0) return;
    const wh = (this.heaterW * (now - since)) / 3_600_000;
    this.energy.totalWh += wh;
    this.energy.todayWh += wh;
    this.energyDirty = true;
  }

  private async persist(): Promise<void> {
    if (!this.energyDirty) return;
    this.energyDirty = false;
    await this.ctx.store.write(this.deviceId, this.energy).catch((error: Error) => this.ctx.log.warn(`energy not saved: ${error.message}`));
  }

  // ---- settings ----

  private controllerSettings(targetExportW: number): HeaterSettings {
    const o = this.options;
    const defaults = defaultHeaterSettings(o.max_power_w);
    const gates = o.gates ?? {};
    return {
      ...defaults,
      minPowerW: o.min_power_w,
      targetExportW,
      zeroExport: o.zero_export,
      minOnS: o.min_on_s,
      minOffS: o.min_off_s,
      gates: {
        window: gates.from && gates.to ? { from: gates.from, to: gates.to, timeZone: o.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone } : undefined,
        minSoc: gates.min_soc,
        maxGridImportW: gates.max_grid_import_w,
        maxBatteryDischargeW: gates.max_battery_discharge_w,
      },
    };
  }

  private setMode(mode: HeaterMode): void {
    this.mode = mode;
    this.boostUntil = mode === 'boost' ? this.ctx.clock.now() + this.boostMinutes * 60_000 : undefined;
    void this.ctx.haChanges.set(this.deviceId, 'mode', mode === 'boost' ? 'auto' : mode);
  }

  // ---- entities ----

  private declare(): void {
    const o = this.options;
    const device = this.ctx.devices.device(
      { id: this.deviceId, name: o.name, manufacturer: 'energy2mqtt', model: `PV water heater (${o.backend})` },
      this.id,
    );
    const command = (fn: () => void) => {
      fn();
      this.tick();
    };
    this.entities = {
      mode: device.select({
        key: 'mode', name: 'Mode', options: [...MODES], icon: 'mdi:water-boiler-auto',
        command: (value) => {
          command(() => this.setMode(value as HeaterMode));
          return value;
        },
      }),
      relay: device.switch({
        key: 'relay', name: 'Relay', icon: 'mdi:electric-switch',
        // Switching by hand means manual mode: auto would undo it a second later.
        command: (on) => {
          command(() => {
            this.manual = { relay: on, level: this.manual.level || (this.last?.level ?? 0) };
            this.setMode('manual');
          });
          return on;
        },
      }),
      level: device.number({
        key: 'regulator_level', name: 'Regulator level', unit: '%', min: 0, max: 100, step: 1, mode: 'slider', icon: 'mdi:knob',
        command: (value) => {
          command(() => {
            this.manual = { relay: this.manual.relay || (this.last?.relay ?? false), level: value / 100 };
            this.setMode('manual');
          });
          return value;
        },
      }),
      targetExport: device.number({
        key: 'target_export', name: 'Target export', unit: 'W', deviceClass: 'power', min: -1000, max: 10_000, step: 10, mode: 'box', icon: 'mdi:transmission-tower-export', category: 'config',
        command: async (value) => {
          this.settings.targetExportW = value; // the controller reads its settings at every step
          await this.ctx.haChanges.set(this.deviceId, 'target_export_w', value);
          this.tick();
          return value;
        },
      }),
      boostMinutes: device.number({
        key: 'boost_minutes', name: 'Boost duration', unit: 'min', deviceClass: 'duration', min: 5, max: 480, step: 5, mode: 'box', icon: 'mdi:timer-outline', category: 'config',
        command: async (value) => {
          this.boostMinutes = value;
          await this.ctx.haChanges.set(this.deviceId, 'boost_minutes', value);
          return value;
        },
      }),
      boostUntil: device.sensor({ key: 'boost_until', name: 'Boost until', deviceClass: 'timestamp' }),
      heaterPower: device.sensor({ key: 'heater_power', name: 'Heater power', deviceClass: 'power', unit: 'W', stateClass: 'measurement', precision: 0 }),
      energyToday: device.sensor({ key: 'energy_today', name: 'Energy diverted today', deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing', precision: 2 }),
      energyTotal: device.sensor({ key: 'energy_total', name: 'Energy diverted', deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing', precision: 2 }),
      state: device.sensor({ key: 'state', name: 'State', deviceClass: 'enum', options: ['off', 'gated', 'waiting', 'heating', 'probing', 'tank_hot', 'stale'], icon: 'mdi:state-machine' }),
      reason: device.sensor({ key: 'reason', name: 'Reason', icon: 'mdi:information-outline' }),
      gates: Object.fromEntries(
        GATE_NAMES.map((gate) => [gate, device.binarySensor({ key: `gate_${gate}`, name: GATE_LABELS[gate], icon: 'mdi:gate', category: 'diagnostic' })]),
      ) as Record<GateName, Entity<BinarySensorSpec>>,
      connection: device.binarySensor({ key: 'backend_connected', name: 'Backend connected', deviceClass: 'connectivity', category: 'diagnostic' }),
      backendProblem: device.sensor({ key: 'backend_problem', name: 'Backend problem', icon: 'mdi:alert-circle-outline', category: 'diagnostic' }),
    };
  }

  private show(command: HeaterCommand): void {
    const e = this.entities;
    if (!e) return;
    e.mode.update(this.mode);
    e.relay.update(command.relay);
    e.level.update(Math.round(command.level * 100));
    e.targetExport.update(this.settings.targetExportW);
    e.boostMinutes.update(this.boostMinutes);
    e.boostUntil.update(this.boostUntil !== undefined ? new Date(this.boostUntil).toISOString() : null);
    e.heaterPower.update(Math.round(this.heaterW));
    e.energyToday.update(this.energy.todayWh / 1000);
    e.energyTotal.update(this.energy.totalWh / 1000);
    e.state.update(command.state);
    e.reason.update(cut(command.reason));
    for (const gate of GATE_NAMES) e.gates[gate].update(command.gates[gate] ?? null);
  }

  private showConnection(): void {
    const e = this.entities;
    const actuators = this.actuators;
    if (!e || !actuators) return;
    e.connection.update(actuators.connected);
    e.backendProblem.update(cut(actuators.connected ? 'none' : `${actuators.describe}: ${actuators.problem ?? 'connecting'}`));
  }
}

function cut(text: string): string {
  return text.length > STATE_MAX ? `${text.slice(0, STATE_MAX - 1)}…` : text;
}
