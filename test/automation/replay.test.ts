import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrace, replay } from '../../src/automation/replay.js';
import { automationOptions } from '../../src/automation/options.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';
import { tempDir } from '../helpers/app.js';

const automation = {
  sources: [{ name: 'grid', mqtt: { topic: 'home/grid/power' } }],
  surplus: { grid: 'grid' },
  rules: [
    { type: 'surplus_switch', name: 'Pool pump', priority: 1, power_w: 1200, target: { mqtt: { command_topic: 'pool/set' } }, enable_delay: 60, disable_delay: 180 },
    { type: 'surplus_switch', name: 'Dishwasher', priority: 2, power_w: 2000, target: { mqtt: { command_topic: 'dw/set' } }, enable_delay: 60, disable_delay: 60 },
  ],
};

/** Two hours of 1 s readings: 2500 W export, a 90 s cloud at 30 min, an overcast hour from 60 min. */
function trace(): string {
  const lines = ['time,grid'];
  for (let s = 0; s < 7200; s++) {
    const cloud = s >= 1800 && s < 1890;
    const overcast = s >= 3600 && s < 5400;
    lines.push(`${s},${cloud ? 300 : overcast ? 200 : -2500}`);
  }
  return lines.join('\n');
}

const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('replay');

test('replay: decisions with reasons, and a summary of starts, time on and energy', async () => {
  const options = automationOptions.parse(automation);
  const result = await replay(options, parseTrace(trace(), ['grid']), log);
  const pump = result.loads.find((l) => l.rule === 'Pool pump')!;
  const dishwasher = result.loads.find((l) => l.rule === 'Dishwasher')!;
  // The pump starts after 60 s, rides out the 90 s cloud (disable delay 180 s), stops 180 s into
  // the overcast hour, and starts again 60 s after it.
  assert.equal(pump.starts, 2);
  assert.equal(pump.onSeconds, 3600 + 180 - 60 + (7199 - 5460), 'the last reading is at 7199 s');
  assert.ok(Math.abs(pump.energyKwh - (1200 * pump.onSeconds) / 3_600_000) < 1e-9);
  // With the pump on, 1300 W are left: never enough for the 2000 W dishwasher.
  assert.equal(dishwasher.starts, 0);
  const first = result.decisions.find((d) => d.rule === 'Pool pump' && d.state === 'on')!;
  assert.match(first.reason, /switched on: 2500 W surplus covered the 1200 W it needs/);
  assert.equal(first.at - result.from, 60_000);
  assert.ok(result.decisions.some((d) => d.rule === 'Pool pump' && d.state === 'holding' && /holding: importing 1500 W, more than the 0 W tolerated/.test(d.reason)));

  // Without feedback the dishwasher would start on the same watts: the summary shows the difference.
  const naive = await replay(options, parseTrace(trace(), ['grid']), log, { feedback: false });
  assert.ok(naive.loads.find((l) => l.rule === 'Dishwasher')!.starts >= 1);
});

test('a schedule window keeps a load off outside it, in the configured time zone', async () => {
  const options = automationOptions.parse({
    timezone: 'Europe/Paris',
    sources: [{ name: 'grid', mqtt: { topic: 'g' } }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'surplus_switch', name: 'Pool pump', power_w: 1000, target: { mqtt: { command_topic: 'p' } }, enable_delay: 0, disable_delay: 0, schedule_start: '0 10 * * *', schedule_end: '0 12 * * *' }],
  });
  // 07:00 to 14:00 UTC on a summer day (09:00 to 16:00 in Paris), a steady 3 kW export.
  const lines = ['time,grid'];
  for (let s = 0; s <= 7 * 3600; s += 10) lines.push(`${new Date(Date.parse('2026-06-21T07:00:00Z') + s * 1000).toISOString()},-3000`);
  const result = await replay(options, parseTrace(lines.join('\n'), ['grid']), log);
  const on = result.decisions.filter((d) => d.state === 'on').map((d) => new Date(d.at).toISOString());
  const off = result.decisions.filter((d) => d.state !== 'on' && d.at > result.from).map((d) => [new Date(d.at).toISOString(), d.reason]);
  assert.deepEqual(on, ['2026-06-21T08:00:00.000Z'], 'on at 10:00 Paris time');
  assert.deepEqual(off, [['2026-06-21T10:00:00.000Z', 'outside its schedule (0 10 * * * to 0 12 * * *)']], 'off at 12:00 Paris time');
  assert.equal(result.loads[0]!.onSeconds, 7200);
});

test('trace errors name the line and the problem', () => {
  assert.throws(() => parseTrace('time,grid,pv\n0,1,2', ['grid']), /column 'pv' names no source/);
  assert.throws(() => parseTrace('t,grid\n0,1', ['grid']), /first column must be 'time'/);
  assert.throws(() => parseTrace('time,grid\n0,abc', ['grid']), /line 2: grid 'abc' is not a number/);
  assert.throws(() => parseTrace('time,grid\nyesterday,1', ['grid']), /line 2: 'yesterday' is not a time/);
  assert.equal(parseTrace('time,grid\n2026-06-21T10:00:00Z,5\n2026-06-21T10:00:01Z,', ['grid'])[1]!.values.size, 0);
});

test('npm run simulate prints every decision and the summary', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'options.json'), JSON.stringify({ automation }));
  writeFileSync(join(dir, 'day.csv'), trace());
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/automation/simulate.ts', '--options', join(dir, 'options.json'), '--trace', join(dir, 'day.csv')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /2026-01-01 00:01:00 {2}Pool pump {8}on {7}switched on: 2500 W surplus covered the 1200 W it needs/);
  assert.match(run.stdout, /Summary \(.*7200 readings\)/);
  assert.match(run.stdout, /Pool pump\s+2\s+1 h 30 min\s+1\.82 kWh/);
  assert.match(run.stdout, /01:03:00 {2}Pool pump {8}off {6}switched off: importing 1400 W for 180 s/);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/automation/simulate.ts', '--options', join(dir, 'options.json')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^Usage: npm run simulate -- --options FILE --trace FILE\.csv/);
});
