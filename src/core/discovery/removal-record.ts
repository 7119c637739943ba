// What the bridge remembers of every device it published (the store file 'discovery'), so that
// what goes away is removed from HA, also when it went away while the add-on was stopped. Pure
// functions: the bridge publishes and stores, these decide what.
import { z } from 'zod';
import { BRIDGE_DEVICE_ID, availabilityTopic, discoveryTopic, stateTopic } from './topics.js';

export const discoveryRecordShape = z.object({
  devices: z.record(
    z.string(),
    z.object({ owner: z.string(), components: z.record(z.string(), z.string()), topics: z.array(z.string()) }),
  ),
});
export type DiscoveryRecord = z.infer<typeof discoveryRecordShape>;
/** One device: the adapter instance that owns it, its components (key -> platform), every retained topic it has. */
export type DeviceRecord = DiscoveryRecord['devices'][string];

/** Where a device's topics are. */
export interface TopicRoots {
  baseTopic: string;
  discoveryPrefix: string;
}

/**
 * The components HA knows of that the device no longer has (key -> platform). Until the bridge has
 * settled (every adapter started), only what this run published and then dropped counts: a device
 * being declared entity by entity has not lost the rest. Once settled, every recorded component
 * the device no longer declares goes.
 */
export function goneComponents(
  recorded: DeviceRecord | undefined,
  publishedThisRun: Iterable<string>,
  current: ReadonlyMap<string, string>,
  settled: boolean,
): Map<string, string> {
  const gone = new Map<string, string>();
  for (const key of publishedThisRun) {
    const platform = recorded?.components[key];
    if (!current.has(key) && platform) gone.set(key, platform);
  }
  if (settled) {
    for (const [key, platform] of Object.entries(recorded?.components ?? {})) {
      if (!current.has(key)) gone.set(key, platform);
    }
  }
  return gone;
}

/**
 * The device's record once its discovery is published: its components now, plus (until settled)
 * those of earlier runs not declared yet, less what was removed; and every retained topic of it.
 */
export function recordAfterPublish(
  recorded: DeviceRecord | undefined,
  device: { id: string; owner: string; current: ReadonlyMap<string, string>; gone: ReadonlyMap<string, string> },
  settled: boolean,
  roots: TopicRoots,
): DeviceRecord {
  const previous = settled ? {} : (recorded?.components ?? {});
  const components: Record<string, string> = { ...previous, ...Object.fromEntries(device.current) };
  for (const key of device.gone.keys()) delete components[key];
  const topics = [discoveryTopic(roots.discoveryPrefix, device.id), ...Object.keys(components).map((key) => stateTopic(roots.baseTopic, device.id, key))];
  if (device.id !== BRIDGE_DEVICE_ID) topics.push(availabilityTopic(roots.baseTopic, device.id));
  return { owner: device.owner, components, topics };
}

/** Every retained topic to empty when a device goes away, its discovery first. */
export function topicsToEmpty(recorded: DeviceRecord | undefined, discoveryPrefix: string, deviceId: string): string[] {
  return recorded?.topics ?? [discoveryTopic(discoveryPrefix, deviceId)];
}
