// A myVaillant account: its systems, zones and hot-water cylinders as HA entities, polled under
// the request budget, with hot-water boost, quick veto, hot-water setpoint and zone heating mode.
// The report lags commands by minutes, so a command's result is trusted for a while before a
// report may contradict it.
import { DHW_KEYS, ZONE_KEYS, vaillantDeviceId, vaillantOwner } from './ids.js';
import { createHash } from 'node:crypto';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import type { EntitySpec } from '../../core/entity.js';
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

interface SystemState {
  id: string;
  short: string;
  report?: SystemReport;
  device?: Device;
  entities: Map<string, Entity<EntitySpec>>;
  lastMpc: number;
}

export class VaillantAdapter implements Adapter {
  readonly id: string;
  readonly session: VaillantSession;
  readonly api: VaillantApi;
  readonly systems = new Map<string, SystemState>();
  private account?: Device;
  private timer?: TimerHandle;
  private failedSafe = false;
  private stopped = false;
  private polling?: Promise<void>;
  /** Values a command set, believed until the report agrees or the time runs out. */
  private trusted = new Map<string, { value: unknown; until: number }>();
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
    this.account = this.ctx.devices.device({ id: this.scope, name: `myVaillant ${this.options.username}`, manufacturer: 'Vaillant', model: 'myVaillant account' }, this.id);
    this.account.sensor({ key: 'api_status', name: 'API status', icon: 'mdi:cloud-check-outline', category: 'diagnostic' });
    this.account.sensor({ key: 'requests_last_hour', name: 'Requests in the last hour', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' });
    this.account.sensor({ key: 'paused_until', name: 'Requests paused until', deviceClass: 'timestamp', category: 'diagnostic' });
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
          this.systems.set(home.systemId, { id: home.systemId, short: home.systemId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8).toLowerCase(), entities: new Map(), lastMpc: 0 });
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
            system.entities.get('current_power')?.update(devices.length ? devices.reduce((s, d) => s + (d.currentPower ?? 0), 0) : null);
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
    const e = this.account?.entities;
    const paused = this.api.pausedUntil > this.ctx.clock.now();
    e?.get('api_status')?.update(this.session.lastError ?? (paused ? `paused: ${this.api.pauseReason}` : 'ok'));
    e?.get('requests_last_hour')?.update(this.api.usedThisHour);
    e?.get('paused_until')?.update(paused ? new Date(this.api.pausedUntil).toISOString() : null);
  }

  // ---- entities ----

