// As an add-on the page answers only the Supervisor's ingress proxy; the rule toggles refuse
// what a page of another site could send.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startApp } from '../helpers/app.js';
import { INGRESS_PEER } from '../../src/web/server.js';

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

test("a rule's timeline is kept across a restart", async () => {
  const t = await startApp(broker.port, { automation }, { web: { port: 0 } });
  const dataDir = t.dataDir;
  const base = () => `http://127.0.0.1:${t.app.web!.port}`;
  try {
    const res = await fetch(`${base()}/api/rules/pump/timeline`);
    const first = (await res.json()) as { changes: Array<{ reason: string }> };
    assert.ok(first.changes.length >= 1, 'the first decision is recorded');
    assert.match(first.changes[0]!.reason, /source 'grid'/);
  } finally {
    await t.stop();
  }
  const again = await startApp(broker.port, { automation }, { web: { port: 0 }, dataDir });
  try {
    const kept = (await (await fetch(`http://127.0.0.1:${again.app.web!.port}/api/rules/pump/timeline`)).json()) as { changes: unknown[] };
    assert.ok(kept.changes.length >= 1, 'still there after the restart');
    assert.equal((await fetch(`http://127.0.0.1:${again.app.web!.port}/api/rules/other/timeline`)).status, 404);
  } finally {
    await again.stop();
  }
});
