// GivTCP's doors to the inverter, tried as a stranger on the LAN would: the REST API and the MQTT
// control topics write nothing they should not, and every refusal is said.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder, eventually, sleep } from '../../helpers/mqtt-client.js';
import { startApp } from '../../helpers/app.js';
import { AUTH, DEV, SERIAL, startGivEnergy } from '../../helpers/givenergy.js';
import { SimulatedClock } from '../../../src/core/clock.js';
import { GivEnergyDongleSimulator } from '../../../src/simulators/givenergy-dongle.js';
import { parseOptions } from '../../../src/options.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const CONTROL = `GivEnergy/control/${SERIAL}`;

/** A raw HTTP request, for what fetch will not send (HEAD with a body check, a foreign Origin...). */
function raw(url: string, method: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the REST API is off by default and not published on the host', async () => {
  const options = parseOptions({ givenergy: [{ host: '127.0.0.1' }] });
  assert.equal(options.givenergy_rest?.enabled ?? false, false);
  const manifest = parseYaml(readFileSync('config.yaml', 'utf8')) as { ports?: Record<string, unknown> };
  assert.equal(manifest.ports?.['6345/tcp'], null, 'no host port unless the user maps one');
  const sim = new GivEnergyDongleSimulator();
  const port = await sim.listen();
  const t = await startApp(broker.port, { givenergy: [{ host: '127.0.0.1', port, poll_interval: 3600 }], givenergy_rest: {} });
  try {
    assert.deepEqual(t.app.adapters.map((a) => a.id), [`givenergy/127.0.0.1:${port}`], 'no REST server');
  } finally {
    await t.stop();
    await sim.close();
  }
  assert.throws(() => parseOptions({ givenergy_rest: { enabled: true } }), { message: /^Invalid option givenergy_rest\.token: is needed when the REST API is enabled \(or set allow_unauthenticated: true\)\.$/ });
});

