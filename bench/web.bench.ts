// The add-on's page (issue 15): how soon a device value reaches the page's live stream and the
// page itself in a real browser (Debian's headless Chromium), what the page weighs on first load,
// and what serving it adds to the add-on's resident memory.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import type { Adapter } from '../src/adapters/adapter.js';
import type { ContextFor } from '../src/adapters/index.js';
import type { Entity } from '../src/core/device.js';
import type { EntitySpec } from '../src/core/entity.js';
import type { TestBroker } from '../test/helpers/broker.js';
import { startApp } from '../test/helpers/app.js';
import { CHROMIUM } from '../test/web/setup.js';
import { summary, type Row } from './stats.js';

const SAMPLES = 500;
const BROWSER_SAMPLES = 200;
const BROWSER_WARMUP = 10;

/** One inverter-sized device: 100 power sensors, the first one the bench changes. */
class Inverter implements Adapter {
  readonly id = 'bench';
  sensors: Entity<EntitySpec>[] = [];
  constructor(private readonly contextFor: ContextFor) {}
  async start(): Promise<void> {
    const device = this.contextFor('bench').devices.device({ id: 'bench_inverter', name: 'Bench inverter' }, this.id);
    for (let e = 0; e < 100; e++) {
      const sensor = device.sensor({ key: e === 0 ? 'pv_power' : `p${e}`, name: `Power ${e}`, deviceClass: 'power', unit: 'W', stateClass: 'measurement' });
      sensor.update(e);
      this.sensors.push(sensor);
    }
  }
  async stop(): Promise<void> {}
  failSafe(): void {}
}

/** A live stream as the page opens it; calls back with each event. */
function openEvents(port: number, onEvent: (name: string, data: string, bytes: number) => void): Promise<() => void> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/events' }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.*)$/m.exec(block)?.[1] ?? '';
          onEvent(name, data, Buffer.byteLength(block) + 2);
        }
      });
      done(() => req.destroy());
    });
    req.on('error', fail);
    req.end();
  });
}

export async function benchWeb(broker: TestBroker): Promise<Row[]> {
  const rows: Row[] = [];
  let adapter: Inverter | undefined;
  const t = await startApp(broker.port, { log_level: 'error' }, { web: { port: 0 }, extraAdapters: (c) => [(adapter = new Inverter(c))] });
  try {
    const port = t.app.web!.port;

    // 1. Page weight: what a browser fetches on first load (gzip, as Chromium asks), and the first event.
    let compressed = 0, raw = 0;
    for (const path of ['/', '/app.js', '/style.css']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      compressed += Number(res.headers.get('content-length'));
      raw += (await res.arrayBuffer()).byteLength; // fetch decompresses
    }
    let firstState = 0;
    let waiting: { value: number; resolve: () => void } | undefined;
    const close = await openEvents(port, (name, data, bytes) => {
      if (name === 'state') firstState = bytes;
      if (name === 'entities' && waiting && data.includes(`"key":"pv_power"`) && data.includes(`"value":${waiting.value},`)) waiting.resolve();
    });
    rows.push({ metric: 'page weight, first load: HTML + JS + CSS, gzip (bytes transferred)', value: compressed / 1024, unit: 'KiB', target: 'small' });
    rows.push({ metric: 'page bundle uncompressed (index.html + app.js + style.css)', value: raw / 1024, unit: 'KiB' });

    // 2. A device value changing -> the page's stream carrying it.
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const value = 10_000 + i;
      const arrived = new Promise<void>((resolve) => (waiting = { value, resolve }));
      const t0 = performance.now();
      adapter!.sensors[0]!.update(value);
      await arrived;
      samples.push(performance.now() - t0);
    }
    const snapshotKiB = firstState / 1024;
    rows.push({ metric: 'first live event (the whole snapshot: 100 entities and the bridge device, uncompressed)', value: snapshotKiB, unit: 'KiB' });
    rows.push(summary('device value changed -> SSE event on the page\'s stream', samples, 'ms', 'p99 < 50 ms'));

    // 3. A device value changing -> the page in a real browser showing it, with the SSE arrival of the
    //    same changes beside it (the Node stream above stays open: the same samples, paired).
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 5000 });
      const cell = '#device-bench_inverter tr[data-key="pv_power"] td:nth-child(2)';
      await page.locator(cell).waitFor({ state: 'attached', timeout: 5000 });
      // In the page: on every DOM mutation (the observer runs as a microtask at the end of the task that
      // mutated, i.e. the EventSource handler), note when the PV cell first showed each text, and when
      // the next animation frame (the one that paints it) began.
      await page.evaluate(`(() => {
        const shown = new Map(), framed = new Map();
        window.__bench = { shown, framed };
        new MutationObserver(() => {
          const t = performance.timeOrigin + performance.now();
          const text = document.querySelector(${JSON.stringify(cell)})?.textContent ?? '';
          if (shown.has(text)) return;
          shown.set(text, t);
          requestAnimationFrame(() => framed.set(text, performance.timeOrigin + performance.now()));
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
      })()`);
      const before = await clockOffset(page);
      const dom: number[] = [], frame: number[] = [], sse: number[] = [];
      for (let i = 0; i < BROWSER_WARMUP + BROWSER_SAMPLES; i++) {
        const value = 20_000 + i;
        const text = `${value} W`;
        // Off the frame clock: changes arrive at any point of a frame, as a device's do.
        await new Promise((r) => setTimeout(r, Math.random() * 17));
        let sseAt = 0;
        const arrived = new Promise<void>((resolve) => (waiting = { value, resolve: () => ((sseAt = wallNow()), resolve()) }));
        const t0 = wallNow();
        adapter!.sensors[0]!.update(value);
        await arrived;
        // A function, not a string: the page's CSP forbids eval, which string predicates need.
        const seen = await page.waitForFunction(
          (t) => {
            const b = (globalThis as unknown as { __bench: { shown: Map<string, number>; framed: Map<string, number> } }).__bench;
            return b.framed.has(t) && [b.shown.get(t), b.framed.get(t)];
          },
          text,
          { polling: 'raf', timeout: 5000 },
        );
        const [shownAt, framedAt] = (await seen.jsonValue()) as [number, number];
        await seen.dispose();
        if (i < BROWSER_WARMUP) continue;
        sse.push(sseAt - t0);
        // The page's clock, moved onto this process's (offset measured at the start; see clockOffset).
        dom.push(shownAt - before.offset - t0);
        frame.push(framedAt - before.offset - t0);
      }
      const after = await clockOffset(page);
      await page.close();
      rows.push(summary('device value changed -> page DOM shows it (headless Chromium, MutationObserver)', dom, 'ms', 'p99 < 50 ms'));
      rows.push(summary('  same changes -> SSE event on the Node stream (paired with the row above)', sse, 'ms'));
      rows.push(summary('  same changes -> start of the frame that paints it (rAF after the mutation)', frame, 'ms'));
      rows.push({ metric: '  page/Node clock offset: uncertainty (half the best round trip) + drift over the run', value: before.rtt / 2 + Math.abs(after.offset - before.offset), unit: 'ms' });
    } finally {
      close();
      await browser.close();
    }
  } finally {
    await t.stop();
  }

  // 4. Resident memory of the compiled add-on idle with 500 entities, with and without the page (one viewer open).
  const without: number[] = [], withPage: number[] = [];
  for (let run = 0; run < 3; run++) {
    without.push(await idleRss(broker.port, false));
    withPage.push(await idleRss(broker.port, true));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[1]!;
  rows.push({ metric: 'resident memory, compiled add-on idle, 500 entities, no page', value: median(without), unit: 'MB' });
  rows.push({ metric: 'resident memory, same with the page served and one viewer', value: median(withPage), unit: 'MB' });
  rows.push({ metric: 'memory the page adds (median of 3 runs each)', value: median(withPage) - median(without), unit: 'MB', target: '< 5 MB' });
  return rows;
}

