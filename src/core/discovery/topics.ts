// The add-on's topic layout (DESIGN.md, Contracts): state <base>/<device>/<key> (retained),
// commands on <state>/set, availability per device, the bridge's own topics under <base>/bridge.
import type { EntityTopics } from './platform.js';

/** The add-on's own device; its id is also the segment of <base>/bridge/state and /event. */
export const BRIDGE_DEVICE_ID = 'bridge';

export const stateTopic = (base: string, deviceId: string, key: string): string => `${base}/${deviceId}/${key}`;
export const availabilityTopic = (base: string, deviceId: string): string => `${base}/${deviceId}/availability`;
export const bridgeStateTopic = (base: string): string => `${base}/${BRIDGE_DEVICE_ID}/state`;
export const discoveryTopic = (prefix: string, deviceId: string): string => `${prefix}/device/${deviceId}/config`;

export function entityTopics(base: string, deviceId: string, key: string): EntityTopics {
  const state = stateTopic(base, deviceId, key);
  return { state, command: `${state}/set` };
}
