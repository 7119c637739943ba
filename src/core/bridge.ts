// The bridge: owns the MQTT connection, publishes each device's discovery and its states, routes
// commands through each entity's schema to its handler, and keeps the record of what it published
// so that what goes away is removed from HA, even across restarts. What the discovery payload and
// the record contain is decided in discovery/ (pure functions); the bridge publishes and stores.
import { Device, type CommandSource, type DeviceHost, type DeviceInfo, type Entity } from './device.js';
import { COMMAND_COMPONENTS, formatState, parseCommand, specProblems, type EntitySpec } from './entity.js';
import { TopicRouter, type MessageHandler } from '../io/mqtt-client.js';
import { ID_PATTERN } from './ha-acceptance.js';
import { devicePayload, type RemovedComponent } from './discovery/device-payload.js';
import { platformOf } from './discovery/registry.js';
import { COMMAND_PARTS } from './discovery/platforms/thermostat.js';
import { discoveryRecordShape, goneComponents, recordAfterPublish, topicsToEmpty, type DiscoveryRecord } from './discovery/removal-record.js';
import { BRIDGE_DEVICE_ID, availabilityTopic, bridgeStateTopic, discoveryTopic, stateTopic } from './discovery/topics.js';
import { clip, oneLine, shownPayload } from './outside-text.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { MqttConnection, MqttMessage } from './mqtt-connection.js';
import type { Logger } from './logger.js';
import type { Store } from './store.js';
import type { Secrets } from './secrets.js';

// Defined in discovery/; exported here as well, where their importers have always found them.
export { BRIDGE_DEVICE_ID };
export { ORIGIN_URL } from './discovery/device-payload.js';
const RECORD_FILE = 'discovery';

export interface BridgeOptions {
  baseTopic: string;
  discoveryPrefix: string;
  version: string;
  connection: MqttConnection;
  store: Store;
  secrets: Secrets;
  log: Logger;
  clock?: Clock;
  /** Every state is re-published at least this often (ms). */
  refreshIntervalMs?: number;
  /** Random wait after HA's birth message before re-publishing (ms). */
  birthDelayMs?: { min: number; max: number };
  /** Collects discovery publishes that happen close together (ms). */
  discoveryDebounceMs?: number;
}

export type CommandResult = { ok: true } | { ok: false; reason: string };
export type ExternalHandler = MessageHandler;

type UpdateListener = (entity: Entity<EntitySpec>) => void;

export class Bridge implements DeviceHost {
  private devices = new Map<string, Device>();
  private record: DiscoveryRecord = { devices: {} };
  private settled = false;
  /** Components published in this run, per device: what HA knows now. */
  private publishedNow = new Map<string, Set<string>>();
  private discoveryTimers = new Map<string, TimerHandle>();
  private commandQueues = new Map<string, Promise<unknown>>();
  private refreshTimer?: TimerHandle;
  private birthTimer?: TimerHandle;
  private listeners = new Set<UpdateListener>();
  /** Topics outside our own that the automation reads (user-configured sources and load states). */
  private readonly external = new TopicRouter();
  private readonly clock: Clock;
  private readonly base: string;
  private readonly commandPattern: RegExp;
  private stopped = false;
  private pendingClear = new Set<string>();
  /** Publishing runs (connect, birth, discovery) still under way; stop() waits for them. */
  private inFlight = new Set<Promise<unknown>>();
  private markReady!: () => void;
  /** Resolves once the first connection has published everything. */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(private readonly options: BridgeOptions) {
    this.clock = options.clock ?? systemClock;
    this.base = options.baseTopic;
    this.commandPattern = new RegExp(`^${escapeRe(options.baseTopic)}/([^/]+)/([^/]+)/set(?:/(${COMMAND_PARTS.join('|')}))?$`);
  }

  get connected(): boolean {
    return this.options.connection.connected;
  }

  topicOf(deviceId: string, key: string): string {
    return stateTopic(this.base, deviceId, key);
  }