/** Wall-clock milliseconds at sub-millisecond resolution: comparable with the page's timeOrigin + now(). */
const wallNow = () => performance.timeOrigin + performance.now();

/**
 * The page's clock minus this process's, both as timeOrigin + now() (epoch ms): NTP-style, the
 * page's reading against the midpoint of the round trip that fetched it, from the fastest of 30
 * round trips. Error at most half that round trip.
 */
async function clockOffset(page: Page): Promise<{ offset: number; rtt: number }> {
  let best = { offset: 0, rtt: Infinity };
  for (let i = 0; i < 30; i++) {
    const a = wallNow();
    const p = Number(await page.evaluate('performance.timeOrigin + performance.now()'));
    const b = wallNow();
    if (b - a < best.rtt) best = { offset: p - (a + b) / 2, rtt: b - a };
  }
  return best;
}

/** Runs the compiled App (dist/, as in the add-on image) in its own process and reports its RSS after 5 s idle. */
function idleRss(brokerPort: number, web: boolean): Promise<number> {
  const dist = (file: string) => pathToFileURL(resolve('dist', file)).href;
  const script = `
    import { mkdtempSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    import { request } from 'node:http';
    const { App } = await import(${JSON.stringify(dist('app.js'))});
    const { parseOptions } = await import(${JSON.stringify(dist('options.js'))});
    const app = new App({
      options: parseOptions({ mqtt: { host: '127.0.0.1', port: ${brokerPort}, client_id: 'bench_web_idle' }, base_topic: 'webidle', log_level: 'error' }),
      dataDir: mkdtempSync(join(tmpdir(), 'e2m-web-idle-')),
      web: ${web ? '{ port: 0 }' : 'undefined'},
      extraAdapters: (contextFor) => [{
        id: 'bench',
        async start() {
          const { devices } = contextFor('bench');
          for (let d = 0; d < 10; d++) {
            const device = devices.device({ id: 'idle_' + d, name: 'Idle ' + d }, 'bench');
            for (let e = 0; e < 50; e++) device.sensor({ key: 'p' + e, name: 'Power ' + e, deviceClass: 'power', unit: 'W', stateClass: 'measurement' }).update(e);
          }
        },
        async stop() {}, failSafe() {},
      }],
    });
    await app.start();
    await app.bridge.ready;
    if (app.web) {
      // node:http, not fetch: loading undici would count the client's memory as the page's.
      const get = (path) => new Promise((done) => request({ host: '127.0.0.1', port: app.web.port, path, headers: { 'accept-encoding': 'gzip' } }, (res) => res.on('end', done).resume()).end());
      for (const path of ['/', '/app.js', '/style.css']) await get(path);
      request({ host: '127.0.0.1', port: app.web.port, path: '/api/events' }, (res) => res.resume()).end();
    }
    await new Promise((r) => setTimeout(r, 5000));
    const rssMb = process.memoryUsage().rss / 1024 / 1024;
    await app.stop();
    process.stdout.write(JSON.stringify({ rssMb }));
    process.exit(0);
  `;
  return new Promise((done, fail) => {
    let out = '';
    const child = spawn(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? done(Number(JSON.parse(out).rssMb)) : fail(new Error(`the idle add-on exited with ${code}`))));
  });
}
