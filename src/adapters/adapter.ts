// The contract every device family implements (see DESIGN.md, "Contracts").
import type { Device, DeviceInfo } from '../core/device.js';
import type { MessageHandler } from '../io/mqtt-client.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Measurements } from '../measurements/service.js';
import type { MqttClientFactory } from '../io/mqtt-client.js';
import type { Got } from 'got';
import type { Secrets } from '../core/secrets.js';
import type { HaChanges } from '../core/ha-changes.js';
import type { Store } from '../core/store.js';

export interface AdapterContext {
  log: Logger;
  clock: Clock;
  store: Store;
  haChanges: HaChanges;
  /** Where devices and entities are declared; adapters never see the add-on's topics. */
  devices: DeviceRegistry;
  secrets: Secrets;
  /** Values from outside (MQTT, this add-on's entities, HA entities) with their age. */
  measurements: Measurements;
  /** A connection of the adapter's own to a device's broker (wildcards, QoS 1, reconnects). */
  mqtt: MqttClientFactory;
  /**
   * The configured HTTP client for cloud services (timeouts, Retry-After, secrets kept out of
   * errors); loaded only when a family that needs one is configured.
   */
  http?: Got;
}

/**
 * What an adapter may do with the bridge: declare its devices (and get typed entity handles
 * back from them), look a device up, publish an event, and follow a topic of the add-on's own
 * broker that belongs to a legacy interface it keeps (GivTCP's control topics).
 */
export interface DeviceRegistry {
  /** Declares (or declares again) a device owned by `owner` (the adapter's id). */
  device(info: DeviceInfo, owner: string): Device;
  /** A device declared by anyone, if there is one. */
  find(id: string): Device | undefined;
  /** A JSON event on <base>/bridge/event. */
  event(data: Record<string, unknown>): void;
  /** Follows a topic or filter on the add-on's broker; returns the way to stop. */
  follow(filter: string, handler: MessageHandler): () => void;
  /** Publishes on the add-on's broker (a load's command topic); the message is on the socket when this returns. */
  publish(topic: string, payload: string): Promise<void>;
}

export interface Adapter {
  /** Unique per configured instance, e.g. "givenergy/192.168.1.20"; owns the devices it declares. */
  readonly id: string;
  /** Connects and declares devices and entities. A device that is unreachable must not make this throw. */
  start(): Promise<void>;
  /** Releases everything and leaves actuators safe. */
  stop(): Promise<void>;
  /**
   * Called on a crash, a signal, process exit or stale input (a deadman): synchronously puts the
   * adapter's actuators in their safe state and writes nothing to a device afterwards. Safe to
   * call twice.
   */
  failSafe(): void;
}
