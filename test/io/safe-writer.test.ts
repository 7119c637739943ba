// The safe writer on the simulated clock, against an in-memory device that can lose answers,
// ignore writes and answer late: what reaches the device is what the test asserts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock } from '../../src/core/clock.js';
import { SafeWriter, WriteRefused, type Write, type WriteRule } from '../../src/io/safe-writer.js';
import { WriteBudget } from '../../src/io/write-budget.js';

class MemoryDevice {
  readonly registers = new Map<number, number>();
  readonly writes: Array<[number, number]> = [];
  /** Writes that land but whose answer is lost. */
  loseAnswers = false;
  /** Registers that answer the write but keep their old value. */
  readonly ignore = new Set<number>();
  /** Read-backs that never answer. */
  silent = false;

  access() {
    return {
      describe: (r: number) => `register ${r}`,
      known: (r: number) => this.registers.get(r),
      write: async (r: number, v: number) => {
        this.writes.push([r, v]);
        if (!this.ignore.has(r)) this.registers.set(r, v);
        if (this.loseAnswers) throw new Error(`no valid answer to HR ${r} ← ${v}`);
        return v;
      },
      readBack: (r: number) => (this.silent ? new Promise<number | undefined>(() => undefined) : Promise.resolve(this.registers.get(r))),
    };
  }
}

function setup(limits = { perMinute: 60, perDay: 100 }) {
  const clock = new SimulatedClock(new Date(2026, 11, 3, 23, 50, 0).getTime());
  const device = new MemoryDevice();
  const budget = new WriteBudget(clock, { ...limits });
  const warnings: number[] = [];
  const writer = new SafeWriter<number>({
    allowed: new Map<number, WriteRule>([[1, { min: 0, max: 100 }], [2, { min: 0, max: 100 }], [3, { min: 0, max: 2359, check: (v) => (v % 100 > 59 ? `${v} is not a time` : undefined) }]]),
    device: device.access(),
    budget,
    clock,
    confirmTimeoutMs: 5000,
    onWritten: (warn) => warn && warnings.push(budget.used),
  });
  return { clock, device, budget, writer, warnings };
}

const w = (key: number, value: number): Write<number> => ({ key, value });

test('allow-list, range and checks come first: nothing is written when one write of a command is refused', async () => {
  const { writer, device } = setup();
  await assert.rejects(writer.apply([w(1, 5), w(9, 1)]), { message: 'register 9 is not on the list of settings that may be written' });
  await assert.rejects(writer.apply([w(1, 5), w(2, 101)]), { message: '101 is out of range for register 2 (0 to 100)' });
  await assert.rejects(writer.apply([w(1, 5), w(3, 1275)]), { message: '1275 is not a time' });
  await assert.rejects(writer.apply([w(1, 2.5)]), WriteRefused);
  assert.deepEqual(device.writes, []);
});

test('a value the device holds is not written again', async () => {
  const { writer, device } = setup();
  assert.deepEqual(await writer.apply([w(1, 5), w(2, 7)]), { written: 2, skipped: 0 });
  assert.deepEqual(await writer.apply([w(1, 5), w(2, 8)]), { written: 1, skipped: 1 });
  assert.deepEqual(await writer.apply([w(1, 5), w(2, 8)]), { written: 0, skipped: 2 });
  assert.deepEqual(device.writes, [[1, 5], [2, 7], [2, 8]]);
});

test('per-minute and per-day caps on the simulated clock; a command is never cut off half-way; a new day starts again, a clock set back does not', async () => {
  const { writer, device, clock, budget, warnings } = setup({ perMinute: 10, perDay: 25 });
  for (let i = 0; i < 10; i++) await writer.apply([w(1, i + 1)]);
  await assert.rejects(writer.apply([w(1, 50)]), { message: /more than 10 register writes in a minute/ });
  clock.advance(60_000);
  for (let i = 0; i < 9; i++) await writer.apply([w(1, 20 + i)]);
  // Two writes asked with one left in this minute: refused whole, not half-done.
  await assert.rejects(writer.apply([w(1, 70), w(2, 70)]), { message: /more than 10 register writes in a minute/ });
  assert.equal(device.writes.length, 19);
  clock.advance(60_000);
  for (let i = 0; i < 5; i++) await writer.apply([w(2, i + 1)]);
  assert.deepEqual(warnings, [20], 'warned once, at 80 % of 25');
  await assert.rejects(writer.apply([w(1, 90), w(2, 90)]), { message: /this needs 2 register writes and only 1 of today's 25 are left/ });
  await writer.apply([w(1, 91)]);
  await assert.rejects(writer.apply([w(1, 92)]), { message: /today's budget of 25 register writes is spent/ });
  assert.equal(device.writes.length, 25);
  assert.equal(budget.left(), 0);
  clock.advance(10 * 60_000); // past local midnight
  assert.equal(budget.left(), 25);
  await writer.apply([w(1, 93)]);
  const day = budget.state();
  const setBack = new WriteBudget(new SimulatedClock(new Date(2026, 11, 3, 23, 59, 0).getTime()), { perMinute: 10, perDay: 25 });
  setBack.restore({ ...day, used: 25 });
  assert.equal(setBack.left(), 0, 'a clock set back across midnight gives no second budget');
});

test('an unconfirmed write is reported; a write whose answer was lost but which landed is confirmed by reading back, and counted', async () => {
  const { writer, device, budget } = setup();
  device.ignore.add(2);
  device.registers.set(2, 100);
  await assert.rejects(writer.apply([w(2, 50)]), { message: 'the device did not confirm register 2: wrote 50, it reports 100' });
  device.loseAnswers = true;
  assert.deepEqual(await writer.apply([w(1, 33)]), { written: 1, skipped: 0 }, 'it landed: the read-back says so');
  await assert.rejects(writer.apply([w(2, 60)]), { message: 'no valid answer to HR 2 ← 60' }, 'it did not land');
  assert.equal(budget.used, 3, 'every write sent is counted, answered or not');
});

test('a read-back that never comes times out on the clock; after stop() nothing is written', async () => {
  const { writer, device, clock } = setup();
  device.silent = true;
  const pending = writer.apply([w(1, 44)]);
  await new Promise((r) => setImmediate(r));
  clock.advance(5000);
  await assert.rejects(pending, { message: 'register 1 was not confirmed within 5 s after writing 44' });
  device.silent = false;
  writer.stop('stopping after a failure');
  await assert.rejects(writer.apply([w(1, 45)]), { message: 'stopping after a failure' });
  assert.deepEqual(await writer.apply([w(1, 44)]), { written: 0, skipped: 1 }, 'nothing to write is no refusal');
  assert.deepEqual(device.writes, [[1, 44]]);
});
