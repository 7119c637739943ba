// Energy for HA's Energy dashboard: the heat generators' hourly buckets added to totals in the
// store, fetched at most once per energy_interval and only with room in the budget; totals across a
// restart (a second adapter on the same data directory) never go back and count no bucket twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { loadScenario, shortOf, vaillantWith } from '../../helpers/vaillant.js';
import { tempDir } from '../../helpers/app.js';
import { SimulatedClock } from '../../../src/core/clock.js';
import { MyVaillantSimulator } from '../../../src/simulators/myvaillant.js';
import type { Store } from '../../../src/core/store.js';
import { HOUR_MS, RECHECK_MS, addBuckets, bucketsPath, countableUntil, parseCurrentSystem, requestFrom, type Counter } from '../../../src/adapters/vaillant/energy.js';

const SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';
const S = shortOf(SYSTEM);
const HP = '3c3eaad9bccc3fa36de288360b99f93520ad1d0c';
const BACKUP = 'adaf28b5c41be9e92675d7b1f73883deb2d739f5';

test('the heat generators of currentSystem and the series each reports', () => {
  const cs = JSON.parse(readFileSync(`test/fixtures/vaillant/current_power/${SYSTEM}/current_system.json`, 'utf8')) as unknown;
  const generators = parseCurrentSystem(cs);
  assert.deepEqual(generators.map((g) => [g.uuid, g.name, g.series]), [
    [HP, 'aroTHERM plus', ['electricity_heating', 'electricity_hot_water', 'environment_heating', 'environment_hot_water']],
    [BACKUP, 'uniTOWER', ['electricity_heating', 'electricity_hot_water']],
  ]);
  for (const junk of [null, 1, 'x', {}, { primary_heat_generator: { device_uuid: 5 } }]) assert.deepEqual(parseCurrentSystem(junk), []);
});

test('buckets are counted once: new ones whole, older ones only by their growth, and the counter moves to `to`', () => {
  const h = (n: number) => Date.UTC(2026, 10, 23, n);
  const b = (from: number, value: number) => ({ startDate: new Date(h(from)).toISOString(), endDate: new Date(h(from + 1)).toISOString(), value });
  // A counter from before the per-bucket values were kept: what ended by `until` is not counted again.
  const first = addBuckets({ wh: 1000, until: h(8) }, { data: [b(7, 999), b(8, 100), b(9, 250.5), b(10, 77)] }, h(10));
  assert.deepEqual(first, { counter: { wh: 1350.5, until: h(10), recent: { [h(8)]: 999, [h(9)]: 100, [h(10)]: 250.5 }, since: h(8) }, addedWh: 350.5, buckets: 2 });
  // The same answer again adds nothing.
  assert.equal(addBuckets(first.counter, { data: [b(7, 999), b(8, 100), b(9, 250.5)] }, h(10)).addedWh, 0);
  assert.equal(addBuckets(first.counter, { data: [b(10, -5), b(10, Number.NaN), { startDate: 'x', endDate: 'y', value: 3 }] }, h(11)).addedWh, 0);
  assert.throws(() => addBuckets(first.counter, { nope: 1 }, h(11)), /no data/);
  assert.equal(countableUntil(h(12) + 59 * 60_000), h(11), 'the last hour is left to settle');
  assert.match(bucketsPath(SYSTEM, HP, 'environment_hot_water', h(8), h(10)), /\/emf\/v2\/4f5d.*\/devices\/3c3e.*\/buckets\?resolution=HOUR&operationMode=DOMESTIC_HOT_WATER&energyType=EARNED_ENVIRONMENT_ENERGY&startDate=2026-11-23T08%3A00%3A00.000Z&endDate=2026-11-23T10%3A00%3A00.000Z/);
  assert.equal(requestFrom(first.counter), h(10) - RECHECK_MS, 'each request reads the trailing window again');
});

