// The API client against the simulated portal: quota, budget, 401, outages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { ApiError, VaillantApi, replenishSeconds } from '../../../src/adapters/vaillant/api.js';
import { VaillantSession } from '../../../src/adapters/vaillant/auth.js';
import { MyVaillantSimulator } from '../../../src/simulators/myvaillant.js';
import { SimulatedClock } from '../../../src/core/clock.js';
import { LogHub } from '../../../src/core/logger.js';
import { Secrets } from '../../../src/core/secrets.js';
import { Store } from '../../../src/core/store.js';
import { tempDir } from '../../helpers/app.js';

const FIX = 'test/fixtures/vaillant/current_power';
const SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';

async function setup(budget = 40) {
  const sim = new MyVaillantSimulator({
    users: [{ username: 'u@example.com', password: 'pw-123456' }],
    homes: JSON.parse(readFileSync(`${FIX}/homes.json`, 'utf8')) as unknown[],
    systems: { [SYSTEM]: JSON.parse(readFileSync(`${FIX}/${SYSTEM}/system.json`, 'utf8')) },
    altchaCost: 200,
  });
  await sim.listen();
  const clock = new SimulatedClock(Date.now());
  const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('vaillant');
  const store = new Store(tempDir());
  store.open();
  const session = new VaillantSession({ username: 'u@example.com', password: 'pw-123456', brand: 'vaillant', country: 'germany', identityUrl: sim.identityUrl, clock, log, store, secrets: new Secrets() });
  const api = new VaillantApi({ apiUrl: sim.apiUrl, session, clock, log, budgetPerHour: budget });
  const apiCalls = () => sim.requests.filter((r) => r.path.startsWith('/service-connected-control')).length;
  return { sim, clock, api, apiCalls };
}

test('replenish times in quota messages', () => {
  assert.equal(replenishSeconds('Out of call volume quota. Quota will be replenished in 00:49:47.'), 2987);
  assert.equal(replenishSeconds('Quota will be replenished in 3.11:17:14.'), 3 * 86400 + 11 * 3600 + 17 * 60 + 14);
  assert.equal(replenishSeconds('Forbidden'), undefined);
});

test('a quota 403 stops every request until Retry-After has passed', async () => {
  const { sim, clock, api, apiCalls } = await setup();
  try {
    assert.ok(Array.isArray(await api.request('GET', '/homes')));
    sim.exhaustQuota(1800);
    await assert.rejects(api.request('GET', `/systems/${SYSTEM}/tli`), /quota exhausted; no requests for 30 min/);
    const calls = apiCalls();
    clock.advance(29 * 60_000);
    await assert.rejects(api.request('GET', '/homes'), /paused until/);
    await assert.rejects(api.request('POST', `/systems/${SYSTEM}/tli/domestic-hot-water/255/boost`, {}), /paused until/);
    assert.equal(apiCalls(), calls, 'nothing was sent while paused');
    clock.advance(61_000);
    sim.replenishQuota();
    assert.ok(await api.request('GET', `/systems/${SYSTEM}/tli`));
  } finally {
    await sim.close();
  }
});

test('a 401 gets a fresh token once; an outage backs off', async () => {
  const { sim, clock, api } = await setup();
  try {
    await api.request('GET', '/homes');
    sim.expireTokens();
    assert.ok(await api.request('GET', '/homes'), 'retried with a refreshed token');
    assert.ok(sim.requests.some((r) => r.path.endsWith('/openid-connect/token') && String(r.body).includes('grant_type=refresh_token')));
    sim.failNext = 503;
    await assert.rejects(api.request('GET', '/homes'), /unavailable \(HTTP 503\)/);
    await assert.rejects(api.request('GET', '/homes'), /paused until/);
    clock.advance(31_000);
    assert.ok(await api.request('GET', '/homes'));
  } finally {
    await sim.close();
  }
});

test('over a simulated day of polling every 120 s, the budget of 40 requests per hour is never exceeded', async () => {
  const { clock, api, apiCalls, sim } = await setup(40);
  try {
    const sentAt: number[] = [];
    const start = clock.now();
    for (let t = 0; t < 86_400; t += 120) {
      // The poll: a report, plus the live power every 10 minutes, keeping 4 for commands.
      const wants = t % 600 === 0 ? 2 : 1;
      if (api.fits(wants, 4)) {
        await api.request('GET', `/systems/${SYSTEM}/tli`);
        sentAt.push(clock.now());
        if (wants === 2) {
          await api.request('GET', `/hem/${SYSTEM}/mpc`);
          sentAt.push(clock.now());
        }
      }
      clock.advance(120_000);
    }
    let worst = 0;
    for (const t of sentAt) worst = Math.max(worst, sentAt.filter((s) => s <= t && t - s < 3_600_000).length);
    assert.ok(worst <= 40, `at most ${worst} requests in any hour`);
    assert.ok(sentAt.length >= 800, `${sentAt.length} requests in the day: polling kept going`);
    assert.equal(apiCalls(), sentAt.length);
    assert.ok(clock.now() - start >= 86_400_000);
  } finally {
    await sim.close();
  }
});

