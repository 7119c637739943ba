// The add-on's page in a real headless Chromium (Debian's, driven by playwright-core), served by
// the running App with a simulated GivEnergy inverter and a surplus rule: what a user sees in
// HA's sidebar, directly and behind an ingress proxy, in light and dark themes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/mqtt-client.js';
import { CHROMIUM, DEV, RULE, ingressProxy, startPageWorld, type PageWorld } from './setup.js';

const SHOTS = 'test-results/web';
let broker: TestBroker;
let browser: Browser;
let world: PageWorld;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  broker = await startTestBroker();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  world = await startPageWorld(broker.port);
});
after(async () => {
  await world?.stop();
  await browser?.close();
  await broker?.stop();
});

async function open(url: string, options: { colorScheme?: 'light' | 'dark'; width?: number; height?: number } = {}): Promise<Page> {
  const page = await browser.newPage({ colorScheme: options.colorScheme ?? 'light', viewport: { width: options.width ?? 1100, height: options.height ?? 900 } });
  const failures: string[] = [];
  page.on('pageerror', (err) => failures.push(err.message));
  page.on('console', (msg) => (msg.type() === 'error' ? failures.push(msg.text()) : undefined));
  await page.goto(url);
  await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 5000 });
  assert.deepEqual(failures, [], 'no script errors');
  return page;
}

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent()) ?? '';

test('the flow shows the simulated inverter and follows it when its values change', async () => {
  const page = await open(world.url);
  try {
    // The simulated inverter: 128 W PV, 139 W import, 17 % SoC.
    await page.locator('#flow-pv-value', { hasText: '128 W' }).waitFor({ timeout: 5000 });
    assert.equal(await text(page, '#flow-grid-value'), '139 W');
    assert.equal(await text(page, '#flow-grid-dir'), 'import');
    assert.equal(await text(page, '#flow-soc-value'), '17 %');
    // The surplus is the automation's, from its own grid source: labelled so, next to the inverter's grid figure.
    assert.match(await text(page, '#flow-surplus'), /^Surplus .*\(automation: grid\)$/);
    // The device, its values and a link into HA for each entity.
    const card = page.locator(`#device-${DEV}`);
    await card.locator('.badge.online').waitFor();
    await card.locator('summary').click();
    const pvRow = card.locator('tr[data-key="pv_power"]');
    assert.equal(await pvRow.locator('td').nth(1).innerText(), '128 W');
    assert.equal(await pvRow.locator('a').getAttribute('href'), `/config/entities?search=sensor.${DEV}_pv_power`);
    assert.equal(await pvRow.locator('a').getAttribute('target'), '_top');
    // The sun comes out: the next poll reaches the page without a reload.
    world.sim.ir[18] = 2500;
    world.sim.ir[20] = 1500;
    await world.adapter.poll(false);
    await page.locator('#flow-pv-value', { hasText: '4000 W' }).waitFor({ timeout: 5000 });
    assert.equal(await pvRow.locator('td').nth(1).innerText(), '4000 W');
    assert.ok(await page.locator('#link-pv.active').count(), 'the PV link runs');
    // The inverter goes unavailable, as its adapter marks it when the dongle stops answering: the card says so, and why.
    const inverter = world.t.app.bridge.getDevice(DEV)!;
    const dongle = world.t.app.bridge.allDevices().find((d) => d.entities.has('last_error'))!;
    dongle.entities.get('last_error')!.update('connect ECONNREFUSED 127.0.0.1:8899' as never);
    inverter.info = { ...inverter.info, viaDevice: inverter.info.viaDevice ?? dongle.id };
    inverter.setAvailable(false);
    await card.locator('.badge.unavailable').waitFor({ timeout: 3000 });
    assert.match(await card.locator('.error').innerText(), /ECONNREFUSED/);
    inverter.setAvailable(true);
    await card.locator('.badge.online').waitFor({ timeout: 3000 });
  } finally {
    await page.close();
  }
});

test("a rule's timeline shows the reason of each change, and the plot has the surplus", async () => {
  const page = await open(world.url);
  try {
    const rule = page.locator(`#rule-${RULE}`);
    await rule.waitFor();
    await world.grid(-2000);
    const entry = rule.locator('.timeline li[data-state="waiting"]');
    await entry.waitFor({ timeout: 5000 });
    assert.match(await entry.innerText(), /waiting: 2000 W surplus covers the 1200 W it needs/);
    assert.match(await rule.locator('.reason').innerText(), /waiting: 2000 W surplus covers the 1200 W it needs; \d+ s of 600 s/);
    await eventually(() => (world.t.app.web?.timelines.get(RULE).samples.length ?? 0) > 0, 3000, 'a sample');
    // Reloaded, the timeline comes from the server (api/rules/<slug>/timeline), not from the stream.
    await page.reload();
    await rule.locator('.timeline li[data-state="waiting"]').waitFor({ timeout: 5000 });
    assert.ok((await rule.locator('.plot path.surplus').getAttribute('d'))?.startsWith('M'), 'the surplus is plotted');
    // The flow lists the steered load.
    await page.locator(`#flow-loads li[data-rule="${RULE}"]`).waitFor();
  } finally {
    await page.close();
  }
});