test('REST: a token on every request, a cross-site browser POST refused, refusals logged with the peer, rate-limited', async () => {
  const s = await startGivEnergy(broker);
  try {
    s.sim.hr[116] = 100;
    await s.adapter.poll(true);
    const before = s.sim.writes.length;
    // What a web page on the LAN can make a browser send without a preflight: text/plain, its Origin, no token.
    const browser = { 'content-type': 'text/plain;charset=UTF-8', origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' };
    const crossSite = await raw(`${s.restUrl}/setChargeTarget`, 'POST', browser, '{"chargeToPercent":"70"}');
    assert.equal(crossSite.status, 403);
    assert.match(crossSite.body, /requests from web pages of 'http:\/\/evil\.example' are not allowed/);
    // Even with the token, a foreign page is refused.
    assert.equal((await raw(`${s.restUrl}/setChargeTarget`, 'POST', { ...browser, ...AUTH, 'content-type': 'application/json' }, '{"chargeToPercent":"70"}')).status, 403);
    // No token, a wrong token, a token without "Bearer".
    assert.equal((await s.post('setChargeTarget', { chargeToPercent: '70' }, {})).status, 401);
    assert.equal((await s.post('setChargeTarget', { chargeToPercent: '70' }, { authorization: 'Bearer wrong-token-wrong-token' })).status, 401);
    assert.equal((await s.post('setChargeTarget', { chargeToPercent: '70' }, { authorization: AUTH.authorization.slice(7) })).status, 401);
    assert.equal((await raw(`${s.restUrl}/getCache`, 'GET')).status, 401, 'reads need the token too');
    for (let i = 0; i < 20; i++) await s.post('setChargeTarget', { chargeToPercent: '70' }, {});
    assert.equal(s.sim.writes.length, before, 'nothing was written');
    const refusals = s.t.logs.filter((l) => / WARN .*REST POST '\/setChargeTarget' from 127\.0\.0\.1 refused \(401\)/.test(l));
    assert.equal(refusals.length, 1, 'one warning a minute per peer and status, not 23');
    assert.equal(s.t.logs.filter((l) => / WARN .*from 127\.0\.0\.1 refused \(403\)/.test(l)).length, 1);
    // With the token and JSON it works.
    assert.equal((await s.post('setChargeTarget', { chargeToPercent: '70' })).status, 200);
    assert.deepEqual(s.sim.writes.slice(before).map((w) => [w.register, w.value]), [[116, 70]]);
  } finally {
    await s.stop();
  }
});

test('REST: JSON only, 413 for a huge body, 404 for what is not a command, 405 for a wrong method; refusals on the event topic', async () => {
  const s = await startGivEnergy(broker);
  const events = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event']);
  try {
    const before = s.sim.writes.length;
    const textPlain = await raw(`${s.restUrl}/setChargeTarget`, 'POST', { ...AUTH, 'content-type': 'text/plain' }, '{"chargeToPercent":"55"}');
    assert.equal(textPlain.status, 415);
    const event = JSON.parse((await events.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes('REST'))).payload);
    assert.equal(event.source, 'rest');
    assert.match(event.topic, /^REST \/setChargeTarget from 127\.0\.0\.1$/);
    assert.match(event.reason, /application\/json/);
    assert.ok(s.t.logs.some((l) => / WARN .*REST \/setChargeTarget from 127\.0\.0\.1 .*refused: commands must be sent as Content-Type: application\/json/.test(l)));

    const huge = await fetch(`${s.restUrl}/setChargeTarget`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: Buffer.alloc(10 * 1024 * 1024, 0x20) });
    assert.equal(huge.status, 413, 'an answer, not a reset');
    assert.match(((await huge.json()) as { error: string }).error, /larger than/);

    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'reboot', '/setChargeTarget']) {
      assert.equal((await s.post(name, {})).status, 404, name);
    }
    const wrong: Array<[string, string, string]> = [
      ['HEAD', 'getCache', 'GET'], ['POST', 'getCache', 'GET'], ['DELETE', 'getData', 'GET'], ['PUT', 'runAll', 'GET'],
      ['GET', 'setChargeTarget', 'POST'], ['HEAD', 'syncDateTime', 'POST'], ['PATCH', 'setBatteryMode', 'POST'], ['OPTIONS', 'setChargeTarget', 'POST'],
    ];
    for (const [method, route, allowed] of wrong) {
      const res = await raw(`${s.restUrl}/${route}`, method, AUTH);
      assert.equal(res.status, 405, `${method} /${route}`);
      assert.equal(res.headers.allow, allowed, `${method} /${route}`);
    }
    const badJson = await raw(`${s.restUrl}/setChargeTarget`, 'POST', { ...AUTH, 'content-type': 'application/json' }, '{"chargeToPercent":');
    assert.equal(badJson.status, 400);
    const refused = await s.post('setChargeTarget', { chargeToPercent: '2' });
    assert.equal(refused.status, 400);
    await events.waitFor('energy2mqtt/bridge/event', (p) => p.includes('must be at least 4 %') && p.includes('"source":"rest"'));
    assert.equal(s.sim.writes.length, before, 'nothing was written');
    assert.equal((await raw(`${s.restUrl}/setChargeTarget`, 'POST', { authorization: AUTH.authorization.replace('Bearer', 'bearer'), 'content-type': 'application/json' }, '{"chargeToPercent":"99"}')).status, 200, 'the scheme in any case');
  } finally {
    await events.close();
    await s.stop();
  }
});

