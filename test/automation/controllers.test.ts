import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock } from '../../src/core/clock.js';
import { OnOffController, type OnOffSettings } from '../../src/automation/controllers/on-off.js';
import { ContinuousController } from '../../src/automation/controllers/continuous.js';
import { CronWindow } from '../../src/automation/controllers/schedule.js';

const base: OnOffSettings = { enableDelayS: 60, disableDelayS: 180, minOnS: 0, minOffS: 0, maxStartsPerHour: 0 };

/** Runs the controller second by second; `surplus(t)` says whether start is justified / stop needed. */
function run(c: OnOffController, clock: SimulatedClock, seconds: number, wants: (t: number) => { start: boolean; stop: boolean }): Array<{ t: number; on: boolean; state: string }> {
  const changes: Array<{ t: number; on: boolean; state: string }> = [];
  const t0 = clock.now();
  for (let s = 0; s < seconds; s++) {
    const step = c.step(clock.now(), wants(s));
    if (step.changed) changes.push({ t: (clock.now() - t0) / 1000, on: step.on, state: step.state });
    clock.advance(1000);
  }
  return changes;
}

test('enable delay: starts only after the surplus lasted the delay, and says how long it waited', () => {
  const clock = new SimulatedClock();
  const c = new OnOffController({ ...base });
  assert.equal(c.step(clock.now(), { start: true, stop: false }).state, 'waiting');
  clock.advance(42_000);
  const step = c.step(clock.now(), { start: true, stop: false });
  assert.deepEqual([step.state, step.detail, step.nextChangeAt! - clock.now()], ['waiting', '42 s of 60 s', 18_000]);
  clock.advance(18_000);
  assert.equal(c.step(clock.now(), { start: true, stop: false }).changed, true);
  assert.equal(c.on, true);
});

test('a surplus that drops during the enable delay restarts the wait', () => {
  const clock = new SimulatedClock();
  const c = new OnOffController({ ...base });
  const changes = run(c, clock, 200, (t) => ({ start: t < 50 || t >= 80, stop: false }));
  assert.deepEqual(changes, [{ t: 140, on: true, state: 'on' }]);
});

test('a cloud cutting surplus for 90 s does not switch off a load with a 3 min disable delay', () => {
  const clock = new SimulatedClock();
  const c = new OnOffController({ ...base });
  c.assume(true, clock.now());
  const changes = run(c, clock, 600, (t) => ({ start: false, stop: t >= 100 && t < 190 }));
  assert.deepEqual(changes, []);
  // A longer cloud does, after exactly the delay.
  const later = run(c, clock, 400, (t) => ({ start: false, stop: t >= 10 }));
  assert.deepEqual(later, [{ t: 190, on: false, state: 'off' }]);
});

test('minimum on time holds the load through a dip; minimum off time holds it off', () => {
  const clock = new SimulatedClock();
  const c = new OnOffController({ ...base, enableDelayS: 0, disableDelayS: 0, minOnS: 1200, minOffS: 1200 });
  assert.equal(c.step(clock.now(), { start: true, stop: false }).changed, true);
  clock.advance(300_000);
  const dip = c.step(clock.now(), { start: false, stop: true });
  assert.deepEqual([dip.on, dip.state, dip.detail], [true, 'holding', 'minimum on time, 5 min of 20 min']);
  clock.advance(900_000);
  assert.equal(c.step(clock.now(), { start: false, stop: true }).changed, true, 'off once 20 min have passed');
  clock.advance(60_000);
  const again = c.step(clock.now(), { start: true, stop: false });
  assert.deepEqual([again.on, again.state, again.detail], [false, 'blocked', 'minimum off time, 60 s of 20 min']);
  clock.advance(1_140_000);
  assert.equal(c.step(clock.now(), { start: true, stop: false }).on, true);
});

test('maximum starts per hour', () => {
  const clock = new SimulatedClock();
  const c = new OnOffController({ ...base, enableDelayS: 0, disableDelayS: 0, maxStartsPerHour: 3 });
  const changes = run(c, clock, 3600, (t) => ({ start: Math.floor(t / 60) % 2 === 0, stop: Math.floor(t / 60) % 2 === 1 }));
  const starts = changes.filter((x) => x.on);
  assert.equal(starts.length, 3);
  const blocked = c.step(clock.now(), { start: true, stop: false });
  assert.equal(blocked.on, true, 'the hour since the first start has passed');
});

test('continuous control follows the target export within the deadband and the rate limit', () => {
  const clock = new SimulatedClock();
  const c = new ContinuousController({ targetExportW: 100, deadbandW: 50, rateWPerS: 200, minW: 0, maxW: 3000 });
  assert.equal(c.step(clock.now(), 130), 0, 'inside the deadband: no change');
  clock.advance(1000);
  assert.equal(c.step(clock.now(), 2100), 200, 'limited to 200 W/s');
  clock.advance(5000);
  assert.equal(c.step(clock.now(), 1900), 1200, '5 s allow 1000 W more');
  clock.advance(1000);
  assert.equal(c.step(clock.now(), -500), 1000, 'import: backs off at the rate limit');
  clock.advance(60_000);
  assert.equal(c.step(clock.now(), -10_000), 0, 'never below its minimum');
  clock.advance(60_000);
  assert.equal(c.step(clock.now(), 50_000), 3000, 'never above its maximum');
});

test('a cron window in a named time zone, read on the simulated clock', () => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T05:00:00Z')); // 07:00 in Paris (CEST)
  const w = new CronWindow('0 9 * * *', '0 17 * * *', 'Europe/Paris');
  assert.equal(w.isOpen(clock.now()), false);
  clock.advance(2 * 3_600_000); // 09:00 Paris
  assert.equal(w.isOpen(clock.now()), true);
  clock.advance(7 * 3_600_000 + 59 * 60_000); // 16:59
  assert.equal(w.isOpen(clock.now()), true);
  clock.advance(60_000); // 17:00
  assert.equal(w.isOpen(clock.now()), false);
  assert.equal(new CronWindow('0 9 * * *', '0 17 * * *', 'UTC').isOpen(Date.parse('2026-06-21T16:30:00Z')), true, 'UTC differs from Paris');
  assert.throws(() => new CronWindow('every day', '0 17 * * *', 'UTC'), /not a valid cron expression/);
});
