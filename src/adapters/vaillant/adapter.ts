// A myVaillant account: its systems, zones and hot-water cylinders as HA entities, polled under
// the request budget, with hot-water boost, quick veto, hot-water setpoint and zone heating mode.
// The report lags commands by minutes, so a command's result is trusted for a while before a
// report may contradict it.
import { DHW_KEYS, ZONE_KEYS, vaillantDeviceId, vaillantOwner } from './ids.js';
import { createHash } from 'node:crypto';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import type { ClimateSpec, EntitySpec, NumberSpec, SelectSpec, SensorSpec, SwitchSpec, ValueOf, WaterHeaterSpec } from '../../core/entity.js';
import { z } from 'zod';
import { VaillantApi, ApiError } from './api.js';
import { VaillantSession } from './auth.js';
import type { VaillantAccountOptions } from './options.js';
import { normalSetpoint, parseReport, type SystemReport } from './report.js';

/** How long a command's effect is believed over a report that says otherwise. */
export const TRUST_COMMAND_MS = 600_000;
const COMMAND_RESERVE = 4;
const MPC_EVERY_MS = 600_000;
const HEATING_MODES = ['TIME_CONTROLLED', 'MANUAL', 'OFF'];
/** Vaillant heating modes as HA hvac modes, and hot-water modes as HA water-heater modes. */
const HVAC: Record<string, string> = { TIME_CONTROLLED: 'auto', MANUAL: 'heat', OFF: 'off' };
const DHW_MODES: Record<string, string> = { TIME_CONTROLLED: 'eco', MANUAL: 'heat_pump', OFF: 'off' };
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
}