test('toggling a rule and the dry run from the page goes through the command path to the engine', async () => {
  const page = await open(world.url);
  const engine = world.t.app.engine!;
  const rule = engine.rules.find((r) => r.slug === RULE)!;
  try {
    assert.equal(rule.enabled, true);
    const mark = world.rec.mark();
    await page.locator(`#rule-${RULE} input.enabled`).click();
    await eventually(() => rule.enabled === false, 3000, 'the rule disabled');
    // As a command from HA would: the rule's HA switch shows it.
    await world.rec.waitFor(`energy2mqtt/rule_${RULE}/enabled`, (p) => p === 'OFF', 3000, mark);
    await page.locator(`#rule-${RULE} .info`, { hasText: 'disabled' }).waitFor({ timeout: 3000 });
    await page.locator(`#rule-${RULE} input.enabled`).click();
    await eventually(() => rule.enabled === true, 3000, 'the rule enabled again');
    await page.locator('#dry-run').click();
    await eventually(() => engine.dryRun === true, 3000, 'dry run on');
    await world.rec.waitFor('energy2mqtt/automation/dry_run', (p) => p === 'ON', 3000, mark);
    await page.locator(`#rule-${RULE} .head .badge.dry:not([hidden])`).waitFor({ timeout: 3000 });
    await page.locator('#dry-run').click();
    await eventually(() => engine.dryRun === false, 3000, 'dry run off');
    // A mode the rule does not have is refused by the entity's schema, and the page says so.
    const refused = await page.evaluate(async (slug) => (await fetch(`api/rules/${slug}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"mode":"turbo"}' })).status, RULE);
    assert.equal(refused, 400);
  } finally {
    await page.close();
  }
});

test('the page works under the ingress path prefix, as HA serves it', async () => {
  // As an add-on (ingress mode) behind the proxy; the loopback address stands for the Supervisor's.
  const addon = await startPageWorld(broker.port, { web: { port: 0, ingress: true, host: '127.0.0.1', allowedPeer: '127.0.0.1' } });
  const proxy = await ingressProxy(addon.t.app.web!.port);
  let page: Page | undefined;
  try {
    page = await open(proxy.url);
    await page.locator('#flow-pv-value', { hasText: 'W' }).waitFor({ timeout: 5000 });
    assert.notEqual(await text(page, '#flow-pv-value'), '–');
    await page.locator(`#rule-${RULE} .timeline li`).first().waitFor({ timeout: 5000 });
    // Live through the proxy, and a toggle through it reaches the engine.
    addon.sim.ir[18] = 1000;
    addon.sim.ir[20] = 500;
    await addon.adapter.poll(false);
    await page.locator('#flow-pv-value', { hasText: '1500 W' }).waitFor({ timeout: 5000 });
    await page.locator(`#rule-${RULE} input.enabled`).click();
    await eventually(() => addon.t.app.engine!.rules[0]!.enabled === false, 3000, 'disabled through ingress');
    await page.locator(`#rule-${RULE} input.enabled`).click();
    await eventually(() => addon.t.app.engine!.rules[0]!.enabled === true, 3000, 'enabled through ingress');
  } finally {
    await page?.close();
    await proxy.close();
    await addon.stop();
  }
});

test('screenshots in light and dark themes, on a desktop and a phone', async () => {
  world.sim.ir[18] = 2500;
  world.sim.ir[20] = 1500;
  await world.adapter.poll(false);
  for (const colorScheme of ['light', 'dark'] as const) {
    for (const [device, width, height] of [['desktop', 1100, 900], ['phone', 390, 844]] as const) {
      const page = await open(world.url, { colorScheme, width, height });
      try {
        await page.locator('#flow-pv-value', { hasText: '4000 W' }).waitFor({ timeout: 5000 });
        await page.locator(`#rule-${RULE} .timeline li`).first().waitFor({ timeout: 5000 });
        const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
        assert.equal(background, colorScheme === 'dark' ? 'rgb(17, 17, 17)' : 'rgb(250, 250, 250)', `${colorScheme} background`);
        // Nothing wider than the phone's screen.
        if (device === 'phone') assert.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no horizontal scrolling');
        await page.screenshot({ path: `${SHOTS}/page-${colorScheme}-${device}.png`, fullPage: true });
      } finally {
        await page.close();
      }
    }
  }
});

test('the page loads nothing from elsewhere', async () => {
  const page = await browser.newPage();
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  try {
    await page.goto(world.url);
    await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 5000 });
    const origin = new URL(world.url).origin;
    assert.deepEqual(requested.filter((u) => !u.startsWith(origin)), []);
  } finally {
    await page.close();
  }
});
