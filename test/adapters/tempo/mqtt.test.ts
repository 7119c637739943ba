// The Tempo adapter inside the real App, through a real broker: the discovery HA receives, the
// states on a simulated clock (publication at 10:30, HC at 22:00), and the device shown
// unavailable when no source answers and nothing is stored.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder } from '../../helpers/mqtt-client.js';
import { startApp } from '../../helpers/app.js';
import { RTE_ID, RTE_SECRET, paris } from '../../helpers/tempo.js';
import { SimulatedClock } from '../../../src/core/clock.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';
import { TempoAdapter } from '../../../src/adapters/tempo/adapter.js';
import { tempoOptions } from '../../../src/adapters/tempo/options.js';
import { TempoServer } from '../../../src/simulators/tempo-server.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const MON = '2026-01-12';
const TUE = '2026-01-13';

async function setup(start: number, prepare: (sim: TempoServer) => void = () => undefined) {
  const clock = new SimulatedClock(start);
  const sim = new TempoServer({ clock, rte: { clientId: RTE_ID, clientSecret: RTE_SECRET }, calendar: { [MON]: 'white', [TUE]: 'red' } });
  await sim.listen();
  prepare(sim);
  const rec = await Recorder.connect(broker.port, ['energy2mqtt/tempo/#', 'homeassistant/device/tempo/config']);
  let adapter!: TempoAdapter;
  const options = tempoOptions.parse({ ...sim.urls, rte_client_id: RTE_ID, rte_client_secret: RTE_SECRET });
  const t = await startApp(broker.port, {}, {
    clock,
    extraAdapters: (contextFor) => [(adapter = new TempoAdapter(options, contextFor('tempo'), { random: () => 0 }))],
  });
  /** Moves the simulated clock (the bridge's debounce timers too) and lets rounds finish. */
  const run = async (until: number) => {
    await adapter.idle();
    while (clock.now() < until) {
      clock.advance(Math.min(60_000, until - clock.now()));
      await adapter.idle();
    }
    clock.advance(50); // discovery and state debounce
  };
  const state = (key: string, want?: string, since = 0) => rec.waitFor(`energy2mqtt/tempo/${key}`, want === undefined ? () => true : (p) => p === want, 3000, since);
  return { clock, sim, rec, t, run, state, get adapter() { return adapter; }, stop: async () => (await t.stop(), await rec.close(), await sim.close()) };
}

test('entities and discovery of the EDF Tempo device, updated at 10:30 and 22:00', async () => {
  const s = await setup(paris(MON, 10, 29));
  try {
    await s.run(paris(MON, 10, 29) + 1000);
    const discovery = await s.rec.waitFor('homeassistant/device/tempo/config', (p) => p !== '');
    const config = JSON.parse(discovery.payload);
    assert.deepEqual(deviceDiscoveryProblems(discovery.topic, config), []);
    assert.deepEqual(config.dev.name, 'EDF Tempo');
    assert.deepEqual([config.dev.manufacturer, config.dev.model], ['RTE / EDF', 'Tempo tariff']);
    assert.deepEqual(Object.keys(config.cmps).sort(), [
      'calendar_warning', 'days_left_blue', 'days_left_red', 'days_left_white', 'last_answer', 'period', 'period_end', 'source', 'today_colour', 'tomorrow_colour',
    ]);
    assert.deepEqual(config.cmps.today_colour.options, ['blue', 'white', 'red', 'unknown']);
    assert.equal(config.cmps.tomorrow_colour.device_class, 'enum');
    assert.deepEqual(config.cmps.period.options, ['HP', 'HC']);
    assert.equal(config.cmps.period_end.device_class, 'timestamp');
    assert.deepEqual([config.cmps.days_left_red.unit_of_measurement, config.cmps.days_left_red.state_class], ['d', 'measurement']);

    // (States go out as they change: wait for each value rather than take the first message.)
    await s.state('today_colour', 'white');
    await s.state('tomorrow_colour', 'unknown');
    await s.state('period', 'HP');
    await s.state('period_end', new Date(paris(MON, 22)).toISOString());
    await s.state('days_left_white', '42');
    await s.state('days_left_red', '22');
    await s.state('source', 'today: rte');
    await s.state('calendar_warning', 'none');
    await s.rec.waitFor('energy2mqtt/tempo/last_answer', (p) => p.startsWith('2026-01-12T09:29:00'), 3000);
    await s.state('availability', 'online');

    await s.run(paris(MON, 10, 31));
    await s.state('tomorrow_colour', 'red');
    await s.state('source', 'rte');
    await s.run(paris(MON, 22));
    await s.state('period', 'HC');
    await s.state('period_end', new Date(paris(TUE, 6)).toISOString());
    const morning = s.rec.mark();
    await s.run(paris(TUE, 6));
    await s.state('today_colour', 'red', morning);
    await s.state('tomorrow_colour', 'unknown', morning);
    const everything = s.rec.messages.map((m) => m.payload).join('\n') + s.t.logs.join('');
    assert.ok(!everything.includes(RTE_SECRET), 'the client secret is in no message and no log line');
    assert.ok(!everything.includes(Buffer.from(`${RTE_ID}:${RTE_SECRET}`).toString('base64')));
  } finally {
    await s.stop();
  }
});

test('no source answers and nothing is stored: the device is unavailable, the reason in source and the log', async () => {
  const s = await setup(paris(MON, 12), (sim) => {
    for (const source of ['rte', 'api_couleur_tempo', 'edf'] as const) sim.outage(source, true);
  });
  try {
    await s.run(paris(MON, 12) + 1000);
    await s.state('availability', 'offline');
    // (The previous test left its states retained: wait for this run's.)
    await s.rec.waitFor('energy2mqtt/tempo/source', (p) => /^no answer: rte: the token request answered HTTP 503; api_couleur_tempo: /.test(p), 3000);
    assert.ok(s.t.logs.some((l) => l.includes('no Tempo colour is known and no source answers')));
    s.sim.outage('api_couleur_tempo', false);
    const mark = s.rec.mark();
    await s.run(paris(MON, 12, 11));
    await s.rec.waitFor('energy2mqtt/tempo/availability', (p) => p === 'online', 3000, mark);
    await s.state('today_colour', 'white');
    await s.state('source', 'api_couleur_tempo');
  } finally {
    await s.stop();
  }
});
