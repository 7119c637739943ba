// forecast.solar sources through the real app, against the simulated API on a real HTTP socket,
// on a simulated clock: the forecast power now in W, interpolated and recomputed as time passes,
// a new forecast only every few hours and none on a restart that finds one stored; a 429 keeps
// every request (a restart's included) until its retry-at; a 422 becomes the reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp, tempDir } from '../helpers/app.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { ForecastSolarSimulator } from '../../src/simulators/forecast-solar.js';
import { curveOf, powerAt, FORECAST_REFRESH_MS } from '../../src/measurements/forecast-solar.js';
import { sourceOptions } from '../../src/measurements/options.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const PLANE = { latitude: 52.16, longitude: 4.47, declination: 30, azimuth: 0, kwp: 5 };
/** 12:00 in Berlin, midsummer. */
const NOON = Date.UTC(2026, 5, 21, 10, 0, 0);
const API_KEY = 'fs-personal-key-7Hq2';

function automation(url: string, extra: Record<string, unknown> = {}, name = 'pv_forecast') {
  return { automation: { sources: [{ name, forecast_solar: { ...PLANE, url, ...extra } }] } };
}

test('the forecast power now, in W: interpolated between the curve\'s points, recomputed, refreshed every few hours, kept across a restart', async () => {
  const clock = new SimulatedClock(NOON);
  const sim = new ForecastSolarSimulator({ now: () => clock.now(), keys: [API_KEY] });
  await sim.listen();
  const dataDir = tempDir();
  let t = await startApp(broker.port, automation(sim.url, { api_key: API_KEY }), { clock, dataDir });
  const recorder = await Recorder.connect(broker.port, ['#']);
  try {
    const m = t.app.measurements.get('pv_forecast')!;
    // Taken (and the next fetch planned) when the log says so.
    const taken = (n: number) => eventually(() => t.logs.filter((l) => l.includes('forecast fetched')).length === n, 5000, `forecast ${n} taken`);
    await eventually(() => m.value !== undefined, 5000, 'the first forecast');
    assert.equal(sim.estimates.length, 1, 'one request on the first use');
    assert.equal(sim.estimates[0]!.path, '/<key>/estimate/52.16/4.47/30/0/5');
    assert.equal(sim.estimates[0]!.query, '?time=iso8601');
    // 12:00 is one of the curve's points: the value is the curve's, in W.
    assert.equal(m.value, sim.powerAt(5, NOON));
    assert.ok(m.value! > 3000, `about 3.7 kW at noon, got ${m.value}`);
    assert.equal(m.staleAfterS, 3600, "a forecast source's default limit is an hour");
    assert.equal(m.ageS, 0);

    // Half past: halfway between 12:00 and 13:00, and never older than the recompute period.
    await taken(1);
    clock.advance(30 * 60_000);
    const expected = Math.round((sim.powerAt(5, NOON) + sim.powerAt(5, NOON + 3600_000)) / 2);
    assert.ok(Math.abs(m.value! - expected) <= 1, `${m.value} ≈ ${expected}`);
    assert.ok(m.ageS <= 15, `recomputed every 15 s (age ${m.ageS} s)`);
    assert.equal(sim.estimates.length, 1, 'no new request within the refresh period');

    // Night: 0, not missing.
    clock.advance(FORECAST_REFRESH_MS - 30 * 60_000);
    await taken(2);
    assert.equal(sim.estimates[1]!.at, NOON + FORECAST_REFRESH_MS);
    clock.advance(4 * 3600_000); // 20:00 Berlin
    await taken(3);
    clock.advance(4 * 3600_000); // 00:00 Berlin: tonight
    await taken(4);
    assert.deepEqual(sim.estimates.map((r) => (r.at - NOON) / 3600_000), [0, 4, 8, 12], 'every four hours, no more');
    assert.equal(m.value, 0, 'the forecast at night is 0 W');

    // A restart that finds a forecast younger than the refresh period asks nothing.
    await t.stop();
    const before = sim.estimates.length;
    clock.advance(60 * 60_000);
    t = await startApp(broker.port, automation(sim.url, { api_key: API_KEY }), { clock, dataDir });
    const again = t.app.measurements.get('pv_forecast')!;
    await eventually(() => again.value !== undefined, 5000, 'the stored forecast');
    assert.equal(again.value, 0);
    assert.equal(sim.estimates.length, before, 'no request after the restart');
    assert.ok(t.logs.some((l) => l.includes('using the stored forecast')), 'the log says so');

    // The key is in the path, so no log line and no MQTT message may show it.
    const everything = [...t.logs, ...recorder.messages.map((msg) => `${msg.topic} ${msg.payload}`)];
    assert.ok(everything.length > 0);
    assert.deepEqual(everything.filter((l) => l.includes(API_KEY)), [], 'the API key never shows');
  } finally {
    await recorder.close();
    await t.stop();
    await sim.close();
  }
});

