// Wires one running add-on together: options -> broker -> bridge -> adapters.
import { Bridge } from './core/bridge.js';
import { declareBridgeDevice } from './core/bridge-device.js';
import { systemClock, type Clock } from './core/clock.js';
import { LogHub, type LogSink } from './core/logger.js';
import { MqttConnection, type BrokerSettings } from './core/mqtt-connection.js';
import { Secrets } from './core/secrets.js';
import { HaChanges } from './core/ha-changes.js';
import { Store } from './core/store.js';
import { fetchMqttService } from './core/supervisor.js';
import { createAdapters, type ContextFor } from './adapters/index.js';
import { Measurements, homeAssistantAccess } from './measurements/service.js';
import { MqttClient } from './io/mqtt-client.js';
import type { Got } from 'got';
import type { Notifier } from './notify/notifier.js';
import type { Notice } from './notify/messages.js';
import type { TempoAdapter } from './adapters/tempo/adapter.js';
import { usesHomeAssistant } from './automation/options.js';
import type { Engine } from './automation/engine.js';
import type { WebServer } from './web/server.js';
import type { Adapter, AdapterContext } from './adapters/adapter.js';
import type { Options } from './options.js';
import { VERSION } from './version.js';

/** config.yaml's ingress_port: where the Supervisor's ingress proxy reaches the page. */
export const INGRESS_PORT = 8099;

export interface AppConfig {
  options: Options;
  dataDir: string;
  /** SUPERVISOR_TOKEN when running as an add-on. */
  supervisorToken?: string;
  supervisorUrl?: string;
  logOut?: LogSink;
  logFormat?: 'text' | 'json';
  clock?: Clock;
  /** More adapters besides those the options configure (tests use this to plug a test device in). */
  extraAdapters?: (contextFor: ContextFor) => Adapter[];
  /**
   * The page. As an add-on (SUPERVISOR_TOKEN set) it is served on the ingress port to the
   * Supervisor's proxy only; elsewhere on 127.0.0.1 at `port` (or the web.port option), and not
   * at all without one. Tests set what they need.
   */
  web?: { ingress?: boolean; host?: string; port?: number; allowedPeer?: string };
  /** Overrides for tests: shorter waits. */
  tuning?: {
    birthDelayMs?: { min: number; max: number };
    backoff?: { initialMs: number; maxMs: number };
    discoveryDebounceMs?: number;
    supervisorRetryMs?: number;
  };
}

export class App {
  readonly secrets = new Secrets();
  readonly logs: LogHub;
  bridge!: Bridge;
  connection!: MqttConnection;
  store!: Store;
  haChanges!: HaChanges;
  adapters: Adapter[] = [];
  measurements!: Measurements;
  private http?: Got;
  notifier?: Notifier;
  engine?: Engine;
  web?: WebServer;
  private failedSafe = false;
  private stopped = false;

  constructor(private readonly config: AppConfig) {
    this.secrets.addFromOptions(config.options);
    this.secrets.add(config.supervisorToken);
    this.logs = new LogHub({ level: config.options.log_level as never, secrets: this.secrets, out: config.logOut, format: config.logFormat });
  }

