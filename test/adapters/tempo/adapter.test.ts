// The Tempo adapter's behaviour (without a broker): the fallback order, colours against the
// calendar, what survives a restart, a colour changed before 11:00, and the adapter contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RTE_ID, hhmm, paris, tempoSetup } from '../../helpers/tempo.js';
import type { TempoDay } from '../../../src/adapters/tempo/adapter.js';

const MON = '2026-01-12';
const TUE = '2026-01-13';
const SAT = '2026-01-17';
const SUN = '2026-01-18';

test('fallback in the configured order: each failing source is skipped and its error kept', async () => {
  const s = await tempoSetup({ start: paris(MON, 12), started: false, sim: { calendar: { [MON]: 'white', [TUE]: 'red' } } });
  s.sim.outage('rte', true);
  s.sim.badAnswer('api_couleur_tempo', true);
  s.sim.outage('edf_commerce', true);
  try {
    await s.adapter.start();
    await s.adapter.idle();
    assert.deepEqual(s.sim.requests.map((r) => `${r.source} ${r.path}`), [
      'rte /token/oauth/',
      'api_couleur_tempo /api/jourTempo/today',
      'edf_commerce /commerce/activet/v1/calendrier-jours-effacement',
      'edf_legacy /services/rest/referentiel/searchTempoStore',
      'edf_legacy /services/rest/referentiel/getNbTempoDays',
    ], 'in order; the EcoDevice is not asked before 20:00');
    assert.deepEqual(s.adapter.colourOf(MON), { date: MON, colour: 'white', source: 'edf' });
    assert.deepEqual(s.adapter.colourOf(TUE), { date: TUE, colour: 'red', source: 'edf' });
    assert.equal(s.states.get('source'), 'edf');
    assert.deepEqual(Object.keys(s.adapter.sourceErrors()), ['rte', 'api_couleur_tempo']);
    assert.match(s.adapter.sourceErrors().api_couleur_tempo!, /unexpected answer to \/jourTempo\/today: codeJour/);
    assert.ok(s.logs.some((l) => l.includes('WARN') && l.includes('api_couleur_tempo: unexpected answer')));
    assert.match(String(s.states.get('last_answer')), /^2026-01-12T11:00:00/);

    // The first source that answers wins per date: RTE back, it gives both.
    s.sim.outage('rte', false);
    s.sim.setColour(TUE, 'white', 'rte');
    await s.adapter.refresh();
    assert.deepEqual(s.adapter.colourOf(TUE), { date: TUE, colour: 'white', source: 'rte' }, 'RTE comes first again');
    assert.deepEqual(Object.keys(s.adapter.sourceErrors()), ['api_couleur_tempo'], "RTE's error is gone once it answers");
  } finally {
    await s.stop();
  }
});

test('a colour against the calendar is recorded and shown, never used; a plausible one from the next source wins', async () => {
  const s = await tempoSetup({ start: paris(SAT, 9), sim: { calendar: { [SAT]: 'white' } }, options: { sources: ['rte', 'api_couleur_tempo', 'edf'] } });
  try {
    // RTE alone says Sunday is red; the others say blue.
    s.sim.setColour(SUN, 'red', 'rte');
    await s.runUntil(paris(SAT, 10, 31));
    assert.deepEqual(s.adapter.colourOf(SUN), { date: SUN, colour: 'blue', source: 'api_couleur_tempo' });
    assert.equal(s.states.get('tomorrow_colour'), 'blue');
    assert.equal(s.states.get('calendar_warning'), `${SUN} red from rte: red on a Sunday: Sunday is always blue`);
    assert.ok(s.logs.some((l) => l.includes('rte says 2026-01-18 is red, which cannot be (red on a Sunday: Sunday is always blue); using blue from api_couleur_tempo')));

    // Every source says red on the next Sunday: recorded with its problem, not usable, not notified.
    const t = await tempoSetup({ start: paris('2026-01-24', 9), sim: { calendar: { '2026-01-24': 'blue', '2026-01-25': 'red' } }, options: { sources: ['rte', 'api_couleur_tempo', 'edf'] } });
    try {
      await t.runUntil(paris('2026-01-24', 14));
      assert.equal(t.adapter.colourOf('2026-01-25'), undefined);
      assert.deepEqual(t.adapter.dayOf('2026-01-25'), { date: '2026-01-25', colour: 'red', source: 'rte', problem: 'red on a Sunday: Sunday is always blue' });
      assert.equal(t.states.get('tomorrow_colour'), 'unknown');
      assert.equal(t.states.get('calendar_warning'), '2026-01-25 red from rte: red on a Sunday: Sunday is always blue');
      assert.deepEqual(t.notices, [], 'no notice for a colour that is not used');
      // Recorded counts as an answer for the etiquette: 10:30 and one re-check, not every 30 min.
      assert.deepEqual(t.sim.requests.filter((r) => r.path.includes('tempo_like_calendars')).map((r) => hhmm(r.at)), ['09:00', '10:30', '11:00']);
    } finally {
      await t.stop();
    }
  } finally {
    await s.stop();
  }
});