test('an hour filled late or corrected adds its growth once; a shrink takes nothing off; missing hours count when they come', () => {
  const h = (n: number) => Date.UTC(2026, 10, 23, n);
  const b = (from: number, value: number) => ({ startDate: new Date(h(from)).toISOString(), endDate: new Date(h(from + 1)).toISOString(), value });
  let c: Counter = { wh: 0, until: h(8), recent: {}, since: h(8) };
  // 08–09 still 0 (the gateway was offline), 09–10 missing altogether.
  c = addBuckets(c, { data: [b(8, 0)] }, h(10)).counter;
  assert.equal(c.wh, 0);
  // Both uploaded later: counted then, whole.
  let r = addBuckets(c, { data: [b(8, 300), b(9, 200), b(10, 50)] }, h(11));
  assert.deepEqual([r.addedWh, r.buckets, r.counter.wh], [550, 3, 550]);
  c = r.counter;
  // Corrected upwards: only the difference; then downwards: nothing taken off, and the next growth
  // counts from the highest value counted (no Wh twice).
  r = addBuckets(c, { data: [b(8, 320), b(9, 200), b(10, 50)] }, h(11));
  assert.equal(r.addedWh, 20);
  r = addBuckets(r.counter, { data: [b(8, 100), b(9, 150), b(10, 50)] }, h(11));
  assert.deepEqual([r.addedWh, r.counter.wh], [0, 570]);
  r = addBuckets(r.counter, { data: [b(8, 330), b(9, 150), b(10, 50)] }, h(11));
  assert.deepEqual([r.addedWh, r.counter.wh], [10, 580]);
  // Two days on, 08–09 has left the window: it is forgotten, and never counted again.
  r = addBuckets(r.counter, { data: [] }, h(58));
  assert.equal(r.counter.since, h(10));
  r = addBuckets(r.counter, { data: [b(8, 999), b(60, 5)] }, h(61));
  assert.deepEqual([r.addedWh, Object.keys(r.counter.recent!).map(Number)], [5, [h(61)]]);
  assert.equal(r.counter.since, h(61) - RECHECK_MS);
});

test('buckets that are not whole UTC hours (a half-hour time zone) are counted by their end', () => {
  const t = (hh: number, mm: number) => Date.UTC(2026, 10, 23, hh, mm);
  const b = (from: number, value: number) => ({ startDate: new Date(from).toISOString(), endDate: new Date(from + HOUR_MS).toISOString(), value });
  let c: Counter = { wh: 0, until: t(8, 0), recent: {}, since: t(8, 0) };
  // 07:30–08:30 straddles `until`: not over at 08:00, so not counted before; 08:30–09:30 not over by 09:00.
  let r = addBuckets(c, { data: [b(t(7, 30), 40), b(t(8, 30), 60)] }, t(9, 0));
  assert.deepEqual([r.addedWh, r.counter.until], [40, t(9, 0)]);
  c = r.counter;
  r = addBuckets(c, { data: [b(t(7, 30), 40), b(t(8, 30), 60), b(t(9, 30), 70)] }, t(10, 0));
  assert.deepEqual([r.addedWh, r.counter.wh], [60, 100], 'each bucket once, none lost at the edge');
});

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

