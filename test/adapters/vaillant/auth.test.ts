// The myVaillant login against the simulated portal (identity server with ALTCHA) on real HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, request } from 'node:http';
import { VaillantSession, realmFor, solveAltcha, LoginError } from '../../../src/adapters/vaillant/auth.js';
import { MyVaillantSimulator } from '../../../src/simulators/myvaillant.js';
import { SimulatedClock } from '../../../src/core/clock.js';
import { LogHub } from '../../../src/core/logger.js';
import { Secrets } from '../../../src/core/secrets.js';
import { Store } from '../../../src/core/store.js';
import { tempDir } from '../../helpers/app.js';

const FIX = 'test/fixtures/vaillant/current_power';
const SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';

async function portal(options: Partial<ConstructorParameters<typeof MyVaillantSimulator>[0]> = {}) {
  const sim = new MyVaillantSimulator({
    users: [{ username: 'anna@example.com', password: 'correct horse' }],
    homes: JSON.parse(readFileSync(`${FIX}/homes.json`, 'utf8')) as unknown[],
    systems: { [SYSTEM]: JSON.parse(readFileSync(`${FIX}/${SYSTEM}/system.json`, 'utf8')) },
    altchaCost: 500,
    ...options,
  });
  await sim.listen();
  return sim;
}

function session(sim: MyVaillantSimulator, opts: { password?: string; dataDir?: string; clock?: SimulatedClock; identityUrl?: string } = {}) {
  const lines: string[] = [];
  const secrets = new Secrets();
  const logs = new LogHub({ level: 'debug', secrets, out: { write: (l) => void lines.push(l) } });
  const store = new Store(opts.dataDir ?? tempDir());
  store.open();
  const s = new VaillantSession({
    username: 'anna@example.com', password: opts.password ?? 'correct horse', brand: 'vaillant', country: 'germany',
    identityUrl: opts.identityUrl ?? sim.identityUrl, clock: opts.clock ?? new SimulatedClock(Date.now()), log: logs.child('vaillant'), store, secrets,
  });
  return { s, lines, secrets };
}

const paths = (sim: MyVaillantSimulator) => sim.requests.map((r) => `${r.method} ${r.path.replace(/^\/auth\/realms\/[^/]+/, '')}`);

test('realm from brand and country', () => {
  assert.equal(realmFor('vaillant', 'germany'), 'vaillant-germany-b2c');
  assert.equal(realmFor('sdbg', 'Poland'), 'sdbg-poland-b2c');
  assert.equal(realmFor('bulex', 'belgium'), 'bulex-b2c');
  assert.equal(realmFor('vaillant', 'united kingdom'), 'vaillant-unitedkingdom-b2c');
});

test('login with PKCE and the ALTCHA proof-of-work (portal cost 5000)', async () => {
  const sim = await portal({ altchaCost: 5000 });
  const { s, lines, secrets } = session(sim);
  try {
    const token = await s.token();
    assert.match(token, /^[0-9a-f]{48}$/);
    assert.deepEqual(paths(sim), ['GET /protocol/openid-connect/auth', 'GET /api/altcha/challenge', 'POST /login-actions/authenticate', 'POST /protocol/openid-connect/token']);
    const posted = sim.requests[2]!.body as string;
    assert.match(posted, /username=anna%40example.com&password=correct\+horse&credentialId=&altcha=/);
    assert.ok(sim.requests[0]!.path.includes('/auth/realms/vaillant-germany-b2c/'));
    assert.equal(s.logins, 1);
    assert.ok(secrets.scrub(`x ${token} y`).includes('***'), 'the token is a secret from now on');
    assert.ok(!lines.join('').includes('correct horse'), 'the password never reaches the log');
  } finally {
    await sim.close();
  }
});

test('the token is refreshed before it expires, and a dead refresh token means a new login', async () => {
  const sim = await portal({ tokenLifetimeS: 300 });
  const clock = new SimulatedClock(Date.now());
  const { s } = session(sim, { clock });
  try {
    const first = await s.token();
    clock.advance(60_000);
    assert.equal(await s.token(), first, 'still fresh: no request');
    clock.advance(70_000); // 130 s in: less than 180 s left
    const second = await s.token();
    assert.notEqual(second, first);
    assert.equal(paths(sim).at(-1), 'POST /protocol/openid-connect/token');
    assert.equal(s.logins, 1, 'refreshed, not logged in again');
    sim.expireTokens(true);
    clock.advance(200_000);
    await s.token();
    assert.equal(s.logins, 2, 'the refresh was refused: a full login');
  } finally {
    await sim.close();
  }
});

test('a restart uses the stored refresh token instead of logging in', async () => {
  const sim = await portal();
  const dataDir = tempDir();
  try {
    await session(sim, { dataDir }).s.token();
    const before = sim.requests.length;
    const again = session(sim, { dataDir }).s;
    await again.token();
    assert.deepEqual(paths(sim).slice(before), ['POST /protocol/openid-connect/token']);
    assert.equal(again.logins, 0);
  } finally {
    await sim.close();
  }
});

