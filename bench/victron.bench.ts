// Victron and Tempo benchmarks (issue 10): a GX value to HA, an HA command to the GX and back, the
// W/ writes of a night's plan by the tempo_ess rule, and how often each Tempo source is asked.
// The GX is the simulator on its own Mosquitto, the add-on on another, HA a recorder client.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, mosquittoBinary, startTestBroker, type TestBroker } from '../test/helpers/broker.js';
import { startApp, tempDir, type TestApp } from '../test/helpers/app.js';
import { Recorder, eventually, sleep } from '../test/helpers/mqtt-client.js';
import { GX, PORTAL, victronSetup, type VictronSetup } from '../test/helpers/victron.js';
import { RTE_ID, RTE_SECRET, tempoContext } from '../test/helpers/tempo.js';
import { SimulatedClock } from '../src/core/clock.js';
import { nextDate, parisTime, type TempoColour } from '../src/adapters/tempo/calendar.js';
import { TempoAdapter } from '../src/adapters/tempo/adapter.js';
import { tempoOptions } from '../src/adapters/tempo/options.js';
import { TempoServer } from '../src/simulators/tempo-server.js';
import { VictronGxSimulator } from '../src/simulators/victron-gx.js';
import { summary, type Row } from './stats.js';

const SOC = 'system/0/Dc/Battery/Soc';

export async function benchVictron(broker: TestBroker): Promise<Row[]> {
  return [...(await gxLatencies(broker)), ...(await tempoEssWrites(broker)), ...(await tempoRequests())];
}

/** p50 and p99 as the shared summary row, the maximum as a row of its own. */
function withMax(metric: string, samples: number[], target: string): Row[] {
  return [summary(metric, samples, 'ms', target), { metric: `${metric}, max`, value: Math.max(...samples), unit: 'ms', n: samples.length }];
}

// ---- 1 and 2: GX -> HA and HA -> GX -> HA ----

interface Broker {
  port: number;
  stop(): Promise<void>;
}

/**
 * Mosquitto with set_tcp_nodelay on, for the reference rows. Mosquitto's default (off) lets
 * Nagle's algorithm hold a small message behind an unacknowledged one until the peer's delayed
 * ACK, about 40 ms; the add-on's own connections set TCP_NODELAY, the brokers' side does not.
 */
async function startNoDelayBroker(): Promise<Broker> {
  const binary = mosquittoBinary();
  if (!binary) throw new Error('the reference rows need Mosquitto (apt-get install mosquitto)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'e2m-bench-mosquitto-'));
  chmodSync(dir, 0o777);
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'set_tcp_nodelay true', 'log_type error', 'log_dest stderr'].join('\n') + '\n');
  const child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM'))));
  const end = Date.now() + 5000;
  while (!(await connects(port))) {
    if (child.exitCode !== null || Date.now() > end) {
      await stop();
      throw new Error(`Mosquitto did not open port ${port}`);
    }
    await sleep(25);
  }
  return { port, stop };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * A GX simulator on `gxBroker`, the add-on on `addonBroker`, a recorder standing in for HA; then
 * ~200 SoC changes on the GX and ~100 min SoC commands from HA, each timed to the HA state.
 */