test('over a simulated day: energy once an hour within the budget, exact totals, kept across a restart', async () => {
  // Two adapters, one after the other, against the same simulated cloud and data directory.
  const { clock, sim, start } = await energyRig();
  const gen = (uuid: string) => `${S}_gen_${uuid.slice(0, 8)}`;
  const series = (s: Awaited<ReturnType<typeof start>>, uuid: string, key: string) => s.adapter.systems.get(SYSTEM)!.energy!.generators[uuid]!.series[key]!;
  const buckets = () => sim.requests.filter((r) => r.path.endsWith('/buckets'));
  const expectedWh = (uuid: string, mode: string, type: string, from: number, to: number) => {
    const device = (sim.currentSystem(SYSTEM)!.primary_heat_generator.device_uuid === uuid ? sim.currentSystem(SYSTEM)!.primary_heat_generator : sim.currentSystem(SYSTEM)!.electric_backup_heater) as Record<string, unknown>;
    return sim.energyWh(SYSTEM, device, mode, type, from, to);
  };
  const t0 = clock.now();
  const from = countableUntil(t0);
  let s: Awaited<ReturnType<typeof start>> | undefined;
  try {
    s = await start();
    await s.rec.waitFor(`energy2mqtt/${gen(HP)}/electricity_heating`, (p) => p === '0');
    const budget = 40;
    const reserve = 4;
    let maxUsed = 0;
    const perHour: number[] = [];
    const reportsPerHour: number[] = [];
    let hourStart = s.calls().length;
    let reportsAtHourStart = 0;
    const reports = () => s!.calls().filter((c) => c.method === 'GET' && c.path === `/systems/${SYSTEM}/tli`).length;
    for (let i = 1; i <= 720; i++) {
      clock.advance(120_000);
      await s.adapter.poll();
      maxUsed = Math.max(maxUsed, s.adapter.api.usedThisHour);
      if (i % 30 === 0) {
        perHour.push(s.calls().length - hourStart);
        reportsPerHour.push(reports() - reportsAtHourStart);
        hourStart = s.calls().length;
        reportsAtHourStart = reports();
      }
    }
    console.log(`max used ${maxUsed}; requests per hour: ${perHour.join(' ')}; reports per hour: ${reportsPerHour.join(' ')}; buckets: ${buckets().length}`);
    assert.ok(maxUsed <= budget - reserve, `polling kept the command reserve (at most ${maxUsed} in an hour)`);
    // 7 requests per energy round (4 + 2 series, 1 for trouble codes), at most one round per hour.
    const rounds = buckets().length / 6;
    assert.ok(Number.isInteger(rounds) && rounds >= 20 && rounds <= 24, `energy rounds in a day: ${rounds}`);
    assert.ok(Math.min(...reportsPerHour.slice(1)) >= 20, 'the report still comes most of the time');
    const hp = series(s, HP, 'electricity_heating');
    assert.ok(hp.until >= countableUntil(clock.now()) - HOUR_MS, 'counted up to the last hour that settled, or one before');
    assert.ok(Math.abs(hp.wh - expectedWh(HP, 'HEATING', 'CONSUMED_ELECTRICAL_ENERGY', from, hp.until)) < 1e-6, `${hp.wh} Wh`);
    const env = series(s, HP, 'environment_hot_water');
    assert.ok(Math.abs(env.wh - expectedWh(HP, 'DOMESTIC_HOT_WATER', 'EARNED_ENVIRONMENT_ENERGY', from, env.until)) < 1e-6);
    assert.ok(hp.wh > 5000, 'a day of heating is several kWh');
    const kwh = (wh: number) => String(Math.round(wh) / 1000);
    await s.rec.waitFor(`energy2mqtt/${gen(HP)}/electricity_heating`, (p) => p === kwh(hp.wh));
    const dhwWh = series(s, HP, 'electricity_hot_water').wh;
    await s.rec.waitFor(`energy2mqtt/${gen(HP)}/electricity_total`, (p) => p === kwh(hp.wh + dhwWh));
    await s.rec.waitFor(`energy2mqtt/${S}/energy_last_fetched`, (p) => p.startsWith('2026-11-24'));
    const fetched = Date.parse(s.rec.last(`energy2mqtt/${S}/energy_last_fetched`)!.payload);
    assert.ok(fetched > clock.now() - 75 * 60_000, 'once an hour, give or take the wait for room in the budget');
    const config = JSON.parse((await s.rec.waitFor(`homeassistant/device/${gen(HP)}/config`, (p) => p !== '')).payload);
    assert.deepEqual([config.cmps.electricity_heating.device_class, config.cmps.electricity_heating.unit_of_measurement, config.cmps.electricity_heating.state_class], ['energy', 'kWh', 'total_increasing']);

    // A restart: the second adapter starts from the stored totals and goes on where the first stopped.
    const before = { wh: hp.wh, until: hp.until };
    await s.stop().catch(() => undefined);
    const firstBuckets = buckets().length;
    s = await start();
    await s.rec.waitFor(`energy2mqtt/${gen(HP)}/electricity_heating`, (p) => p === kwh(before.wh));
    assert.equal(buckets().length, firstBuckets, 'no energy fetched at start: the last fetch is less than an hour old');
    const published: number[] = [];
    for (let i = 1; i <= 90; i++) {
      clock.advance(120_000);
      await s.adapter.poll();
      const last = s.rec.last(`energy2mqtt/${gen(HP)}/electricity_heating`);
      if (last) published.push(Number(last.payload));
    }
    const after = series(s, HP, 'electricity_heating');
    assert.ok(after.until > before.until && after.wh > before.wh);
    assert.ok(Math.abs(after.wh - expectedWh(HP, 'HEATING', 'CONSUMED_ELECTRICAL_ENERGY', from, after.until)) < 1e-6, 'nothing lost, nothing twice across the restart');
    assert.deepEqual(published, [...published].sort((a, b) => a - b), 'the total never goes back');
  } finally {
    await s?.stop().catch(() => undefined);
    await sim.close();
  }
});