  private declare(system: SystemState, report: SystemReport): void {
    const b = this.ctx.devices;
    const owner = this.id;
    const put = (key: string, e: Entity<EntitySpec>) => system.entities.set(key, e);
    const dev = b.device({ id: vaillantDeviceId.system(system.short), name: `Vaillant system ${system.short}`, manufacturer: 'Vaillant', model: report.controller ?? 'sensoNET' }, owner);
    system.device = dev;
    const t = { deviceClass: 'temperature', unit: '°C', stateClass: 'measurement' } as const;
    put('outdoor_temperature', dev.sensor({ key: 'outdoor_temperature', name: 'Outdoor temperature', ...t }));
    put('water_pressure', dev.sensor({ key: 'water_pressure', name: 'Water pressure', deviceClass: 'pressure', unit: 'bar', stateClass: 'measurement' }));
    put('flow_temperature', dev.sensor({ key: 'flow_temperature', name: 'Flow temperature', ...t }));
    put('energy_manager_state', dev.sensor({ key: 'energy_manager_state', name: 'Energy manager state', icon: 'mdi:heat-pump' }));
    put('current_power', dev.sensor({ key: 'current_power', name: 'Current power', deviceClass: 'power', unit: 'W', stateClass: 'measurement' }));

    for (const zone of report.zones) {
      const zd = b.device({ id: vaillantDeviceId.zone(system.short, zone.index), name: `Vaillant ${zone.name}`, manufacturer: 'Vaillant', model: 'Heating zone' }, owner);
      const k = (key: string) => `zone_${zone.index}_${key}`;
      put(k('room_temperature'), zd.sensor({ key: 'room_temperature', name: 'Room temperature', ...t }));
      put(k('humidity'), zd.sensor({ key: 'humidity', name: 'Humidity', deviceClass: 'humidity', unit: '%', stateClass: 'measurement' }));
      put(k('desired_setpoint'), zd.sensor({ key: 'desired_setpoint', name: 'Desired temperature', ...t }));
      // Desired reads 0 in eco periods; this is the setpoint the zone normally heats to now.
      put(k('normal_setpoint'), zd.sensor({ key: ZONE_KEYS.normalSetpoint, name: 'Normal temperature', ...t }));
      put(k('special_function'), zd.sensor({ key: 'special_function', name: 'Special function', icon: 'mdi:star-four-points-outline' }));
      put(k('quick_veto_end'), zd.sensor({ key: 'quick_veto_end', name: 'Quick veto end', deviceClass: 'timestamp' }));
      const settingSchema = z.number();
      const vetoSetpoint = this.ctx.haChanges.get(this.scope, k('veto_setpoint'), settingSchema, 22);
      const vetoHours = this.ctx.haChanges.get(this.scope, k('veto_duration'), settingSchema, 3);
      put(k('veto_setpoint'), zd.number({ key: ZONE_KEYS.vetoSetpoint, name: 'Quick veto temperature', min: 5, max: 30, step: 0.5, unit: '°C', deviceClass: 'temperature', category: 'config',
        command: async (v) => (await this.ctx.haChanges.set(this.scope, k('veto_setpoint'), v), v) }));
      put(k('veto_duration'), zd.number({ key: ZONE_KEYS.vetoDuration, name: 'Quick veto duration', min: 0.5, max: 12, step: 0.5, unit: 'h', deviceClass: 'duration', category: 'config',
        command: async (v) => (await this.ctx.haChanges.set(this.scope, k('veto_duration'), v), v) }));
      system.entities.get(k('veto_setpoint'))!.update(vetoSetpoint);
      system.entities.get(k('veto_duration'))!.update(vetoHours);
      put(k('quick_veto'), zd.switch({ key: ZONE_KEYS.quickVeto, name: 'Quick veto', icon: 'mdi:thermometer-chevron-up',
        command: (on) => this.quickVeto(system, zone.index, on) }));
      put(k('heating_mode'), zd.select({ key: 'heating_mode', name: 'Heating mode', options: HEATING_MODES,
        command: (mode) => this.command(system, k('heating_mode'), mode, 'PATCH', `/systems/${system.id}/tli/zones/${zone.index}/heating-operation-mode`, { operationMode: mode }) }));
      // The zone as a thermostat card: auto / heat / off, a boost preset for the quick veto, and
      // a temperature that is a quick veto in auto mode and the manual setpoint in heat mode.
      put(k('climate'), zd.climate({ key: 'climate', name: 'Heating', modes: ['auto', 'heat', 'off'], presets: ['none', 'boost'], minTemp: 5, maxTemp: 30, tempStep: 0.5,
        // Straight to the actions: going through the bridge again would queue behind this very command.
        command: async ({ part, value }) => {
          if (part === 'mode') {
            const mode = invert(HVAC)[String(value)]!;
            await this.command(system, k('heating_mode'), mode, 'PATCH', `/systems/${system.id}/tli/zones/${zone.index}/heating-operation-mode`, { operationMode: mode });
          } else if (part === 'preset') {
            await this.quickVeto(system, zone.index, value === 'boost');
          } else {
            const mode = system.entities.get(k('heating_mode'))?.value;
            if (mode === 'OFF') throw new Error('the zone is off; switch it to auto or heat first');
            if (mode === 'MANUAL') {
              await this.command(system, k('desired_setpoint'), value, 'PATCH', `/systems/${system.id}/tli/zones/${zone.index}/manual-mode-setpoint`, { setpoint: value, type: 'HEATING' });
            } else {
              await this.ctx.haChanges.set(this.scope, k('veto_setpoint'), value);
              system.entities.get(k('veto_setpoint'))?.update(value);
              await this.quickVeto(system, zone.index, true);
            }
          }
        } }));
    }
    for (const dhw of report.hotWater) {
      const d = b.device({ id: vaillantDeviceId.dhw(system.short, dhw.index), name: `Vaillant hot water ${system.short}`, manufacturer: 'Vaillant', model: 'Hot-water cylinder' }, owner);
      const k = (key: string) => `dhw_${dhw.index}_${key}`;
      put(k('temperature'), d.sensor({ key: DHW_KEYS.temperature, name: 'Tank temperature', ...t }));
      put(k('mode'), d.sensor({ key: 'mode', name: 'Mode', icon: 'mdi:water-boiler' }));
      put(k('special_function'), d.sensor({ key: 'special_function', name: 'Special function', icon: 'mdi:star-four-points-outline' }));
      put(k('setpoint'), d.number({ key: DHW_KEYS.setpoint, name: 'Hot-water setpoint', min: dhw.minSetpoint ?? 35, max: dhw.maxSetpoint ?? 70, step: 1, unit: '°C', deviceClass: 'temperature',
        command: (v) => this.command(system, k('setpoint'), v, 'PATCH', `/systems/${system.id}/tli/domestic-hot-water/${dhw.index}/temperature`, { setpoint: Math.round(v) }) }));
      put(k('boost'), d.switch({ key: DHW_KEYS.boost, name: 'Hot-water boost', icon: 'mdi:water-boiler-alert',
        command: (on) => this.command(system, k('boost'), on, on ? 'POST' : 'DELETE', `/systems/${system.id}/tli/domestic-hot-water/${dhw.index}/boost`, on ? {} : undefined) }));
      // The cylinder as a water-heater card: eco (time program), heat pump (manual), off, and
      // high demand for the boost.
      put(k('water_heater'), d.waterHeater({ key: 'water_heater', name: 'Hot water', modes: ['eco', 'heat_pump', 'off', 'high_demand'], minTemp: dhw.minSetpoint ?? 35, maxTemp: dhw.maxSetpoint ?? 70,
        command: async ({ part, value }) => {
          const boost = (on: boolean) => this.command(system, k('boost'), on, on ? 'POST' : 'DELETE', `/systems/${system.id}/tli/domestic-hot-water/${dhw.index}/boost`, on ? {} : undefined);
          if (part === 'temperature') {
            const setpoint = Math.round(Number(value));
            await this.command(system, k('setpoint'), setpoint, 'PATCH', `/systems/${system.id}/tli/domestic-hot-water/${dhw.index}/temperature`, { setpoint });
          } else if (value === 'high_demand') {
            await boost(true);
          } else {
            if (system.entities.get(k('boost'))?.value === true) await boost(false);
            const mode = invert(DHW_MODES)[String(value)]!;
            await this.command(system, k('mode'), mode, 'PATCH', `/systems/${system.id}/tli/domestic-hot-water/${dhw.index}/operation-mode`, { operationMode: mode });
          }
        } }));
    }
  }

