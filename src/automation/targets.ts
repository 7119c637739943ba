// What a rule switches or sets. An entity of this add-on goes through the bridge's command path
// (the one HA uses, with its validation and the device's safety checks); an HA entity through
// HA's services; an MQTT load through its command topic. Each can tell what the load was before
// the rule took it, so it can be restored. set() puts its message on the socket before its first
// await (MQTT, HA), so a synchronous fail-safe really sends it.
import type { Bridge } from '../core/bridge.js';
import type { HaClient } from '../measurements/ha-client.js';
import type { LevelTargetOptions, TargetOptions } from './options.js';

export interface Target {
  describe: string;
  /** The load's state now, if known. */
  current(): boolean | undefined;
  set(on: boolean): Promise<void>;
  /** A simulated load that also takes levels (the replay hands one to a follow rule). */
  level?: LevelTarget;
}

/** A load set to a level: a number, an input_number, a light's brightness, an MQTT number. */
export interface LevelTarget {
  describe: string;
  /** The level now, if known (a light that is off is at 0). */
  current(): number | undefined;
  set(level: number): Promise<void>;
}

export interface TargetDeps {
  bridge?: Bridge;
  ha?: HaClient;
  publish?: (topic: string, payload: string) => Promise<void>;
  /** Follows an MQTT topic; returns the latest payload seen there. */
  follow?: (topic: string) => () => string | undefined;
}

/**
 * An entity of this add-on as a target (`<device_id>/<entity_key>`): its value as the target's
 * kind, and commands through the bridge's command path, whose checks (the entity's own range and
 * options) apply as for a command from HA.
 */
function addOnEntity<T>(ref: string, deps: TargetDeps, isValue: (v: unknown) => v is T, payload: (value: T) => string) {
  const [deviceId, key] = ref.split('/') as [string, string];
  const bridge = deps.bridge;
  if (!bridge) throw new Error(`target ${ref} needs the bridge`);
  return {
    describe: ref,
    current: (): T | undefined => {
      const v = bridge.entity(deviceId, key)?.value;
      return isValue(v) ? v : undefined;
    },
    set: async (value: T): Promise<void> => {
      const result = await bridge.command(deviceId, key, payload(value), 'automation');
      if (!result.ok) throw new Error(result.reason);
    },
  };
}

export function createTarget(options: TargetOptions, deps: TargetDeps): Target {
  if (options.entity) {
    return addOnEntity(options.entity, deps, (v): v is boolean => typeof v === 'boolean', (on) => (on ? 'ON' : 'OFF'));
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
  return mqttLoad(
    { commandTopic: mqtt.command_topic!, stateTopic: mqtt.state_topic },
    deps,
    (payload) => (payload === mqtt.payload_on ? true : payload === mqtt.payload_off ? false : undefined),
    (on) => (on ? mqtt.payload_on : mqtt.payload_off),
  );
}

/**
 * A load on MQTT: commands on its command topic, its state (if it reports one) followed on its
 * state topic and read as the target's kind.
 */
function mqttLoad<T>(topics: { commandTopic: string; stateTopic?: string }, deps: TargetDeps, read: (payload: string | undefined) => T | undefined, payload: (value: T) => string) {
  const publish = deps.publish;
  if (!publish) throw new Error(`target ${topics.commandTopic} needs MQTT`);
  const latest = topics.stateTopic && deps.follow ? deps.follow(topics.stateTopic) : undefined;
  return {
    describe: topics.commandTopic,
    current: (): T | undefined => read(latest?.()),
    // Not async: the message is on the socket when this returns (a fail-safe relies on it).
    set: (value: T): Promise<void> => publish(topics.commandTopic, payload(value)),
  };
}

/** A target that takes a level (a surplus_follow rule's). Throws for what cannot be reached. */
export function createLevelTarget(options: LevelTargetOptions, deps: TargetDeps): LevelTarget {
  if (options.entity) {
    return addOnEntity(options.entity, deps, (v): v is number => typeof v === 'number', (level) => String(level));
  }
  if (options.ha_entity) {
    const id = options.ha_entity;
    const ha = deps.ha;
    if (!ha) throw new Error(`target ${id} needs the Home Assistant API`);
    ha.watch(id);
    const domain = id.split('.')[0]!;
    if (domain === 'light') {
      const raw = options.brightness === 'raw';
      return {
        describe: id,
        current: () => {
          const s = ha.state(id);
          if (s?.state === 'off') return 0;
          const b = Number(s?.attributes.brightness);
          if (s?.state !== 'on' || !Number.isFinite(b)) return undefined;
          return raw ? b : Math.round(b / 2.55);
        },
        set: async (level) => {
          if (level <= 0) await ha.callService('light', 'turn_off', id);
          else await ha.callService('light', 'turn_on', id, raw ? { brightness: Math.min(255, Math.round(level)) } : { brightness_pct: Math.min(100, level) });
        },
      };
    }
    return {
      describe: id,
      current: () => {
        const n = Number(ha.state(id)?.state);
        return ha.state(id) && Number.isFinite(n) ? n : undefined;
      },
      set: async (level) => {
        await ha.callService(domain, 'set_value', id, { value: level });
      },
    };
  }
  const mqtt = options.mqtt!;
  return mqttLoad(
    { commandTopic: mqtt.command_topic!, stateTopic: mqtt.state_topic },
    deps,
    (payload) => {
      const n = payload === undefined || payload.trim() === '' ? Number.NaN : Number(payload);
      return Number.isFinite(n) ? n : undefined;
    },
    (level) => String(level),
  );
}