test('one login at a time per account', async () => {
  const sim = await portal();
  const { s } = session(sim);
  try {
    const tokens = await Promise.all([s.token(), s.token(), s.token(), s.token(), s.token()]);
    assert.equal(new Set(tokens).size, 1);
    assert.equal(paths(sim).filter((p) => p === 'POST /login-actions/authenticate').length, 1);
  } finally {
    await sim.close();
  }
});

test("a wrong password and a rejected proof-of-work fail with the portal's own words", async () => {
  const sim = await portal();
  try {
    const wrong = session(sim, { password: 'nope' });
    await assert.rejects(wrong.s.token(), (err: Error) => err instanceof LoginError && err.message === 'myVaillant refused the login: Invalid username or password.');
    assert.equal(wrong.s.lastError, 'myVaillant refused the login: Invalid username or password.');
    assert.ok(wrong.lines.some((l) => l.includes('Invalid username or password.')));
    // No new attempt for 5 minutes: a wrong password tried at every poll gets accounts blocked.
    const attempts = () => sim.requests.filter((r) => r.path.endsWith('/login-actions/authenticate')).length;
    const tried = attempts();
    await assert.rejects(wrong.s.token(), /Invalid username or password\.; next try at/);
    assert.equal(attempts(), tried, 'not tried again yet');
    sim.rejectAltcha = true;
    const pow = session(sim);
    await assert.rejects(pow.s.token(), /myVaillant refused the login: Altcha verification failed/);
  } finally {
    await sim.close();
  }
});

test('a challenge of the wrong shape is refused clearly', async () => {
  await assert.rejects(solveAltcha({ parameters: { algorithm: 'PBKDF2/SHA-256' } }), /unexpected shape/);
  await assert.rejects(solveAltcha({ parameters: { algorithm: 'SCRYPT', cost: 1, keyLength: 32, keyPrefix: '00', nonce: 'ab', salt: 'cd' }, signature: 'x' }), /unknown proof-of-work algorithm SCRYPT/);
});

test('a login page answering 503 with Retry-After is asked again after it; the form is posted once', async () => {
  const sim = await portal();
  // In front of the portal: the first request for the login page gets 503, the rest pass.
  let refused = 0;
  const front = createServer((req, res) => {
    if (req.url?.includes('/openid-connect/auth') && refused++ === 0) {
      res.writeHead(503, { 'retry-after': '1' });
      return res.end('busy');
    }
    const upstream = request({ host: '127.0.0.1', port: sim.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const { s, lines } = session(sim, { identityUrl: `http://127.0.0.1:${(front.address() as { port: number }).port}` });
  try {
    assert.match(await s.token(), /^[0-9a-f]{48}$/);
    assert.equal(refused, 2, 'the login page was asked twice');
    assert.deepEqual(paths(sim), ['GET /protocol/openid-connect/auth', 'GET /api/altcha/challenge', 'POST /login-actions/authenticate', 'POST /protocol/openid-connect/token']);
    assert.ok(lines.some((l) => /retry 1 of GET http:\/\/127\.0\.0\.1:\d+\/auth\/realms\/vaillant-germany-b2c\/protocol\/openid-connect\/auth\?…: HTTP 503/.test(l)), 'the retry is in the debug log, without the query');
  } finally {
    front.closeAllConnections();
    front.close();
    await sim.close();
  }
});

test('the refresh token read back from the store is a secret from the start: a portal echoing it does not put it in the log', async () => {
  const sim = await portal();
  const dataDir = tempDir();
  // In front of the portal: a refresh is refused with a text that quotes the token (and a line break).
  const front = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const form = new URLSearchParams(body.toString());
      if (req.url?.endsWith('/openid-connect/token') && form.get('grant_type') === 'refresh_token') {
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: 'invalid_grant', error_description: `Refresh token ${form.get('refresh_token')} is not active\nINFO forged line` }));
      }
      const upstream = request({ host: '127.0.0.1', port: sim.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  try {
    await session(sim, { dataDir }).s.token();
    const file = readdirSync(dataDir).find((f) => f.startsWith('vaillant_'))!;
    const stored = (JSON.parse(readFileSync(join(dataDir, file), 'utf8')) as { refreshToken: string }).refreshToken;
    assert.match(stored, /^[0-9a-f]{20,}$/);
    // A restart, with fresh secrets: only the store knows the token.
    const { s, lines, secrets } = session(sim, { dataDir, identityUrl: `http://127.0.0.1:${(front.address() as { port: number }).port}` });
    await s.token();
    assert.equal(s.logins, 1, 'the refresh was refused: logged in again');
    assert.ok(lines.some((l) => l.includes('refreshing the myVaillant token failed')), lines.join(''));
    assert.ok(!lines.join('').includes(stored), 'the stored refresh token never reaches the log');
    assert.ok(secrets.scrub(`x ${stored} y`).includes('***'));
    assert.ok(!lines.some((l) => /^INFO forged line/m.test(l)), 'the portal text stays on one line');
  } finally {
    front.closeAllConnections();
    front.close();
    await sim.close();
  }
});
