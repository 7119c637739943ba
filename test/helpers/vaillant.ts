// The simulated myVaillant cloud with the current_power fixture, and the add-on pointed at it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Clock } from '../../src/core/clock.js';
import type { VaillantSimOptions } from '../../src/simulators/myvaillant.js';
import { Recorder } from './mqtt-client.js';
import { startApp } from './app.js';
import { MyVaillantSimulator } from '../../src/simulators/myvaillant.js';
import type { VaillantAdapter } from '../../src/adapters/vaillant/adapter.js';

export const FIX = 'test/fixtures/vaillant/current_power';
export const SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';
export const S = 'vaillant_4f5dff07';

export async function vaillantSetup(brokerPort: number, lagMs = 0) {
  const sim = new MyVaillantSimulator({
    users: [{ username: 'anna@example.com', password: 'secret-pw-42' }],
    homes: JSON.parse(readFileSync(`${FIX}/homes.json`, 'utf8')) as unknown[],
    systems: { [SYSTEM]: JSON.parse(readFileSync(`${FIX}/${SYSTEM}/system.json`, 'utf8')) },
    altchaCost: 200,
    lagMs,
  });
  await sim.listen();
  const rec = await Recorder.connect(brokerPort, ['energy2mqtt/#', 'homeassistant/device/#']);
  const t = await startApp(brokerPort, { vaillant: [{ username: 'anna@example.com', password: 'secret-pw-42', identity_url: sim.identityUrl, api_url: sim.apiUrl }] });
  const adapter = t.app.adapters.find((a) => a.id.startsWith('vaillant/')) as VaillantAdapter;
  const api = () => sim.requests.filter((r) => r.path.startsWith('/service-connected-control')).map((r) => ({ method: r.method, path: r.path.replace(/^.*\/v1/, ''), ...(r.body !== undefined ? { body: r.body } : {}) }));
  return { sim, rec, t, adapter, api, stop: async () => (await t.stop(), await rec.close(), await sim.close()) };
}


// ---- any fixture, any simulator options, a clock of the test's own ----


export const FIXTURES = 'test/fixtures/vaillant';

/** A fixture scenario as simulator options: its homes (made up when it has none) and its system reports. */
export function loadScenario(scenario: string): { homes: unknown[]; systems: Record<string, Record<string, unknown>> } {
  const dir = `${FIXTURES}/${scenario}`;
  const systems: Record<string, Record<string, unknown>> = {};
  for (const id of readdirSync(dir)) {
    if (existsSync(`${dir}/${id}/system.json`)) systems[id] = JSON.parse(readFileSync(`${dir}/${id}/system.json`, 'utf8')) as Record<string, unknown>;
  }
  const homes = existsSync(`${dir}/homes.json`) ? (JSON.parse(readFileSync(`${dir}/homes.json`, 'utf8')) as unknown[]) : Object.keys(systems).map((systemId, i) => ({ homeName: `Home ${i + 1}`, systemId }));
  return { homes, systems };
}

/** The short id the adapter gives a system (its device ids start with vaillant_<short>). */
export const shortOf = (systemId: string) => `vaillant_${systemId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8).toLowerCase()}`;

export async function vaillantWith(
  brokerPort: number,
  simOptions: Partial<VaillantSimOptions> & Pick<VaillantSimOptions, 'systems' | 'homes'>,
  /** `sim`: a simulator of the test's own (kept running by stop()), e.g. for a second adapter after a restart. */
  config: { account?: Record<string, unknown>; clock?: Clock; dataDir?: string; topics?: string[]; sim?: MyVaillantSimulator } = {},
) {
  const own = !config.sim;
  const sim = config.sim ?? new MyVaillantSimulator({ users: [{ username: 'anna@example.com', password: 'secret-pw-42' }], altchaCost: 200, ...simOptions });
  if (own) await sim.listen();
  const rec = await Recorder.connect(brokerPort, config.topics ?? ['energy2mqtt/#', 'homeassistant/device/#']);
  const t = await startApp(
    brokerPort,
    { vaillant: [{ username: 'anna@example.com', password: 'secret-pw-42', identity_url: sim.identityUrl, api_url: sim.apiUrl, ...config.account }] },
    { ...(config.clock ? { clock: config.clock } : {}), ...(config.dataDir ? { dataDir: config.dataDir } : {}) },
  );
  const adapter = t.app.adapters.find((a) => a.id.startsWith('vaillant/')) as VaillantAdapter;
  /** API requests with the root they went to: "app", "vrc700" or "control". */
  const calls = () =>
    sim.requests
      .filter((r) => r.path.startsWith('/service-connected-control/'))
      .map((r) => {
        const m = /^\/service-connected-control\/(end-user-app-api|vrc700|system-control)\/v1(\/.*)$/.exec(r.path)!;
        const base = m[1] === 'end-user-app-api' ? 'app' : m[1] === 'vrc700' ? 'vrc700' : 'control';
        return { method: r.method, base, path: m[2]!, ...(r.body !== undefined ? { body: r.body } : {}) };
      });
  return { sim, rec, t, adapter, calls, stop: async () => (await t.stop(), await rec.close(), own ? await sim.close() : undefined) };
}
