import { DemoMeter } from './demo-meter.js';
import { GivEnergyDongleSimulator } from './givenergy-dongle.js';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { MyVaillantSimulator } from './myvaillant.js';

// The demo starts one simulator per device family and points the add-on's options at them.
// Each family adds its simulator here when it lands.

export interface DemoSimulators {
  names: string[];
  /** Options entries that connect the adapters to the simulators (e.g. { givenergy: [...] }). */
  options: Record<string, unknown>;
  stop(): Promise<void>;
}

export async function startDemoSimulators(brokerPort: number): Promise<DemoSimulators> {
  const running: Array<{ name: string; stop(): Promise<void> }> = [];
  const meter = new DemoMeter();
  await meter.start(brokerPort);
  running.push({ name: 'house meter (demo/meter/grid_power) with a 2 kW boiler (demo/boiler/set)', stop: () => meter.stop() });
  const dongle = new GivEnergyDongleSimulator({ live: true, armFirmware: 312, heartbeatMs: 60_000 });
  const donglePort = await dongle.listen();
  running.push({ name: `GivEnergy dongle (Gen3 hybrid ${dongle.inverterSerial}, one battery) on 127.0.0.1:${donglePort}`, stop: () => dongle.close() });
  const data = (name: string) => JSON.parse(readFileSync(new URL(`./data/${name}`, import.meta.url), 'utf8')) as unknown;
  const homes = data('vaillant-homes.json') as Array<{ systemId: string }>;
  const vaillant = new MyVaillantSimulator({
    users: [{ username: 'demo@example.com', password: 'demo-password' }],
    homes,
    systems: { [homes[0]!.systemId]: data('vaillant-system.json') as Record<string, unknown> },
    lagMs: 20_000,
  });
  await vaillant.listen();
  running.push({ name: `myVaillant cloud (login with ALTCHA, one heat pump) on ${vaillant.identityUrl}`, stop: () => vaillant.close() });
  return {
    names: running.map((s) => s.name),
    options: {
      vaillant: [{ username: 'demo@example.com', password: 'demo-password', identity_url: vaillant.identityUrl, api_url: vaillant.apiUrl }],
      automation: DemoMeter.options(),
      givenergy: [{ host: '127.0.0.1', port: donglePort, poll_interval: 5, full_refresh_interval: 30 }],
      // The REST API as a user would turn it on: with a token (a new one every run).
      givenergy_rest: { enabled: true, port: 6345, token: randomBytes(18).toString('base64url') },
    },
    stop: async () => {
      for (const sim of running.reverse()) await sim.stop();
    },
  };
}
