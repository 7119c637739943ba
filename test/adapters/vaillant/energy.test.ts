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
import { HOUR_MS, addBuckets, bucketsPath, countableUntil, parseCurrentSystem } from '../../../src/adapters/vaillant/energy.js';

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

test('buckets are counted once: only those inside [until, to), and the counter moves to `to`', () => {
  const h = (n: number) => Date.UTC(2026, 10, 23, n);
  const b = (from: number, value: number) => ({ startDate: new Date(h(from)).toISOString(), endDate: new Date(h(from + 1)).toISOString(), value });
  const first = addBuckets({ wh: 1000, until: h(8) }, { data: [b(7, 999), b(8, 100), b(9, 250.5), b(10, 77)] }, h(10));
  assert.deepEqual(first, { counter: { wh: 1350.5, until: h(10) }, addedWh: 350.5, buckets: 2 });
  // The same answer again adds nothing: those buckets start before `until` now.
  assert.equal(addBuckets(first.counter, { data: [b(8, 100), b(9, 250.5)] }, h(10)).addedWh, 0);
  assert.equal(addBuckets(first.counter, { data: [b(10, -5), b(10, Number.NaN), { startDate: 'x', endDate: 'y', value: 3 }] }, h(11)).addedWh, 0);
  assert.throws(() => addBuckets(first.counter, { nope: 1 }, h(11)), /no data/);
  assert.equal(countableUntil(h(12) + 59 * 60_000), h(11), 'the last hour is left to settle');
  assert.match(bucketsPath(SYSTEM, HP, 'environment_hot_water', h(8), h(10)), /\/emf\/v2\/4f5d.*\/devices\/3c3e.*\/buckets\?resolution=HOUR&operationMode=DOMESTIC_HOT_WATER&energyType=EARNED_ENVIRONMENT_ENERGY&startDate=2026-11-23T08%3A00%3A00.000Z&endDate=2026-11-23T10%3A00%3A00.000Z/);
});

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

test('over a simulated day: energy once an hour within the budget, exact totals, kept across a restart', async () => {
  const clock = new SimulatedClock(Date.UTC(2026, 10, 23, 9, 30));
  const dataDir = tempDir();
  const simOptions = { ...loadScenario('current_power'), clock, tokenLifetimeS: 3600, refreshLifetimeS: 30 * 86_400 };
  const sim = new MyVaillantSimulator({ users: [{ username: 'anna@example.com', password: 'secret-pw-42' }], altchaCost: 200, ...simOptions });
  await sim.listen();
  // Two adapters, one after the other, against the same simulated cloud and data directory.
  const start = () => vaillantWith(broker.port, simOptions, { clock, dataDir, sim });
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
