// The Tempo adapter against the simulated sources on a simulated clock, with a context of its
// own (a real store in a temporary directory, real HTTP, log lines captured through the secret
// scrubber, entities recorded as the bridge would receive them). For tests without a broker;
// the MQTT side goes through startApp with extraAdapters.
import type { AdapterContext } from '../../src/adapters/adapter.js';
import { TempoAdapter, type TempoHooks, type TempoNotice } from '../../src/adapters/tempo/adapter.js';
import { parisTime } from '../../src/adapters/tempo/calendar.js';
import { tempoOptions } from '../../src/adapters/tempo/options.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { Device, type DeviceHost } from '../../src/core/device.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';
import { Store } from '../../src/core/store.js';
import { createHttpClient } from '../../src/io/http.js';
import { TempoServer, type TempoServerOptions } from '../../src/simulators/tempo-server.js';
import { tempDir } from './app.js';

export const RTE_ID = 'app-7f3e21';
export const RTE_SECRET = 'rte-secret-Zq81xw';

/** An instant in Paris time. */
export const paris = (date: string, hour: number, minute = 0): number => parisTime(date, hour, minute);

/** "HH:MM" in Paris of an instant (for readable assertions). */
export function hhmm(ms: number): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
}

export interface TempoContext {
  ctx: AdapterContext;
  logs: string[];
  /** Each entity's last value, by key. */
  states: Map<string, unknown>;
  device(): Device | undefined;
}

export function tempoContext(clock: SimulatedClock, dataDir: string): TempoContext {
  const secrets = new Secrets();
  const logs: string[] = [];
  const hub = new LogHub({ level: 'debug', secrets, out: { write: (line) => void logs.push(line) } });
  const store = new Store(dataDir);
  store.open();
  const states = new Map<string, unknown>();
  const devices = new Map<string, Device>();
  const host: DeviceHost = {
    entityChanged: (entity) => void states.set(entity.key, entity.value),
    deviceChanged: () => undefined,
    availabilityChanged: () => undefined,
    removeDevice: async () => undefined,
  };
  const ctx: AdapterContext = {
    log: hub.child('tempo'),
    clock,
    store,
    haChanges: undefined as never,
    devices: {
      device: (info, owner) => {
        const device = devices.get(info.id) ?? new Device(info, owner, host);
        devices.set(info.id, device);
        return device;
      },
      find: (id) => devices.get(id),
      event: () => undefined,
      follow: () => () => undefined,
      publish: async () => undefined,
    },
    secrets,
    measurements: undefined as never,
    mqtt: undefined as never,
    http: createHttpClient(),
  };
  return { ctx, logs, states, device: () => devices.get('tempo') };
}

export interface TempoSetup extends TempoContext {
  sim: TempoServer;
  clock: SimulatedClock;
  adapter: TempoAdapter;
  notices: TempoNotice[];
  dataDir: string;
  /** Moves the clock to `at` in steps (1 min by default), letting each round finish. */
  runUntil(at: number, stepMs?: number): Promise<void>;
  /** A new adapter on the same store (a restart); the old one must be stopped first. */
  restart(): Promise<TempoAdapter>;
  stop(): Promise<void>;
}

export interface TempoSetupOptions {
  start: number;
  /** The adapter's options besides the URLs (which point at the simulator). */
  options?: Record<string, unknown>;
  sim?: Omit<TempoServerOptions, 'clock'>;
  /** Let start() run (default true). */
  started?: boolean;
  dataDir?: string;
  hooks?: TempoHooks;
  /** An existing simulator (and its clock) to use instead of a new one. */
  reuse?: { sim: TempoServer; clock: SimulatedClock };
}

export async function tempoSetup(o: TempoSetupOptions): Promise<TempoSetup> {
  const clock = o.reuse?.clock ?? new SimulatedClock(o.start);
  const sim = o.reuse?.sim ?? new TempoServer({ rte: { clientId: RTE_ID, clientSecret: RTE_SECRET }, ...o.sim, clock });
  if (!o.reuse) await sim.listen();
  const dataDir = o.dataDir ?? tempDir('e2m-tempo-');
  const notices: TempoNotice[] = [];
  const options = tempoOptions.parse({ rte_client_id: RTE_ID, rte_client_secret: RTE_SECRET, ...sim.urls, ...o.options });
  const make = () => {
    const context = tempoContext(clock, dataDir);
    const adapter = new TempoAdapter(options, context.ctx, { notify: (n) => void notices.push(n), random: () => 0, ...o.hooks });
    return { context, adapter };
  };
  let { context, adapter } = make();
  const setup: TempoSetup = {
    sim, clock, notices, dataDir,
    get adapter() {
      return adapter;
    },
    get ctx() {
      return context.ctx;
    },
    get logs() {
      return context.logs;
    },
    get states() {
      return context.states;
    },
    device: () => context.device(),
    async runUntil(at, stepMs = 60_000) {
      await adapter.idle();
      while (clock.now() < at) {
        clock.advance(Math.min(stepMs, at - clock.now()));
        await adapter.idle();
      }
    },
    async restart() {
      ({ context, adapter } = make());
      await adapter.start();
      await adapter.idle();
      return adapter;
    },
    async stop() {
      await adapter.stop();
      if (!o.reuse) await sim.close();
    },
  };
  if (o.started !== false) {
    await adapter.start();
    await adapter.idle();
  }
  return setup;
}
