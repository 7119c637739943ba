// The tempo_ess rule on a simulated GX (its own Mosquitto) through the add-on's Mosquitto, on a
// simulated clock: the seed's colour transitions at 20:05 and 22:00 Paris time, DST nights, a
// restart in between, the user's values given back, Dynamic ESS and unknown colours refused.
// The colours come from a fixed calendar here (the Tempo adapter has its own tests against its
// simulator; one test at the end runs the whole chain with it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { eventually, sleep } from '../helpers/mqtt-client.js';
import { GX, victronSetup, type VictronSetup } from '../helpers/victron.js';
import { tempDir } from '../helpers/app.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { SETTINGS } from '../../src/adapters/victron/entities.js';
import { parisTime } from '../../src/adapters/tempo/calendar.js';
import type { TempoColour } from '../../src/adapters/tempo/calendar.js';
import { TempoServer } from '../../src/simulators/tempo-server.js';
import { ProwlSimulator } from '../../src/simulators/prowl.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const RULE = 'energy2mqtt/rule_tempo';
const written = (s: VictronSetup, since = 0) => s.gx.writes.slice(since).filter((w) => !w.path.includes('SystemName')).map((w) => `${w.path.replace('settings/0/Settings/CGwacs/', '').replace('BatteryLife/MinimumSocLimit', 'MinimumSocLimit').replace('BatteryLife/Schedule/Charge/', 'Schedule')}=${w.value}`);

type Setup = VictronSetup & { tempo: TempoServer };

/** The GX on its broker, the Tempo sources' simulator (api-couleur-tempo) and the add-on with one tempo_ess rule. */
async function setup(clock: SimulatedClock, calendar: Record<string, TempoColour>, o: { dataDir?: string; extra?: Record<string, unknown> } = {}): Promise<Setup> {
  const tempo = new TempoServer({ clock, calendar });
  await tempo.listen();
  const s = await victronSetup(broker.port, {
    clock,
    gx: { tickMs: 60_000, initialSoc: 60 },
    dataDir: o.dataDir,
    extra: { ...appOptions(tempo), ...o.extra },
  });
  return { ...s, tempo, stop: async () => (await s.stop(), await tempo.close()) };
}

const appOptions = (tempo: TempoServer) => ({
  tempo: { enabled: true, sources: ['api_couleur_tempo'], api_couleur_tempo_url: tempo.urls.api_couleur_tempo_url },
  automation: { timezone: 'Europe/Paris', rules: [{ type: 'tempo_ess', name: 'Tempo' }] },
});

/** Moves the simulated clock to an instant, letting the MQTT round trips of the add-on and the GX happen on the way. */
async function runTo(s: VictronSetup, clock: SimulatedClock, until: number): Promise<void> {
  // Far away: one jump to ten minutes before; the GX and the adapter catch up on the way from there.
  if (until - clock.now() > 900_000) {
    clock.advance(until - 600_000 - clock.now());
    await sleep(30);
    await eventually(() => s.t.app.bridge.getDevice(GX)?.available === true, 5000, 'the GX answering again after the jump');
  }
  while (clock.now() < until) {
    clock.advance(Math.min(5_000, until - clock.now()));
    await sleep(3);
    await s.t.app.engine!.settled();
  }
  await sleep(20);
  await s.t.app.engine!.settled();
}

/** The evening before `day`: to 20:10 (plan), then to 22:05 (apply); what was written at each. */
async function evening(s: VictronSetup, clock: SimulatedClock, eve: string): Promise<{ plan: string[]; apply: string[] }> {
  await runTo(s, clock, parisTime(eve, 20, 4));
  const before = s.gx.writes.length;
  await runTo(s, clock, parisTime(eve, 20, 10));
  const afterPlan = s.gx.writes.length;
  await runTo(s, clock, parisTime(eve, 21, 59));
  assert.equal(s.gx.writes.length, afterPlan, 'nothing between the plan and the start of off-peak hours');
  await runTo(s, clock, parisTime(eve, 22, 5));
  return { plan: written(s, before).slice(0, afterPlan - before), apply: written(s, afterPlan) };
}

