// A simulated GivEnergy dongle on TCP and the real App on the test broker, with GivTCP's REST API
// on (token required), as the GivEnergy tests use them.
import { freePort } from './broker.js';
import { startApp } from './app.js';
import { GivEnergyDongleSimulator } from '../../src/simulators/givenergy-dongle.js';
import type { GivEnergyAdapter } from '../../src/adapters/givenergy/adapter.js';
import type { GivTcpRestServer } from '../../src/adapters/givenergy/givtcp-rest.js';
import type { AppConfig } from '../../src/app.js';
import type { CaptureProfile } from '../../src/simulators/givenergy-capture.js';

export const SERIAL = 'SA2114G047';
export const DEV = 'givenergy_sa2114g047';
export const TOKEN = 'rest-secret-token-1';
export const AUTH = { authorization: `Bearer ${TOKEN}` };

export interface GivEnergySetup {
  arm?: number;
  /** A captured installation (givenergy-capture.ts) instead of the built-in Gen3 plant. */
  capture?: CaptureProfile;
  dataDir?: string;
  /** givenergy_rest options over the defaults (enabled, a free port, TOKEN). */
  rest?: Record<string, unknown>;
  /** givenergy[0] options over the defaults (no polling, a budget that the tests do not reach). */
  inverter?: Record<string, unknown>;
  config?: Partial<AppConfig>;
}

export async function startGivEnergy(broker: { port: number }, opts: GivEnergySetup = {}) {
  const sim = new GivEnergyDongleSimulator(opts.capture ? { capture: opts.capture } : { armFirmware: opts.arm ?? 312 });
  const port = await sim.listen();
  const inverter = { host: '127.0.0.1', port, poll_interval: 3600, full_refresh_interval: 3600, frame_gap_ms: 0, daily_write_budget: 5000, ...opts.inverter };
  const t = await startApp(
    broker.port,
    { givenergy: [inverter], givenergy_rest: { enabled: true, port: await freePort(), token: TOKEN, ...opts.rest } },
    { dataDir: opts.dataDir, ...opts.config },
  );
  const adapter = t.app.adapters[0] as GivEnergyAdapter;
  const rest = t.app.adapters[1] as GivTcpRestServer;
  adapter.writeLimits = { minGapMs: 0, perMinute: 10_000 };
  const restUrl = `http://127.0.0.1:${rest.ports[0]}`;
  /** A GivTCP REST command as GivTCP's own clients send it: JSON, with the token. */
  const post = (command: string, body: unknown, headers: Record<string, string> = AUTH) =>
    fetch(`${restUrl}/${command}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  return { sim, t, adapter, rest, restUrl, post, stop: async () => (await t.stop(), await sim.close()) };
}