  /** Report -> entities, except where a recent command is still trusted over it. */
  private applyReport(system: SystemState): void {
    const r = system.report!;
    const now = this.ctx.clock.now();
    const set = (key: string, value: number | string | boolean | undefined) => {
      const trust = this.trusted.get(`${system.id}/${key}`);
      if (trust && trust.until > now && trust.value !== value) return; // the report has not caught up yet
      this.trusted.delete(`${system.id}/${key}`);
      system.entities.get(key)?.update(value ?? null);
    };
    set('outdoor_temperature', r.outdoorTemperature);
    set('water_pressure', r.waterPressure);
    set('flow_temperature', r.flowTemperature);
    set('energy_manager_state', r.energyManagerState);
    for (const zone of r.zones) {
      const k = (key: string) => `zone_${zone.index}_${key}`;
      set(k('room_temperature'), zone.roomTemperature);
      set(k('humidity'), zone.humidity);
      set(k('desired_setpoint'), zone.desiredSetpoint);
      set(k('normal_setpoint'), normalSetpoint(zone, new Date(now)));
      set(k('special_function'), zone.specialFunction);
      set(k('quick_veto_end'), zone.quickVetoEnd?.toISOString());
      set(k('quick_veto'), zone.specialFunction === undefined ? undefined : zone.specialFunction === 'QUICK_VETO');
      set(k('heating_mode'), zone.heatingMode && HEATING_MODES.includes(zone.heatingMode) ? zone.heatingMode : undefined);
    }
    for (const dhw of r.hotWater) {
      const k = (key: string) => `dhw_${dhw.index}_${key}`;
      set(k('temperature'), dhw.temperature);
      set(k('mode'), dhw.mode);
      set(k('special_function'), dhw.specialFunction);
      set(k('setpoint'), dhw.setpoint);
      set(k('boost'), dhw.specialFunction === undefined ? undefined : dhw.specialFunction === 'CYLINDER_BOOST');
    }
    this.refreshComposites(system);
  }