test("the seed's colour transitions, each night at 20:05 and 22:00, writing only what differs", async () => {
  // Mon 11 to Tue 19 January 2027.
  const calendar: Record<string, TempoColour> = {
    '2027-01-11': 'blue', '2027-01-12': 'white', '2027-01-13': 'red', '2027-01-14': 'red', '2027-01-15': 'blue',
    '2027-01-16': 'white', '2027-01-17': 'blue', '2027-01-18': 'red', '2027-01-19': 'white',
  };
  const clock = new SimulatedClock(parisTime('2027-01-10', 12));
  const s = await setup(clock, calendar);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    // Before: min SoC 10, BatteryLife on (state 2), schedule 1 at 80 %.
    const nights: Array<[string, string[], string[]]> = [
      // eve        20:05 (schedule 1 target)    22:00 (min SoC, BatteryLife)
      ['2027-01-10', [], ['MinimumSocLimit=30']], // -> blue: 80 % already; BatteryLife already on
      ['2027-01-11', ['Schedule0/Soc=90'], []], // blue -> white: the seed does nothing at night
      ['2027-01-12', ['Schedule0/Soc=98'], ['MinimumSocLimit=25', 'BatteryLife/State=10']], // white -> red
      ['2027-01-13', [], []], // red -> red
      ['2027-01-14', ['Schedule0/Soc=80'], ['MinimumSocLimit=30', 'BatteryLife/State=1']], // red -> blue
      ['2027-01-15', ['Schedule0/Soc=90'], []], // blue -> white (a white Saturday)
      ['2027-01-16', ['Schedule0/Soc=80'], []], // white -> blue (Sunday): min SoC 30 already
      ['2027-01-17', ['Schedule0/Soc=98'], ['MinimumSocLimit=25', 'BatteryLife/State=10']], // blue -> red
      ['2027-01-18', ['Schedule0/Soc=90'], ['MinimumSocLimit=30', 'BatteryLife/State=1']], // red -> white
    ];
    for (const [eve, plan, apply] of nights) {
      const got = await evening(s, clock, eve);
      assert.deepEqual(got, { plan, apply }, `the evening of ${eve}`);
    }
    assert.equal(written(s).length, 16, 'the minimum number of writes for these nine nights');
    assert.match(s.rec.last(`${RULE}/reason`)!.payload, /^applied: white tomorrow \(2027-01-19\)/);
    assert.match(s.rec.last(`${RULE}/plan`)!.payload, /white tomorrow \(2027-01-19\): schedule 1 to 90 % tonight, min SoC 30 %, BatteryLife on at 22:00/);
    assert.deepEqual(s.gx.rejectedWrites.filter((w) => !w.path.includes('SystemName')), []);
  } finally {
    await s.stop();
  }
});

test('DST nights: the plan and the night settings land at 20:05 and 22:00 Paris time, in winter and in summer time', async () => {
  // The clocks go forward in the night of Saturday 27 to Sunday 28 March 2027; Monday 29 is Easter Monday.
  const calendar: Record<string, TempoColour> = { '2027-03-27': 'white', '2027-03-28': 'blue', '2027-03-29': 'white', '2027-03-30': 'red' };
  const clock = new SimulatedClock(parisTime('2027-03-27', 12));
  const s = await setup(clock, calendar);
  const utc = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    const first = s.gx.writes.length;
    assert.deepEqual(await evening(s, clock, '2027-03-27'), { plan: [], apply: ['MinimumSocLimit=30'] }, 'the DST night: blue on Sunday');
    assert.equal(utc(s.gx.writes[first]!.at), '21:00', '22:00 in Paris is 21:00 UTC in winter time');
    const monday = s.gx.writes.length;
    assert.deepEqual(await evening(s, clock, '2027-03-28'), { plan: ['Schedule0/Soc=90'], apply: [] }, 'white on Easter Monday');
    assert.equal(utc(s.gx.writes[monday]!.at), '18:05', '20:05 in Paris is 18:05 UTC in summer time');
    const tuesday = s.gx.writes.length;
    assert.deepEqual(await evening(s, clock, '2027-03-29'), { plan: ['Schedule0/Soc=98'], apply: ['MinimumSocLimit=25', 'BatteryLife/State=10'] }, 'red on Tuesday');
    assert.equal(utc(s.gx.writes[tuesday + 1]!.at), '20:00', '22:00 in Paris is 20:00 UTC in summer time');
  } finally {
    await s.stop();
  }
});

test('a restart between 20:05 and 22:00 neither plans twice nor forgets the user’s values; disabling gives them back', async () => {
  const calendar: Record<string, TempoColour> = { '2027-02-01': 'blue', '2027-02-02': 'red', '2027-02-03': 'white' };
  const clock = new SimulatedClock(parisTime('2027-02-01', 19));
  const dataDir = tempDir();
  let s = await setup(clock, calendar, { dataDir });
  const gx = s.gx;
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    await runTo(s, clock, parisTime('2027-02-01', 20, 30));
    assert.deepEqual(written(s), ['Schedule0/Soc=98']);
    // The add-on restarts (an update, a reboot of HA); the GX stays as it is.
    await s.t.stop();
    const { startApp } = await import('../helpers/app.js');
    const t = await startApp(broker.port, { victron: [{ host: '127.0.0.1', port: s.gxBroker.port }], ...appOptions(s.tempo) }, { clock, dataDir });
    // This app is the one to stop now (the setup's stop() stops the first, already stopped).
    const first = s.stop;
    s = { ...s, t, stop: async () => (await t.stop(), await first()) };
    await eventually(() => t.app.bridge.getDevice(GX)?.available === true, 5000, 'the GX found again');
    await runTo(s, clock, parisTime('2027-02-01', 22, 5));
    assert.deepEqual(written(s), ['Schedule0/Soc=98', 'MinimumSocLimit=25', 'BatteryLife/State=10'], 'planned once, applied after the restart');

    // Disabled from HA: min SoC, ESS mode and the schedule's target are as before the rule.
    await s.rec.client.publishAsync(`${RULE}/enabled/set`, 'OFF', { qos: 1 });
    await eventually(() => gx.value(SETTINGS.minSoc) === 10 && gx.value(SETTINGS.schedule(0, 'Soc')) === 80, 10_000, 'the user values back');
    await eventually(() => Number(gx.value(SETTINGS.state)) >= 1 && Number(gx.value(SETTINGS.state)) <= 8, 5000, 'BatteryLife on again');
    await s.rec.waitFor(`${RULE}/reason`, (p) => p.startsWith('disabled'));
  } finally {
    await s.stop();
  }
});

