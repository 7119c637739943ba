// The simulated myVaillant cloud with the current_power fixture, and the add-on pointed at it.
import { readFileSync } from 'node:fs';
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