test('REST: reads may be opened alone; an allowed origin gets CORS; allow_unauthenticated warns at start', async () => {
  let s = await startGivEnergy(broker, { rest: { token: undefined, allow_unauthenticated: true } });
  try {
    assert.ok(s.t.logs.some((l) => / WARN .*is open: anyone who can reach it can write the inverter/.test(l)));
    assert.equal((await s.post('setChargeTarget', { chargeToPercent: '90' }, {})).status, 200);
  } finally {
    await s.stop();
  }
  s = await startGivEnergy(broker, { rest: { allow_unauthenticated_reads: true, allowed_origins: ['http://homeassistant.local:8123'] } });
  try {
    assert.equal((await raw(`${s.restUrl}/getCache`, 'GET')).status, 200, 'reads without the token');
    // A page of another site reading the data (a plain GET carries no Origin, but Sec-Fetch-Site).
    assert.equal((await raw(`${s.restUrl}/runAll`, 'GET', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' })).status, 403);
    assert.equal((await s.post('setChargeTarget', { chargeToPercent: '90' }, {})).status, 401, 'writes still need it');
    const page = { origin: 'http://homeassistant.local:8123' };
    const preflight = await raw(`${s.restUrl}/setChargeTarget`, 'OPTIONS', { ...page, 'access-control-request-method': 'POST' });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], page.origin);
    const fromPage = await s.post('setChargeTarget', { chargeToPercent: '90' }, { ...AUTH, ...page });
    assert.equal(fromPage.status, 200);
    assert.equal(fromPage.headers.get('access-control-allow-origin'), page.origin);
  } finally {
    await s.stop();
  }
});

test('GivTCP control topics: retained and empty messages are refused and run at no start; every command checks its payload', async () => {
  const pub = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event']);
  // Left on the broker by some tool: with MQTT 3.1.1 it reaches us flagged retained whenever we subscribe.
  await pub.client.publishAsync(`${CONTROL}/setChargeTarget`, '60', { retain: true, qos: 1 });
  const s = await startGivEnergy(broker);
  let restarted: Awaited<ReturnType<typeof startGivEnergy>> | undefined;
  try {
    await pub.waitFor('energy2mqtt/bridge/event', (p) => p.includes('retained commands are ignored') && p.includes('setChargeTarget'));
    assert.ok(s.t.logs.some((l) => / WARN .*GivEnergy\/control\/SA2114G047\/setChargeTarget \(payload '60'\) refused: retained commands are ignored/.test(l)));
    s.sim.hr.splice(35, 6, 23, 4, 28, 12, 15, 36); // the inverter's clock, which syncDateTime would rewrite
    s.sim.hr[20] = 1;
    s.sim.hr[116] = 80;
    await s.adapter.poll(true);
    // An empty message is how a retained one is deleted: it must not run disableChargeTarget or syncDateTime.
    for (const command of ['setChargeTarget', 'disableChargeTarget', 'syncDateTime']) {
      await pub.client.publishAsync(`${CONTROL}/${command}`, '', { qos: 1 });
      await pub.waitFor('energy2mqtt/bridge/event', (p) => p.includes('an empty message is not a command') && p.includes(command));
    }
    for (const [command, payload] of [['disableChargeTarget', 'banana'], ['syncDateTime', 'now please'], ['setDischargeSlot1', 'not json']] as const) {
      await pub.publish(`${CONTROL}/${command}`, payload);
      await pub.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes(command) && p.includes(payload));
    }
    await sleep(100);
    assert.equal(s.sim.writes.length, 0, 'nothing was written');

    // A restart (and so a reconnect: we subscribe again) does not run it either.
    const mark = pub.mark();
    await s.t.stop();
    restarted = await startGivEnergy(broker, { config: { dataDir: s.t.dataDir } });
    await pub.waitFor('energy2mqtt/bridge/event', (p) => p.includes('retained commands are ignored'), 5000, mark);
    assert.equal(restarted.sim.writes.length, 0, 'the retained message did not run at start');
    await pub.client.publishAsync(`${CONTROL}/setChargeTarget`, '', { retain: true, qos: 1 }); // deletes it

    // GivTCP's own payload for disableChargeTarget still works.
    restarted.sim.hr[20] = 1;
    restarted.sim.hr[116] = 80;
    await restarted.adapter.poll(true);
    await pub.publish(`${CONTROL}/disableChargeTarget`, 'enable');
    await eventually(() => restarted!.sim.writes.length === 2, 3000, 'disableChargeTarget');
    assert.deepEqual(restarted.sim.writes.map((w) => [w.register, w.value]), [[20, 0], [116, 100]]);
  } finally {
    await pub.client.publishAsync(`${CONTROL}/setChargeTarget`, '', { retain: true, qos: 1 });
    await pub.close();
    await restarted?.stop();
    await s.sim.close();
  }
});

