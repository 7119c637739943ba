// The Prowl client against the Prowl simulator over real HTTP: what arrives, a refused key,
// the hourly limit (406 stops sending until the reset), an outage, and errors without the key.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import got from 'got';
import { SimulatedClock } from '../../src/core/clock.js';
import { Secrets } from '../../src/core/secrets.js';
import { createHttpClient } from '../../src/io/http.js';
import { ProwlClient, ProwlError, parseProwlAnswer, PROWL_LIMIT_WINDOW_MS } from '../../src/notify/prowl.js';
import { ProwlSimulator } from '../../src/simulators/prowl.js';

const KEY = '0123456789abcdef0123456789abcdef01234567';
const OTHER_KEY = 'fedcba9876543210fedcba9876543210fedcba98';
const UNKNOWN_KEY = 'aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd';

const http = createHttpClient({ timeoutMs: 5000 });
const sims: ProwlSimulator[] = [];
after(async () => {
  for (const sim of sims) await sim.close();
});

async function setup(options: { keys?: string[]; hourlyLimit?: number } = {}) {
  const clock = new SimulatedClock();
  const sim = new ProwlSimulator({ keys: options.keys ?? [KEY, OTHER_KEY], hourlyLimit: options.hourlyLimit, now: () => clock.now() });
  sims.push(sim);
  await sim.listen();
  const secrets = new Secrets();
  const client = (apiKey = KEY, priority = 0) => new ProwlClient({ apiKey, url: sim.url, priority, http, secrets, clock });
  return { clock, sim, secrets, client };
}

async function prowlError(promise: Promise<unknown>): Promise<ProwlError> {
  const err = await promise.then(() => assert.fail('no error'), (e: unknown) => e);
  assert.ok(err instanceof ProwlError, `not a ProwlError: ${inspect(err)}`);
  return err;
}

test('a notification arrives with our application name, the text, the priority and the calls left', async () => {
  const { sim, client, clock } = await setup({ hourlyLimit: 1000 });
  const start = clock.now();
  const sent = await client(`${KEY} , ${OTHER_KEY}`, 1).add({ event: 'Tempo tomorrow: RED', description: 'Tomorrow is red.' });
  assert.equal(sim.received.length, 1);
  assert.deepEqual(sim.received[0], { apikeys: [KEY, OTHER_KEY], application: 'energy2mqtt', event: 'Tempo tomorrow: RED', description: 'Tomorrow is red.', priority: 1, at: start });
  assert.deepEqual(sent, { remaining: 999, resetAt: Math.floor((start + 3_600_000) / 1000) * 1000 });

  // Prowl's limits: a description over 10000 characters is cut, not refused.
  await client().add({ event: 'e'.repeat(2000), description: '€'.repeat(12_000) });
  assert.equal(sim.received.length, 2);
  assert.equal(Array.from(sim.received[1]!.description).length, 10_000);
  assert.equal(sim.received[1]!.event.length, 1024);
  assert.ok(sim.received[1]!.description.endsWith('€…'));
});

test('an unknown key is a 401 with a sentence that names the option, not the key', async () => {
  const { sim, client } = await setup();
  const err = await prowlError(client(UNKNOWN_KEY).add({ event: 'x', description: 'y' }));
  assert.equal(err.code, 401);
  assert.equal(err.message, "Prowl refused the API key (401: 'Invalid API key(s)'): check notifications.prowl_api_key");
  assert.equal(sim.received.length, 0);
  // One good key and one unknown one: Prowl refuses the call.
  assert.equal((await prowlError(client(`${KEY},${UNKNOWN_KEY}`).add({ event: 'x', description: 'y' }))).code, 401);
  assert.ok(!inspect(err, { depth: 10, showHidden: true }).includes(UNKNOWN_KEY));

  // verify checks each key (GET /verify?apikey=).
  const verified = await client(KEY).verify();
  assert.equal(verified.remaining, sim.hourlyLimit - 3, 'the two refused calls counted too');
  assert.deepEqual(sim.requests.at(-1), { method: 'GET', path: '/publicapi/verify', status: 200 });
  const bad = await prowlError(client(`${KEY},${UNKNOWN_KEY}`).verify());
  assert.equal(bad.code, 401);
  assert.ok(!bad.message.includes(UNKNOWN_KEY));
});