test('Dynamic ESS on: nothing is written and the reason says why; an unknown or implausible colour is not acted on', async () => {
  const calendar: Record<string, TempoColour> = { '2027-02-09': 'white', '2027-02-11': 'red' };
  const clock = new SimulatedClock(parisTime('2027-02-08', 19));
  const s = await setup(clock, calendar);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    s.gx.set(SETTINGS.dynamicEss, 1);
    await s.state('dynamic_ess', (p) => p === 'auto (VRM)');
    await runTo(s, clock, parisTime('2027-02-08', 22, 5));
    assert.deepEqual(written(s), [], 'white tomorrow, but Dynamic ESS steers the GX');
    assert.match(s.rec.last(`${RULE}/reason`)!.payload, /Dynamic ESS is on \(auto \(VRM\)\).*writes nothing/);
    // Switched off before the night ends: the rule catches up.
    s.gx.set(SETTINGS.dynamicEss, 0);
    await s.state('dynamic_ess', (p) => p === 'off');
    await runTo(s, clock, parisTime('2027-02-08', 22, 10));
    assert.deepEqual(written(s), ['Schedule0/Soc=90', 'MinimumSocLimit=30']);
    // 10 February: every source is down, the colour is not known.
    s.tempo.outage('api_couleur_tempo', true);
    await runTo(s, clock, parisTime('2027-02-09', 22, 5));
    assert.deepEqual(written(s).length, 2, 'nothing on an unknown colour');
    assert.match(s.rec.last(`${RULE}/reason`)!.payload, /the colour of 2027-02-10 is not known yet; keeping the plan applied for 2027-02-09/);
  } finally {
    await s.stop();
  }
  // Saturday 13 February published red: against the calendar (no red at weekends), not obeyed.
  const clock2 = new SimulatedClock(parisTime('2027-02-12', 12));
  const f = await setup(clock2, { '2027-02-12': 'white', '2027-02-13': 'red' });
  try {
    await f.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    await runTo(f, clock2, parisTime('2027-02-12', 22, 5));
    assert.deepEqual(written(f), []);
    assert.match(f.rec.last(`${RULE}/reason`)!.payload, /\(red\) breaks the Tempo calendar/);
  } finally {
    await f.stop();
  }
});

test('notifications: tomorrow’s colour when it is known and the plan when it is applied, in French, to Prowl', async () => {
  const key = 'a'.repeat(20) + '0123456789abcdef0123';
  const prowl = new ProwlSimulator({ keys: [key] });
  await prowl.listen();
  const clock = new SimulatedClock(parisTime('2027-02-01', 19));
  const s = await setup(clock, { '2027-02-01': 'white', '2027-02-02': 'red' }, { extra: { notifications: { prowl_api_key: key, prowl_url: prowl.url, language: 'fr' } } });
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    await eventually(() => prowl.received.length >= 1, 5000, 'the colour notice');
    assert.match(prowl.received[0]!.event, /Tempo demain : ROUGE/);
    await runTo(s, clock, parisTime('2027-02-01', 22, 5));
    await eventually(() => prowl.received.length >= 2, 5000, 'the plan notice');
    const plan = prowl.received[1]!;
    assert.match(`${plan.event} ${plan.description}`, /25 %/);
    assert.match(plan.description, /BatteryLife/);
    const everything = s.rec.messages.map((m) => m.payload).join('\n') + s.t.logs.join('');
    assert.ok(!everything.includes(key), 'the Prowl key is in no message and no log line');
  } finally {
    await s.stop();
    await prowl.close();
  }
});

test('a dry run during the plan does not count as done: switched off before the night, the plan is written', async () => {
  const clock = new SimulatedClock(parisTime('2027-02-01', 19));
  const s = await setup(clock, { '2027-02-01': 'white', '2027-02-02': 'red' });
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    await s.rec.client.publishAsync('energy2mqtt/automation/dry_run/set', 'ON', { qos: 1 });
    await runTo(s, clock, parisTime('2027-02-01', 20, 30));
    assert.deepEqual(written(s), [], 'nothing written in a dry run');
    await s.rec.client.publishAsync('energy2mqtt/automation/dry_run/set', 'OFF', { qos: 1 });
    await runTo(s, clock, parisTime('2027-02-01', 22, 5));
    assert.deepEqual(written(s), ['Schedule0/Soc=98', 'MinimumSocLimit=25', 'BatteryLife/State=10'], 'tonight’s charge target too, although the dry run had "planned" it');
  } finally {
    await s.stop();
  }
});
