// The Tempo adapter on a simulated clock against the simulated sources: how often each source is
// asked over whole days (normal, late publication, outages), the notices, and the EcoDevice's
// evening-only role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hhmm, paris, tempoSetup } from '../../helpers/tempo.js';
import type { TempoSimSource } from '../../../src/simulators/tempo-server.js';

const MON = '2026-01-12';
const TUE = '2026-01-13';
const WED = '2026-01-14';

/** The Paris times of the requests to one source on a date (paths shortened). */
function timesOf(requests: Array<{ source: string; at: number; path: string }>, source: TempoSimSource, date: string, path?: RegExp): string[] {
  return requests
    .filter((r) => r.source === source && r.at >= paris(date, 0) && r.at < paris(date, 24) && (!path || path.test(r.path)))
    .map((r) => hhmm(r.at));
}

test('a normal day: RTE answers; 10:30, one re-check at 11:00, then nothing until the next day', async () => {
  const s = await tempoSetup({ start: paris(MON, 7), sim: { calendar: { [MON]: 'white', [TUE]: 'red', [WED]: 'blue' } } });
  try {
    assert.equal(s.adapter.colourOf(MON)?.colour, 'white');
    assert.equal(s.adapter.colourOf(TUE), undefined, 'not published before 10:30');
    await s.runUntil(paris(TUE, 6) - 60_000);
    const cal = /tempo_like_calendars/;
    assert.deepEqual(timesOf(s.sim.requests, 'rte', MON, cal), ['07:00', '10:30', '11:00'], 'start, publication, re-check');
    assert.deepEqual(timesOf(s.sim.requests, 'rte', MON, /token/), ['07:00', '10:30'], 'a token per two hours');
    assert.deepEqual(timesOf(s.sim.requests, 'api_couleur_tempo', MON), ['07:00'], 'asked for tomorrow only while RTE did not have it');
    assert.deepEqual(timesOf(s.sim.requests, 'edf_commerce', MON), ['07:00']);
    assert.deepEqual(timesOf(s.sim.requests, 'ecodevice', MON), [], 'the EcoDevice only after 20:00, and it was not needed');
    assert.deepEqual(s.adapter.requestsOn(MON), { rte: 5, api_couleur_tempo: 1, edf: 1, ecodevice: 0 });
    assert.deepEqual(s.adapter.colourOf(TUE), { date: TUE, colour: 'red', source: 'rte' });
    assert.deepEqual(s.notices, [{ kind: 'tomorrow_colour', date: TUE, colour: 'red' }]);
    assert.equal(s.states.get('today_colour'), 'white');
    assert.equal(s.states.get('tomorrow_colour'), 'red');
    assert.deepEqual([s.states.get('days_left_blue'), s.states.get('days_left_white'), s.states.get('days_left_red')], [167, 42, 22], '134 days placed, 1 white');

    await s.runUntil(paris(WED, 6) - 60_000);
    assert.equal(s.states.get('today_colour'), 'red', 'at 06:00 tomorrow became today');
    assert.deepEqual(timesOf(s.sim.requests, 'rte', TUE, cal), ['10:30', '11:00'], 'no request at 06:00: today was known');
    assert.deepEqual(s.adapter.requestsOn(TUE), { rte: 3, api_couleur_tempo: 0, edf: 0, ecodevice: 0 });
    assert.deepEqual(s.notices.at(-1), { kind: 'tomorrow_colour', date: WED, colour: 'blue' });
    assert.deepEqual([s.states.get('days_left_blue'), s.states.get('days_left_white'), s.states.get('days_left_red')], [167, 42, 21]);
    assert.deepEqual(s.adapter.requestsToday(), { rte: 0, api_couleur_tempo: 0, edf: 0, ecodevice: 0 }, 'counted per Paris calendar date: Wednesday 05:59 has none yet');
  } finally {
    await s.stop();
  }
});

test('a late publication (12:10): every 30 min from 10:30 until known, no re-check after 11:00', async () => {
  const s = await tempoSetup({ start: paris(MON, 6, 30), sim: { calendar: { [MON]: 'blue', [TUE]: 'white' } }, options: { sources: ['rte', 'api_couleur_tempo', 'edf'] } });
  for (const source of ['rte', 'api_couleur_tempo', 'edf'] as const) s.sim.setPublishAt(source, '12:10');
  try {
    await s.runUntil(paris(TUE, 6) - 60_000);
    const rounds = ['06:30', '10:30', '11:00', '11:30', '12:00', '12:30'];
    assert.deepEqual(timesOf(s.sim.requests, 'rte', MON, /tempo_like_calendars/), rounds);
    // While RTE has no colour for tomorrow, the next sources are asked too (one of them may have it).
    assert.deepEqual(timesOf(s.sim.requests, 'api_couleur_tempo', MON), rounds.slice(0, 5));
    assert.deepEqual(timesOf(s.sim.requests, 'edf_commerce', MON), rounds.slice(0, 5));
    assert.deepEqual(s.adapter.colourOf(TUE), { date: TUE, colour: 'white', source: 'rte' });
    assert.deepEqual(s.adapter.requestsOn(MON), { rte: 6 + 3, api_couleur_tempo: 5, edf: 5 });
  } finally {
    await s.stop();
  }
});

