// A myVaillant account: its systems, zones and hot-water cylinders as HA entities, polled under
// the request budget, with hot-water boost, quick veto, hot-water setpoint and zone heating mode.
// A system's controller (GET meta-info/control-identifier, once) decides where it is read and
// written: TLI under systems/{id}/tli, VRC700 under vrc700/v1 and system-control/v1 (research
// vaillant.md §1.4–1.5); any other controller is shown as not supported and not polled.
// The report lags commands by minutes, so a command's result is trusted for a while before a
// report may contradict it. Energy counters, trouble codes and Ambisense rooms are fetched rarely
// (energy_interval), and only with room in the budget beyond the command reserve.
import { DHW_KEYS, ZONE_KEYS, vaillantDeviceId, vaillantOwner } from './ids.js';
import { createHash } from 'node:crypto';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import type { BinarySensorSpec, ClimateSpec, EntitySpec, NumberSpec, SelectSpec, SensorSpec, SwitchSpec, ValueOf, WaterHeaterSpec } from '../../core/entity.js';
import { z } from 'zod';
import { VaillantApi, ApiError, type ApiBase } from './api.js';
import { LoginError, VaillantSession } from './auth.js';
import { ENERGY_SERIES, ENERGY_SUMS, MAX_CATCH_UP_MS, addBuckets, bucketsPath, countableUntil, energyStoreShape, parseCurrentSystem, requestFrom, type EnergyStore, type HeatGenerator, type SeriesKey } from './energy.js';
import { parseRooms, parseTroubleCodes, troubleSummary, type Room } from './diagnostics.js';
import type { VaillantAccountOptions } from './options.js';
import { normalSetpoint, parseReport, type SystemReport } from './report.js';
import { clip, oneLine, quote } from '../../core/outside-text.js';

/** How long a command's effect is believed over a report that says otherwise. */
export const TRUST_COMMAND_MS = 600_000;
const COMMAND_RESERVE = 4;
const MPC_EVERY_MS = 600_000;
/** After a failed energy or diagnostics fetch, no new try before this. */
const ENERGY_RETRY_MS = 900_000;
/** After a control-identifier answer without an identifier, no new question before this. */
const IDENTIFY_RETRY_MS = 600_000;

/** Where a request goes: its root and its path. */
interface Target {
  base: ApiBase;
  path: string;
}

/** What differs between the controllers: the report's place, every write's place and body, the modes. */
interface Controls {
  report: Target;
  /** Zone heating modes, the manual one, and them as HA hvac modes. */
  heatingModes: string[];
  manualMode: string;
  hvac: Record<string, string>;
  /** Hot-water modes as HA water-heater modes. */
  dhwModes: Record<string, string>;
  dhwStep: number;
  boost(dhw: number): Target;
  quickVeto(zone: number): Target;
  heatingMode(zone: number): Target;
  manualSetpoint(zone: number, temperature: number): { target: Target; body: unknown };
  dhwSetpoint(dhw: number, setpoint: number): { target: Target; body: unknown };
  dhwMode(dhw: number): Target;
}

export const SUPPORTED_CONTROLLERS = ['tli', 'vrc700'] as const;
type Controller = (typeof SUPPORTED_CONTROLLERS)[number];

/** TLI: everything under systems/{id}/tli; whole degrees for hot water (myPyllant rounds). */
function tliControls(id: string): Controls {
  const t = (path: string): Target => ({ base: 'app', path: `/systems/${id}/tli${path}` });
  return {
    report: t(''),
    heatingModes: ['TIME_CONTROLLED', 'MANUAL', 'OFF'],
    manualMode: 'MANUAL',
    hvac: { TIME_CONTROLLED: 'auto', MANUAL: 'heat', OFF: 'off' },
    dhwModes: { TIME_CONTROLLED: 'eco', MANUAL: 'heat_pump', OFF: 'off' },
    dhwStep: 1,
    boost: (i) => t(`/domestic-hot-water/${i}/boost`),
    quickVeto: (z) => t(`/zones/${z}/quick-veto`),
    heatingMode: (z) => t(`/zones/${z}/heating-operation-mode`),
    manualSetpoint: (z, temperature) => ({ target: t(`/zones/${z}/manual-mode-setpoint`), body: { setpoint: temperature, type: 'HEATING' } }),
    dhwSetpoint: (i, v) => ({ target: t(`/domestic-hot-water/${i}/temperature`), body: { setpoint: Math.round(v) } }),
    dhwMode: (i) => t(`/domestic-hot-water/${i}/operation-mode`),
  };
}