test('energy waits for room beyond the command reserve; a budget too small for it leaves the report alone', async () => {
  for (const [budget, fetched] of [[12, true], [10, false]] as const) {
    const clock = new SimulatedClock(Date.UTC(2026, 10, 23, 9, 30));
    const s = await vaillantWith(broker.port, { ...loadScenario('current_power'), clock, tokenLifetimeS: 3600, refreshLifetimeS: 86_400 }, { clock, account: { request_budget_per_hour: budget, poll_interval: 300 } });
    try {
      for (let i = 1; i <= 48; i++) {
        clock.advance(300_000);
        await s.adapter.poll();
        assert.ok(s.adapter.api.usedThisHour <= budget - 4, `budget ${budget}: at most budget minus reserve, not ${s.adapter.api.usedThisHour}`);
      }
      // An energy round is 7 requests: it fits in 12 - 4 by holding reports back, never in 10 - 4.
      assert.equal(s.calls().some((c) => c.path.endsWith('/buckets')), fetched, `budget ${budget}`);
      const lastHour = s.calls().slice(-(budget - 4)).filter((c) => c.path === `/systems/${SYSTEM}/tli`).length;
      assert.ok(lastHour >= 1, `budget ${budget}: the report still comes`);
      assert.equal(s.t.logs.filter((l) => l.includes('has no room for the')).length, fetched ? 0 : 1);
    } finally {
      await s.stop();
    }
  }
});

/** The simulated cloud on a clock of the test's own, and adapters started one after the other on one data directory. */
async function energyRig() {
  const clock = new SimulatedClock(Date.UTC(2026, 10, 23, 9, 30));
  const dataDir = tempDir();
  const simOptions = { ...loadScenario('current_power'), clock, tokenLifetimeS: 3600, refreshLifetimeS: 30 * 86_400 };
  const sim = new MyVaillantSimulator({ users: [{ username: 'anna@example.com', password: 'secret-pw-42' }], altchaCost: 200, ...simOptions });
  await sim.listen();
  const start = () => vaillantWith(broker.port, simOptions, { clock, dataDir, sim });
  const topic = `energy2mqtt/${S}_gen_${HP.slice(0, 8)}/electricity_heating`;
  const hp = sim.currentSystem(SYSTEM)!.primary_heat_generator as Record<string, unknown>;
  /** What the cloud holds (late hours included) for the heat pump's heating electricity. */
  const trueWh = (from: number, to: number) => sim.energyWh(SYSTEM, hp, 'HEATING', 'CONSUMED_ELECTRICAL_ENERGY', from, to);
  const counter = (s: Awaited<ReturnType<typeof start>>) => s.adapter.systems.get(SYSTEM)!.energy!.generators[HP]!.series.electricity_heating!;
  return { clock, sim, start, topic, trueWh, counter, from: countableUntil(clock.now()) };
}

