import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock } from '../../src/core/clock.js';
import { Deadman } from '../../src/core/deadman.js';

test('the deadman calls the fail-safe once when the input goes stale, and re-arms when fed', () => {
  const clock = new SimulatedClock();
  let calls = 0;
  const deadman = new Deadman(clock, 30_000, () => calls++);
  deadman.feed();
  for (let i = 0; i < 10; i++) {
    clock.advance(20_000); // fed every 20 s: never stale
    deadman.feed();
  }
  assert.equal(calls, 0);
  clock.advance(29_999);
  assert.equal(calls, 0, 'not before the limit');
  clock.advance(1);
  assert.equal(calls, 1, 'at the limit');
  assert.ok(deadman.isTripped);
  clock.advance(300_000);
  assert.equal(calls, 1, 'once, not again while stale');
  deadman.feed();
  assert.ok(!deadman.isTripped);
  clock.advance(30_000);
  assert.equal(calls, 2, 'again after it was fed and went stale again');
  deadman.feed();
  deadman.stop();
  clock.advance(60_000);
  assert.equal(calls, 2, 'stopped: no call');
});