/** VRC700: the report and most writes under vrc700/v1, zone mode and hot-water setpoint (0.5 °C) under system-control/v1. */
function vrc700Controls(id: string): Controls {
  const v = (path: string): Target => ({ base: 'vrc700', path: `/systems/${id}${path}` });
  const c = (path: string): Target => ({ base: 'control', path: `/systems/${id}${path}` });
  return {
    report: v(''),
    heatingModes: ['DAY', 'AUTO', 'SET_BACK', 'OFF'],
    manualMode: 'DAY',
    hvac: { AUTO: 'auto', DAY: 'heat', OFF: 'off' },
    dhwModes: { AUTO: 'eco', DAY: 'heat_pump', OFF: 'off' },
    dhwStep: 0.5,
    boost: (i) => v(`/domestic-hot-water/${i}/boost`),
    quickVeto: (z) => v(`/zone/${z}/heating/quick-veto`),
    heatingMode: (z) => c(`/zones/${z}/heating-operation-mode`),
    manualSetpoint: (z, temperature) => ({ target: v(`/zone/${z}/heating/comfort-room-temperature`), body: { comfortRoomTemperature: temperature } }),
    dhwSetpoint: (i, value) => ({ target: c(`/domestic-hot-water/${i}/tapping-setpoint`), body: { setpoint: Math.round(value * 2) / 2 } }),
    dhwMode: (i) => v(`/domestic-hot-water/${i}/operation-mode`),
  };
}

export function controlsFor(id: string, controller: Controller): Controls {
  return controller === 'vrc700' ? vrc700Controls(id) : tliControls(id);
}
const invert = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));

type Sensor = Entity<SensorSpec>;

/** A heating zone's entities: typed handles, so a mistyped name does not compile. */
interface ZoneEntities {
  roomTemperature: Sensor;
  humidity: Sensor;
  desiredSetpoint: Sensor;
  normalSetpoint: Sensor;
  specialFunction: Sensor;
  quickVetoEnd: Sensor;
  vetoSetpoint: Entity<NumberSpec>;
  vetoDuration: Entity<NumberSpec>;
  quickVeto: Entity<SwitchSpec>;
  heatingMode: Entity<SelectSpec>;
  climate: Entity<ClimateSpec>;
}

interface CylinderEntities {
  temperature: Sensor;
  mode: Sensor;
  specialFunction: Sensor;
  setpoint: Entity<NumberSpec>;
  boost: Entity<SwitchSpec>;
  waterHeater: Entity<WaterHeaterSpec>;
}

interface SystemEntities {
  outdoorTemperature: Sensor;
  waterPressure: Sensor;
  flowTemperature: Sensor;
  energyManagerState: Sensor;
  currentPower: Sensor;
  troubleCodes: Sensor;
  problem: Entity<BinarySensorSpec>;
  energyFetched: Sensor;
}

interface RoomEntities {
  temperature: Sensor;
  setpoint: Sensor;
  humidity?: Sensor;
  window?: Entity<BinarySensorSpec>;
  lowBattery?: Entity<BinarySensorSpec>;
  valvePosition?: Sensor;
}

interface SystemState {
  id: string;
  short: string;
  /** From meta-info/control-identifier, asked once. */
  controller?: string;
  controls?: Controls;
  /** A controller this adapter cannot read: shown once, never polled. */
  unsupported?: boolean;
  report?: SystemReport;
  device?: Device;
  entities?: SystemEntities;
  zones: Map<number, ZoneEntities>;
  cylinders: Map<number, CylinderEntities>;
  lastMpc: number;
  /** The last failure logged, so that it is not logged again on every poll. */
  lastWarning?: string;
  /** Energy totals (from the store once read). */
  energy?: EnergyStore;
  generators?: HeatGenerator[];
  generatorEntities: Map<string, Map<string, Sensor>>;
  /** No energy or diagnostics fetch before this (after a failure). */
  energyRetryAt: number;
  /** The controller is not asked again before this (after an answer without one). */
  identifyAt: number;
  /** Ambisense rooms: undefined = not asked yet, [] = none (409/404: not asked again). */
  rooms?: Room[];
  roomsAt: number;
  roomEntities: Map<number, RoomEntities>;
}

interface AccountEntities {
  apiStatus: Sensor;
  requestsLastHour: Sensor;
  pausedUntil: Sensor;
}

export class VaillantAdapter implements Adapter {
  readonly id: string;
  readonly session: VaillantSession;
  readonly api: VaillantApi;
  readonly systems = new Map<string, SystemState>();
  private account?: AccountEntities;
  private timer?: TimerHandle;
  private failedSafe = false;
  private warnedBudget = false;
  private stopped = false;
  private polling?: Promise<void>;
  /** Values a command set, believed until the report agrees or the time runs out. */
  private trusted = new Map<object, { value: unknown; until: number }>(); // by entity
  private readonly scope: string;

  constructor(
    readonly options: VaillantAccountOptions,
    private readonly ctx: AdapterContext,
  ) {
    this.id = vaillantOwner(options.username);
    this.scope = `vaillant_${createHash('sha256').update(options.username).digest('hex').slice(0, 8)}`;
    ctx.secrets.add(options.password);
    this.session = new VaillantSession({
      username: options.username, password: options.password, brand: options.brand, country: options.country,
      identityUrl: options.identity_url, clock: ctx.clock, log: ctx.log, store: ctx.store, secrets: ctx.secrets, http: ctx.http,
    });
    this.api = new VaillantApi({ apiUrl: options.api_url, session: this.session, clock: ctx.clock, log: ctx.log, budgetPerHour: options.request_budget_per_hour, http: ctx.http });
  }