  async start(): Promise<void> {
    const { options, tuning } = this.config;
    const log = this.logs.child('bridge');
    const clock = this.config.clock ?? systemClock;
    log.info(`energy2mqtt ${VERSION} starting`);
    this.store = new Store(this.config.dataDir, this.logs.child('store'));
    this.store.open();
    this.haChanges = new HaChanges(this.store);
    await this.haChanges.load();

    const broker = await this.resolveBroker();
    const base = options.base_topic;
    this.connection = new MqttConnection(
      { broker, will: { topic: `${base}/bridge/state`, payload: 'offline' }, backoff: tuning?.backoff },
      this.logs.child('mqtt'),
    );
    this.bridge = new Bridge({
      baseTopic: base,
      discoveryPrefix: options.discovery_prefix,
      version: VERSION,
      connection: this.connection,
      store: this.store,
      secrets: this.secrets,
      log,
      clock,
      refreshIntervalMs: options.state_refresh_interval * 1000,
      birthDelayMs: tuning?.birthDelayMs,
      discoveryDebounceMs: tuning?.discoveryDebounceMs,
    });
    await this.bridge.start();
    declareBridgeDevice(this.bridge, this.logs, this.haChanges, VERSION);
    void this.connection.start();

    // Cloud sources (forecast.solar, VRM) load the shared HTTP client themselves when one is defined.
    this.measurements = new Measurements({ clock, log: this.logs.child('measurements'), bridge: this.bridge, store: this.store, secrets: this.secrets });
    const automation = options.automation;
    // Water heaters on HA entities reach them through HA's API, as rules do.
    if (automation && (usesHomeAssistant(automation) || options.water_heater.some((w) => w.backend === 'ha'))) {
      const access = homeAssistantAccess(automation.home_assistant, this.config.supervisorToken);
      this.secrets.add(access.token);
      await this.measurements.connectHomeAssistant(access);
    }
    // Before the adapters: a meter emulator serves a surplus computed from these sources.
    for (const source of automation?.sources ?? []) this.measurements.define(source);

    const contextFor: ContextFor = (module) => this.contextFor(module);
    // The HTTP client (got) is loaded only for a family that talks to a cloud.
    const notifies = Boolean(options.notifications && (options.notifications.prowl_api_key !== undefined || options.notifications.ha_services.length));
    if (options.vaillant.length || options.tempo?.enabled || notifies) this.http = (await import('./io/http.js')).http;
    const notify = await this.startNotifier(clock);
    this.adapters = [...(await createAdapters(options, contextFor, notify)), ...(this.config.extraAdapters?.(contextFor) ?? [])];
    for (const adapter of this.adapters) {
      try {
        await adapter.start();
      } catch (err) {
        log.error(`${adapter.id} did not start: ${(err as Error).message}`);
      }
    }
    if (automation) {
      // Loaded only when configured: it brings the cron parser.
      const { Engine } = await import('./automation/engine.js');
      this.engine = new Engine({
        options: automation,
        clock,
        log: this.logs.child('automation'),
        haChanges: this.haChanges,
        bridge: this.bridge,
        measurements: this.measurements,
        tempo: this.adapters.find((a): a is TempoAdapter => a.id === 'tempo' && 'colourOf' in a),
        notify,
      });
      await this.engine.start();
    }
    const owners = ['bridge', ...this.adapters.map((a) => a.id), ...(this.engine ? ['automation'] : [])];
    await this.bridge.settle(owners);
    await this.startWeb(clock);
  }

  /** The page (src/web/), loaded only when it is served. A page that cannot listen stops nothing else. */
  private async startWeb(clock: Clock): Promise<void> {
    const { options, web = {} } = this.config;
    if (!options.web.enabled) return;
    const ingress = web.ingress ?? Boolean(this.config.supervisorToken);
    const port = ingress ? (web.port ?? INGRESS_PORT) : (web.port ?? options.web.port);
    if (port === undefined) return;
    const { WebServer } = await import('./web/server.js');
    this.web = new WebServer({
      bridge: this.bridge, engine: this.engine, surplusOptions: options.automation?.surplus, automation: options.automation, store: this.store, clock,
      log: this.logs.child('web'), ingress, allowedPeer: web.allowedPeer, port,
      // The Supervisor's proxy reaches the container on its own network address.
      host: web.host ?? (ingress ? '0.0.0.0' : '127.0.0.1'),
    });
    try {
      await this.web.start();
    } catch (err) {
      this.logs.child('web').error(`the page could not be served on port ${port}: ${(err as Error).message}`);
      await this.web.stop().catch(() => undefined);
      this.web = undefined;
    }
  }

  /** Notifications (Prowl, HA notify services) when configured: how the Tempo family tells the user. */
  private async startNotifier(clock: Clock): Promise<((notice: Notice) => void) | undefined> {
    const options = this.config.options.notifications;
    if (!options || (options.prowl_api_key === undefined && options.ha_services.length === 0)) return undefined;
    const { Notifier } = await import('./notify/notifier.js');
    this.notifier = new Notifier({ options, http: this.http!, log: this.logs.child('notifications'), secrets: this.secrets, supervisorToken: this.config.supervisorToken, clock });
    return (notice) => this.notifier?.notify(notice);
  }