  /** Loads what was published before and hooks the connection up; the connection itself is started by the caller. */
  async start(): Promise<void> {
    this.record = await this.options.store.read(RECORD_FILE, discoveryRecordShape, { devices: {} });
    const conn = this.options.connection;
    conn.on('connect', () => void this.track(this.onConnect()).then(() => this.markReady()));
    conn.on('message', (msg) => void this.track(this.onMessage(msg)));
    this.refreshTimer = this.clock.setInterval(() => void this.track(this.refresh()), this.options.refreshIntervalMs ?? 300_000);
  }

  /** Creates (or returns) a device. `owner` names the adapter instance it belongs to. */
  device(info: DeviceInfo, owner: string): Device {
    if (!ID_PATTERN.test(info.id)) throw new Error(`device id '${info.id}' must be [a-zA-Z0-9_-]`);
    const existing = this.devices.get(info.id);
    if (existing) {
      existing.info = info;
      this.deviceChanged(existing);
      return existing;
    }
    const device = new Device(info, owner, this);
    this.devices.set(info.id, device);
    return device;
  }

  getDevice(id: string): Device | undefined {
    return this.devices.get(id);
  }

  allDevices(): Device[] {
    return [...this.devices.values()];
  }

  entity(deviceId: string, key: string): Entity<EntitySpec> | undefined {
    return this.devices.get(deviceId)?.entities.get(key);
  }

