// What the page writes to the data directory (an SD card on most Pis): the bytes written per hour
// by the rules' timelines and the day recorder, which days a row belongs to in the user's zone,
// and what a restart keeps and drops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SimulatedClock } from '../../src/core/clock.js';
import { Store, type WriteOptions } from '../../src/core/store.js';
import { TIMELINE_FILE, Timelines } from '../../src/web/timeline.js';
import { DayRecorder, dayOf } from '../../src/web/day-recorder.js';
import type { Measurement } from '../../src/measurements/measurement.js';
import { tempDir } from '../helpers/app.js';

/** Counts the bytes of every file the Store writes (the size of each new file). */
class CountingStore extends Store {
  written = 0;
  override async write(name: string, value: unknown, options?: WriteOptions): Promise<void> {
    await super.write(name, value, options);
    this.written += statSync(this.path(name)).size;
  }
}

/** Bytes the page's files grew by outside the Store (appends), between two calls. */
function growthMeter(dir: string): () => number {
  const sizes = new Map<string, number>();
  const measure = () => {
    let grown = 0;
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.csv')) continue;
      const size = statSync(join(dir, file)).size;
      grown += Math.max(0, size - (sizes.get(file) ?? 0));
      sizes.set(file, size);
    }
    return grown;
  };
  measure();
  return measure;
}

const sources = (values: Record<string, number>): Map<string, Measurement> =>
  new Map(Object.entries(values).map(([name, value]) => [name, { value } as unknown as Measurement]));

const RULES = ['pool_pump', 'water_heater', 'ev_charger', 'dishwasher', 'heat_pump'];
const reason = (i: number) => `surplus ${1000 + i} W from source 'grid' is above the 1200 W threshold plus the 200 W margin for 600 s; switching the load on (priority ${i % 3})`;

test('the page writes at most 2 MB per hour for 5 rules and the day recorder (it wrote ~25 MB an hour)', async (t) => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T00:00:00Z'));
  const dir = tempDir();
  const store = new CountingStore(dir);
  store.open();
  const timelines = new Timelines(store, clock);
  await timelines.load(RULES);
  const measured = sources({ grid: -2000.5, battery_power: 350.25, soc: 64 });
  const days = new DayRecorder(measured, store, clock, 'UTC');
  await days.start();
  // A day already recorded: full samples, 60 changes a rule, half a day of rows.
  const seen = (i: number) => ({ state: i % 2 ? 'on' : 'off', reason: reason(i), dryRun: false, surplusW: 1500 + (i % 700), drawnW: i % 2 ? 1200 : 0 });
  const step = async (i: number, changeEvery: number) => {
    clock.advance(10_000);
    for (const slug of RULES) timelines.record(slug, seen(Math.floor(i / changeEvery)), i % changeEvery === 0);
    // Each save as it would be on its own (a burst would collapse writes the real minutes would not).
    await store.flush();
  };
  for (let i = 0; i < 12 * 360; i++) await step(i, 72); // 12 h, a change every 12 minutes
  await timelines.save();
  await days.save();
  store.written = 0;
  const grown = growthMeter(dir);
  const HOURS = 3;
  for (let i = 0; i < HOURS * 360; i++) await step(i, 60); // a change every 10 minutes
  const perHour = (store.written + grown()) / HOURS;
  assert.ok(perHour < 2_000_000, `${Math.round(perHour / 1000)} kB written per hour`);
  assert.ok(perHour > 0, 'something was written in 3 h');
  // The timeline file is compact JSON (no indentation), rewritten at most every 15 minutes.
  const text = readFileSync(store.path(TIMELINE_FILE), 'utf8');
  assert.ok(!text.includes('\n  '), 'not pretty-printed');
  await timelines.stop();
  await days.stop();
  const again = new Timelines(store, clock);
  await again.load(RULES);
  assert.deepEqual(again.get('pool_pump'), timelines.get('pool_pump'), 'everything recorded up to the stop is back');
  t.diagnostic(`web page: ${Math.round(perHour / 1000)} kB written per simulated hour (5 rules, 3 sources)`);
});

