// The shared HTTP client against a local HTTP server: time limits, Retry-After, the cookie jar,
// and errors that name a request without its secrets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { createHttpClient, HttpError, MemoryCookieJar, shownUrl } from '../../src/io/http.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';

interface Seen {
  method: string;
  url: string;
  cookie?: string;
  at: number;
}

/** A server whose answer per request the test decides; it records every request it gets. */
async function server(answer: (req: IncomingMessage, res: ServerResponse, count: number) => void) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', cookie: req.headers.cookie, at: performance.now() });
    req.resume();
    req.on('end', () => answer(req, res, seen.length));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  const close = async () => {
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  };
  servers.push(close);
  return { seen, port, base: `http://127.0.0.1:${port}`, close };
}
const servers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of servers) await close();
});

const reply = (res: ServerResponse, status: number, headers: Record<string, string | string[]> = {}, body = '') => {
  res.writeHead(status, headers);
  res.end(body);
};

test('a request that gets no answer fails when its time limit is up, and the error says so', async () => {
  const s = await server(() => undefined); // never answers
  const http = createHttpClient({ timeoutMs: 150, retryLimit: 0 });
  const t0 = performance.now();
  const err = await http.get(`${s.base}/slow`).then(() => assert.fail('no error'), (e: unknown) => e);
  assert.ok(err instanceof HttpError);
  assert.equal(err.message, `GET ${s.base}/slow: timed out after 150 ms (request)`);
  assert.equal(err.code, 'ETIMEDOUT');
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(s.seen.length, 1);
});

test('a 503 with Retry-After is tried again after that many seconds, no more often than the limit', async () => {
  const s = await server((_req, res, count) => (count < 2 ? reply(res, 503, { 'retry-after': '1' }) : reply(res, 200, {}, 'ok')));
  const http = createHttpClient({ retryLimit: 2 });
  assert.equal(await http.get(`${s.base}/flaky`).text(), 'ok');
  assert.equal(s.seen.length, 2);
  assert.ok(s.seen[1]!.at - s.seen[0]!.at >= 990, `waited ${Math.round(s.seen[1]!.at - s.seen[0]!.at)} ms`);

  const down = await server((_req, res) => reply(res, 503, { 'retry-after': '1' }));
  const once = createHttpClient({ retryLimit: 1 });
  await assert.rejects(once.get(`${down.base}/down`), (err: Error) => err instanceof HttpError && err.statusCode === 503 && /: HTTP 503 Service Unavailable$/.test(err.message));
  assert.equal(down.seen.length, 2, 'the first try and one retry');
  assert.ok(down.seen[1]!.at - down.seen[0]!.at >= 990);
});

test('no retry for a Retry-After beyond the cap, for a POST, or where retries are off', async () => {
  const s = await server((_req, res) => reply(res, 503, { 'retry-after': '5' }));
  const t0 = performance.now();
  await assert.rejects(createHttpClient({ maxRetryAfterMs: 1000 }).get(`${s.base}/later`), /HTTP 503/);
  assert.equal(s.seen.length, 1, 'a 5 s wait is over the 1 s cap: the caller decides');
  assert.ok(performance.now() - t0 < 900);

  const p = await server((_req, res) => reply(res, 503, { 'retry-after': '1' }));
  await assert.rejects(createHttpClient().post(`${p.base}/write`, { json: { on: true } }), /POST .*\/write: HTTP 503/);
  assert.equal(p.seen.length, 1, 'a POST may have taken effect: never sent twice');

  // A client that counts its own requests (the myVaillant API) sees the 503 itself, once.
  const q = await server((_req, res) => reply(res, 503, { 'retry-after': '1' }, 'busy'));
  const counted = createHttpClient().extend({ retry: { limit: 0 }, throwHttpErrors: false });
  const res = await counted.get(`${q.base}/counted`);
  assert.deepEqual([res.statusCode, res.headers['retry-after'], res.body, q.seen.length], [503, '1', 'busy', 1]);
});

test('a cookie set by one answer is sent to the same host on the next request, and not to another host', async () => {
  const s = await server((req, res) => {
    if (req.url === '/login') return reply(res, 200, { 'set-cookie': ['sid=abc123; Path=/; HttpOnly', 'realm=r1; Path=/realms/one/'] });
    reply(res, 200);
  });
  const jar = new MemoryCookieJar();
  const http = createHttpClient({ retryLimit: 0 }).extend({ cookieJar: jar, dnsLookupIpVersion: 4 });
  await http.get(`${s.base}/login`);
  await http.get(`${s.base}/realms/one/form`);
  await http.get(`${s.base}/elsewhere`);
  await http.get(`http://localhost:${s.port}/realms/one/form`); // the same server under another host name
  assert.deepEqual(s.seen.map((r) => r.cookie), [undefined, 'realm=r1; sid=abc123', 'sid=abc123', undefined]);
  // Another login starts with an empty jar.
  await createHttpClient().extend({ cookieJar: new MemoryCookieJar() }).get(`${s.base}/elsewhere`);
  assert.equal(s.seen.at(-1)!.cookie, undefined);
});