  async start(): Promise<void> {
    const account = this.ctx.devices.device({ id: this.scope, name: `myVaillant ${this.options.username}`, manufacturer: 'Vaillant', model: 'myVaillant account' }, this.id);
    this.account = {
      apiStatus: account.sensor({ key: 'api_status', name: 'API status', icon: 'mdi:cloud-check-outline', category: 'diagnostic' }),
      requestsLastHour: account.sensor({ key: 'requests_last_hour', name: 'Requests in the last hour', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' }),
      pausedUntil: account.sensor({ key: 'paused_until', name: 'Requests paused until', deviceClass: 'timestamp', category: 'diagnostic' }),
    };
    await this.poll();
    this.timer = this.ctx.clock.setInterval(() => void this.poll(), this.options.poll_interval * 1000);
  }

  /** One round: homes once, then each system's report (and now and then its live power). */
  poll(): Promise<void> {
    this.polling ??= this.pollNow().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollNow(): Promise<void> {
    try {
      if (this.systems.size === 0) {
        if (!this.api.fits(1, COMMAND_RESERVE)) return this.showStatus();
        const homes = z.array(z.object({ systemId: z.string().optional() }).passthrough()).parse(await this.api.request('GET', '/homes'));
        for (const home of homes) {
          if (!home.systemId) continue;
          this.systems.set(home.systemId, {
            id: home.systemId, short: home.systemId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8).toLowerCase(), zones: new Map(), cylinders: new Map(), lastMpc: 0,
            generatorEntities: new Map(), energyRetryAt: 0, roomsAt: 0, roomEntities: new Map(), identifyAt: 0,
          });
        }
        if (this.systems.size === 0) this.ctx.log.warn('the myVaillant account has no system');
      }
      for (const system of this.systems.values()) {
        if (system.unsupported) continue;
        // A failing system (an offline gateway) must not stop the others.
        try {
          if (!system.controls) {
            if (this.ctx.clock.now() < system.identifyAt) continue;
            if (!this.api.fits(1, COMMAND_RESERVE)) break;
            if (!(await this.identify(system))) continue;
          }
          const controls = system.controls!;
          if (!system.energy) system.energy = await this.ctx.store.read(this.energyStoreName(system), energyStoreShape, { lastFetch: 0, generators: {} });
          // Energy that is due goes first: the report waits while its requests would not fit
          // (unless they never can: a budget too small for them leaves the report alone).
          let energyCost = this.energyDue(system) ? this.energyCost(system) : 0;
          if (energyCost > 0 && energyCost + COMMAND_RESERVE >= this.options.request_budget_per_hour) {
            if (!this.warnedBudget) this.ctx.log.warn(`a request budget of ${this.options.request_budget_per_hour} per hour has no room for the ${energyCost} requests of the energy counters; they are not fetched`);
            this.warnedBudget = true;
            energyCost = 0;
          }
          if (!this.api.fits(1, COMMAND_RESERVE + energyCost)) {
            if (energyCost > 0 && this.api.fits(energyCost, COMMAND_RESERVE)) await this.fetchEnergy(system);
            continue;
          }
          const report = parseReport(system.id, await this.api.request('GET', controls.report.path, undefined, controls.report.base));
          if (!system.device) this.declare(system, report);
          system.report = report;
          this.applyReport(system);
          this.ctx.log.debug(
            `system ${system.short}: outdoor ${report.outdoorTemperature ?? '?'} °C, ${report.zones.length} zone(s), ${report.hotWater.length} cylinder(s), ${this.api.usedThisHour} request(s) in the last hour`,
          );
          if (energyCost === 0 && this.ctx.clock.now() - system.lastMpc >= MPC_EVERY_MS && this.api.fits(1, COMMAND_RESERVE)) {
            system.lastMpc = this.ctx.clock.now();
            const mpc = await this.api.request('GET', `/hem/${system.id}/mpc`).catch(() => undefined);
            const devices = (mpc as { devices?: Array<{ currentPower?: number }> } | undefined)?.devices ?? [];
            system.entities?.currentPower.update(devices.length ? devices.reduce((s, d) => s + (d.currentPower ?? 0), 0) : null);
          }
          system.device?.setAvailable(true);
          system.lastWarning = undefined;
          if (system.rooms === undefined && this.api.fits(1, COMMAND_RESERVE)) await this.fetchRooms(system);
          if (!system.generators && this.ctx.clock.now() >= system.energyRetryAt && this.api.fits(1, COMMAND_RESERVE)) await this.loadGenerators(system);
          if (this.energyDue(system) && this.api.fits(this.energyCost(system), COMMAND_RESERVE)) await this.fetchEnergy(system);
        } catch (err) {
          // A failed login was logged where it failed, in words; here it would be said twice.
          const message = `system ${system.short}: ${(err as Error).message}`;
          // The same failure poll after poll is said once (and again when it changes).
          if (err instanceof LoginError || message === system.lastWarning) this.ctx.log.debug(message);
          else this.ctx.log.warn(message);
          if (!(err instanceof LoginError)) system.lastWarning = message;
          if (!(err instanceof ApiError && this.api.pausedUntil > this.ctx.clock.now())) system.device?.setAvailable(false);
        }
      }
    } catch (err) {
      if (err instanceof LoginError) this.ctx.log.debug(`myVaillant: ${err.message}`);
      else this.ctx.log.warn(`myVaillant: ${(err as Error).message}`);
    }
    this.showStatus();
  }

  /**
   * Asks a system's controller once; false for a controller that is not supported (shown as such).
   * Only a 404 means TLI (myPyllant's default); an answer without a usable identifier is unknown:
   * nothing is polled or sent, and it is asked again after IDENTIFY_RETRY_MS.
   */
  private async identify(system: SystemState): Promise<boolean> {
    let controller: string;
    try {
      const answer = await this.api.request('GET', `/systems/${system.id}/meta-info/control-identifier`);
      const c = answer && typeof answer === 'object' ? (answer as { controlIdentifier?: unknown }).controlIdentifier : undefined;
      if (typeof c !== 'string' || !c.trim()) {
        system.identifyAt = this.ctx.clock.now() + IDENTIFY_RETRY_MS;
        throw new ApiError(`the controller is unknown (the control-identifier answer has no controlIdentifier: ${quote(JSON.stringify(answer) ?? '', 80)}); asked again in ${IDENTIFY_RETRY_MS / 60_000} min`);
      }
      controller = c.trim().toLowerCase();
    } catch (err) {
      // Systems that do not answer this have the TLI API (myPyllant's default).
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      controller = 'tli';
    }
    system.controller = controller;
    if ((SUPPORTED_CONTROLLERS as readonly string[]).includes(controller)) {
      system.controls = controlsFor(system.id, controller as Controller);
      this.ctx.log.info(`system ${system.short}: ${controller} controller`);
      return true;
    }
    system.unsupported = true;
    // The cloud's text: quoted in the log, one short line in names and the sensor.
    const shown = clip(oneLine(controller), 40);
    this.ctx.log.warn(`system ${system.short}: the controller ${quote(controller, 40)} is not supported; the system is not polled`);
    const dev = this.ctx.devices.device({ id: vaillantDeviceId.system(system.short), name: `Vaillant ${shown} ${system.short}`, manufacturer: 'Vaillant', model: shown }, this.id);
    dev.sensor({ key: 'support', name: 'Support', icon: 'mdi:alert-circle-outline' }).update(`not supported: the controller "${shown}" has an API energy2mqtt does not read`);
    system.device = dev;
    return false;
  }

  // ---- energy, trouble codes, rooms ----

  private energyStoreName(system: SystemState): string {
    return `${this.scope}_energy_${system.short}`;
  }

  private energyDue(system: SystemState): boolean {
    const now = this.ctx.clock.now();
    return !!system.energy && now >= system.energyRetryAt && now - system.energy.lastFetch >= this.options.energy_interval * 60_000;
  }

  /** Requests one energy round takes: devices (once), the buckets due, trouble codes, rooms. */
  private energyCost(system: SystemState): number {
    const to = countableUntil(this.ctx.clock.now());
    let buckets = 0;
    for (const g of system.generators ?? []) {
      for (const key of g.series) {
        const c = system.energy?.generators[g.uuid]?.series[key];
        if (c && c.until < to) buckets++;
      }
    }
    const roomsFresh = this.ctx.clock.now() - system.roomsAt < this.options.energy_interval * 30_000;
    return (system.generators ? 0 : 1) + buckets + 1 + (system.rooms?.length && !roomsFresh ? 1 : 0);
  }

  /**
   * One energy round. The new counters are published and kept only once the store has them: a
   * total shown but not saved would come back lower after a restart, and HA would take the drop
   * for a meter reset. When the write fails the counters go back to the saved ones, and the same
   * hours are asked for again after ENERGY_RETRY_MS.
   */
  private async fetchEnergy(system: SystemState): Promise<void> {
    const saved = system.energy!;
    const store: EnergyStore = structuredClone(saved);
    const now = this.ctx.clock.now();
    let complete = true;
    try {
      if (!system.generators) await this.loadGenerators(system);
      if (!system.generators) return;
      const to = countableUntil(now);
      for (const g of system.generators) {
        const kept = (store.generators[g.uuid] ??= { name: g.name, series: {} });
        for (const key of g.series) {
          let counter = kept.series[key];
          if (!counter) {
            // Counted from now on: the first sight starts at zero, without a request.
            kept.series[key] = { wh: 0, until: to, recent: {}, since: to };
            continue;
          }
          if (counter.until >= to) continue;
          if (to - counter.until > MAX_CATCH_UP_MS) {
            this.ctx.log.warn(`system ${system.short}: ${g.name} ${key}: energy older than ${MAX_CATCH_UP_MS / 86_400_000} days is not fetched`);
            counter = { ...counter, until: to - MAX_CATCH_UP_MS };
          }
          if (!this.api.fits(1, COMMAND_RESERVE)) {
            complete = false;
            break;
          }
          // From RECHECK_MS back: hours filled late or corrected since are counted by their growth.
          const answer = await this.api.request('GET', bucketsPath(system.id, g.uuid, key, requestFrom(counter), to));
          kept.series[key] = addBuckets(counter, answer, to).counter;
        }
      }
      if (complete) store.lastFetch = now;
    } catch (err) {
      system.energyRetryAt = now + ENERGY_RETRY_MS;
      if (err instanceof LoginError) throw err;
      this.ctx.log.warn(`system ${system.short}: energy: ${(err as Error).message}`);
    } finally {
      try {
        await this.ctx.store.write(this.energyStoreName(system), store);
        system.energy = store;
      } catch (err) {
        // Not saved: nothing new is shown, and these hours are asked for again.
        system.energy = saved;
        system.energyRetryAt = now + ENERGY_RETRY_MS;
        this.ctx.log.warn(`system ${system.short}: energy totals not saved (${(err as Error).message}); asked for again in ${ENERGY_RETRY_MS / 60_000} min`);
      }
      this.showEnergy(system);
    }
    if (complete && system.energy === store && store.lastFetch === now) await this.fetchDiagnostics(system);
  }

  /** The heat generators (once per run), their energy sensors, and the totals kept from before. */
  private async loadGenerators(system: SystemState): Promise<void> {
    try {
      system.generators = parseCurrentSystem(await this.api.request('GET', `/emf/v2/${system.id}/currentSystem`));
    } catch (err) {
      if (err instanceof LoginError) throw err;
      if (err instanceof ApiError && err.status === 404) {
        system.generators = []; // no energy data for this system
        return;
      }
      system.energyRetryAt = this.ctx.clock.now() + ENERGY_RETRY_MS;
      this.ctx.log.warn(`system ${system.short}: energy devices: ${(err as Error).message}`);
      return;
    }
    this.declareGenerators(system);
    this.showEnergy(system);
  }

  private async fetchDiagnostics(system: SystemState): Promise<void> {
    // Each request keeps the command reserve (a command may have spent some during the buckets).
    if (!this.api.fits(1, COMMAND_RESERVE)) return;
    try {
      const codes = parseTroubleCodes(await this.api.request('GET', `/systems/${system.id}/diagnostic-trouble-codes`));
      system.entities?.troubleCodes.update(troubleSummary(codes));
      system.entities?.problem.update(codes.length > 0);
    } catch (err) {
      if (err instanceof LoginError) throw err;
      this.ctx.log.warn(`system ${system.short}: trouble codes: ${(err as Error).message}`);
    }
    // (Not again when the first poll has just read them.)
    const fresh = this.ctx.clock.now() - system.roomsAt < this.options.energy_interval * 30_000;
    if (system.rooms?.length && !fresh && this.api.fits(1, COMMAND_RESERVE)) await this.fetchRooms(system);
  }

  /** Ambisense rooms; a 409 (NO_FACILITY_FOR_SYSTEM_ID) or 404 means none, and they are not asked again. */
  private async fetchRooms(system: SystemState): Promise<void> {
    if (!this.api.fits(1, COMMAND_RESERVE)) return;
    try {
      system.rooms = parseRooms(await this.api.request('GET', `/api/v1/ambisense/facilities/${system.id}/rooms`));
      system.roomsAt = this.ctx.clock.now();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 404)) {
        system.rooms = [];
        this.ctx.log.debug(`system ${system.short}: no Ambisense rooms`);
        return;
      }
      if (err instanceof LoginError) throw err;
      this.ctx.log.warn(`system ${system.short}: Ambisense rooms: ${(err as Error).message}`);
      if (system.rooms === undefined) system.rooms = []; // asked once; not on every poll
      return;
    }
    this.showRooms(system);
  }

