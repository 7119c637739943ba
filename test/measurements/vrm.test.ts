// VRM sources through the real app, against the simulated VRM API on a real HTTP socket, on a
// simulated clock: values in W and %, one login and one poll per interval however many sources
// read an installation, a new login on 401, the data's own age (and the limit on it), 429 and its
// Retry-After, the access-token scheme, and no password or token in any log line or MQTT message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { VrmSimulator } from '../../src/simulators/vrm.js';
import { readCode, type VrmMeasurement } from '../../src/measurements/vrm.js';
import { sourceOptions } from '../../src/measurements/options.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const SITE = 123456;
const USER = 'vrm-user@example.com';
const PASSWORD = 'vrm-pass-S3cret!';
const ACCESS_TOKEN = 'vrm-access-0123456789abcdef0123';

test('username and password: one login and one poll per interval for two sources, W and %, a new login on 401, the data age told, no secret in logs or MQTT', async () => {
  const clock = new SimulatedClock();
  const sim = new VrmSimulator({ now: () => clock.now(), users: [{ username: USER, password: PASSWORD, installations: [SITE] }] });
  await sim.listen();
  const vrm = (code: string) => ({ installation_id: SITE, code, username: USER, password: PASSWORD, url: sim.url });
  const sources = [
    { name: 'battery_soc', vrm: vrm('SOC') },
    { name: 'grid', vrm: vrm('grid') },
    { name: 'mppt', vrm: vrm('ScW') },
  ];
  const recorder = await Recorder.connect(broker.port, ['#']);
  const t = await startApp(broker.port, { automation: { sources } }, { clock });
  try {
    const soc = t.app.measurements.get('battery_soc') as VrmMeasurement;
    const grid = t.app.measurements.get('grid')!;
    const mppt = t.app.measurements.get('mppt')!;
    const polled = (n: number) => eventually(() => t.logs.filter((l) => l.includes(`installation ${SITE}: 7 diagnostics records`)).length === n, 5000, `poll ${n} taken`);
    await polled(1);
    assert.deepEqual([soc.value, grid.value, mppt.value], [95, 12 - 3 + 5, 850], 'SOC in %, grid = g1p + g2p + g3p in W, ScW in W');
    assert.equal(soc.staleAfterS, 1200, "a VRM source's default limit is 20 min");
    assert.equal(sim.logins, 1);
    assert.equal(sim.diagnostics(SITE).length, 1, 'three sources, one request');
    assert.equal(sim.diagnostics(SITE)[0]!.auth, 'bearer');

    clock.advance(59_000);
    assert.equal(sim.diagnostics(SITE).length, 1, 'nothing before the interval');
    clock.advance(1_000);
    await polled(2);
    assert.equal(sim.diagnostics(SITE).length, 2, 'one request per interval');
    assert.equal(sim.logins, 1, 'the login is kept');

    // The login's token expires: 401, one new login, the same poll gets its data.
    sim.expireTokens();
    sim.setValue(SITE, 'SOC', 80);
    clock.advance(60_000);
    await polled(3);
    assert.equal(soc.value, 80);
    assert.equal(sim.logins, 2);
    assert.deepEqual(sim.requests.slice(-3).map((r) => `${r.method} ${r.path} ${r.status}`), [
      `GET /v2/installations/${SITE}/diagnostics 401`,
      'POST /v2/auth/login 200',
      `GET /v2/installations/${SITE}/diagnostics 200`,
    ]);

    // VRM's data is as old as the GX's last log: the age and why() say so.
    sim.setLoggedAt(SITE, clock.now() - 5 * 60_000);
    clock.advance(60_000);
    await polled(4);
    assert.equal(soc.value, 80, 'six minutes is within the limit');
    assert.ok(soc.ageS >= 360 && soc.ageS < 361, `the age is the data's (${soc.ageS} s)`);
    assert.equal(soc.why(), "VRM data is 6 min old (source 'battery_soc')");
    // The GX stops logging: past the limit the value goes, and the reason says why.
    clock.advance(14 * 60_000 - 1000);
    assert.equal(soc.value, 80);
    clock.advance(60_000);
    await eventually(() => soc.value === undefined, 5000, 'the data past its limit');
    assert.match(soc.why(), /VRM data is 2\d min old/);

    const secrets = [PASSWORD, ...sim.issuedTokens];
    assert.equal(sim.issuedTokens.length, 2);
    const everything = [...t.logs, ...recorder.messages.map((m) => `${m.topic} ${m.payload}`)];
    assert.deepEqual(everything.filter((line) => secrets.some((s) => line.includes(s))), [], 'no password or token shows');
    assert.ok(t.logs.some((l) => l.includes('logging in again')), 'the new login is logged (without its token)');
  } finally {
    await recorder.close();
    await t.stop();
    await sim.close();
  }
});

