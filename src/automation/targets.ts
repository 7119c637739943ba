// What a rule switches. An entity of this add-on goes through the bridge's command path (the one
// HA uses, with its validation and the device's safety checks); an HA entity through HA's
// services; an MQTT load through its command topic. Each can tell what the load was before the
// rule took it, so it can be restored.
import type { Bridge } from '../core/bridge.js';
import type { HaClient } from '../measurements/ha-client.js';
import type { TargetOptions } from './options.js';

export interface Target {
  describe: string;
  /** The load's state now, if known. */
  current(): boolean | undefined;
  set(on: boolean): Promise<void>;
}

export interface TargetDeps {
  bridge?: Bridge;
  ha?: HaClient;
  publish?: (topic: string, payload: string) => Promise<void>;
  /** Follows an MQTT topic; returns the latest payload seen there. */
  follow?: (topic: string) => () => string | undefined;
}

export function createTarget(options: TargetOptions, deps: TargetDeps): Target {
  if (options.entity) {
    const [deviceId, key] = options.entity.split('/') as [string, string];
    const bridge = deps.bridge;
    if (!bridge) throw new Error(`target ${options.entity} needs the bridge`);
    return {
      describe: options.entity,
      current: () => {
        const v = bridge.entity(deviceId, key)?.value;
        return typeof v === 'boolean' ? v : undefined;
      },
      set: async (on) => {
        const result = await bridge.command(deviceId, key, on ? 'ON' : 'OFF', 'automation');
        if (!result.ok) throw new Error(result.reason);
      },
    };
  }
  if (options.ha_entity) {
    const id = options.ha_entity;
    const ha = deps.ha;
    if (!ha) throw new Error(`target ${id} needs the Home Assistant API`);
    ha.watch(id);
    return {
      describe: id,
      current: () => {
        const s = ha.state(id)?.state;
        return s === 'on' ? true : s === 'off' ? false : undefined;
      },
      set: async (on) => {
        await ha.callService('homeassistant', on ? 'turn_on' : 'turn_off', id);
      },
    };
  }
  const mqtt = options.mqtt!;
  const publish = deps.publish;
  if (!publish) throw new Error(`target ${mqtt.command_topic} needs MQTT`);
  const latest = mqtt.state_topic && deps.follow ? deps.follow(mqtt.state_topic) : undefined;
  return {
    describe: mqtt.command_topic!,
    current: () => {
      const payload = latest?.();
      return payload === mqtt.payload_on ? true : payload === mqtt.payload_off ? false : undefined;
    },
    set: (on) => publish(mqtt.command_topic!, on ? mqtt.payload_on : mqtt.payload_off),
  };
}