  /** Called with every entity update (for the automation engine's measurements). */
  onUpdate(listener: UpdateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called once every adapter has started: devices of owners that are no longer configured, and
   * components a declared device no longer has, are removed from HA.
   */
  async settle(activeOwners: Iterable<string>): Promise<void> {
    const active = new Set(activeOwners);
    this.settled = true;
    for (const [id, rec] of Object.entries(this.record.devices)) {
      if (this.devices.has(id)) {
        this.scheduleDiscovery(this.devices.get(id)!, 0);
      } else if (!active.has(rec.owner)) {
        this.options.log.info(`device ${id} is no longer configured; removing it from Home Assistant`);
        await this.clearDevice(id);
      }
    }
  }

  /**
   * Follows a user-configured topic or filter (wildcards allowed) on the add-on's broker,
   * subscribed again after every reconnect; returns the way to stop following it.
   */
  subscribeExternal(filter: string, handler: ExternalHandler): () => void {
    if (this.external.add(filter, handler)) void this.options.connection.subscribe([filter], 1).catch(() => undefined);
    return () => {
      if (this.external.remove(filter, handler)) void this.options.connection.unsubscribe([filter]).catch(() => undefined);
    };
  }

  /**
   * Publishes to a user-configured topic (e.g. a load's command topic), at QoS 0 as HA's own MQTT
   * switches do: a QoS 1 PUBACK from the broker would hold up the next measurement by ~40 ms
   * (see publish()). Not connected means not sent, and the caller hears so.
   */
  async publishExternal(topic: string, payload: string): Promise<void> {
    if (!(await this.options.connection.publish(topic, payload, { qos: 0 }))) {
      throw new Error(`not connected to the MQTT broker, ${topic} not sent`);
    }
  }

  // ---- DeviceHost ----

  entityChanged(entity: Entity<EntitySpec>): void {
    for (const listener of this.listeners) {
      try {
        listener(entity);
      } catch (err) {
        this.options.log.error({ err }, 'an update listener failed');
      }
    }
    void this.publishState(entity, false);
  }

  deviceChanged(device: Device): void {
    this.scheduleDiscovery(device, this.options.discoveryDebounceMs ?? 20);
  }

  availabilityChanged(device: Device): void {
    void this.publish(availabilityTopic(this.base, device.id), device.available ? 'online' : 'offline', true);
  }

  async removeDevice(device: Device): Promise<void> {
    this.devices.delete(device.id);
    this.discoveryTimers.get(device.id)?.cancel();
    await this.clearDevice(device.id);
  }

  // ---- commands ----

  /**
   * The one command path: HA commands, REST and automation rules all come through here. Commands
   * to one device run one at a time, so a handler must not call this for its own device (it would
   * wait for itself); it calls its adapter's actions directly.
   */
  async command(deviceId: string, key: string, payload: Buffer | string, source: CommandSource): Promise<CommandResult> {
    const topic = `${this.topicOf(deviceId, key)}/set`;
    const entity = this.entity(deviceId, key);
    if (!entity) return this.reject(topic, payload, source, `no entity '${key}' on device '${deviceId}'`);
    if (!entity.handler || !COMMAND_COMPONENTS.has(entity.spec.component)) {
      return this.reject(topic, payload, source, `${entity.spec.component} '${key}' takes no commands`);
    }
    this.options.log.debug(`command on ${topic} (${source}): ${JSON.stringify(shownPayload(payload))}`);
    const parsed = parseCommand(entity.spec, entity.schema, payload);
    if (!parsed.ok) return this.reject(topic, payload, source, parsed.reason);
    const device = entity.device;
    if (!device.available && source !== 'automation') {
      // Still try: the device may be reachable again; the handler reports failure if not.
      this.options.log.debug(`command for ${deviceId} while it is unavailable`);
    }
    // One command at a time per device, in arrival order.
    const previous = this.commandQueues.get(deviceId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.runHandler(entity, parsed.value, source, topic, payload));
    this.commandQueues.set(deviceId, run);
    return run;
  }

  private async runHandler(
    entity: Entity<EntitySpec>,
    value: unknown,
    source: CommandSource,
    topic: string,
    payload: Buffer | string,
  ): Promise<CommandResult> {
    try {
      const handler = entity.handler as (v: unknown, s: CommandSource) => unknown;
      const result = await handler(value, source);
      if (result !== undefined && platformOf(entity.spec).hasState) entity.update(result as never);
      this.options.log.debug(`${topic} <- ${String(value)} (${source}) done`);
      return { ok: true };
    } catch (err) {
      const reason = (err as Error).message || String(err);
      this.options.log.warn(`command on ${topic} failed: ${oneLine(clip(reason))}`);
      this.event({ type: 'command_failed', topic, payload: shownPayload(payload), reason, source });
      return { ok: false, reason };
    }
  }

  private reject(topic: string, payload: Buffer | string, source: CommandSource, reason: string): CommandResult {
    const shown = shownPayload(payload);
    // JSON.stringify quotes and escapes the (already cut) payload: it stays inside this one line.
    this.options.log.warn(`rejected command on ${topic} (payload ${JSON.stringify(shown)}): ${oneLine(clip(reason))}`);
    this.event({ type: 'command_rejected', topic, payload: shown, reason, source });
    return { ok: false, reason };
  }

  /**
   * Publishes a JSON event on <base>/bridge/event. Its text fields may echo what came from
   * outside (a payload, a reason quoting it): they are cut, and secrets in them masked.
   */
  event(data: Record<string, unknown>): void {
    const fields = Object.entries(data).map(([key, value]) => [key, typeof value === 'string' ? clip(this.options.secrets.scrub(value)) : value]);
    void this.publish(`${this.base}/bridge/event`, JSON.stringify({ ...Object.fromEntries(fields), time: new Date(this.clock.now()).toISOString() }), false);
  }

  // ---- MQTT ----

  /** Runs publishing work unless stopped, and remembers it until it is done. */
  private track<T>(work: Promise<T>): Promise<T | void> {
    const tracked = work.catch((err: unknown) => this.options.log.error({ err }, 'publishing failed')).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return tracked;
  }

  private async onConnect(): Promise<void> {
    if (this.stopped) return;
    const conn = this.options.connection;
    try {
      await conn.subscribe([`${this.base}/+/+/set`, `${this.base}/+/+/set/+`, `${this.options.discoveryPrefix}/status`, ...this.external.filters], 1);
    } catch (err) {
      this.options.log.warn(`subscribing failed: ${(err as Error).message}`);
    }
    await this.publish(bridgeStateTopic(this.base), 'online', true);
    for (const id of [...this.pendingClear]) await this.clearDevice(id);
    await this.republishAll();
  }

  private async onMessage(msg: MqttMessage): Promise<void> {
    try {
      if (msg.topic === `${this.options.discoveryPrefix}/status`) {
        // A retained birth arrives on every subscribe; connecting already published everything.
        if (!msg.retain && msg.payload.toString().trim() === 'online') this.scheduleBirthReplay();
        return;
      }
      this.external.dispatch(msg.topic, msg.payload.toString('utf8'), msg.retain);
      const match = this.commandPattern.exec(msg.topic);
      if (!match) return;
      if (msg.retain) {
        // A retained command would run again at every restart; refuse it.
        this.reject(msg.topic, msg.payload, 'mqtt', 'retained commands are ignored; publish commands without the retain flag');
        return;
      }
      // Climate and water heater: the part goes in front of the payload ("temperature 21.5").
      const payload = match[3] ? Buffer.concat([Buffer.from(`${match[3]} `), msg.payload]) : msg.payload;
      await this.command(match[1]!, match[2]!, payload, 'mqtt');
    } catch (err) {
      this.options.log.error({ err }, `handling a message on ${msg.topic} failed`);
    }
  }

  private scheduleBirthReplay(): void {
    const { min, max } = this.options.birthDelayMs ?? { min: 1000, max: 5000 };
    const delay = min + Math.random() * (max - min);
    this.options.log.info(`Home Assistant came online; re-publishing discovery in ${Math.round(delay)} ms`);
    this.birthTimer?.cancel();
    this.birthTimer = this.clock.setTimeout(() => void this.track(this.republishAll()), delay);
  }

  /**
   * Discovery for every device, then availability and every known state. Pipelined in chunks:
   * one round trip each would take seconds for a big home, all at once would pile up a listener
   * per blocked write on the socket.
   */
  async republishAll(): Promise<void> {
    const devices = [...this.devices.values()];
    await inChunks(devices, (device) => this.publishDiscovery(device));
    for (const device of devices) if (device.id !== BRIDGE_DEVICE_ID) this.availabilityChanged(device);
    await inChunks(devices.flatMap((d) => [...d.entities.values()]), (entity) => this.publishState(entity, true));
  }

  private async refresh(): Promise<void> {
    const due = this.clock.now() - (this.options.refreshIntervalMs ?? 300_000) + 1000;
    for (const device of this.devices.values()) {
      for (const entity of device.entities.values()) {
        const pending = entity.hasValue && formatState(entity.spec, entity.value) !== entity.lastPayload;
        if (pending || entity.lastPublishedAt <= due) await this.publishState(entity, true);
      }
    }
  }

  private async publishState(entity: Entity<EntitySpec>, force: boolean): Promise<void> {
    if (!entity.hasValue || !platformOf(entity.spec).hasState) return;
    // Free text (an error a service returned, a text entity) could carry a secret; a value from
    // a fixed list (a select, an enum sensor, a time) cannot, and must reach HA as it is.
    const text = formatState(entity.spec, entity.value);
    const spec = entity.spec;
    const freeText = typeof entity.value === 'string' && (spec.component === 'text' || (spec.component === 'sensor' && !spec.options && spec.deviceClass !== 'timestamp'));
    const payload = freeText ? this.options.secrets.scrub(text) : text;
    if (!force) {
      if (text === entity.lastPayload) return;
      const deadband = entity.spec.component === 'sensor' ? entity.spec.deadband : undefined;
      if (deadband && typeof entity.value === 'number' && entity.lastNumber !== undefined) {
        if (Math.abs(entity.value - entity.lastNumber) < deadband) return;
      }
    }
    // Recorded before the broker acknowledges, so an update arriving meanwhile compares with this value.
    const previous = [entity.lastPayload, entity.lastNumber, entity.lastPublishedAt] as const;
    entity.lastPayload = text;
    entity.lastNumber = typeof entity.value === 'number' ? entity.value : undefined;
    entity.lastPublishedAt = this.clock.now();
    if (!(await this.publish(this.topicOf(entity.device.id, entity.key), payload, true, 0))) {
      [entity.lastPayload, entity.lastNumber, entity.lastPublishedAt] = previous;
    }
  }

  /**
   * States go out at QoS 0 (retained): over a live connection TCP delivers them, and everything
   * is re-published on reconnect. QoS 1 there would leave a PUBACK from the broker unacknowledged
   * after each state, and with the broker's Nagle algorithm and our delayed ACKs the next command
   * would wait 40 ms. Discovery, availability and removals (rare, must not be lost) use QoS 1.
   * Payloads are not scrubbed here: secrets stay out of MQTT where free text enters (states,
   * events), so a secret that is also a word cannot rewrite discovery.
   */
  private async publish(topic: string, payload: string, retain: boolean, qos: 0 | 1 = retain ? 1 : 0): Promise<boolean> {
    return this.options.connection.publish(topic, payload, { retain, qos });
  }

  // ---- discovery ----

  private scheduleDiscovery(device: Device, delayMs: number): void {
    this.discoveryTimers.get(device.id)?.cancel();
    this.discoveryTimers.set(
      device.id,
      this.clock.setTimeout(() => {
        this.discoveryTimers.delete(device.id);
        void this.track(this.publishDiscovery(device));
      }, delayMs),
    );
  }

  /** The discovery JSON for <prefix>/device/<id>/config (see discovery/device-payload.ts). */
  private payloadOf(device: Device, removed?: Iterable<RemovedComponent>): string {
    const specs = Array.from(device.entities.values(), (entity) => entity.spec);
    return JSON.stringify(devicePayload(device.info, specs, { baseTopic: this.base, version: this.options.version }, removed));
  }

  private async publishDiscovery(device: Device): Promise<void> {
    if (this.stopped) return;
    for (const entity of device.entities.values()) {
      const problems = specProblems(entity.spec);
      if (problems.length) {
        // A programming error in an adapter: refuse the entity rather than let HA drop the device.
        this.options.log.error(`entity ${device.id}/${entity.key} is not valid for Home Assistant: ${problems.join('; ')}`);
        device.entities.delete(entity.key);
      }
    }
    const topic = discoveryTopic(this.options.discoveryPrefix, device.id);
    const current = new Map([...device.entities.values()].map((e) => [e.key, e.spec.component]));
    const gone = goneComponents(this.record.devices[device.id], this.publishedNow.get(device.id) ?? [], current, this.settled);
    if (!this.connected) return; // published again on connect
    if (gone.size) {
      // HA removes a component when it is first reduced to its platform, then left out.
      await this.publish(topic, this.payloadOf(device, gone), true);
      for (const key of gone.keys()) await this.publish(this.topicOf(device.id, key), '', true);
      this.options.log.info(`removed ${[...gone.keys()].join(', ')} from ${device.id}`);
    }
    const ok = await this.publish(topic, this.payloadOf(device), true);
    if (!ok) return;
    // With availability_mode all, HA needs the device's own topic too, also for a device
    // declared after the connection came up.
    if (device.id !== BRIDGE_DEVICE_ID) this.availabilityChanged(device);
    this.publishedNow.set(device.id, new Set(current.keys()));
    const roots = { baseTopic: this.base, discoveryPrefix: this.options.discoveryPrefix };
    this.record.devices[device.id] = recordAfterPublish(this.record.devices[device.id], { id: device.id, owner: device.owner, current, gone }, this.settled, roots);
    await this.options.store.write(RECORD_FILE, this.record);
  }

  /**
   * Empties every retained topic a device had, its discovery first. While disconnected the
   * device waits in pendingClear (and stays in the record) until the next connect.
   */
  private async clearDevice(id: string): Promise<void> {
    const topics = topicsToEmpty(this.record.devices[id], this.options.discoveryPrefix, id);
    let cleared = true;
    for (const topic of topics) cleared = (await this.publish(topic, '', true)) && cleared;
    if (!cleared) {
      this.pendingClear.add(id);
      return;
    }
    this.pendingClear.delete(id);
    delete this.record.devices[id];
    this.publishedNow.delete(id);
    await this.options.store.write(RECORD_FILE, this.record);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.refreshTimer?.cancel();
    this.birthTimer?.cancel();
    for (const timer of this.discoveryTimers.values()) timer.cancel();
    await Promise.all([...this.commandQueues.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.inFlight]);
    await this.options.store.flush();
  }
}

const CHUNK = 100;

async function inChunks<T>(items: T[], run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += CHUNK) await Promise.all(items.slice(i, i + CHUNK).map(run));
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