interface SystemState {
  id: string;
  short: string;
  report?: SystemReport;
  device?: Device;
  entities?: SystemEntities;
  zones: Map<number, ZoneEntities>;
  cylinders: Map<number, CylinderEntities>;
  lastMpc: number;
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
          this.systems.set(home.systemId, { id: home.systemId, short: home.systemId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8).toLowerCase(), zones: new Map(), cylinders: new Map(), lastMpc: 0 });
        }
        if (this.systems.size === 0) this.ctx.log.warn('the myVaillant account has no system');
      }
      for (const system of this.systems.values()) {
        // A failing system (an offline gateway) must not stop the others.
        try {
          if (!this.api.fits(1, COMMAND_RESERVE)) break;
          const report = parseReport(system.id, await this.api.request('GET', `/systems/${system.id}/tli`));
          if (!system.device) this.declare(system, report);
          system.report = report;
          this.applyReport(system);
          this.ctx.log.debug(
            `system ${system.short}: outdoor ${report.outdoorTemperature ?? '?'} °C, ${report.zones.length} zone(s), ${report.hotWater.length} cylinder(s), ${this.api.usedThisHour} request(s) in the last hour`,
          );
          if (this.ctx.clock.now() - system.lastMpc >= MPC_EVERY_MS && this.api.fits(1, COMMAND_RESERVE)) {
            system.lastMpc = this.ctx.clock.now();
            const mpc = await this.api.request('GET', `/hem/${system.id}/mpc`).catch(() => undefined);
            const devices = (mpc as { devices?: Array<{ currentPower?: number }> } | undefined)?.devices ?? [];
            system.entities?.currentPower.update(devices.length ? devices.reduce((s, d) => s + (d.currentPower ?? 0), 0) : null);
          }
          system.device?.setAvailable(true);
        } catch (err) {
          this.ctx.log.warn(`system ${system.short}: ${(err as Error).message}`);
          if (!(err instanceof ApiError && this.api.pausedUntil > this.ctx.clock.now())) system.device?.setAvailable(false);
        }
      }
    } catch (err) {
      this.ctx.log.warn(`myVaillant: ${(err as Error).message}`);
    }
    this.showStatus();
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
    const dev = registry.device({ id: vaillantDeviceId.system(system.short), name: `Vaillant system ${system.short}`, manufacturer: 'Vaillant', model: report.controller ?? 'sensoNET' }, owner);
    system.device = dev;
    const t = { deviceClass: 'temperature', unit: '°C', stateClass: 'measurement' } as const;
    system.entities = {
      outdoorTemperature: dev.sensor({ key: 'outdoor_temperature', name: 'Outdoor temperature', ...t }),
      waterPressure: dev.sensor({ key: 'water_pressure', name: 'Water pressure', deviceClass: 'pressure', unit: 'bar', stateClass: 'measurement' }),
      flowTemperature: dev.sensor({ key: 'flow_temperature', name: 'Flow temperature', ...t }),
      energyManagerState: dev.sensor({ key: 'energy_manager_state', name: 'Energy manager state', icon: 'mdi:heat-pump' }),
      currentPower: dev.sensor({ key: 'current_power', name: 'Current power', deviceClass: 'power', unit: 'W', stateClass: 'measurement' }),
    };

    for (const zone of report.zones) {
      const zd = registry.device({ id: vaillantDeviceId.zone(system.short, zone.index), name: `Vaillant ${zone.name}`, manufacturer: 'Vaillant', model: 'Heating zone' }, owner);
      const zonePath = `/systems/${system.id}/tli/zones/${zone.index}`;
      // Where the quick-veto numbers a user set from HA are kept (names from the first release).
      const changeKey = { setpoint: `zone_${zone.index}_veto_setpoint`, duration: `zone_${zone.index}_veto_duration` };
      const setHeatingMode = (mode: string) => this.command(system, entities.heatingMode, mode, 'PATCH', `${zonePath}/heating-operation-mode`, { operationMode: mode });
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
        heatingMode: zd.select({ key: 'heating_mode', name: 'Heating mode', options: HEATING_MODES, command: setHeatingMode }),
        // The zone as a thermostat card: auto / heat / off, a boost preset for the quick veto, and
        // a temperature that is a quick veto in auto mode and the manual setpoint in heat mode.
        climate: zd.climate({ key: 'climate', name: 'Heating', modes: ['auto', 'heat', 'off'], presets: ['none', 'boost'], minTemp: 5, maxTemp: 30, tempStep: 0.5,
          // Straight to the actions: going through the bridge again would queue behind this very command.
          command: async ({ part, value }) => {
            if (part === 'mode') {
              await setHeatingMode(invert(HVAC)[String(value)]!);
            } else if (part === 'preset') {
              await this.quickVeto(system, zone.index, value === 'boost');
            } else {
              const mode = entities.heatingMode.value;
              const temperature = Number(value); // the temperature part is parsed as a number
              if (mode === 'OFF') throw new Error('the zone is off; switch it to auto or heat first');
              if (mode === 'MANUAL') {
                await this.command(system, entities.desiredSetpoint, temperature, 'PATCH', `${zonePath}/manual-mode-setpoint`, { setpoint: temperature, type: 'HEATING' });
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
      const dhwPath = `/systems/${system.id}/tli/domestic-hot-water/${dhw.index}`;
      const setSetpoint = (v: number) => this.command(system, entities.setpoint, Math.round(v), 'PATCH', `${dhwPath}/temperature`, { setpoint: Math.round(v) });
      const boost = (on: boolean) => this.command(system, entities.boost, on, on ? 'POST' : 'DELETE', `${dhwPath}/boost`, on ? {} : undefined);
      const entities: CylinderEntities = {
        temperature: d.sensor({ key: DHW_KEYS.temperature, name: 'Tank temperature', ...t }),
        mode: d.sensor({ key: 'mode', name: 'Mode', icon: 'mdi:water-boiler' }),
        specialFunction: d.sensor({ key: 'special_function', name: 'Special function', icon: 'mdi:star-four-points-outline' }),
        setpoint: d.number({ key: DHW_KEYS.setpoint, name: 'Hot-water setpoint', min: dhw.minSetpoint ?? 35, max: dhw.maxSetpoint ?? 70, step: 1, unit: '°C', deviceClass: 'temperature',
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
              const mode = invert(DHW_MODES)[String(value)]!;
              await this.command(system, entities.mode, mode, 'PATCH', `${dhwPath}/operation-mode`, { operationMode: mode });
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
      set(e.heatingMode, zone.heatingMode && HEATING_MODES.includes(zone.heatingMode) ? zone.heatingMode : undefined);
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
  }

  /** Thermostat and water-heater cards, from the entities they are made of. */
  private refreshComposites(system: SystemState): void {
    const positive = (v: unknown) => (typeof v === 'number' && v > 0 ? v : null);
    for (const e of system.zones.values()) {
      const mode = e.heatingMode.value;
      const veto = e.quickVeto.value === true;
      e.climate.update({
        mode: typeof mode === 'string' ? (HVAC[mode] ?? null) : null,
        target: veto ? positive(e.vetoSetpoint.value) : (positive(e.desiredSetpoint.value) ?? positive(e.normalSetpoint.value)),
        current: positive(e.roomTemperature.value),
        preset: veto ? 'boost' : 'none',
      });
    }
    for (const e of system.cylinders.values()) {
      const mode = e.mode.value;
      e.waterHeater.update({
        mode: e.boost.value === true ? 'high_demand' : typeof mode === 'string' ? (DHW_MODES[mode] ?? null) : null,
        target: positive(e.setpoint.value),
        current: positive(e.temperature.value),
      });
    }
  }

  // ---- commands ----

  private async command<S extends EntitySpec>(system: SystemState, entity: Entity<S>, value: ValueOf<S> & (number | string | boolean), method: 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<undefined> {
    if (this.failedSafe) throw new Error('energy2mqtt is stopping after a failure; nothing is sent to myVaillant');
    if (this.stopped) throw new Error('the myVaillant account is stopped; nothing is sent');
    if (!this.api.fits(1)) throw new Error(this.api.pausedUntil > this.ctx.clock.now() ? `myVaillant requests are paused (${this.api.pauseReason})` : 'the hourly myVaillant request budget is spent');
    await this.api.request(method, path, body);
    this.trusted.set(entity, { value, until: this.ctx.clock.now() + TRUST_COMMAND_MS });
    entity.update(value);
    this.refreshComposites(system);
    this.showStatus();
    return undefined;
  }

  private quickVeto(system: SystemState, zone: number, on: boolean): Promise<undefined> {
    const entities = system.zones.get(zone);
    if (!entities) throw new Error(`zone ${zone} is not in the report`);
    const path = `/systems/${system.id}/tli/zones/${zone}/quick-veto`;
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