  /** Thermostat and water-heater cards, from the entities they are made of. */
  private refreshComposites(system: SystemState): void {
    const e = (key: string) => system.entities.get(key)?.value;
    const n = (v: unknown) => (typeof v === 'number' && v > 0 ? v : null);
    for (const zone of system.report?.zones ?? []) {
      const k = (key: string) => `zone_${zone.index}_${key}`;
      const mode = e(k('heating_mode'));
      const veto = e(k('quick_veto')) === true;
      system.entities.get(k('climate'))?.update({
        mode: typeof mode === 'string' ? (HVAC[mode] ?? null) : null,
        target: veto ? n(e(k('veto_setpoint'))) : (n(e(k('desired_setpoint'))) ?? n(e(k('normal_setpoint')))),
        current: n(e(k('room_temperature'))),
        preset: veto ? 'boost' : 'none',
      });
    }
    for (const dhw of system.report?.hotWater ?? []) {
      const k = (key: string) => `dhw_${dhw.index}_${key}`;
      const mode = e(k('mode'));
      system.entities.get(k('water_heater'))?.update({
        mode: e(k('boost')) === true ? 'high_demand' : typeof mode === 'string' ? (DHW_MODES[mode] ?? null) : null,
        target: n(e(k('setpoint'))),
        current: n(e(k('temperature'))),
      });
    }
  }

  // ---- commands ----

  private async command(system: SystemState, key: string, value: number | string | boolean, method: 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<undefined> {
    if (this.failedSafe) throw new Error('energy2mqtt is stopping after a failure; nothing is sent to myVaillant');
    if (this.stopped) throw new Error('the myVaillant account is stopped; nothing is sent');
    if (!this.api.fits(1)) throw new Error(this.api.pausedUntil > this.ctx.clock.now() ? `myVaillant requests are paused (${this.api.pauseReason})` : 'the hourly myVaillant request budget is spent');
    await this.api.request(method, path, body);
    this.trusted.set(`${system.id}/${key}`, { value, until: this.ctx.clock.now() + TRUST_COMMAND_MS });
    system.entities.get(key)?.update(value);
    this.refreshComposites(system);
    this.showStatus();
    return undefined;
  }

  private quickVeto(system: SystemState, zone: number, on: boolean): Promise<undefined> {
    const k = (key: string) => `zone_${zone}_${key}`;
    const path = `/systems/${system.id}/tli/zones/${zone}/quick-veto`;
    if (!on) return this.command(system, k('quick_veto'), false, 'DELETE', path);
    const setpoint = Number(system.entities.get(k('veto_setpoint'))?.value ?? 22);
    const hours = Number(system.entities.get(k('veto_duration'))?.value ?? 3);
    return this.command(system, k('quick_veto'), true, 'POST', path, { desiredRoomTemperatureSetpoint: setpoint, duration: hours });
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