test('an access token: the Token scheme, 429 waited out as Retry-After asks, 403 for an installation it cannot read is the reason, no login tried', async () => {
  const clock = new SimulatedClock();
  const sim = new VrmSimulator({ now: () => clock.now(), accessTokens: [{ token: ACCESS_TOKEN, installations: [7] }] });
  await sim.listen();
  const vrm = (installation: number, code: string) => ({ installation_id: installation, code, token: ACCESS_TOKEN, url: sim.url, interval: 120 });
  const t = await startApp(broker.port, { automation: { sources: [{ name: 'pv', vrm: vrm(7, 'ScW') }, { name: 'other', vrm: vrm(8, 'SOC') }] } }, { clock });
  try {
    const pv = t.app.measurements.get('pv')!;
    const other = t.app.measurements.get('other')!;
    await eventually(() => pv.value === 850, 5000, 'the value');
    await eventually(() => other.why().includes('refused'), 5000, 'the 403 reason');
    assert.match(other.why(), /VRM refused the access token for installation 8 \(HTTP 403: 'You do not have access to this installation'\)/);
    assert.deepEqual(sim.requests.map((r) => r.auth), ['token', 'token']);
    assert.equal(sim.requests.filter((r) => r.path === '/v2/auth/login').length, 0, 'no login with an access token');

    // VRM says "slow down" for five minutes: nothing is asked before then.
    sim.rateLimitFor(300);
    clock.advance(120_000);
    await eventually(() => sim.diagnostics(7).length === 2, 5000, 'the poll that gets the 429');
    assert.equal(sim.diagnostics(7)[1]!.status, 429);
    await eventually(() => /HTTP 429/.test(pv.problem ?? ''), 5000, 'the 429 reason');
    const blockedUntil = sim.diagnostics(7)[1]!.at + 180_000;
    clock.advance(blockedUntil - clock.now());
    await eventually(() => sim.diagnostics(7).length === 3 && sim.diagnostics(7)[2]!.status === 200, 5000, 'the poll after Retry-After');
    assert.equal(sim.diagnostics(7)[2]!.at, blockedUntil, 'not one request before Retry-After');
    assert.deepEqual(t.logs.filter((l) => l.includes(ACCESS_TOKEN)), []);
  } finally {
    await t.stop();
    await sim.close();
  }
});

