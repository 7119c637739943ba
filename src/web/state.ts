// What the page shows, as plain JSON: the devices with their entities, the energy flow, and the
// rules with their latest decision. Built from the bridge (every device and entity the add-on
// serves) and the engine (measurements, surplus, decisions); the page never sees a protocol.
import { formatState, type EntitySpec } from '../core/entity.js';
import { BRIDGE_DEVICE_ID } from '../core/discovery/topics.js';
import type { Bridge } from '../core/bridge.js';
import type { Device, Entity } from '../core/device.js';
import type { Engine } from '../automation/engine.js';
import type { AutomationOptions } from '../automation/options.js';

export type SurplusOptions = AutomationOptions['surplus'];

export interface EntityView {
  key: string;
  name: string;
  component: string;
  /** The value as HA shows it (the state payload), null when unknown. */
  value: string | number | boolean | null;
  unit?: string;
  category?: string;
  /** HA's entity id, for the link into HA's entity settings. */
  entityId: string;
}

export interface DeviceView {
  id: string;
  name: string;
  owner: string;
  model?: string;
  available: boolean;
  /** Why it is unavailable, when the device says (its last connection error). */
  why?: string;
  /** When one of its entities last changed (ms since epoch), since the add-on started. */
  updatedAt?: number;
  entities: EntityView[];
}

export interface FlowView {
  /** W, each null when nothing measures it. */
  pv: number | null;
  /** + import, − export. */
  grid: number | null;
  /** + discharge, − charge. */
  battery: number | null;
  soc: number | null;
  load: number | null;
  surplus: number | null;
  /** The automation's grid source the surplus is computed from (it may not be the grid shown). */
  surplusSource: string | null;
  /** How many inverters (or GX) the figures add up. */
  sources: number;
  /** What each rule's load draws, as the engine counts it. */
  loads: Array<{ slug: string; name: string; state: string; drawn: number }>;
  /** Steered appliances that measure their own draw (water heater, EV charger, heat pump). */
  appliances: Array<{ id: string; name: string; drawn: number }>;
}

/** The entity a steered appliance measures its draw with: water heater, EV charger, Vaillant system. */
const APPLIANCE_POWER = ['heater_power', 'active_power', 'current_power'];

export interface RuleView {
  slug: string;
  name: string;
  model: string;
  enabled: boolean;
  mode: string;
  modes: readonly string[];
  state?: string;
  reason?: string;
  drawn?: number;
  /** What HA can tune on the rule (its number entities): what a replay can change. */
  settings: Array<{ key: string; name: string; min: number; max: number; step: number; unit?: string; value: number }>;
}

export interface Snapshot {
  time: number;
  dryRun: boolean | null;
  flow: FlowView;
  devices: DeviceView[];
  rules: RuleView[];
}

/** HA's entity id for one of our entities (as discovery/device-payload.ts makes default_entity_id). */
export function entityIdOf(deviceId: string, spec: EntitySpec): string {
  const part = deviceId === BRIDGE_DEVICE_ID ? 'energy2mqtt' : deviceId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `${spec.component}.${part}_${spec.key}`;
}

export function entityView(entity: Entity<EntitySpec>): EntityView {
  const spec = entity.spec;
  const unit = 'unit' in spec && typeof spec.unit === 'string' ? spec.unit : undefined;
  const raw = entity.hasValue ? entity.value : null;
  const value = raw === null || raw === undefined ? null : typeof raw === 'number' || typeof raw === 'boolean' ? raw : formatState(spec, raw);
  return { key: entity.key, name: spec.name, component: spec.component, value, unit, category: spec.category, entityId: entityIdOf(entity.device.id, spec) };
}

/** Why a device is unavailable: its own last connection error, or that of the link it is reached through. */
function whyUnavailable(device: Device, bridge?: Bridge): string | undefined {
  if (device.available) return undefined;
  const via = device.info.viaDevice ? bridge?.getDevice(device.info.viaDevice) : undefined;
  for (const holder of [device, via]) {
    const lastError = holder?.entities.get('last_error');
    if (lastError?.hasValue && typeof lastError.value === 'string' && lastError.value !== 'none') return lastError.value;
  }
  return via && !via.available ? `${via.info.name} is unavailable` : undefined;
}

export function deviceView(device: Device, updatedAt?: number, bridge?: Bridge): DeviceView {
  const why = whyUnavailable(device, bridge);
  return {
    id: device.id,
    name: device.info.name,
    owner: device.owner,
    model: device.info.model,
    available: device.available,
    why,
    updatedAt,
    entities: [...device.entities.values()].map(entityView),
  };
}

const num = (entity: Entity<EntitySpec> | undefined): number | undefined =>
  entity?.hasValue && typeof entity.value === 'number' && Number.isFinite(entity.value) ? entity.value : undefined;

/**
 * The home's flow, added up over every inverter and GX. Families differ in signs, so the
 * explicit import/export and charge/discharge entities come first; a bare grid_power or
 * battery_power (Victron's) counts positive as import and as charging.
 */