test('a 406 stops sending until the reset Prowl announced; a fresh hour sends again', async () => {
  const { sim, client, clock } = await setup({ hourlyLimit: 3 });
  const ours = client();
  const first = await ours.add({ event: 'one', description: '1' });
  assert.equal(first.remaining, 2);
  const reset = first.resetAt!;
  // Another program on the same address uses the rest of the hour.
  await client(OTHER_KEY).add({ event: 'other', description: '2' });
  await client(OTHER_KEY).add({ event: 'other', description: '3' });
  clock.advance(10 * 60_000);

  const limited = await prowlError(ours.add({ event: 'two', description: '4' }));
  assert.equal(limited.code, 406);
  assert.equal(limited.until, reset, 'blocked until the reset date of the last success, not an hour from now');
  assert.match(limited.message, /^Prowl's hourly API limit is used up \(406: 'Your IP address has exceeded the API limit'\); nothing is sent to Prowl before \d\d:\d\d UTC$/);
  assert.equal(ours.blockedUntil(), reset);

  const requests = sim.requests.length;
  const held = await prowlError(ours.add({ event: 'three', description: '5' }));
  assert.equal(held.code, 406);
  assert.equal(sim.requests.length, requests, 'no request while blocked');

  clock.advance(reset - clock.now() - 1000);
  await prowlError(ours.add({ event: 'still', description: '6' }));
  assert.equal(sim.requests.length, requests, 'one second before the reset: still blocked');
  clock.advance(1000);
  assert.equal(ours.blockedUntil(), undefined);
  const again = await ours.add({ event: 'four', description: '7' });
  assert.equal(again.remaining, 2);
  assert.deepEqual(sim.received.map((m) => m.event), ['one', 'other', 'other', 'four']);
});

test('the last call of the hour blocks at once, and a 406 without a known reset holds back an hour', async () => {
  const { sim, client, clock } = await setup({ hourlyLimit: 2 });
  const ours = client();
  await ours.add({ event: 'a', description: '1' });
  const last = await ours.add({ event: 'b', description: '2' });
  assert.equal(last.remaining, 0);
  const count = sim.requests.length;
  assert.equal((await prowlError(ours.add({ event: 'c', description: '3' }))).code, 406);
  assert.equal(sim.requests.length, count, 'Prowl said 0 calls left: no request is made');

  // A client that never saw a reset date (another program used the hour).
  const fresh = client(OTHER_KEY);
  const start = clock.now();
  const err = await prowlError(fresh.add({ event: 'd', description: '4' }));
  assert.equal(err.code, 406);
  assert.equal(err.until, start + PROWL_LIMIT_WINDOW_MS);
});

test('an outage is a 500 with a clear reason; when it ends, sending works again', async () => {
  const { sim, client } = await setup();
  const ours = client();
  sim.outage(true);
  const err = await prowlError(ours.add({ event: 'x', description: 'y' }));
  assert.equal(err.code, 500);
  assert.equal(err.message, "Prowl had an internal error (500: 'Internal server error'); the notification was not delivered");
  sim.outage(false);
  await ours.add({ event: 'x', description: 'y' });
  assert.equal(sim.received.length, 1);
});

test('a network error or a foreign answer names the problem, never the key, whatever got instance is used', async () => {
  const { sim, secrets, clock } = await setup();
  const url = sim.url;
  await sim.close();
  for (const client of [http, got]) {
    const prowl = new ProwlClient({ apiKey: KEY, url, http: client, secrets: new Secrets(), clock });
    const err = await prowlError(prowl.add({ event: 'x', description: 'y' }));
    assert.equal(err.code, 'ECONNREFUSED');
    assert.match(err.message, /^cannot reach Prowl \(.*ECONNREFUSED.*\)$/);
    const everything = inspect(err, { depth: 20, showHidden: true, getters: true });
    assert.ok(!everything.includes(KEY), everything);
  }
  assert.equal(secrets.size, 0, 'this test used fresh Secrets');

  // A server that is not Prowl (a captive portal, a wrong prowl_url).
  const { createServer } = await import('node:http');
  const portal = createServer((_req, res) => res.end('<html>Welcome</html>'));
  await new Promise<void>((resolve) => portal.listen(0, '127.0.0.1', resolve));
  try {
    const prowl = new ProwlClient({ apiKey: KEY, url: `http://127.0.0.1:${(portal.address() as { port: number }).port}/`, http, secrets, clock });
    const err = await prowlError(prowl.add({ event: 'x', description: 'y' }));
    assert.equal(err.message, "Prowl's answer is not the XML Prowl sends (HTTP 200): check notifications.prowl_url");
  } finally {
    portal.closeAllConnections();
    await new Promise<void>((resolve) => portal.close(() => resolve()));
  }
});

test("Prowl's XML answers are read, and nothing malformed makes the parser throw", () => {
  assert.deepEqual(parseProwlAnswer('<?xml version="1.0" encoding="UTF-8"?>\n<prowl>\n<success code="200" remaining="981" resetdate="1735714800" />\n</prowl>'), {
    ok: true,
    code: 200,
    remaining: 981,
    resetAt: 1_735_714_800_000,
  });
  assert.deepEqual(parseProwlAnswer("<prowl><error code='401'>Invalid API key &amp; more &#x41;</error></prowl>"), { ok: false, code: 401, message: 'Invalid API key & more A' });
  assert.deepEqual(parseProwlAnswer('<prowl><error code="406"/></prowl>'), { ok: false, code: 406, message: '' });
  assert.deepEqual(parseProwlAnswer('<prowl><success code="200" remaining="lots"/></prowl>'), { ok: true, code: 200 });
  assert.equal(parseProwlAnswer('<prowl><error>no code</error></prowl>'), undefined);
  assert.equal(parseProwlAnswer('{"success": true}'), undefined);
  assert.equal(parseProwlAnswer(''), undefined);

  // Fuzz: random cuts and byte flips of real answers, and random text.
  const samples = [
    '<?xml version="1.0" encoding="UTF-8"?><prowl><success code="200" remaining="993" resetdate="1382212452" /></prowl>',
    '<?xml version="1.0" encoding="UTF-8"?><prowl><error code="409">Not approved &#99999999; &#x110000;</error></prowl>',
  ];
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const alphabet = '<>/="\'&#;x0123456789 successerrorcoderemainingresetdate\n';
  for (let i = 0; i < 5000; i++) {
    let text = samples[i % samples.length]!;
    if (i % 3 === 0) text = text.slice(0, Math.floor(random() * text.length));
    const chars = Array.from(text);
    for (let flips = Math.floor(random() * 6); flips > 0; flips--) chars[Math.floor(random() * chars.length)] = alphabet[Math.floor(random() * alphabet.length)]!;
    if (i % 7 === 0) for (let n = 0; n < 40; n++) chars.push(alphabet[Math.floor(random() * alphabet.length)]!);
    const answer = parseProwlAnswer(chars.join(''));
    if (answer === undefined) continue;
    assert.ok(Number.isSafeInteger(answer.code) && answer.code >= 0);
    if (answer.ok) {
      if (answer.remaining !== undefined) assert.ok(Number.isSafeInteger(answer.remaining));
      if (answer.resetAt !== undefined) assert.ok(Number.isSafeInteger(answer.resetAt));
    } else assert.equal(typeof answer.message, 'string');
  }
});
