// The contract every device family implements (see DESIGN.md, "Contracts").
import type { Bridge } from '../core/bridge.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Measurements } from '../measurements/service.js';
import type { MqttClientFactory } from '../io/mqtt-client.js';
import type { Got } from 'got';
import type { Secrets } from '../core/secrets.js';
import type { Settings } from '../core/settings.js';
import type { Store } from '../core/store.js';

export interface AdapterContext {
  log: Logger;
  clock: Clock;
  store: Store;
  settings: Settings;
  /** Where devices and entities are declared; adapters never see MQTT topics. */
  bridge: Bridge;
  secrets: Secrets;
  /** Values from outside (MQTT, this add-on's entities, HA entities) with their age. */
  measurements: Measurements;
  /** A connection of the adapter's own to a device's broker (wildcards, QoS 1, reconnects). */
  mqtt: MqttClientFactory;
  /** The configured HTTP client for cloud services (timeouts, Retry-After, secrets kept out of errors). */
  http: Got;
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