test('the cookie jar: domains, paths, expiry, Secure', () => {
  let now = 1_000_000;
  const jar = new MemoryCookieJar(() => now);
  const at = (url: string) => jar.header(new URL(url));
  assert.ok(jar.store('a=1; Domain=.example.com; Path=/', new URL('https://login.example.com/x')));
  assert.ok(jar.store('b=2', new URL('https://login.example.com/auth/realms/form')));
  assert.ok(!jar.store('c=3; Domain=other.com', new URL('https://login.example.com/')), 'a domain the host is not in');
  assert.ok(!jar.store('d=4; Domain=com', new URL('https://example.com/')), 'a top-level domain');
  assert.ok(!jar.store('novalue', new URL('https://example.com/')));
  assert.ok(jar.store('s=5; Secure; Max-Age=60', new URL('https://example.com/')));
  assert.equal(at('https://api.example.com/'), 'a=1', 'domain cookie to a sibling host; the host-only one not');
  assert.equal(at('https://login.example.com/auth/realms/x'), 'b=2; a=1', 'default path /auth/realms; longer paths first');
  assert.equal(at('https://login.example.com/auth/realmsx'), 'a=1');
  assert.equal(at('https://example.com/'), 'a=1; s=5');
  assert.equal(at('http://example.com/'), 'a=1', 'a Secure cookie never over plain http');
  now += 61_000;
  assert.equal(at('https://example.com/'), 'a=1', 'Max-Age has passed');
  jar.store('a=1; Domain=example.com; Path=/; Max-Age=0', new URL('https://example.com/'));
  jar.store('b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT', new URL('https://login.example.com/auth/realms/form'));
  assert.equal(jar.size, 0, 'Max-Age=0 and a past Expires delete');
});

const SECRETS = ['SECRET-CODE-77', 'TOKEN-XYZ-99', 'COOKIE-VAL-55', 'PASSWORD-33', 'BODYTOKEN-11'];

/** Everything a log line could show of an error: message, stack, inspect, and our logger's output. */
function shown(err: unknown): string {
  const lines: string[] = [];
  for (const format of ['text', 'json'] as const) {
    const log = new LogHub({ level: 'debug', format, secrets: new Secrets(), out: { write: (l) => void lines.push(l) } }).child('http');
    log.error({ err }, 'request failed');
    log.warn(`request failed: ${(err as Error).message}`);
  }
  return [(err as Error).message, (err as Error).stack, inspect(err, { depth: 5 }), JSON.stringify(err), ...lines].join('\n');
}

function assertNoSecret(err: unknown) {
  assert.ok(err instanceof HttpError, String(err));
  const text = shown(err);
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} shows in:\n${text}`);
}

test('an error never shows the code, token, cookie, password or body of its request', async () => {
  const s = await server((req, res) => {
    if (req.url === '/login') return reply(res, 200, { 'set-cookie': 'sid=COOKIE-VAL-55; Path=/' });
    if (req.url?.startsWith('/json')) return reply(res, 200, { 'content-type': 'application/json' }, 'access_token=BODYTOKEN-11');
    if (req.url?.startsWith('/slow')) return;
    reply(res, 500, {}, 'BODYTOKEN-11');
  });
  const jar = new MemoryCookieJar();
  const http = createHttpClient({ timeoutMs: 200, retryLimit: 0 }).extend({ cookieJar: jar });
  await http.get(`${s.base}/login`);
  const auth = { authorization: 'Bearer TOKEN-XYZ-99' };

  const status = await http.get(`${s.base}/callback?state=s&code=SECRET-CODE-77`, { headers: auth }).catch((e: unknown) => e);
  assertNoSecret(status);
  assert.equal((status as HttpError).message, `GET ${s.base}/callback?…: HTTP 500 Internal Server Error`);
  assert.equal((status as HttpError).body, 'BODYTOKEN-11', 'the body is there for the caller, not for the log');

  const timeout = await http.post(`${s.base}/slow?token=TOKEN-XYZ-99`, { form: { username: 'anna', password: 'PASSWORD-33' }, headers: auth }).catch((e: unknown) => e);
  assertNoSecret(timeout);
  assert.match((timeout as Error).message, /^POST .*\/slow\?…: timed out after 200 ms/);

  const json = await http.get(`${s.base}/json?code=SECRET-CODE-77`, { responseType: 'json', headers: auth }).catch((e: unknown) => e);
  assertNoSecret(json);
  assert.match((json as Error).message, /: the answer is not valid JSON \(HTTP 200\)$/);

  const gone = await server(() => undefined);
  await gone.close(); // nothing listens on its port any more
  const refused = await http.get(`http://anna:PASSWORD-33@127.0.0.1:${gone.port}/x?code=SECRET-CODE-77`, { headers: auth }).catch((e: unknown) => e);
  assertNoSecret(refused);
  assert.match((refused as Error).message, /^GET http:\/\/127\.0\.0\.1:\d+\/x\?…: connect ECONNREFUSED/);

  const invalid = await http.get('http://exa mple.com/?code=SECRET-CODE-77').catch((e: unknown) => e);
  assertNoSecret(invalid);
});

test('shown URLs lose user, password, query and fragment', () => {
  assert.equal(shownUrl('https://u:p@host.example:8443/a/b?code=x#frag'), 'https://host.example:8443/a/b?…');
  assert.equal(shownUrl('https://host.example/a'), 'https://host.example/a');
  assert.equal(shownUrl('not a url'), 'an unparsable URL');
});
