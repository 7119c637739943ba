// A GX on its own Mosquitto (the GX's broker), the add-on on the test broker, and a recorder
// standing in for HA: what every Victron test starts from.
import { startTestBroker, type TestBroker } from './broker.js';
import { Recorder } from './mqtt-client.js';
import { startApp, type TestApp } from './app.js';
import { VictronGxSimulator, type VictronGxOptions } from '../../src/simulators/victron-gx.js';
import type { Clock } from '../../src/core/clock.js';
import type { VictronAdapter } from '../../src/adapters/victron/adapter.js';
import type { Adapter } from '../../src/adapters/adapter.js';

export const PORTAL = 'c0619ab1c2d3';
export const GX = `victron_${PORTAL}`;

export interface VictronSetup {
  gxBroker: TestBroker;
  gx: VictronGxSimulator;
  t: TestApp;
  rec: Recorder;
  adapter: VictronAdapter;
  /** The entity's state as HA sees it (waits for one that matches). */
  state(key: string, predicate?: (payload: string) => boolean, timeoutMs?: number): Promise<string>;
  /** A command from HA, as HA publishes it. */
  command(key: string, payload: string): Promise<void>;
  stop(): Promise<void>;
}

export async function victronSetup(
  brokerPort: number,
  o: { clock?: Clock; gx?: Partial<VictronGxOptions>; victron?: Record<string, unknown>; extra?: Record<string, unknown>; dataDir?: string; adapters?: Adapter[] } = {},
): Promise<VictronSetup> {
  const gxBroker = await startTestBroker();
  const gx = new VictronGxSimulator({ host: '127.0.0.1', port: gxBroker.port, portalId: PORTAL, clock: o.clock, ...o.gx });
  await gx.start();
  const rec = await Recorder.connect(brokerPort, ['energy2mqtt/#', 'homeassistant/#']);
  const t = await startApp(
    brokerPort,
    { victron: [{ host: '127.0.0.1', port: gxBroker.port, ...o.victron }], ...o.extra },
    { clock: o.clock, ...(o.dataDir ? { dataDir: o.dataDir } : {}), ...(o.adapters ? { extraAdapters: () => o.adapters! } : {}) },
  );
  const adapter = t.app.adapters.find((a) => a.id.startsWith('victron/')) as VictronAdapter;
  return {
    gxBroker, gx, t, rec, adapter,
    state: async (key, predicate, timeoutMs) => (await rec.waitFor(`energy2mqtt/${GX}/${key}`, predicate, timeoutMs)).payload,
    command: async (key, payload) => void (await rec.client.publishAsync(`energy2mqtt/${GX}/${key}/set`, payload, { qos: 1 })),
    stop: async () => {
      await t.stop();
      await rec.close();
      await gx.stop();
      await gxBroker.stop();
    },
  };
}