  /** What an adapter gets (after start() has made the services): see AdapterContext. */
  contextFor(module: string): AdapterContext {
    return {
      log: this.logs.child(module),
      clock: this.config.clock ?? systemClock,
      store: this.store,
      haChanges: this.haChanges,
      devices: {
        device: (info, owner) => this.bridge.device(info, owner),
        find: (id) => this.bridge.getDevice(id),
        event: (data) => this.bridge.event(data),
        follow: (filter, handler) => this.bridge.subscribeExternal(filter, handler),
        publish: (topic, payload) => this.bridge.publishExternal(topic, payload),
      },
      secrets: this.secrets,
      measurements: this.measurements,
      mqtt: (broker, name) => {
        this.secrets.add(broker.password);
        return new MqttClient(broker, name, this.logs.child(`${module} mqtt`));
      },
      http: this.http,
    };
  }

  private async resolveBroker(): Promise<BrokerSettings> {
    const m = this.config.options.mqtt;
    const clientId = m.client_id ?? `energy2mqtt_${this.config.options.base_topic.replace(/\//g, '_')}`;
    if (m.host) {
      return {
        host: m.host, port: m.port ?? (m.tls ? 8883 : 1883), username: m.username, password: m.password,
        tls: m.tls, ca: m.ca, cert: m.cert, key: m.key, rejectUnauthorized: m.reject_unauthorized, clientId,
      };
    }
    if (!this.config.supervisorToken) {
      throw new Error('No MQTT broker: set mqtt.host in the options (inside Home Assistant the Supervisor supplies it).');
    }
    const found = await fetchMqttService(this.config.supervisorToken, this.logs.child('supervisor'), {
      baseUrl: this.config.supervisorUrl,
      firstDelayMs: this.config.tuning?.supervisorRetryMs,
    });
    this.secrets.add(found.password);
    return {
      host: found.host, port: m.port ?? found.port, username: m.username ?? found.username, password: m.password ?? found.password,
      tls: m.tls || found.tls, ca: m.ca, cert: m.cert, key: m.key, rejectUnauthorized: m.reject_unauthorized, clientId,
    };
  }

  /**
   * Synchronously puts every output in its safe state: the rules' loads first (their messages
   * leave on the open connections now), then each adapter's actuators. For crashes, signals and
   * process exit; safe to call twice, and nothing to do after a completed stop.
   */
  failSafe(reason: string): void {
    if (this.failedSafe || this.stopped) return;
    this.failedSafe = true;
    if (!this.engine && this.adapters.length === 0) return; // nothing started that has outputs
    this.logs.root.warn(`fail-safe (${reason}): every output to its safe state`);
    try {
      this.engine?.failSafe();
    } catch (err) {
      this.logs.root.error(`automation fail-safe failed: ${(err as Error).message}`);
    }
    for (const adapter of this.adapters) {
      try {
        adapter.failSafe();
      } catch (err) {
        this.logs.root.error(`${adapter.id} fail-safe failed: ${(err as Error).message}`);
      }
    }
    this.connection?.flushNow();
  }

  async stop(): Promise<void> {
    await this.web?.stop().catch((err: Error) => this.logs.root.error(`the page did not stop cleanly: ${err.message}`));
    // The rules give their loads back first, while the devices can still be reached.
    await this.engine?.stop().catch((err: Error) => this.logs.root.error(`automation did not stop cleanly: ${err.message}`));
    for (const adapter of [...this.adapters].reverse()) {
      try {
        await adapter.stop();
      } catch (err) {
        this.logs.root.error(`${adapter.id} did not stop cleanly: ${(err as Error).message}`);
      }
    }
    await this.notifier?.stop();
    await this.measurements?.stop();
    await this.bridge?.stop();
    await this.connection?.stop({ topic: `${this.config.options.base_topic}/bridge/state`, payload: 'offline' });
    this.stopped = true;
    this.logs.child('bridge').info('stopped');
  }
}
