// The day replay: the add-on records the measurements its rules use; the page replays a recorded
// day through the rules as set and with a changed setting (in a worker thread), with the plots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { CHROMIUM } from './setup.js';

let broker: TestBroker;
let browser: Browser;
before(async () => {
  broker = await startTestBroker();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
after(async () => {
  await browser?.close();
  await broker?.stop();
});

test('a recorded day replays through the rules as set and with a changed threshold, from the page', async () => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T10:00:00Z'));
  const automation = {
    sources: [{ name: 'grid', mqtt: { topic: 'replay/grid', json_path: 'power' }, stale_after: 86_400 }],
    surplus: { grid: 'grid' },
    rules: [{ type: 'surplus_switch', name: 'Pool pump', power_w: 1200, target: { mqtt: { command_topic: 'replay/pump/set' } }, enable_delay: 60 }],
  };
  const t = await startApp(broker.port, { automation }, { clock, web: { port: 0 } });
  const rec = await Recorder.connect(broker.port);
  try {
    await rec.publish('replay/grid', JSON.stringify({ power: -2000 }), { qos: 0 });
    await eventually(() => t.app.engine!.sources.get('grid')!.value === -2000, 3000, 'the grid reading');
    for (let s = 0; s < 2 * 3600; s += 10) clock.advance(10_000); // two hours of 2 kW export, a row every 10 s
    await t.app.web!.days!.save();
    assert.ok(existsSync(`${t.dataDir}/web_day_2026-06-21.csv`), 'the day is on disk');
    assert.deepEqual(t.app.web!.days!.days(), ['2026-06-21']);

    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${t.app.web!.port}/`);
      await page.locator('#replay:not([hidden]) #replay-day option[value="2026-06-21"]').waitFor({ state: 'attached', timeout: 5000 });
      // As set: 1200 W needs 2000 W; with 1000 W more to start, 2200 W, it never starts.
      await page.selectOption('#replay-rule', 'pool_pump');
      await page.selectOption('#replay-setting', 'enable_threshold_w');
      await page.fill('#replay-value', '1000');
      await page.click('#replay-form button');
      const card = page.locator('#replay-result .replay-rule[data-rule="pool_pump"]');
      await card.waitFor({ timeout: 20_000 });
      assert.match(await card.locator('.as-set').innerText(), /^As set: 1 starts, 1 h 59 min on, 2\.\d\d kWh$/);
      assert.match(await card.locator('.changed').innerText(), /^Changed: 0 starts, 0 h 00 min on, 0\.00 kWh$/);
      assert.equal(await card.locator('svg.plot').count(), 2, 'a plot for each');
      assert.match(await card.locator('.timeline li').first().innerText(), /off: 2000 W surplus is below the 2200 W it needs/);
      mkdirSync('test-results/web', { recursive: true });
      await page.locator('#replay').screenshot({ path: 'test-results/web/replay-light.png' });
      // A setting out of its range is refused, as HA would refuse it.
      const status = await page.evaluate(async () => (await fetch('api/replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"day":"2026-06-21","changes":{"pool_pump":{"min_on":-5}}}' })).status);
      assert.equal(status, 400);
    } finally {
      await page.close();
    }
  } finally {
    await rec.close();
    await t.stop();
  }
});
