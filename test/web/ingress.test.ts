// As an add-on the page answers only the Supervisor's ingress proxy; the rule toggles refuse
// what a page of another site could send.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startApp } from '../helpers/app.js';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { INGRESS_PEER, isAllowedPeer } from '../../src/web/server.js';
import { TIMELINE_FILE } from '../../src/web/timeline.js';

/** A request with headers fetch does not let a test set (Host). */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const automation = {
  sources: [{ name: 'grid', mqtt: { topic: 'ingress/grid', json_path: 'power' } }],
  surplus: { grid: 'grid' },
  rules: [{ type: 'surplus_switch', name: 'Pump', power_w: 500, target: { mqtt: { command_topic: 'ingress/pump/set' } } }],
};

test('as an add-on (SUPERVISOR_TOKEN set), a request that does not come from the ingress proxy is refused', async () => {
  // The loopback address stands for any peer that is not 172.30.32.2.
  const t = await startApp(broker.port, { automation }, { supervisorToken: 'supervisor-token-for-test', web: { port: 0, host: '127.0.0.1' } });
  try {
    assert.equal(INGRESS_PEER, '172.30.32.2');
    const base = `http://127.0.0.1:${t.app.web!.port}`;
    for (const path of ['/', '/api/state', '/api/events', '/app.js']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 403, path);
      await res.body?.cancel();
    }
    const post = await fetch(`${base}/api/rules/pump`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    assert.equal(post.status, 403);
    assert.equal(t.app.engine!.rules[0]!.enabled, true, 'nothing changed');
    assert.ok(t.logs.some((line) => line.includes('not Home Assistant') && line.includes('ingress')), 'the refusal is logged');
  } finally {
    await t.stop();
  }
});

test('the ingress peer may come as an IPv4-mapped IPv6 address; forwarding headers are not trusted', async () => {
  assert.equal(isAllowedPeer('::ffff:172.30.32.2', INGRESS_PEER), true);
  assert.equal(isAllowedPeer('172.30.32.2', INGRESS_PEER), true);
  assert.equal(isAllowedPeer('::ffff:172.30.32.3', INGRESS_PEER), false);
  assert.equal(isAllowedPeer(undefined, INGRESS_PEER), false);
  // A peer that is not the proxy says it forwards for it: still refused.
  const t = await startApp(broker.port, { automation }, { supervisorToken: 'supervisor-token-for-test', web: { port: 0, host: '127.0.0.1' } });
  try {
    const port = t.app.web!.port;
    const spoofed = { 'x-forwarded-for': INGRESS_PEER, 'x-real-ip': INGRESS_PEER, 'x-ingress-path': '/api/hassio_ingress/abc', forwarded: `for=${INGRESS_PEER}` };
    assert.equal((await raw(port, 'GET', '/api/state', spoofed)).status, 403);
    assert.equal((await raw(port, 'POST', '/api/rules/pump', { ...spoofed, 'content-type': 'application/json' }, '{"enabled":false}')).status, 403);
    assert.equal(t.app.engine!.rules[0]!.enabled, true, 'nothing changed');
  } finally {
    await t.stop();
  }
  // A dual-stack socket sees an IPv4 client as ::ffff:127.0.0.1; the allowed peer 127.0.0.1 is still recognised.
  let dual;
  try {
    dual = await startApp(broker.port, { automation }, { supervisorToken: 'supervisor-token-for-test', web: { port: 0, host: '::', allowedPeer: '127.0.0.1' } });
  } catch {
    return; // no IPv6 here
  }
  try {
    if (!dual.app.web) return; // could not listen on ::
    assert.equal((await raw(dual.app.web.port, 'GET', '/api/state')).status, 200);
  } finally {
    await dual.stop();
  }
});

test('as an add-on, a request from the ingress proxy is served', async () => {
  const t = await startApp(broker.port, { automation }, { supervisorToken: 'supervisor-token-for-test', web: { port: 0, host: '127.0.0.1', allowedPeer: '127.0.0.1' } });
  try {
    const base = `http://127.0.0.1:${t.app.web!.port}`;
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>energy2mqtt<\/title>/);
    const state = (await (await fetch(`${base}/api/state`)).json()) as { rules: Array<{ slug: string }> };
    assert.deepEqual(state.rules.map((r) => r.slug), ['pump']);
    const post = await fetch(`${base}/api/rules/pump`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    assert.equal(post.status, 200);
    assert.equal(t.app.engine!.rules[0]!.enabled, false);
  } finally {
    await t.stop();
  }
});