test('GivTCP payloads cannot forge a log line or flood the log and the events', async () => {
  const s = await startGivEnergy(broker);
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event']);
  try {
    const forged = '1999-01-01 00:00:00.000 ERROR [bridge] the inverter is on fire';
    await rec.publish(`${CONTROL}/setChargeStart1`, `01:00\n${forged}`);
    await rec.publish(`${CONTROL}/setChargeStart1`, 'x'.repeat(100_000));
    await s.post('setDateTime', { dateTime: `01/01/2026 00:00:00\n${forged}` });
    await s.post('setChargeEnd1', { finish: 'y'.repeat(10_000) });
    await eventually(() => rec.on('energy2mqtt/bridge/event').length >= 4, 5000, 'four rejection events');
    const lines = s.t.logs.join('').split('\n');
    assert.ok(!lines.some((l) => l.startsWith('1999-01-01')), 'no line of its own for the forged text');
    assert.ok(lines.filter((l) => l.includes('\\n1999-01-01')).length >= 2, 'the payloads are shown escaped');
    const longest = Math.max(...lines.map((l) => l.length));
    assert.ok(longest < 1500, `the longest log line has ${longest} characters`);
    assert.ok(lines.some((l) => l.includes('… (100000 chars)')), 'the full length is said');
    for (const m of rec.on('energy2mqtt/bridge/event')) assert.ok(m.payload.length < 1500, `event of ${m.payload.length} bytes`);
    assert.equal(s.sim.writes.length, 0);
  } finally {
    await rec.close();
    await s.stop();
  }
});

test('EEPROM budget on the simulated clock: 60 writes a minute, daily_write_budget a day, a warning at 80 %, kept across restarts', async () => {
  const clock = new SimulatedClock(new Date(2026, 11, 3, 23, 50, 0).getTime()); // the day ends in 10 minutes
  const events = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event', `energy2mqtt/${DEV}/writes_left_today`]);
  let s = await startGivEnergy(broker, { inverter: { daily_write_budget: 100 }, config: { clock } });
  s.adapter.writeLimits = { minGapMs: 0, perMinute: 60 };
  /** One register write through REST: a charge target the inverter does not hold yet. */
  const write = async () => {
    const res = await s.post('setChargeTarget', { chargeToPercent: s.sim.hr[116] === 50 ? '51' : '50' });
    return { status: res.status, error: ((await res.json()) as { error?: string }).error };
  };
  try {
    for (let i = 0; i < 60; i++) assert.equal((await write()).status, 200, `write ${i + 1}`);
    const perMinute = await write();
    assert.equal(perMinute.status, 400);
    assert.match(perMinute.error!, /more than 60 register writes in a minute/);
    clock.advance(61_000);
    for (let i = 60; i < 79; i++) assert.equal((await write()).status, 200, `write ${i + 1}`);
    assert.ok(!s.t.logs.some((l) => /register writes are used/.test(l)), 'no warning before 80 %');
    assert.equal((await write()).status, 200);
    assert.ok(s.t.logs.some((l) => / WARN .*80 of today's 100 register writes are used/.test(l)));
    const warning = JSON.parse((await events.waitFor('energy2mqtt/bridge/event', (p) => p.includes('write_budget'))).payload);
    assert.deepEqual([warning.used, warning.budget], [80, 100]);
    clock.advance(61_000);
    for (let i = 80; i < 100; i++) assert.equal((await write()).status, 200, `write ${i + 1}`);
    const spent = await write();
    assert.equal(spent.status, 400);
    assert.match(spent.error!, /today's budget of 100 register writes is spent; refused .* until midnight/);
    await events.waitFor(`energy2mqtt/${DEV}/writes_left_today`, (p) => p === '0');
    assert.equal(s.sim.writes.length, 100, 'exactly the budget reached the inverter');

    // A restart the same day does not give the budget back.
    await s.stop();
    s = await startGivEnergy(broker, { inverter: { daily_write_budget: 100 }, config: { clock, dataDir: s.t.dataDir } });
    s.adapter.writeLimits = { minGapMs: 0, perMinute: 60 };
    assert.match((await write()).error!, /today's budget of 100 register writes is spent/);
    // Past local midnight it starts again.
    clock.advance(8 * 60_000);
    assert.equal((await write()).status, 200);
    await events.waitFor(`energy2mqtt/${DEV}/writes_left_today`, (p) => p === '99');
  } finally {
    await events.close();
    await s.stop();
  }
});