/** A request the test makes itself, to use up the simulator's rate window. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => request(url, (res) => (res.resume(), res.on('end', () => resolve(res.statusCode ?? 0)))).on('error', reject).end());
}

test('a 429 is honoured: no request before its retry-at, a restart included', async () => {
  const clock = new SimulatedClock(NOON);
  const sim = new ForecastSolarSimulator({ now: () => clock.now(), limit: { public: 1 } });
  await sim.listen();
  // Someone else on this address used the hour's only call ten minutes ago.
  assert.equal(await get(`${sim.url}/estimate/1/2/30/0/1?time=iso8601`), 200);
  const retryAt = NOON + 3600_000;
  clock.advance(10 * 60_000);
  const dataDir = tempDir();
  let t = await startApp(broker.port, automation(sim.url), { clock, dataDir });
  try {
    const m = t.app.measurements.get('pv_forecast')!;
    await eventually(() => sim.estimates.length === 2, 5000, "the app's first request");
    assert.equal(sim.estimates[1]!.status, 429);
    await eventually(() => /rate limit/.test(m.why()), 5000, 'the reason');
    assert.equal(m.value, undefined);
    assert.match(m.why(), /^no value yet from source 'pv_forecast' \(forecast\.solar's rate limit is reached; next try at 2026-06-21T11:00:00\.000Z\)$/);
    assert.ok(t.logs.some((l) => l.includes('rate limit reached') && l.includes('2026-06-21T11:00:00.000Z')));

    // A restart twenty minutes later keeps waiting: the retry time is in the store.
    clock.advance(10 * 60_000);
    await t.stop();
    clock.advance(10 * 60_000);
    t = await startApp(broker.port, automation(sim.url), { clock, dataDir });
    const again = t.app.measurements.get('pv_forecast')!;
    await eventually(() => t.logs.some((l) => l.includes('rate limit asked to wait; next fetch at 2026-06-21T11:00:00.000Z')), 5000, 'the stored retry time');
    clock.advance(retryAt - clock.now() - 1000);
    clock.advance(1000);
    await eventually(() => again.value !== undefined, 5000, 'the forecast after retry-at');
    const afterFirst = sim.estimates.slice(2);
    assert.deepEqual(afterFirst.map((r) => [r.at, r.status]), [[retryAt, 200]], 'the only request came at retry-at, and it worked');
  } finally {
    await t.stop();
    await sim.close();
  }
});

test('a location forecast.solar refuses (422) is the reason, and is not asked again for hours', async () => {
  const clock = new SimulatedClock(NOON);
  const sim = new ForecastSolarSimulator({ now: () => clock.now(), refuseLocation: (lat) => (lat === 52.16 ? 'Location is not supported' : undefined) });
  await sim.listen();
  const t = await startApp(broker.port, automation(sim.url), { clock });
  try {
    const m = t.app.measurements.get('pv_forecast')!;
    await eventually(() => m.why().includes('refused'), 5000, 'the 422 reason');
    assert.equal(m.why(), "no value yet from source 'pv_forecast' (forecast.solar refused the plane's location or orientation: 'Location is not supported')");
    assert.equal(sim.estimates[0]!.status, 422);
    clock.advance(FORECAST_REFRESH_MS - 1000);
    assert.equal(sim.estimates.length, 1, 'no retry within the refresh period');
  } finally {
    await t.stop();
    await sim.close();
  }
});

test('forecast_solar options: every plane value needed, exactly one kind, the hour as default limit', () => {
  const ok = sourceOptions.parse({ name: 'pv', forecast_solar: PLANE });
  assert.equal(ok.stale_after, 3600);
  assert.equal(ok.forecast_solar?.url, 'https://api.forecast.solar');
  assert.equal(sourceOptions.parse({ name: 'grid', mqtt: { topic: 'a/b' }, forecast_solar: {} }).stale_after, 60, 'an empty block is no source');
  const missing = sourceOptions.safeParse({ name: 'pv', forecast_solar: { latitude: 50, longitude: 8 } });
  assert.ok(!missing.success);
  assert.deepEqual(missing.error.issues.map((i) => i.path.join('.')).sort(), ['forecast_solar.azimuth', 'forecast_solar.declination', 'forecast_solar.kwp']);
  const two = sourceOptions.safeParse({ name: 'pv', forecast_solar: PLANE, ha_entity: 'sensor.pv' });
  assert.ok(!two.success);
  assert.match(two.error.issues[0]!.message, /exactly one of/);
  assert.ok(!sourceOptions.safeParse({ name: 'pv', forecast_solar: { ...PLANE, azimuth: 270 } }).success, 'forecast.solar azimuth is -180..180 (0 = south)');
});

test('the curve parser takes the real shape and refuses anything else without throwing', () => {
  const real = { result: { watts: { '2024-04-26T06:20:17+02:00': 0, '2024-04-26T07:00:00+02:00': 270, '2024-04-26T08:00:00+02:00': 481, '2024-04-26T20:59:23+02:00': 0, '2024-04-27T06:18:17+02:00': 0 } } };
  const points = curveOf(real);
  assert.ok(Array.isArray(points));
  assert.equal(powerAt(points, Date.parse('2024-04-26T07:30:00+02:00')), Math.round((270 + 481) / 2));
  assert.equal(powerAt(points, Date.parse('2024-04-27T01:00:00+02:00')), 0, 'night between two days');
  assert.equal(powerAt(points, Date.parse('2024-04-26T03:00:00+02:00')), 0, 'before the first sunrise');
  assert.equal(powerAt(points, Date.parse('2024-04-27T12:00:00+02:00')), undefined, 'beyond the curve');
  assert.equal(typeof curveOf({ result: { watts: { '2024-04-26 07:00:00': 5 } } }), 'string', 'a time without its offset');
  // Malformed answers of every kind: a string saying what is wrong, never a throw.
  const junk: unknown[] = [null, 1, 'x', [], {}, { result: null }, { result: { watts: [] } }, { result: { watts: {} } }, { result: { watts: { x: 1 } } }, { result: { watts: { '2024-04-26T07:00:00+02:00': -5 } } }, { result: { watts: { '2024-04-26T07:00:00+02:00': '5' } } }];
  for (let i = 0; i < 200; i++) {
    const bytes = Array.from({ length: 1 + (i % 40) }, (_, k) => String.fromCharCode(32 + ((i * 31 + k * 17) % 95))).join('');
    junk.push({ result: { watts: { [bytes]: i } } }, { result: { watts: { '2024-04-26T07:00:00+02:00': bytes } } });
  }
  for (const doc of junk) assert.equal(typeof curveOf(doc), 'string', JSON.stringify(doc));
});