async function gxRoundTrips(addonBroker: Broker, gxBroker: Broker, label: string, target: string): Promise<Row[]> {
  // A simulated clock: the adapter caps GX setting writes at 30 a minute (the GX's flash), so the
  // clock moves 2.5 s before each command and 1 s before each SoC change. It drives the adapter's
  // keepalives, the GX's heartbeat and keepalive expiry, and the GX's battery ticks (up to about
  // 20 changed values each second), so the GX publishes only because it is kept alive.
  const clock = new SimulatedClock(parisTime('2027-01-11', 12));
  const gx = new VictronGxSimulator({ host: '127.0.0.1', port: gxBroker.port, portalId: PORTAL, clock });
  await gx.start();
  let rec: Recorder | undefined;
  let app: TestApp | undefined;
  const rows: Row[] = [];
  try {
    rec = await Recorder.connect(addonBroker.port, [`energy2mqtt/${GX}/#`, `energy2mqtt/victron_link_127_0_0_1_${gxBroker.port}/writes_today`]);
    app = await startApp(addonBroker.port, { log_level: 'error', victron: [{ host: '127.0.0.1', port: gxBroker.port, daily_write_budget: 5000 }] }, { clock });
    await rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    await rec.waitFor(`energy2mqtt/${GX}/battery_soc`);
    await rec.waitFor(`energy2mqtt/${GX}/min_soc`);

    // The SoC's tail (about 40 ms, with either broker setting) is the simulator's own MQTT socket:
    // mqtt.js leaves Nagle's algorithm on, so a value sent right after a tick's burst waits for
    // the broker's delayed ACK. A real GX publishes from inside its broker (dbus-flashmq).
    const socSamples: number[] = [];
    for (let i = 0; i < 200; i++) {
      clock.advance(1000);
      await sleep(1);
      const soc = i % 2 === 0 ? 20 + (i % 37) : 70 + (i % 23); // always far from the last value
      const mark = rec.mark();
      const t0 = performance.now();
      gx.set(SOC, soc);
      const m = await rec.waitFor(`energy2mqtt/${GX}/battery_soc`, (p) => Number(p) === soc, 2000, mark);
      socSamples.push(m.at - t0);
    }
    if (!gx.alive) throw new Error('the GX stopped publishing: the keepalive did not hold');
    rows.push(...withMax(`GX N/ battery SoC -> HA state topic${label}`, socSamples, target));

    // As HA does: QoS 1, on the connection that also receives the states. The state changes
    // when the GX reports the new value (its N/ right after the W/, since it is kept alive); the
    // write counts as confirmed when the R/ read-back answers, and only then does the adapter
    // publish its writes_today counter. The next command waits for that confirmation.
    const writesToday = `energy2mqtt/victron_link_127_0_0_1_${gxBroker.port}/writes_today`;
    const first = Number((await rec.waitFor(writesToday)).payload);
    const stateSamples: number[] = [];
    const confirmSamples: number[] = [];
    const writesBefore = gx.writes.length;
    for (let i = 0; i < 100; i++) {
      clock.advance(2500);
      await sleep(1);
      const minSoc = i % 2 === 0 ? 35 : 15;
      const mark = rec.mark();
      const t0 = performance.now();
      void rec.publish(`energy2mqtt/${GX}/min_soc/set`, String(minSoc), { qos: 1 });
      const state = await rec.waitFor(`energy2mqtt/${GX}/min_soc`, (p) => Number(p) === minSoc, 5000, mark);
      const confirmed = await rec.waitFor(writesToday, (p) => Number(p) === first + i + 1, 5000, mark);
      stateSamples.push(state.at - t0);
      confirmSamples.push(confirmed.at - t0);
    }
    const writes = gx.writes.length - writesBefore;
    if (writes !== 100) throw new Error(`expected 100 W/ writes of min SoC, the GX accepted ${writes}`);
    rows.push(...withMax(`HA min_soc/set -> W/ -> GX reports it (N/) -> HA state${label}`, stateSamples, target));
    rows.push(...withMax(`HA min_soc/set -> W/ -> R/ read-back confirmed (writes_today published)${label}`, confirmSamples, target));
  } finally {
    await app?.stop();
    await rec?.close();
    await gx.stop();
  }
  return rows;
}

async function gxLatencies(broker: TestBroker): Promise<Row[]> {
  const rows: Row[] = [];
  const gxBroker = await startTestBroker();
  try {
    rows.push(...(await gxRoundTrips(broker, gxBroker, '', 'p99 < 50 ms')));
  } finally {
    await gxBroker.stop();
  }
  // The same with TCP_NODELAY on both brokers' sockets: what is left is the add-on's own time.
  const brokers: Broker[] = [];
  try {
    brokers.push(await startNoDelayBroker(), await startNoDelayBroker());
    rows.push(...(await gxRoundTrips(brokers[0]!, brokers[1]!, ', both brokers set_tcp_nodelay', 'p99 < 50 ms')));
  } finally {
    for (const b of brokers) await b.stop();
  }
  return rows;
}

// ---- 3: the W/ writes of a night's plan ----

/** Mon 11 to Thu 14 January 2027; the GX starts at min SoC 10, BatteryLife on, schedule 1 at 80 %. */
const NIGHTS: Record<string, TempoColour> = { '2027-01-11': 'blue', '2027-01-12': 'red', '2027-01-13': 'blue', '2027-01-14': 'white' };

/** W/ messages the GX received (accepted or refused), the adapter's SystemName write left out. */
function gxWrites(s: VictronSetup): number {
  return [...s.gx.writes, ...s.gx.rejectedWrites].filter((w) => !w.path.includes('SystemName')).length;
}

/** Moves the clock to `until` in 10 s steps, letting the MQTT round trips of the add-on and the GX
 *  happen on the way; from far away, first in jumps of an hour at most (the keepalives queued by
 *  a jump are sent after it) to five minutes before. */
async function runTo(s: VictronSetup, clock: SimulatedClock, until: number): Promise<void> {
  while (until - clock.now() > 600_000) {
    clock.advance(Math.min(3_600_000, until - 300_000 - clock.now()));
    await sleep(20);
    await eventually(() => s.t.app.bridge.getDevice(GX)?.available === true, 5000, 'the GX answering again after the jump');
  }
  while (clock.now() < until) {
    clock.advance(Math.min(10_000, until - clock.now()));
    await sleep(3);
    await s.t.app.engine!.settled();
  }
  await sleep(20);
  await s.t.app.engine!.settled();
}

interface Night {
  plan: number;
  apply: number;
}