export function flowOf(bridge: Bridge, engine?: Engine, surplusOptions?: SurplusOptions): FlowView {
  let pv: number | undefined, grid: number | undefined, battery: number | undefined, load: number | undefined;
  const socs: number[] = [];
  const appliances: FlowView['appliances'] = [];
  let sources = 0;
  const add = (sum: number | undefined, value: number | undefined) => (value === undefined ? sum : (sum ?? 0) + value);
  for (const device of bridge.allDevices()) {
    if (device.owner === 'automation' || device.id === BRIDGE_DEVICE_ID) continue;
    const e = (key: string) => num(device.entities.get(key));
    const imported = e('import_power'), exported = e('export_power');
    const deviceGrid = imported !== undefined && exported !== undefined ? imported - exported : e('grid_power');
    const charge = e('charge_power'), discharge = e('discharge_power');
    const deviceBattery = charge !== undefined && discharge !== undefined ? discharge - charge : e('battery_power') === undefined ? undefined : -e('battery_power')!;
    const dcPv = e('pv_dc_power'), acPv = e('pv_ac_power'); // a GX's PV chargers and PV inverters
    const devicePv = e('pv_power') ?? (dcPv === undefined && acPv === undefined ? undefined : (dcPv ?? 0) + (acPv ?? 0));
    if (deviceGrid === undefined && devicePv === undefined) {
      // A battery module, a meter: not a source. A steered appliance shows what it draws.
      const key = APPLIANCE_POWER.find((k) => e(k) !== undefined);
      if (key) appliances.push({ id: device.id, name: device.info.name, drawn: Math.round(e(key)!) });
      continue;
    }
    sources++;
    pv = add(pv, devicePv);
    grid = add(grid, deviceGrid);
    battery = add(battery, deviceBattery);
    load = add(load, e('load_power') ?? e('consumption_power'));
    const soc = e('soc') ?? e('battery_soc');
    if (soc !== undefined) socs.push(soc);
  }
  // No inverter of ours measures the grid: the engine's own sources do.
  const measured = engine && surplusOptions ? engineSources(engine, surplusOptions) : {};
  if (grid === undefined && measured.grid !== undefined) grid = measured.grid;
  if (battery === undefined && measured.battery !== undefined) battery = measured.battery;
  if (!socs.length && measured.soc !== undefined) socs.push(measured.soc);
  if (load === undefined && grid !== undefined && (pv !== undefined || battery !== undefined)) load = Math.max(0, grid + (pv ?? 0) + (battery ?? 0));
  const surplusEntity = bridge.entity('automation', 'surplus');
  const loads = engine
    ? engine.rules.map((rule) => {
        const decision = engine.decisions.get(rule.slug);
        return { slug: rule.slug, name: rule.name, state: decision?.state ?? 'off', drawn: Math.round(decision?.consumingW ?? 0) };
      })
    : [];
  const round = (v: number | undefined) => (v === undefined ? null : Math.round(v));
  return {
    pv: round(pv), grid: round(grid), battery: round(battery), load: round(load),
    soc: socs.length ? Math.round(socs.reduce((a, b) => a + b, 0) / socs.length) : null,
    surplus: round(num(surplusEntity)),
    surplusSource: surplusOptions?.grid ?? null,
    sources,
    loads,
    appliances,
  };
}

/** The engine's grid, battery and SoC measurements, in the page's signs. */
function engineSources(engine: Engine, o: NonNullable<SurplusOptions>): { grid?: number; battery?: number; soc?: number } {
  const value = (name: string | undefined | null) => {
    const v = name ? engine.sources.get(name)?.value : undefined;
    return typeof v === 'number' ? v : undefined;
  };
  const grid = value(o.grid);
  const battery = value(o.battery_power);
  return {
    grid: grid === undefined ? undefined : o.grid_positive_is_import ? grid : -grid,
    battery: battery === undefined ? undefined : o.battery_power_positive_is_charge ? -battery : battery,
    soc: value(o.battery_soc),
  };
}

export function rulesOf(engine?: Engine): RuleView[] {
  if (!engine) return [];
  return engine.rules.map((rule) => {
    const decision = engine.decisions.get(rule.slug);
    return {
      slug: rule.slug, name: rule.name, model: rule.model, enabled: rule.enabled, mode: rule.mode, modes: rule.modes,
      state: decision?.state, reason: decision?.reason, drawn: decision ? Math.round(decision.consumingW) : undefined,
      settings: rule.settings.map((s) => ({ key: s.key, name: s.name, min: s.min, max: s.max, step: s.step, unit: s.unit || undefined, value: s.get() })),
    };
  });
}

export function snapshot(bridge: Bridge, engine: Engine | undefined, surplusOptions: SurplusOptions, updatedAt: ReadonlyMap<string, number>, now: number): Snapshot {
  return {
    time: now,
    dryRun: engine ? engine.dryRun : null,
    flow: flowOf(bridge, engine, surplusOptions),
    devices: bridge.allDevices().map((d) => deviceView(d, updatedAt.get(d.id), bridge)),
    rules: rulesOf(engine),
  };
}