test('a colour changed before 11:00 is caught by the re-check; listeners hear each change', async () => {
  const s = await tempoSetup({ start: paris(MON, 9), sim: { calendar: { [MON]: 'blue', [TUE]: 'white' } }, options: { sources: ['rte'] } });
  const heard: TempoDay[] = [];
  const stop = s.adapter.onChange((day) => heard.push(day));
  try {
    await s.runUntil(paris(MON, 10, 45));
    assert.equal(s.adapter.colourOf(TUE)?.colour, 'white');
    s.sim.setColour(TUE, 'red');
    await s.runUntil(paris(MON, 11, 1));
    assert.deepEqual(s.adapter.colourOf(TUE), { date: TUE, colour: 'red', source: 'rte' });
    assert.deepEqual(heard, [{ date: TUE, colour: 'white', source: 'rte' }, { date: TUE, colour: 'red', source: 'rte' }]);
    assert.ok(s.logs.some((l) => l.includes('WARN') && l.includes('2026-01-13 changed from white to red (rte)')));
    assert.deepEqual(s.notices, [{ kind: 'tomorrow_colour', date: TUE, colour: 'white' }], 'the notice is sent once per date');
    stop();
    s.sim.setColour(TUE, 'white');
    await s.adapter.refresh();
    assert.equal(heard.length, 2, 'a listener that stopped hears nothing more');
  } finally {
    await s.stop();
  }
});

test('a re-check where no source has tomorrow any more keeps the colour and asks nothing more', async () => {
  const s = await tempoSetup({ start: paris(MON, 9), sim: { calendar: { [MON]: 'blue', [TUE]: 'white' } }, options: { sources: ['rte'] } });
  try {
    await s.runUntil(paris(MON, 10, 45));
    s.sim.setPublishAt('rte', '12:00'); // RTE no longer shows Tuesday at the re-check
    await s.runUntil(paris(TUE, 6) - 60_000);
    assert.deepEqual(s.sim.requests.filter((r) => r.path.includes('calendars')).map((r) => hhmm(r.at)), ['09:00', '10:30', '11:00']);
    assert.equal(s.adapter.colourOf(TUE)?.colour, 'white');
  } finally {
    await s.stop();
  }
});

test('the colours survive a restart; a restart with nothing to ask asks nothing', async () => {
  const s = await tempoSetup({ start: paris(MON, 9), sim: { calendar: { [MON]: 'white', [TUE]: 'red' } } });
  try {
    await s.runUntil(paris(MON, 12));
    await s.adapter.stop();
    const stored = JSON.parse(readFileSync(join(s.dataDir, 'tempo.json'), 'utf8'));
    assert.equal(stored.days[TUE].colour, 'red');
    for (const source of ['rte', 'api_couleur_tempo', 'edf', 'ecodevice'] as const) s.sim.outage(source, true);
    const before = s.sim.requests.length;
    const again = await s.restart();
    assert.deepEqual(again.colourOf(MON), { date: MON, colour: 'white', source: 'rte' });
    assert.deepEqual(again.colourOf(TUE), { date: TUE, colour: 'red', source: 'rte' });
    assert.equal(s.states.get('today_colour'), 'white');
    assert.equal(s.states.get('tomorrow_colour'), 'red');
    assert.equal(s.states.get('days_left_white'), 42);
    assert.equal(s.device()?.available, true);
    await s.runUntil(paris(MON, 19, 59));
    assert.equal(s.sim.requests.length, before, 'known, re-checked: nothing to ask until tomorrow');
    assert.equal(s.notices.filter((n) => n.kind === 'tomorrow_colour').length, 1, 'not notified again after the restart');
    // Stored colours keep the device available even when every source fails.
    await s.runUntil(paris(TUE, 10, 41));
    assert.ok(s.sim.requests.length > before);
    assert.equal(s.device()?.available, true);
    assert.equal(s.states.get('today_colour'), 'red');
    assert.equal(s.states.get('tomorrow_colour'), 'unknown');
    assert.equal(s.states.get('source'), 'today: rte');
  } finally {
    await s.stop();
  }
});

