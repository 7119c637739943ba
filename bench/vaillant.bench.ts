// Vaillant benchmarks against the simulated myVaillant cloud (real HTTP on loopback).
import { readFileSync } from 'node:fs';
import { VaillantApi } from '../src/adapters/vaillant/api.js';
import { VaillantSession } from '../src/adapters/vaillant/auth.js';
import { parseReport } from '../src/adapters/vaillant/report.js';
import { MyVaillantSimulator } from '../src/simulators/myvaillant.js';
import { SimulatedClock, systemClock } from '../src/core/clock.js';
import { LogHub } from '../src/core/logger.js';
import { Secrets } from '../src/core/secrets.js';
import { Store } from '../src/core/store.js';
import { tempDir } from '../test/helpers/app.js';
import { summary, type Row } from './stats.js';

const FIX = 'test/fixtures/vaillant';
const SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';
const LARGEST = `${FIX}/two_systems/e763593de7370e8d6f90fea50daacd9883e2e532/system.json`;

export async function benchVaillant(): Promise<Row[]> {
  const rows: Row[] = [];
  const sim = new MyVaillantSimulator({
    users: [{ username: 'b@example.com', password: 'pw' }],
    homes: JSON.parse(readFileSync(`${FIX}/current_power/homes.json`, 'utf8')) as unknown[],
    systems: { [SYSTEM]: JSON.parse(readFileSync(`${FIX}/current_power/${SYSTEM}/system.json`, 'utf8')) },
    altchaCost: 5000, // the portal's cost
  });
  await sim.listen();
  const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('bench');
  const newSession = (clock = systemClock) => {
    const store = new Store(tempDir());
    store.open();
    return new VaillantSession({ username: 'b@example.com', password: 'pw', brand: 'vaillant', country: 'germany', identityUrl: sim.identityUrl, clock, log, store, secrets: new Secrets() });
  };

  const logins: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await newSession().token();
    logins.push(performance.now() - t0);
  }
  rows.push(summary('login with PKCE and the ALTCHA proof-of-work (cost 5000)', logins, 'ms'));

  const text = readFileSync(LARGEST, 'utf8');
  const parses: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    parseReport('x', JSON.parse(text));
    parses.push(performance.now() - t0);
  }
  rows.push(summary(`parse of the largest system report (${Math.round(text.length / 1024)} KiB, JSON.parse included)`, parses, 'ms'));

  // Steady state: a day of polling every 120 s on a simulated clock under the default budget.
  const clock = new SimulatedClock(Date.now());
  const api = new VaillantApi({ apiUrl: sim.apiUrl, session: newSession(clock), clock, log, budgetPerHour: 40 });
  const perHour: number[] = [];
  let hourStart = clock.now();
  let count = 0;
  for (let t = 0; t < 86_400; t += 120) {
    const wants = t % 600 === 0 ? 2 : 1;
    if (api.fits(wants, 4)) {
      await api.request('GET', `/systems/${SYSTEM}/tli`);
      count++;
      if (wants === 2) {
        await api.request('GET', `/hem/${SYSTEM}/mpc`);
        count++;
      }
    }
    clock.advance(120_000);
    if (clock.now() - hourStart >= 3_600_000) {
      perHour.push(count);
      count = 0;
      hourStart = clock.now();
    }
  }
  rows.push(summary('API requests per hour in steady state (120 s polling, budget 40)', perHour, 'req/h', '<= 40'));
  await sim.close();
  return rows;
}