test('an hour the cloud fills late (zero, or missing) is counted when it comes, once, with one request per series and round', async () => {
  const { clock, sim, start, topic, trueWh, counter, from } = await energyRig();
  const h = (n: number) => Date.UTC(2026, 10, 23, n);
  // The gateway was offline 10–12: the hours come with 0 (10–11) or not at all (11–12) until 18:00.
  sim.fillLate(h(10), h(18));
  sim.fillLate(h(11), h(18), { missing: true });
  let s: Awaited<ReturnType<typeof start>> | undefined;
  try {
    s = await start();
    await s.rec.waitFor(topic, (p) => p === '0');
    const published: number[] = [];
    let shortBeforeFill = 0;
    for (let i = 1; i <= 14 * 12; i++) {
      clock.advance(300_000);
      await s.adapter.poll();
      const last = s.rec.last(topic);
      if (last) published.push(Number(last.payload));
      if (clock.now() === h(17) + 30 * 60_000) {
        const c = counter(s);
        shortBeforeFill = trueWh(from, c.until) - c.wh;
      }
    }
    assert.ok(shortBeforeFill > 500, `before the upload the two hours are missing (${shortBeforeFill} Wh short)`);
    const c = counter(s);
    assert.ok(c.until >= h(21), 'counted well past the upload');
    assert.ok(Math.abs(c.wh - trueWh(from, c.until)) < 1e-6, `${c.wh} Wh: the late hours counted once, nothing lost`);
    await s.rec.waitFor(topic, (p) => p === String(Math.round(c.wh) / 1000));
    assert.deepEqual(published, [...published].sort((a, b) => a - b), 'the total never goes back');
    // Still one request per series and round, each reading the last 48 hours again.
    const rounds = sim.requests.filter((r) => r.path.endsWith('/buckets')).length / 6;
    assert.ok(Number.isInteger(rounds) && rounds >= 12 && rounds <= 14, `${rounds} rounds of 6 requests in 14 hours`);
  } finally {
    await s?.stop().catch(() => undefined);
    await sim.close();
  }
});

test('totals not saved are not shown: after a failed store write and a restart the published total never drops', async () => {
  const { clock, sim, start, topic, trueWh, counter, from } = await energyRig();
  let s: Awaited<ReturnType<typeof start>> | undefined;
  const published: number[] = [];
  const poll = async (n: number) => {
    for (let i = 0; i < n; i++) {
      clock.advance(300_000);
      await s!.adapter.poll();
      const last = s!.rec.last(topic);
      if (last) published.push(Number(last.payload));
    }
  };
  try {
    s = await start();
    await s.rec.waitFor(topic, (p) => p === '0');
    await poll(3 * 12);
    const saved = counter(s);
    assert.ok(saved.wh > 0);
    // The data directory turns read-only for the energy totals.
    const store = (s.adapter as unknown as { ctx: { store: Store } }).ctx.store;
    const write = store.write.bind(store);
    let failed = 0;
    store.write = (name, value, options) => (name.includes('_energy_') ? (failed++, Promise.reject(new Error('EROFS: read-only file system'))) : write(name, value, options));
    // What the adapter shows now, once MQTT has delivered it (a value read at once can be a round late).
    const shown = s.t.app.bridge.allDevices().find((d) => d.id === `${S}_gen_${HP.slice(0, 8)}`)!.entities.get('electricity_heating')!.value;
    await s.rec.waitFor(topic, (p) => Number(p) === shown);
    const shownBefore = Number(shown);
    published.push(shownBefore);
    await poll(3 * 12);
    assert.ok(failed >= 3, `energy rounds tried again (${failed})`);
    assert.equal(published.at(-1), shownBefore, 'nothing new is shown while it cannot be saved');
    assert.deepEqual(counter(s), saved, 'the counters stay the saved ones');
    assert.ok(s.t.logs.some((l) => l.includes('energy totals not saved (EROFS: read-only file system)')));
    // A restart (with a writable directory again): on from the saved totals, the same hours fetched again.
    await s.stop().catch(() => undefined);
    s = await start();
    await s.rec.waitFor(topic);
    await poll(3 * 12);
    const c = counter(s);
    assert.ok(c.until > saved.until && c.wh > saved.wh);
    assert.ok(Math.abs(c.wh - trueWh(from, c.until)) < 1e-6, 'nothing lost, nothing twice');
    assert.deepEqual(published, [...published].sort((a, b) => a - b), `the published total never drops: ${published.join(' ')}`);
  } finally {
    await s?.stop().catch(() => undefined);
    await sim.close();
  }
});