test('vrm options: credentials one way, a code, the interval at least 60 s, exactly one kind', () => {
  const ok = sourceOptions.parse({ name: 'soc', vrm: { installation_id: 1, code: 'SOC', token: 'x'.repeat(20) } });
  assert.equal(ok.stale_after, 1200);
  assert.equal(ok.vrm?.interval, 60);
  assert.equal(ok.vrm?.url, 'https://vrmapi.victronenergy.com');
  const issues = (o: unknown) => {
    const r = sourceOptions.safeParse(o);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  assert.deepEqual(issues({ name: 'soc', vrm: { installation_id: 1, code: 'SOC', token: 'abc', username: 'u', password: 'p' } }), ['vrm.token: give either token or username and password, not both']);
  assert.deepEqual(issues({ name: 'soc', vrm: { installation_id: 1, code: 'SOC', username: 'u' } }), ['vrm.password: VRM needs an access token, or username and password']);
  assert.deepEqual(issues({ name: 'soc', vrm: { installation_id: 1, token: 'abc' } }), ['vrm.code: is needed for a VRM source (SOC, bp, ScW, g1p, grid, ...)']);
  assert.ok(issues({ name: 'soc', vrm: { installation_id: 1, code: 'SOC', token: 'abc', interval: 30 } }).some((i) => i.startsWith('vrm.interval')), 'Victron asks for no more than one poll a minute');
  assert.ok(issues({ name: 'soc', vrm: { installation_id: 1, code: 'SOC', token: 'abc' }, ha_entity: 'sensor.soc' }).some((i) => i.includes('exactly one of')));
  assert.equal(sourceOptions.parse({ name: 'soc', ha_entity: 'sensor.soc', vrm: {} }).stale_after, 60, 'an empty vrm block is no source');
});

test('reading a code from diagnostics records: rawValue, formattedValue, grid phases, and junk without a throw', () => {
  const records = [
    { code: 'SOC', rawValue: '87.5', formattedValue: '87.5 %', timestamp: 1_700_000_000 },
    { code: 'bp', rawValue: null, formattedValue: '-120 W', timestamp: 1_700_000_060 },
    { code: 'g1p', rawValue: 100, timestamp: 1_700_000_000 },
    { code: 'g2p', rawValue: -40, timestamp: 1_699_999_940 },
    { code: 'bst', rawValue: 'Charging', formattedValue: 'Charging' },
    { code: 'SOC', rawValue: 1 },
  ];
  assert.deepEqual(readCode(records, 'SOC'), { value: 87.5, at: 1_700_000_000_000 });
  assert.deepEqual(readCode(records, 'bp'), { value: -120, at: 1_700_000_060_000 });
  assert.deepEqual(readCode(records, 'grid'), { value: 60, at: 1_699_999_940_000 }, 'the phases there are, the oldest time');
  assert.equal(readCode(records, 'bst'), "VRM's bst is not a number: 'Charging'");
  assert.match(readCode(records, 'ScW') as string, /^VRM has no diagnostics code 'ScW' for this installation \(it has SOC, bp, g1p, g2p, bst\)$/);
  const junk: unknown[] = [null, 1, 'x', [], {}, { code: 5 }, { code: 'SOC', rawValue: {} }, { code: 'SOC', formattedValue: 7 }, { code: 'SOC', rawValue: Number.NaN }, { code: 'SOC', rawValue: '1e999' }];
  for (let i = 0; i < 300; i++) {
    const text = Array.from({ length: 1 + (i % 30) }, (_, k) => String.fromCharCode(32 + ((i * 13 + k * 7) % 95))).join('');
    junk.push({ code: 'SOC', rawValue: text, formattedValue: text, timestamp: text });
  }
  for (const record of junk) {
    const found = readCode([record], 'SOC');
    assert.ok(typeof found === 'string' || Number.isFinite(found.value), JSON.stringify(record));
  }
});

test('the what-if replay (no bridge) asks no cloud: its cloud sources are set by hand', async () => {
  const { Measurements } = await import('../../src/measurements/service.js');
  const { LogHub } = await import('../../src/core/logger.js');
  const { Secrets } = await import('../../src/core/secrets.js');
  const clock = new SimulatedClock();
  const sim = new VrmSimulator({ now: () => clock.now(), accessTokens: [{ token: ACCESS_TOKEN, installations: [7] }] });
  await sim.listen();
  try {
    const measurements = new Measurements({ clock, log: new LogHub({ level: 'debug', secrets: new Secrets(), out: { write: () => undefined } }).child('replay') });
    const soc = measurements.define(sourceOptions.parse({ name: 'soc', vrm: { installation_id: 7, code: 'SOC', token: ACCESS_TOKEN, url: sim.url } }));
    const pv = measurements.define(sourceOptions.parse({ name: 'pv', forecast_solar: { latitude: 50, longitude: 8, declination: 30, azimuth: 0, kwp: 5, url: sim.url } }));
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(3600_000);
    soc.set(55);
    pv.set(1200);
    assert.deepEqual([soc.value, pv.value], [55, 1200]);
    await measurements.stop();
    // A request would have arrived by now: the sockets are local and the clock moved an hour.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(sim.requests, []);
  } finally {
    await sim.close();
  }
});
