// The device discovery payload HA reads from <prefix>/device/<id>/config: a pure function of the
// device, its entity declarations and what is being removed, so it is tested without a broker.
import type { DeviceInfo } from '../device.js';
import { discoveryComponent, type EntitySpec } from '../entity.js';
import { platformOf } from './registry.js';
import { BRIDGE_DEVICE_ID, availabilityTopic, bridgeStateTopic, entityTopics } from './topics.js';

export const ORIGIN_URL = 'https://github.com/energy2mqtt/energy2mqtt';

export interface PayloadContext {
  baseTopic: string;
  /** The add-on's version, published as the origin's sw. */
  version: string;
}

/** A component HA is to forget, as [key, platform]. */
export type RemovedComponent = readonly [key: string, platform: string];

export type DiscoveryComponent = Record<string, unknown>;

export interface DevicePayload {
  dev: Record<string, unknown>;
  o: { name: string; sw: string; url: string };
  availability: Array<{ topic: string }>;
  availability_mode: 'all';
  qos: 1;
  cmps: Record<string, DiscoveryComponent>;
}

/**
 * The whole device payload. A removed component is published as {p: platform} alone: HA removes
 * a component when it is first reduced to its platform, then left out of the next payload.
 */
export function devicePayload(info: DeviceInfo, specs: Iterable<EntitySpec>, context: PayloadContext, removed: Iterable<RemovedComponent> = []): DevicePayload {
  // With availability_mode all, an entity is available only while the bridge and its device both are.
  const availability = [{ topic: bridgeStateTopic(context.baseTopic) }];
  if (info.id !== BRIDGE_DEVICE_ID) availability.push({ topic: availabilityTopic(context.baseTopic, info.id) });
  const cmps: Record<string, DiscoveryComponent> = {};
  for (const [key, platform] of removed) cmps[key] = { p: platform };
  for (const spec of specs) cmps[spec.key] = entityComponent(info.id, spec, context.baseTopic);
  return {
    dev: deviceBlock(info),
    o: { name: 'energy2mqtt', sw: context.version, url: ORIGIN_URL },
    availability,
    availability_mode: 'all',
    qos: 1,
    cmps,
  };
}

/** HA's `dev`: only keys HA knows, as an unknown key there drops the whole device. */
function deviceBlock(info: DeviceInfo): Record<string, unknown> {
  const dev: Record<string, unknown> = { identifiers: [`energy2mqtt_${info.id}`], name: info.name };
  if (info.manufacturer) dev.manufacturer = info.manufacturer;
  if (info.model) dev.model = info.model;
  if (info.modelId) dev.model_id = info.modelId;
  if (info.serialNumber) dev.serial_number = info.serialNumber;
  if (info.swVersion) dev.sw_version = info.swVersion;
  if (info.hwVersion) dev.hw_version = info.hwVersion;
  if (info.suggestedArea) dev.suggested_area = info.suggestedArea;
  if (info.configurationUrl) dev.configuration_url = info.configurationUrl;
  // Every device hangs off the add-on's own device in HA's device page, or off the one it is behind.
  if (info.id !== BRIDGE_DEVICE_ID) dev.via_device = `energy2mqtt_${info.viaDevice ?? BRIDGE_DEVICE_ID}`;
  return dev;
}

/** One entity's component: its platform's keys, its ids, then its topics. */
export function entityComponent(deviceId: string, spec: EntitySpec, baseTopic: string): DiscoveryComponent {
  const component = discoveryComponent(spec);
  component.unique_id = `energy2mqtt_${deviceId}_${spec.key}`;
  component.default_entity_id = `${spec.component}.${entityIdPart(deviceId)}_${spec.key}`;
  return Object.assign(component, platformOf(spec).discoveryTopics(spec, entityTopics(baseTopic, deviceId, spec.key)));
}

/** HA entity ids are lower-case [a-z0-9_]; the bridge's entities read sensor.energy2mqtt_<key>. */
function entityIdPart(deviceId: string): string {
  if (deviceId === BRIDGE_DEVICE_ID) return 'energy2mqtt';
  return deviceId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}