test('the HTTP client retries nothing for the API: a 503 or 429 with Retry-After and a reset connection are one counted request each', async () => {
  const { sim, clock } = await setup();
  const answers = [
    (res: ServerResponse) => (res.writeHead(503, { 'retry-after': '1' }), res.end('{}')),
    (res: ServerResponse) => (res.writeHead(429, { 'retry-after': '1' }), res.end('{"message":"Rate limit is exceeded"}')),
    (res: ServerResponse) => res.socket?.destroy(),
  ];
  let received = 0;
  const outage = createServer((req, res) => {
    const answer = answers[received++]!;
    req.resume();
    req.on('end', () => answer(res));
  });
  await new Promise<void>((resolve) => outage.listen(0, '127.0.0.1', resolve));
  try {
    const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('vaillant');
    const store = new Store(tempDir());
    store.open();
    const session = new VaillantSession({ username: 'u@example.com', password: 'pw-123456', brand: 'vaillant', country: 'germany', identityUrl: sim.identityUrl, clock, log, store, secrets: new Secrets() });
    const api = new VaillantApi({ apiUrl: `http://127.0.0.1:${(outage.address() as { port: number }).port}/v1`, session, clock, log, budgetPerHour: 40 });
    await assert.rejects(api.request('GET', '/homes'), /unavailable \(HTTP 503\)/);
    assert.deepEqual([received, api.usedThisHour], [1, 1], 'not retried after the Retry-After second');
    clock.advance(31_000);
    await assert.rejects(api.request('GET', '/homes'), (err: Error) => err instanceof ApiError && err.status === 429);
    assert.deepEqual([received, api.usedThisHour], [2, 2]);
    assert.equal(api.pauseReason, 'Retry-After from HTTP 429');
    clock.advance(2_000);
    await assert.rejects(api.request('GET', '/homes'), (err: Error) => /^myVaillant could not be reached for GET \/homes: the connection to 127\.0\.0\.1:\d+ was cut$/.test(err.message));
    assert.deepEqual([received, api.usedThisHour], [3, 3]);
  } finally {
    outage.closeAllConnections();
    outage.close();
    await sim.close();
  }
});

test('the retry after a 401 must fit the budget; a refusal body is quoted, escaped and cut', async () => {
  const { sim, clock } = await setup();
  const answers: Array<(res: ServerResponse) => void> = [];
  let received = 0;
  const cloud = createServer((req, res) => {
    received++;
    req.resume();
    req.on('end', () => answers.shift()!(res));
  });
  await new Promise<void>((resolve) => cloud.listen(0, '127.0.0.1', resolve));
  const unauthorized = (res: ServerResponse) => (res.writeHead(401), res.end('{}'));
  try {
    const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('vaillant');
    const store = new Store(tempDir());
    store.open();
    const session = new VaillantSession({ username: 'u@example.com', password: 'pw-123456', brand: 'vaillant', country: 'germany', identityUrl: sim.identityUrl, clock, log, store, secrets: new Secrets() });
    const apiUrl = `http://127.0.0.1:${(cloud.address() as { port: number }).port}/v1`;
    // A budget of 1: the 401 is answered, and the retry is not sent.
    const tight = new VaillantApi({ apiUrl, session, clock, log, budgetPerHour: 1 });
    answers.push(unauthorized);
    await assert.rejects(tight.request('GET', '/homes'), (err: Error) => err instanceof ApiError && err.status === 401 && /no room for a retry/.test(err.message));
    assert.deepEqual([received, tight.usedThisHour], [1, 1]);
    // With room: retried once with a new token.
    const roomy = new VaillantApi({ apiUrl, session, clock, log, budgetPerHour: 5 });
    answers.push(unauthorized, (res) => (res.writeHead(200), res.end('[]')));
    assert.deepEqual(await roomy.request('GET', '/homes'), []);
    assert.deepEqual([received, roomy.usedThisHour], [3, 2]);
    // The cloud's text in an error: one line, quoted, at most 200 characters of it.
    answers.push((res) => (res.writeHead(400), res.end(`bad 'request'\nERROR forged line ${'x'.repeat(500)}`)));
    await assert.rejects(roomy.request('GET', '/homes'), (err: Error) => {
      assert.ok(!err.message.includes('\n'), err.message);
      assert.match(err.message, /^myVaillant refused GET \/homes: HTTP 400 'bad \\'request\\'\\nERROR forged line x+'… \(\d+ chars\)$/);
      return true;
    });
  } finally {
    cloud.closeAllConnections();
    cloud.close();
    await sim.close();
  }
});