async function tempoEssWrites(broker: TestBroker): Promise<Row[]> {
  const clock = new SimulatedClock(parisTime('2027-01-10', 19, 50));
  const tempo = new TempoServer({ clock, calendar: NIGHTS });
  await tempo.listen();
  const s = await victronSetup(broker.port, {
    clock,
    gx: { tickMs: 60_000, initialSoc: 60 },
    extra: {
      log_level: 'error',
      tempo: { enabled: true, sources: ['api_couleur_tempo'], api_couleur_tempo_url: tempo.urls.api_couleur_tempo_url },
      automation: { timezone: 'Europe/Paris', rules: [{ type: 'tempo_ess', name: 'Tempo' }] },
    },
  });
  const nights = new Map<string, Night>();
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    for (const eve of ['2027-01-10', '2027-01-11', '2027-01-12', '2027-01-13']) {
      // The plan (schedule target) at 20:05, the night settings (min SoC, BatteryLife) at 22:00.
      await runTo(s, clock, parisTime(eve, 20, 0));
      const start = gxWrites(s);
      await runTo(s, clock, parisTime(eve, 20, 10));
      const planned = gxWrites(s);
      await runTo(s, clock, parisTime(eve, 21, 55));
      const beforeApply = gxWrites(s);
      await runTo(s, clock, parisTime(eve, 22, 5));
      if (beforeApply !== planned) throw new Error(`the evening of ${eve}: writes between the plan and the night settings`);
      nights.set(nextDate(eve), { plan: planned - start, apply: gxWrites(s) - beforeApply });
    }
  } finally {
    await s.stop();
    await tempo.close();
  }
  const row = (day: string, label: string, target: string): Row => {
    const night = nights.get(day);
    const value = night ? night.plan + night.apply : NaN;
    return { metric: `tempo_ess: W/ writes for a ${label} (${night?.plan ?? '?'} at 20:05 + ${night?.apply ?? '?'} at 22:00)`, value, unit: 'writes', target };
  };
  return [
    row('2027-01-12', 'red night after a blue day: schedule target, min SoC, BatteryLife state', '3 (minimum)'),
    row('2027-01-13', 'blue night after a red day: the same three back', '3 (minimum)'),
    row('2027-01-14', 'white night after a blue day: schedule target', '1 (minimum)'),
  ];
}

// ---- 4: requests per day to each Tempo source ----

/** Mon 12 to Wed 14 January 2026, and Thursday for Wednesday evening's "tomorrow". */
const DAYS = ['2026-01-12', '2026-01-13', '2026-01-14'];
const COLOURS: Record<string, TempoColour> = { '2026-01-12': 'white', '2026-01-13': 'red', '2026-01-14': 'blue', '2026-01-15': 'white' };

type Urls = TempoServer['urls'];

/** The adapter on a simulated clock over three days from 07:00 on the first; its count and the server's for the second day. */
async function tempoDays(configure: (urls: Urls) => Record<string, unknown>): Promise<{ adapter: Record<string, number>; server: Record<string, number> }> {
  const clock = new SimulatedClock(parisTime(DAYS[0]!, 7));
  const sim = new TempoServer({ clock, calendar: COLOURS, rte: { clientId: RTE_ID, clientSecret: RTE_SECRET } });
  await sim.listen();
  const context = tempoContext(clock, tempDir('e2m-bench-tempo-'));
  const adapter = new TempoAdapter(tempoOptions.parse(configure(sim.urls)), context.ctx, { random: () => 0.5 });
  try {
    await adapter.start();
    await adapter.idle();
    const end = parisTime(nextDate(DAYS[2]!), 0);
    while (clock.now() < end) {
      clock.advance(60_000);
      await adapter.idle();
    }
    const day = DAYS[1]!;
    const from = parisTime(day, 0);
    const to = parisTime(nextDate(day), 0);
    const server: Record<string, number> = {};
    for (const r of sim.requests) {
      if (r.at < from || r.at >= to) continue;
      const source = r.source.startsWith('edf') ? 'edf' : r.source;
      server[source] = (server[source] ?? 0) + 1;
    }
    return { adapter: adapter.requestsOn(day), server };
  } finally {
    await adapter.stop();
    await sim.close();
  }
}

async function tempoRequests(): Promise<Row[]> {
  const rows: Row[] = [];
  const configurations: Array<[string, (urls: Urls) => Record<string, unknown>]> = [
    // Every source configured (RTE with an application's credentials, an EcoDevice on the LAN).
    ['all four sources', (urls) => ({ enabled: true, rte_client_id: RTE_ID, rte_client_secret: RTE_SECRET, ...urls })],
    // What a user gets without setting anything: api-couleur-tempo.fr, then EDF.
    ['default configuration', ({ api_couleur_tempo_url, edf_url, edf_commerce_url }) => ({ enabled: true, api_couleur_tempo_url, edf_url, edf_commerce_url })],
  ];
  for (const [label, configure] of configurations) {
    const { adapter, server } = await tempoDays(configure);
    for (const [source, count] of Object.entries(adapter)) {
      const seen = server[source] ?? 0;
      const note = seen === count ? '' : ` (the server saw ${seen})`;
      rows.push({ metric: `Tempo, ${label}: requests to ${source} on day 2 (${DAYS[1]})${note}`, value: count, unit: 'req/day', target: '≤ 4 / day' });
    }
  }
  return rows;
}