  private declareGenerators(system: SystemState): void {
    for (const g of system.generators ?? []) {
      const d = this.ctx.devices.device({ id: vaillantDeviceId.generator(system.short, g.uuid), name: `Vaillant ${g.name}`, manufacturer: 'Vaillant', model: g.deviceType ?? g.name }, this.id);
      const sensors = new Map<string, Sensor>();
      const energy = { deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing', precision: 3 } as const;
      for (const s of ENERGY_SERIES) {
        if (g.series.includes(s.key)) sensors.set(s.key, d.sensor({ key: s.key, name: s.name, ...energy, icon: s.energyType === 'EARNED_ENVIRONMENT_ENERGY' ? 'mdi:leaf' : 'mdi:lightning-bolt' }));
      }
      for (const sum of ENERGY_SUMS) {
        if (sum.of.every((k) => g.series.includes(k))) sensors.set(sum.key, d.sensor({ key: sum.key, name: sum.name, ...energy }));
      }
      system.generatorEntities.set(g.uuid, sensors);
    }
  }

  private showEnergy(system: SystemState): void {
    const store = system.energy;
    if (!store) return;
    const kwh = (wh: number) => Math.round(wh) / 1000;
    for (const g of system.generators ?? []) {
      const sensors = system.generatorEntities.get(g.uuid);
      const saved = store.generators[g.uuid]?.series ?? {};
      if (!sensors) continue;
      for (const key of g.series) {
        const c = saved[key];
        if (c) sensors.get(key)?.update(kwh(c.wh));
      }
      for (const sum of ENERGY_SUMS) {
        const parts = sum.of.map((k: SeriesKey) => saved[k]);
        if (parts.every((c) => c)) sensors.get(sum.key)?.update(kwh(parts.reduce((t, c) => t + c!.wh, 0)));
      }
    }
    system.entities?.energyFetched.update(store.lastFetch ? new Date(store.lastFetch).toISOString() : null);
  }

  private showRooms(system: SystemState): void {
    const t = { deviceClass: 'temperature', unit: '°C', stateClass: 'measurement' } as const;
    for (const room of system.rooms ?? []) {
      let e = system.roomEntities.get(room.index);
      if (!e) {
        const d = this.ctx.devices.device({ id: vaillantDeviceId.room(system.short, room.index), name: `Vaillant ${room.name}`, manufacturer: 'Vaillant', model: 'Ambisense room' }, this.id);
        e = {
          temperature: d.sensor({ key: 'room_temperature', name: 'Room temperature', ...t }),
          setpoint: d.sensor({ key: 'setpoint', name: 'Setpoint', ...t }),
          humidity: room.humidity !== undefined ? d.sensor({ key: 'humidity', name: 'Humidity', deviceClass: 'humidity', unit: '%', stateClass: 'measurement' }) : undefined,
          window: room.windowOpen !== undefined ? d.binarySensor({ key: 'window', name: 'Window', deviceClass: 'window' }) : undefined,
          lowBattery: room.lowBattery !== undefined ? d.binarySensor({ key: 'low_battery', name: 'Valve battery', deviceClass: 'battery', category: 'diagnostic' }) : undefined,
          valvePosition: room.valvePosition !== undefined ? d.sensor({ key: 'valve_position', name: 'Valve position', unit: '%', stateClass: 'measurement', icon: 'mdi:valve' }) : undefined,
        };
        system.roomEntities.set(room.index, e);
      }
      e.temperature.update(room.temperature ?? null);
      e.setpoint.update(room.setpoint ?? null);
      e.humidity?.update(room.humidity ?? null);
      e.window?.update(room.windowOpen ?? null);
      e.lowBattery?.update(room.lowBattery ?? null);
      e.valvePosition?.update(room.valvePosition ?? null);
    }
  }

  private showStatus(): void {
    const account = this.account;
    if (!account) return;
    const paused = this.api.pausedUntil > this.ctx.clock.now();
    account.apiStatus.update(this.session.lastError ?? (paused ? `paused: ${this.api.pauseReason}` : 'ok'));
    account.requestsLastHour.update(this.api.usedThisHour);
    account.pausedUntil.update(paused ? new Date(this.api.pausedUntil).toISOString() : null);
  }

  // ---- entities ----

  private declare(system: SystemState, report: SystemReport): void {
    const registry = this.ctx.devices;
    const owner = this.id;
    const dev = registry.device({ id: vaillantDeviceId.system(system.short), name: `Vaillant system ${system.short}`, manufacturer: 'Vaillant', model: report.controller ? clip(oneLine(report.controller), 40) : 'sensoNET' }, owner);
    system.device = dev;
    const t = { deviceClass: 'temperature', unit: '°C', stateClass: 'measurement' } as const;
    system.entities = {
      outdoorTemperature: dev.sensor({ key: 'outdoor_temperature', name: 'Outdoor temperature', ...t }),
      waterPressure: dev.sensor({ key: 'water_pressure', name: 'Water pressure', deviceClass: 'pressure', unit: 'bar', stateClass: 'measurement' }),
      flowTemperature: dev.sensor({ key: 'flow_temperature', name: 'Flow temperature', ...t }),
      energyManagerState: dev.sensor({ key: 'energy_manager_state', name: 'Energy manager state', icon: 'mdi:heat-pump' }),
      currentPower: dev.sensor({ key: 'current_power', name: 'Current power', deviceClass: 'power', unit: 'W', stateClass: 'measurement' }),
      troubleCodes: dev.sensor({ key: 'trouble_codes', name: 'Trouble codes', icon: 'mdi:alert-circle-outline', category: 'diagnostic' }),
      problem: dev.binarySensor({ key: 'problem', name: 'Problem', deviceClass: 'problem', category: 'diagnostic' }),
      energyFetched: dev.sensor({ key: 'energy_last_fetched', name: 'Energy last fetched', deviceClass: 'timestamp', category: 'diagnostic' }),
    };
    const controls = system.controls!;

    for (const zone of report.zones) {
      const zd = registry.device({ id: vaillantDeviceId.zone(system.short, zone.index), name: `Vaillant ${zone.name}`, manufacturer: 'Vaillant', model: 'Heating zone' }, owner);
      // Where the quick-veto numbers a user set from HA are kept (names from the first release).
      const changeKey = { setpoint: `zone_${zone.index}_veto_setpoint`, duration: `zone_${zone.index}_veto_duration` };
      const setHeatingMode = (mode: string) => this.command(system, entities.heatingMode, mode, 'PATCH', controls.heatingMode(zone.index), { operationMode: mode });
      const entities: ZoneEntities = {
        roomTemperature: zd.sensor({ key: 'room_temperature', name: 'Room temperature', ...t }),
        humidity: zd.sensor({ key: 'humidity', name: 'Humidity', deviceClass: 'humidity', unit: '%', stateClass: 'measurement' }),
        desiredSetpoint: zd.sensor({ key: 'desired_setpoint', name: 'Desired temperature', ...t }),
        // Desired reads 0 in eco periods; this is the setpoint the zone normally heats to now.
        normalSetpoint: zd.sensor({ key: ZONE_KEYS.normalSetpoint, name: 'Normal temperature', ...t }),
        specialFunction: zd.sensor({ key: 'special_function', name: 'Special function', icon: 'mdi:star-four-points-outline' }),
        quickVetoEnd: zd.sensor({ key: 'quick_veto_end', name: 'Quick veto end', deviceClass: 'timestamp' }),
        vetoSetpoint: zd.number({ key: ZONE_KEYS.vetoSetpoint, name: 'Quick veto temperature', min: 5, max: 30, step: 0.5, unit: '°C', deviceClass: 'temperature', category: 'config',
          command: async (v) => (await this.ctx.haChanges.set(this.scope, changeKey.setpoint, v), v) }),
        vetoDuration: zd.number({ key: ZONE_KEYS.vetoDuration, name: 'Quick veto duration', min: 0.5, max: 12, step: 0.5, unit: 'h', deviceClass: 'duration', category: 'config',
          command: async (v) => (await this.ctx.haChanges.set(this.scope, changeKey.duration, v), v) }),
        quickVeto: zd.switch({ key: ZONE_KEYS.quickVeto, name: 'Quick veto', icon: 'mdi:thermometer-chevron-up',
          command: (on) => this.quickVeto(system, zone.index, on) }),
        heatingMode: zd.select({ key: 'heating_mode', name: 'Heating mode', options: controls.heatingModes, command: setHeatingMode }),
        // The zone as a thermostat card: auto / heat / off, a boost preset for the quick veto, and
        // a temperature that is a quick veto in auto mode and the manual setpoint in heat mode.
        climate: zd.climate({ key: 'climate', name: 'Heating', modes: ['auto', 'heat', 'off'], presets: ['none', 'boost'], minTemp: 5, maxTemp: 30, tempStep: 0.5,
          // Straight to the actions: going through the bridge again would queue behind this very command.
          command: async ({ part, value }) => {
            if (part === 'mode') {
              await setHeatingMode(invert(controls.hvac)[String(value)]!);
            } else if (part === 'preset') {
              await this.quickVeto(system, zone.index, value === 'boost');
            } else {
              const mode = entities.heatingMode.value;
              const temperature = Number(value); // the temperature part is parsed as a number
              if (mode === 'OFF') throw new Error('the zone is off; switch it to auto or heat first');
              if (mode === controls.manualMode) {
                const { target, body } = controls.manualSetpoint(zone.index, temperature);
                await this.command(system, entities.desiredSetpoint, temperature, 'PATCH', target, body);
              } else {
                await this.ctx.haChanges.set(this.scope, changeKey.setpoint, temperature);
                entities.vetoSetpoint.update(temperature);
                await this.quickVeto(system, zone.index, true);
              }
            }
          } }),
      };
      const settingSchema = z.number();
      entities.vetoSetpoint.update(this.ctx.haChanges.get(this.scope, changeKey.setpoint, settingSchema, 22));
      entities.vetoDuration.update(this.ctx.haChanges.get(this.scope, changeKey.duration, settingSchema, 3));
      system.zones.set(zone.index, entities);
    }
    for (const dhw of report.hotWater) {
      const d = registry.device({ id: vaillantDeviceId.dhw(system.short, dhw.index), name: `Vaillant hot water ${system.short}`, manufacturer: 'Vaillant', model: 'Hot-water cylinder' }, owner);
      const step = controls.dhwStep;
      const setSetpoint = (v: number) => {
        const { target, body } = controls.dhwSetpoint(dhw.index, v);
        return this.command(system, entities.setpoint, Math.round(v / step) * step, 'PATCH', target, body);
      };
      const boost = (on: boolean) => this.command(system, entities.boost, on, on ? 'POST' : 'DELETE', controls.boost(dhw.index), on ? {} : undefined);
      const entities: CylinderEntities = {
        temperature: d.sensor({ key: DHW_KEYS.temperature, name: 'Tank temperature', ...t }),
        mode: d.sensor({ key: 'mode', name: 'Mode', icon: 'mdi:water-boiler' }),
        specialFunction: d.sensor({ key: 'special_function', name: 'Special function', icon: 'mdi:star-four-points-outline' }),
        setpoint: d.number({ key: DHW_KEYS.setpoint, name: 'Hot-water setpoint', min: dhw.minSetpoint ?? 35, max: dhw.maxSetpoint ?? 70, step, unit: '°C', deviceClass: 'temperature',
          command: setSetpoint }),
        boost: d.switch({ key: DHW_KEYS.boost, name: 'Hot-water boost', icon: 'mdi:water-boiler-alert', command: boost }),
        // The cylinder as a water-heater card: eco (time program), heat pump (manual), off, and
        // high demand for the boost.
        waterHeater: d.waterHeater({ key: 'water_heater', name: 'Hot water', modes: ['eco', 'heat_pump', 'off', 'high_demand'], minTemp: dhw.minSetpoint ?? 35, maxTemp: dhw.maxSetpoint ?? 70,
          command: async ({ part, value }) => {
            if (part === 'temperature') {
              await setSetpoint(Number(value));
            } else if (value === 'high_demand') {
              await boost(true);
            } else {
              if (entities.boost.value === true) await boost(false);
              const mode = invert(controls.dhwModes)[String(value)]!;
              await this.command(system, entities.mode, mode, 'PATCH', controls.dhwMode(dhw.index), { operationMode: mode });
            }
          } }),
      };
      system.cylinders.set(dhw.index, entities);
    }
  }

  /** Report -> entities, except where a recent command is still trusted over it. */
  private applyReport(system: SystemState): void {
    const r = system.report!;
    const now = this.ctx.clock.now();
    const set = <S extends EntitySpec>(entity: Entity<S> | undefined, value: ValueOf<S> | undefined) => {
      if (!entity) return;
      const trust = this.trusted.get(entity);
      if (trust && trust.until > now && trust.value !== value) return; // the report has not caught up yet
      this.trusted.delete(entity);
      entity.update(value ?? null);
    };
    const own = system.entities;
    set(own?.outdoorTemperature, r.outdoorTemperature);
    set(own?.waterPressure, r.waterPressure);
    set(own?.flowTemperature, r.flowTemperature);
    set(own?.energyManagerState, r.energyManagerState);
    for (const zone of r.zones) {
      const e = system.zones.get(zone.index);
      if (!e) continue; // a zone that appeared after the first report: shown after a restart
      set(e.roomTemperature, zone.roomTemperature);
      set(e.humidity, zone.humidity);
      set(e.desiredSetpoint, zone.desiredSetpoint);
      set(e.normalSetpoint, normalSetpoint(zone, new Date(now)));
      set(e.specialFunction, zone.specialFunction);
      set(e.quickVetoEnd, zone.quickVetoEnd?.toISOString());
      set(e.quickVeto, zone.specialFunction === undefined ? undefined : zone.specialFunction === 'QUICK_VETO');
      set(e.heatingMode, zone.heatingMode && system.controls!.heatingModes.includes(zone.heatingMode) ? zone.heatingMode : undefined);
    }
    for (const dhw of r.hotWater) {
      const e = system.cylinders.get(dhw.index);
      if (!e) continue;
      set(e.temperature, dhw.temperature);
      set(e.mode, dhw.mode);
      set(e.specialFunction, dhw.specialFunction);
      set(e.setpoint, dhw.setpoint);
      set(e.boost, dhw.specialFunction === undefined ? undefined : dhw.specialFunction === 'CYLINDER_BOOST');
    }
    this.refreshComposites(system);
    this.showEnergy(system);
  }

  /** Thermostat and water-heater cards, from the entities they are made of. */
  private refreshComposites(system: SystemState): void {
    const positive = (v: unknown) => (typeof v === 'number' && v > 0 ? v : null);
    const { hvac, dhwModes } = system.controls!;
    for (const e of system.zones.values()) {
      const mode = e.heatingMode.value;
      const veto = e.quickVeto.value === true;
      e.climate.update({
        mode: typeof mode === 'string' ? (hvac[mode] ?? null) : null,
        target: veto ? positive(e.vetoSetpoint.value) : (positive(e.desiredSetpoint.value) ?? positive(e.normalSetpoint.value)),
        current: positive(e.roomTemperature.value),
        preset: veto ? 'boost' : 'none',
      });
    }
    for (const e of system.cylinders.values()) {
      const mode = e.mode.value;
      e.waterHeater.update({
        mode: e.boost.value === true ? 'high_demand' : typeof mode === 'string' ? (dhwModes[mode] ?? null) : null,
        target: positive(e.setpoint.value),
        current: positive(e.temperature.value),
      });
    }
  }

  // ---- commands ----

  private async command<S extends EntitySpec>(system: SystemState, entity: Entity<S>, value: ValueOf<S> & (number | string | boolean), method: 'POST' | 'PATCH' | 'DELETE', target: Target, body?: unknown): Promise<undefined> {
    if (this.failedSafe) throw new Error('energy2mqtt is stopping after a failure; nothing is sent to myVaillant');
    if (this.stopped) throw new Error('the myVaillant account is stopped; nothing is sent');
    if (!this.api.fits(1)) throw new Error(this.api.pausedUntil > this.ctx.clock.now() ? `myVaillant requests are paused (${this.api.pauseReason})` : 'the hourly myVaillant request budget is spent');
    await this.api.request(method, target.path, body, target.base);
    this.trusted.set(entity, { value, until: this.ctx.clock.now() + TRUST_COMMAND_MS });
    entity.update(value);
    this.refreshComposites(system);
    this.showStatus();
    return undefined;
  }

  private quickVeto(system: SystemState, zone: number, on: boolean): Promise<undefined> {
    const entities = system.zones.get(zone);
    if (!entities) throw new Error(`zone ${zone} is not in the report`);
    const path = system.controls!.quickVeto(zone);
    if (!on) return this.command(system, entities.quickVeto, false, 'DELETE', path);
    const setpoint = Number(entities.vetoSetpoint.value ?? 22);
    const hours = Number(entities.vetoDuration.value ?? 3);
    return this.command(system, entities.quickVeto, true, 'POST', path, { desiredRoomTemperatureSetpoint: setpoint, duration: hours });
  }

  /**
   * No actuator of ours to turn off: a boost ends when the tank is hot and a quick veto after its
   * duration, under the heat pump's own control. From now on nothing is sent to the cloud.
   */
  failSafe(): void {
    this.failedSafe = true;
    this.timer?.cancel();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.polling;
  }
}