test('outside HA the page is served only on a port it is given, and writes refuse other sites', async () => {
  const none = await startApp(broker.port, { automation });
  try {
    assert.equal(none.app.web, undefined, 'no port, no page');
  } finally {
    await none.stop();
  }
  const t = await startApp(broker.port, { automation, web: { port: 1 } }, { web: { port: 0 } });
  try {
    const url = `http://127.0.0.1:${t.app.web!.port}/api/rules/pump`;
    const send = (headers: Record<string, string>) => fetch(url, { method: 'POST', headers, body: '{"enabled":false}' });
    assert.equal((await send({ 'content-type': 'text/plain' })).status, 403, 'a form-like body');
    assert.equal((await send({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' })).status, 403, 'another site');
    assert.equal((await send({ 'content-type': 'application/json', origin: 'http://evil.example' })).status, 403, 'another origin');
    assert.equal(t.app.engine!.rules[0]!.enabled, true, 'nothing changed');
    assert.equal((await fetch(url.replace('pump', 'nope'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 404);
    assert.equal((await send({ 'content-type': 'application/json' })).status, 200);
    assert.equal(t.app.engine!.rules[0]!.enabled, false);
  } finally {
    await t.stop();
  }
});

test('outside HA a request for another host name is refused (DNS rebinding), GETs included', async () => {
  const t = await startApp(broker.port, { automation, web: { port: 1 } }, { web: { port: 0 } });
  try {
    const port = t.app.web!.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      assert.equal((await raw(port, 'GET', '/api/state', { host })).status, 200, host);
    }
    for (const host of [`evil.example:${port}`, '127.0.0.1', `127.0.0.1:${port + 1}`, `localhost.evil.example:${port}`]) {
      assert.equal((await raw(port, 'GET', '/', { host })).status, 403, host);
    }
    // After rebinding, Origin and Host agree on the attacker's name: still refused.
    const rebound = { host: `evil.example:${port}`, origin: `http://evil.example:${port}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' };
    assert.equal((await raw(port, 'POST', '/api/rules/pump', rebound, '{"enabled":false}')).status, 403);
    assert.equal(t.app.engine!.rules[0]!.enabled, true, 'nothing changed');
    assert.equal(t.logs.filter((line) => line.includes('refused a request for host')).length, 1, 'logged once');
  } finally {
    await t.stop();
  }
});

test('HEAD on the live stream takes no viewer slot; an oversized body gets its 413', async () => {
  const t = await startApp(broker.port, { automation, web: { port: 1 } }, { web: { port: 0 } });
  try {
    const port = t.app.web!.port;
    const head = await raw(port, 'HEAD', '/api/events');
    assert.equal(head.status, 405);
    assert.equal(head.headers.allow, 'GET');
    // 20 HEADs leave the slots free: a page still opens its stream.
    for (let i = 0; i < 20; i++) assert.equal((await raw(port, 'HEAD', '/api/events')).status, 405);
    const stream = await fetch(`http://127.0.0.1:${port}/api/events`);
    assert.equal(stream.status, 200);
    await stream.body?.cancel();
    const big = await raw(port, 'POST', '/api/rules/pump', { 'content-type': 'application/json' }, JSON.stringify({ enabled: false, pad: 'x'.repeat(4000) }));
    assert.equal(big.status, 413, 'the answer reaches the client');
    assert.equal(big.headers.connection, 'close');
    assert.match(big.body, /longer than 1024 bytes/);
    const bigReplay = await raw(port, 'POST', '/api/replay', { 'content-type': 'application/json' }, JSON.stringify({ day: '2026-06-21', pad: 'x'.repeat(20_000) }));
    assert.equal(bigReplay.status, 413);
    assert.equal(t.app.engine!.rules[0]!.enabled, true, 'nothing changed');
  } finally {
    await t.stop();
  }
});

test("a rule's timeline is kept across a restart", async () => {
  const t = await startApp(broker.port, { automation }, { web: { port: 0 } });
  const dataDir = t.dataDir;
  const base = () => `http://127.0.0.1:${t.app.web!.port}`;
  let opened: { t: number; reason: string } | undefined;
  try {
    const res = await fetch(`${base()}/api/rules/pump/timeline`);
    const first = (await res.json()) as { changes: Array<{ t: number; reason: string }> };
    assert.ok(first.changes.length >= 1, 'the first decision is recorded');
    assert.match(first.changes[0]!.reason, /source 'grid'/);
    opened = first.changes[0]!;
  } finally {
    await t.stop();
  }
  assert.ok(existsSync(join(dataDir, `${TIMELINE_FILE}.json`)), 'the timeline is on disk after the stop');
  // A little later: a timeline started afresh would open with a decision of this time.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const again = await startApp(broker.port, { automation }, { web: { port: 0 }, dataDir });
  try {
    const kept = (await (await fetch(`http://127.0.0.1:${again.app.web!.port}/api/rules/pump/timeline`)).json()) as { changes: Array<{ t: number; reason: string }> };
    assert.ok(kept.changes.length >= 1, 'still there after the restart');
    assert.equal(kept.changes[0]!.t, opened!.t, 'the same first change, read back from the file');
    assert.equal(kept.changes[0]!.reason, opened!.reason);
    assert.equal((await fetch(`http://127.0.0.1:${again.app.web!.port}/api/rules/other/timeline`)).status, 404);
  } finally {
    await again.stop();
  }
});