test('the timelines are written every 15 minutes, not every minute', async () => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T00:00:00Z'));
  const store = new CountingStore(tempDir());
  store.open();
  let writes = 0;
  const write = store.write.bind(store);
  store.write = (name, value, options) => (writes++, write(name, value, options));
  const timelines = new Timelines(store, clock);
  await timelines.load(['pump']);
  for (let s = 0; s < 3600; s += 10) {
    clock.advance(10_000);
    timelines.record('pump', { state: 'on', reason: 'r', dryRun: false, surplusW: s, drawnW: 1 }, s % 600 === 0);
    await store.flush();
  }
  assert.equal(writes, 4, 'four writes in an hour');
  clock.advance(60_000);
  timelines.record('pump', { state: 'off', reason: 'r', dryRun: false, surplusW: 0, drawnW: 0 }, true);
  await timelines.stop();
  assert.equal(writes, 5, 'and one at the stop');
});

test('a timeline of a rule that no longer exists is dropped on load', async () => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T00:00:00Z'));
  const store = new Store(tempDir());
  store.open();
  const timelines = new Timelines(store, clock);
  await timelines.load(['pump', 'heater']);
  timelines.record('pump', { state: 'on', reason: 'a', dryRun: false, surplusW: 1, drawnW: 1 }, true);
  timelines.record('heater', { state: 'off', reason: 'b', dryRun: false, surplusW: 1, drawnW: 0 }, true);
  await timelines.stop();
  const again = new Timelines(store, clock);
  await again.load(['pump']);
  assert.equal(again.get('pump').changes.length, 1);
  assert.equal(again.get('heater').changes.length, 0, 'the removed rule is gone');
  await again.stop();
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(store.path(TIMELINE_FILE), 'utf8'))), ['pump'], 'and gone from the file');
});

test('the day recorder cuts days at midnight in automation.timezone (UTC+10)', async () => {
  assert.equal(dayOf(Date.parse('2026-06-20T13:59:59Z'), 'Australia/Brisbane'), '2026-06-20');
  assert.equal(dayOf(Date.parse('2026-06-20T14:00:00Z'), 'Australia/Brisbane'), '2026-06-21');
  assert.equal(dayOf(Date.parse('2026-06-20T14:00:00Z'), 'UTC'), '2026-06-20');
  // 22:00 local (12:00 UTC) on the 20th, for 10 h: two hours on the 20th, eight on the 21st.
  const clock = new SimulatedClock(Date.parse('2026-06-20T12:00:00Z'));
  const dir = tempDir();
  const store = new Store(dir);
  store.open();
  const days = new DayRecorder(sources({ grid: -1500 }), store, clock, 'Australia/Brisbane');
  await days.start();
  for (let s = 0; s < 10 * 3600; s += 10) clock.advance(10_000);
  await days.stop();
  assert.deepEqual(days.days(), ['2026-06-20', '2026-06-21']);
  const first = (await days.trace('2026-06-20'))!.split('\n');
  const second = (await days.trace('2026-06-21'))!.split('\n');
  assert.equal(first[0], 'time,grid');
  assert.equal(first.length - 1, 2 * 360 - 1, 'two hours (the first row 10 s after the start)');
  assert.equal(first.at(-1), '2026-06-20T13:59:50.000Z,-1500');
  assert.equal(second[1], '2026-06-20T14:00:00.000Z,-1500', 'local midnight opens the next day');
  assert.equal(second.length - 1, 8 * 360 + 1);
  assert.ok(existsSync(join(dir, 'web_day_2026-06-21.csv')));
  // The process's zone when none is set.
  assert.equal(dayOf(Date.parse('2026-06-20T14:00:00Z')), new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit' }).format(Date.parse('2026-06-20T14:00:00Z')));
});

test('a row torn by a crash is dropped and the day goes on', async () => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T01:00:00Z'));
  const dir = tempDir();
  const store = new Store(dir);
  store.open();
  const days = new DayRecorder(sources({ grid: -1500 }), store, clock, 'UTC');
  await days.start();
  for (let s = 0; s < 60; s += 10) clock.advance(10_000);
  await days.stop();
  const file = join(dir, 'web_day_2026-06-21.csv');
  const { appendFileSync } = await import('node:fs');
  appendFileSync(file, '2026-06-21T01:01:10.0');
  const again = new DayRecorder(sources({ grid: -1000 }), store, clock, 'UTC');
  await again.start();
  clock.advance(10_000);
  await again.stop();
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1 + 6 + 1);
  assert.equal(lines.at(-1), '2026-06-21T01:01:10.000Z,-1000');
});