test('every source down: retries 10 min apart, one notice at 12:00, the device unavailable until an answer', async () => {
  const s = await tempoSetup({ start: paris(MON, 10), started: false, sim: { calendar: { [MON]: 'white', [TUE]: 'red' } } });
  for (const source of ['rte', 'api_couleur_tempo', 'edf'] as const) s.sim.outage(source, true);
  try {
    await s.adapter.start(); // must not throw
    await s.adapter.idle();
    assert.equal(s.device()?.available, false, 'nothing stored and no answer');
    assert.equal(s.states.get('source'), 'no answer: rte: the token request answered HTTP 503; api_couleur_tempo: /jourTempo/today answered HTTP 503; edf: calendrier-jours-effacement answered HTTP 503; searchTempoStore answered HTTP 503');
    assert.ok(s.logs.some((l) => l.includes('no Tempo colour is known and no source answers')));
    await s.runUntil(paris(MON, 11, 59));
    assert.equal(s.notices.length, 0, 'no notice before 12:00');
    await s.runUntil(paris(MON, 12, 35));
    const rounds = timesOf(s.sim.requests, 'rte', MON);
    assert.deepEqual(rounds, Array.from({ length: 16 }, (_, i) => hhmm(paris(MON, 10) + i * 600_000)), 'every 10 min, never sooner');
    assert.equal(s.notices.length, 1);
    assert.equal(s.notices[0]!.kind, 'sources_failed');
    assert.match((s.notices[0] as { reasons: string }).reasons, /rte: .*503.*api_couleur_tempo: .*503.*edf: .*503/);
    assert.deepEqual(timesOf(s.sim.requests, 'ecodevice', MON), [], 'not asked before 20:00 even then');
    assert.deepEqual(s.adapter.requestsOn(MON), { rte: 16, api_couleur_tempo: 16, edf: 32, ecodevice: 0 });

    for (const source of ['rte', 'api_couleur_tempo', 'edf'] as const) s.sim.outage(source, false);
    await s.runUntil(paris(MON, 12, 41));
    assert.equal(s.device()?.available, true);
    assert.equal(s.states.get('source'), 'rte');
    assert.deepEqual(s.notices.at(-1), { kind: 'tomorrow_colour', date: TUE, colour: 'red' });
    const after = s.sim.requests.length;
    await s.runUntil(paris(TUE, 10, 29));
    assert.equal(s.sim.requests.length, after, 'known after 11:00: no re-check, nothing until the next publication');
    assert.equal(s.notices.filter((n) => n.kind === 'sources_failed').length, 1, 'told once');
  } finally {
    await s.stop();
  }
});

test('the EcoDevice is asked only from 20:00; its ---- is not taken for blue', async () => {
  const s = await tempoSetup({ start: paris(MON, 9), options: { sources: ['ecodevice'] }, sim: { calendar: { [MON]: 'white', [TUE]: 'red' } } });
  try {
    await s.runUntil(paris(MON, 19, 59));
    assert.equal(s.sim.count('ecodevice'), 0);
    assert.equal(s.states.get('today_colour'), 'unknown');
    await s.runUntil(paris(MON, 20, 1));
    assert.deepEqual(timesOf(s.sim.requests, 'ecodevice', MON), ['20:00']);
    assert.deepEqual(s.adapter.colourOf(MON), { date: MON, colour: 'white', source: 'ecodevice' });
    assert.deepEqual(s.adapter.colourOf(TUE), { date: TUE, colour: 'red', source: 'ecodevice' });
    await s.runUntil(paris(TUE, 21, 1));
    // Wednesday is blue: DEMAIN stays ---- and tomorrow stays unknown (asked again every 30 min).
    assert.equal(s.adapter.colourOf(WED), undefined);
    assert.equal(s.states.get('tomorrow_colour'), 'unknown');
    assert.deepEqual(timesOf(s.sim.requests, 'ecodevice', TUE), ['20:00', '20:30', '21:00']);
    assert.equal(s.states.get('days_left_red'), null, 'no source gives days left and the season is not covered here');
  } finally {
    await s.stop();
  }
});