test('the period and its end follow 06:00 and 22:00 on the clock', async () => {
  const s = await tempoSetup({ start: paris(MON, 21, 58), sim: { calendar: { [MON]: 'white', [TUE]: 'red' } }, options: { sources: ['rte'] } });
  try {
    assert.equal(s.states.get('period'), 'HP');
    assert.equal(s.states.get('period_end'), new Date(paris(MON, 22)).toISOString());
    await s.runUntil(paris(MON, 22));
    assert.equal(s.states.get('period'), 'HC');
    assert.equal(s.states.get('period_end'), new Date(paris(TUE, 6)).toISOString());
    assert.equal(s.states.get('today_colour'), 'white');
    await s.runUntil(paris(TUE, 6) - 1000, 3_600_000);
    assert.equal(s.states.get('today_colour'), 'white', 'until 06:00 Monday is still the Tempo day');
    await s.runUntil(paris(TUE, 6));
    assert.equal(s.states.get('period'), 'HP');
    assert.equal(s.states.get('today_colour'), 'red');
    assert.equal(s.states.get('tomorrow_colour'), 'unknown');
  } finally {
    await s.stop();
  }
});

test('contract: no I/O in the constructor; stop() and failSafe() end the polling; secrets stay out of logs', async () => {
  const s = await tempoSetup({ start: paris(MON, 9), started: false, options: { rte_client_secret: 'Wrong-Secret-991' }, sim: { calendar: { [MON]: 'white' } } });
  try {
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(s.sim.requests.length, 0, 'the constructor asked nothing');
    await s.adapter.start();
    await s.adapter.idle();
    assert.match(s.adapter.sourceErrors().rte!, /RTE refused the application's credentials \(HTTP 401\)/);
    assert.equal(s.adapter.colourOf(MON)?.source, 'api_couleur_tempo', 'the next source answered');
    const logs = s.logs.join('');
    for (const secret of ['Wrong-Secret-991', Buffer.from(`${RTE_ID}:Wrong-Secret-991`).toString('base64')]) assert.ok(!logs.includes(secret), 'no secret in the logs');
    assert.ok(!String(s.states.get('source')).includes('Wrong-Secret-991'));
    s.adapter.failSafe();
    s.adapter.failSafe();
    const before = s.sim.requests.length;
    await s.runUntil(paris(TUE, 12), 3_600_000);
    assert.equal(s.sim.requests.length, before, 'nothing asked after failSafe()');
    await s.adapter.refresh();
    assert.equal(s.sim.requests.length, before, 'not even on refresh()');
  } finally {
    await s.stop();
  }
  // stop() while a round waits for a source that does not answer: it ends at once.
  const hanging = await tempoSetup({ start: paris(MON, 9), started: false, options: { sources: ['api_couleur_tempo'], api_couleur_tempo_url: 'http://10.255.255.1/api' } });
  await hanging.adapter.start();
  const started = Date.now();
  await hanging.stop();
  assert.ok(Date.now() - started < 2000, `stop() took ${Date.now() - started} ms`);
});

test('refresh() asks now, but not within 10 min of a round where every source failed', async () => {
  const s = await tempoSetup({ start: paris(MON, 13), sim: { calendar: { [MON]: 'white', [TUE]: 'red' } }, options: { sources: ['rte'] } });
  try {
    const before = s.sim.count('rte');
    await s.adapter.refresh();
    assert.equal(s.sim.count('rte'), before + 1, 'asked again');
    s.sim.outage('rte', true);
    await s.adapter.refresh();
    assert.equal(s.sim.count('rte'), before + 2);
    await s.adapter.refresh();
    assert.equal(s.sim.count('rte'), before + 2, 'within 10 min of the failure: not asked');
    assert.equal(s.adapter.colourOf(TUE)?.colour, 'red', 'what was known stays');
  } finally {
    await s.stop();
  }
});
