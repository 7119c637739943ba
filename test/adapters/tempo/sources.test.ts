// Each Tempo source's client against the simulated servers over real HTTP: what it asks, what it
// makes of the answers (published or not yet), and the errors it gives for outages and nonsense.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { SimulatedClock } from '../../../src/core/clock.js';
import { Secrets } from '../../../src/core/secrets.js';
import { createHttpClient } from '../../../src/io/http.js';
import { nextDate, parisTime } from '../../../src/adapters/tempo/calendar.js';
import { tempoOptions, configuredSources } from '../../../src/adapters/tempo/options.js';
import { ApiCouleurTempoSource, EcoDeviceSource, EdfSource, RteSource, SourceError, rteInstant, type SourceDeps, type TempoQuery } from '../../../src/adapters/tempo/sources.js';
import { TempoServer } from '../../../src/simulators/tempo-server.js';
import { RTE_ID, RTE_SECRET } from '../../helpers/tempo.js';

const TODAY = '2026-01-12'; // a Monday
const TOMORROW = '2026-01-13';
const clock = new SimulatedClock(parisTime(TODAY, 9));
const sim = new TempoServer({ clock, rte: { clientId: RTE_ID, clientSecret: RTE_SECRET, tokenLifetimeS: 3600 }, calendar: { [TODAY]: 'white', [TOMORROW]: 'red', '2025-12-01': 'red', '2025-12-02': 'white' } });
let urls: TempoServer['urls'];
const secrets = new Secrets();
const requests: string[] = [];
const deps: SourceDeps = { http: createHttpClient(), clock, secrets, onRequest: (s) => void requests.push(s) };

before(async () => {
  await sim.listen();
  urls = sim.urls;
});
after(() => sim.close());

const ask = (over: Partial<TempoQuery> = {}): TempoQuery => ({ today: TODAY, tomorrow: TOMORROW, wantToday: true, wantTomorrow: true, wantDaysLeft: false, now: clock.now(), ...over });
const at = (date: string, hour: number, minute = 0) => {
  const ms = parisTime(date, hour, minute);
  clock.advance(ms - clock.now());
};
const paths = (since: number) => sim.requests.slice(since).map((r) => `${r.method} ${r.path}${r.query}`);
async function failure(promise: Promise<unknown>): Promise<SourceError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof SourceError, `a SourceError, not ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

// Real answers recorded in public repositories (see shared/fixtures/tempo/SOURCES.md), verbatim:
// api-couleur-tempo from jpinsonneau/shelly-scripts README.md, RTE from
// AkynoFelidae/ESP32_RTE_Tempo_LCD README.md, EDF legacy from yves-jose/EDF-Tempo-EJP README.md
// (a printed Python dict turned into JSON, values unchanged).
const FIXTURES: Record<string, string> = {
  '/api/jourTempo/today': '{"dateJour":"2026-03-27","codeJour":3,"periode":"2025-2026","libCouleur":"Rouge"}',
  '/open_api/tempo_like_supply_contract/v1/tempo_like_calendars': JSON.stringify({
    tempo_like_calendars: {
      start_date: '2023-02-28T00:00:00+01:00',
      end_date: '2023-03-03T00:00:00+01:00',
      values: [
        { start_date: '2023-03-02T00:00:00+01:00', end_date: '2023-03-03T00:00:00+01:00', value: 'RED', updated_date: '2023-03-01T10:20:00+01:00' },
        { start_date: '2023-03-01T00:00:00+01:00', end_date: '2023-03-02T00:00:00+01:00', value: 'RED', updated_date: '2023-02-28T10:20:00+01:00' },
        { start_date: '2023-02-28T00:00:00+01:00', end_date: '2023-03-01T00:00:00+01:00', value: 'WHITE', updated_date: '2023-02-27T10:20:00+01:00' },
      ],
    },
  }),
  '/token/oauth/': '{"access_token":"fixture-token-1","token_type":"Bearer","expires_in":7200}',
  '/services/rest/referentiel/searchTempoStore': '{"couleurJourJ": "TEMPO_BLEU", "couleurJourJ1": "TEMPO_BLEU"}',
  '/services/rest/referentiel/getNbTempoDays': '{"PARAM_NB_J_BLEU": 224, "PARAM_NB_J_BLANC": 43, "PARAM_NB_J_ROUGE": 22}',
};

test('the recorded real answers are read as they are meant', async () => {
  const server = createServer((req, res) => {
    const body = FIXTURES[new URL(req.url ?? '/', 'http://x').pathname];
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body ?? '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const root = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const counted: string[] = [];
  const own: SourceDeps = { ...deps, onRequest: (s) => void counted.push(s) };
  try {
    const act = new ApiCouleurTempoSource(`${root}/api`, own);
    assert.deepEqual(await act.ask(ask({ today: '2026-03-27', tomorrow: '2026-03-28', wantTomorrow: false, now: parisTime('2026-03-27', 12) })), { today: 'red' });
    const rte = new RteSource(root, RTE_ID, RTE_SECRET, own);
    assert.deepEqual(await rte.ask(ask({ today: '2023-03-01', tomorrow: '2023-03-02', now: parisTime('2023-03-01', 12) })), { today: 'red', tomorrow: 'red' });
    // The commerce endpoint is not served here (404): the legacy answers are used.
    const edf = new EdfSource(root, root, own);
    assert.deepEqual(await edf.ask(ask({ wantDaysLeft: true })), { today: 'blue', tomorrow: 'blue', daysLeft: { blue: 224, white: 43, red: 22 } });
    assert.deepEqual(counted, ['api_couleur_tempo', 'rte', 'rte', 'edf', 'edf', 'edf'], 'token and data for RTE; commerce, then both legacy calls for EDF');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('api-couleur-tempo: today and tomorrow, unknown (codeJour 0) before 10:30, days left from /stats', async () => {
  const source = new ApiCouleurTempoSource(urls.api_couleur_tempo_url, deps);
  at(TODAY, 9);
  let mark = sim.requests.length;
  assert.deepEqual(await source.ask(ask()), { today: 'white', tomorrow: undefined });
  assert.deepEqual(paths(mark), ['GET /api/jourTempo/today', 'GET /api/jourTempo/tomorrow']);
  at(TODAY, 10, 30);
  assert.deepEqual(await source.ask(ask({ wantToday: false, wantDaysLeft: true })), { tomorrow: 'red', daysLeft: { blue: 169, white: 41, red: 21 } }, '134 days placed: 2 white, 1 red');
  // 00:00-06:00: the server's today is already the next date, while the Tempo day is still the old one.
  at(TOMORROW, 3);
  mark = sim.requests.length;
  assert.deepEqual(await source.ask(ask({ now: clock.now() })), { today: 'white', tomorrow: 'red' });
  assert.deepEqual(paths(mark), [`GET /api/jourTempo/${TODAY}`, 'GET /api/jourTempo/today']);
});

test('api-couleur-tempo: outage, a wrong shape and HTML are errors that say which source and what', async () => {
  const source = new ApiCouleurTempoSource(urls.api_couleur_tempo_url, deps);
  at(TOMORROW, 9);
  const q = ask({ today: TOMORROW, tomorrow: nextDate(TOMORROW), now: clock.now() });
  sim.outage('api_couleur_tempo', true);
  assert.match((await failure(source.ask(q))).message, /^api_couleur_tempo: \/jourTempo\/today answered HTTP 503/);
  sim.outage('api_couleur_tempo', false);
  sim.badAnswer('api_couleur_tempo', true);
  assert.match((await failure(source.ask(q))).message, /^api_couleur_tempo: unexpected answer to \/jourTempo\/today: codeJour: .*3/);
  sim.badAnswer('api_couleur_tempo', 'not_json');
  assert.match((await failure(source.ask(q))).message, /^api_couleur_tempo: \/jourTempo\/today did not answer JSON: '<html>/);
  sim.badAnswer('api_couleur_tempo', false);
  assert.deepEqual(await source.ask(q), { today: 'red', tomorrow: undefined });
});

test('RTE: one token reused until it expires, the calendar with Paris offsets, newest first', async () => {
  const source = new RteSource(urls.rte_url, RTE_ID, RTE_SECRET, deps);
  at('2026-01-14', 9);
  const q = ask({ today: '2026-01-14', tomorrow: '2026-01-15', now: clock.now() });
  sim.setColour('2026-01-15', 'white');
  const tokens = sim.tokensIssued;
  const mark = sim.requests.length;
  assert.deepEqual(await source.ask(q), { today: 'blue', tomorrow: undefined });
  at('2026-01-14', 9, 30);
  assert.deepEqual(await source.ask({ ...q, now: clock.now() }), { today: 'blue', tomorrow: undefined });
  assert.equal(sim.tokensIssued - tokens, 1, 'the token is reused');
  const calls = paths(mark);
  assert.equal(calls[0], 'POST /token/oauth/');
  assert.equal(calls[1], `GET /open_api/tempo_like_supply_contract/v1/tempo_like_calendars?start_date=${encodeURIComponent('2026-01-14T00:00:00+01:00')}&end_date=${encodeURIComponent('2026-01-16T00:00:00+01:00')}`);
  assert.equal(calls.length, 3);
  at('2026-01-14', 10, 30); // past the token's hour (less a minute of margin)
  assert.deepEqual(await source.ask({ ...q, now: clock.now() }), { today: 'blue', tomorrow: 'white' });
  assert.equal(sim.tokensIssued - tokens, 2, 'a new token once the old one expired');
  sim.revokeTokens();
  const before = sim.requests.length;
  assert.deepEqual(await source.ask({ ...q, now: clock.now() }), { today: 'blue', tomorrow: 'white' });
  assert.deepEqual(paths(before).map((p) => p.split('?')[0]), ['GET /open_api/tempo_like_supply_contract/v1/tempo_like_calendars', 'POST /token/oauth/', 'GET /open_api/tempo_like_supply_contract/v1/tempo_like_calendars'], 'a refused token is replaced once');
});

test('RTE: summer offsets, days left counted from the season, refused credentials without the secret', async () => {
  assert.equal(rteInstant('2026-07-01'), '2026-07-01T00:00:00+02:00');
  assert.equal(rteInstant('2026-03-29'), '2026-03-29T00:00:00+01:00', 'the spring change is at 02:00');
  assert.equal(rteInstant('2026-03-30'), '2026-03-30T00:00:00+02:00');
  const source = new RteSource(urls.rte_url, RTE_ID, RTE_SECRET, deps);
  at('2026-01-15', 12);
  const answer = await source.ask(ask({ today: '2026-01-15', tomorrow: '2026-01-16', now: clock.now(), wantDaysLeft: true }));
  // Up to 15 January, 137 days since 1 September: white 2 Dec, 12 and 15 Jan; red 1 Dec and 13 Jan.
  assert.deepEqual(answer.daysLeft, { blue: 300 - 132, white: 43 - 3, red: 22 - 2 });
  const wrong = new RteSource(urls.rte_url, RTE_ID, 'not-the-secret', deps);
  const err = await failure(wrong.ask(ask({ now: clock.now() })));
  assert.match(err.message, /^rte: RTE refused the application's credentials \(HTTP 401\)/);
  assert.ok(!err.message.includes('not-the-secret') && !err.message.includes(Buffer.from(`${RTE_ID}:not-the-secret`).toString('base64')));
});

test('RTE: a wrong answer shape names the field', async () => {
  const source = new RteSource(urls.rte_url, RTE_ID, RTE_SECRET, deps);
  sim.badAnswer('rte', true);
  try {
    const err = await failure(source.ask(ask({ now: clock.now() })));
    assert.match(err.message, /^rte: unexpected answer to tempo_like_calendars: tempo_like_calendars\.(start_date|end_date|values)/);
  } finally {
    sim.badAnswer('rte', false);
  }
});

test('EDF: the commerce calendar first (with its headers), the legacy endpoints when it fails', async () => {
  const source = new EdfSource(urls.edf_commerce_url, urls.edf_url, deps);
  at(TODAY, 12);
  let mark = sim.requests.length;
  assert.deepEqual(await source.ask(ask({ now: clock.now() })), { today: 'white', tomorrow: 'red' });
  assert.deepEqual(paths(mark), ['GET /commerce/activet/v1/calendrier-jours-effacement?option=TEMPO&dateApplicationBorneInf=2026-1-12&dateApplicationBorneSup=2026-1-13&identifiantConsommateur=src']);
  at(TOMORROW, 8);
  assert.deepEqual(await source.ask(ask({ today: TOMORROW, tomorrow: '2026-01-14', now: clock.now() })), { today: 'red', tomorrow: undefined }, 'NON_DEFINI is unknown');
  sim.outage('edf_commerce', true);
  mark = sim.requests.length;
  assert.deepEqual(await source.ask(ask({ today: TOMORROW, tomorrow: '2026-01-14', now: clock.now(), wantDaysLeft: true })), {
    today: 'red', tomorrow: undefined, daysLeft: { blue: 300 - 131, white: 43 - 2, red: 22 - 2 },
  });
  assert.deepEqual(paths(mark).map((p) => p.split('?')[0]), [
    '/commerce/activet/v1/calendrier-jours-effacement', '/services/rest/referentiel/searchTempoStore', '/services/rest/referentiel/getNbTempoDays',
  ].map((p) => `GET ${p}`));
  sim.badAnswer('edf_legacy', true);
  const err = await failure(source.ask(ask({ now: clock.now() })));
  assert.match(err.message, /^edf: calendrier-jours-effacement answered HTTP 503; unexpected answer to searchTempoStore: couleurJourJ/);
  sim.outage('edf_commerce', false);
  sim.badAnswer('edf_legacy', false);
});

test('EcoDevice: PTEC gives today; DEMAIN only from 20:00 and never for blue', async () => {
  const source = new EcoDeviceSource(urls.ecodevice_host, deps);
  at(TODAY, 19, 59);
  const mark = sim.requests.length;
  assert.deepEqual(await source.ask(ask({ now: clock.now() })), { today: 'white', tomorrow: undefined }, "'----' before 20:00");
  assert.deepEqual(paths(mark), ['GET /api/xdevices.json?cmd=10']);
  at(TODAY, 20);
  assert.deepEqual(await source.ask(ask({ now: clock.now() })), { today: 'white', tomorrow: 'red' });
  at(TOMORROW, 21);
  assert.deepEqual(await source.ask(ask({ today: TOMORROW, tomorrow: '2026-01-14', now: clock.now() })), { today: 'red', tomorrow: undefined }, "a blue tomorrow shows as '----': unknown");
  sim.badAnswer('ecodevice', true);
  assert.match((await failure(source.ask(ask({ now: clock.now() })))).message, /^ecodevice: the meter is not on a Tempo tariff \(PTEC 'TH\.\.'\)/);
  sim.badAnswer('ecodevice', false);
  sim.outage('ecodevice', true);
  assert.match((await failure(source.ask(ask({ now: clock.now() })))).message, /^ecodevice: xdevices\.json answered HTTP 503$/);
  sim.outage('ecodevice', false);
});

test('an unreachable source is an error naming it, without the query', async () => {
  const source = new ApiCouleurTempoSource('http://127.0.0.1:9/api', { ...deps, onRequest: () => undefined });
  const err = await failure(source.ask(ask()));
  assert.match(err.message, /^api_couleur_tempo: \/jourTempo\/\S+ failed: GET http:\/\/127\.0\.0\.1:9\/api\/jourTempo\/\S+: .*ECONNREFUSED/);
});

test('every request is counted for its source', () => {
  assert.ok(requests.includes('rte') && requests.includes('api_couleur_tempo') && requests.includes('edf') && requests.includes('ecodevice'));
  assert.equal(requests.length, sim.requests.filter((r) => r.source !== 'unknown').length, 'one count per request that reached the simulator');
});

test('options: defaults, the configured sources, and what is refused', () => {
  const plain = tempoOptions.parse({});
  assert.equal(plain.api_couleur_tempo_url, 'https://www.api-couleur-tempo.fr/api');
  assert.equal(plain.rte_url, 'https://digital.iservices.rte-france.com');
  assert.equal(plain.edf_url, 'https://particulier.edf.fr');
  assert.equal(plain.edf_commerce_url, 'https://api-commerce.edf.fr');
  assert.deepEqual(configuredSources(plain), ['api_couleur_tempo', 'edf']);
  assert.deepEqual(configuredSources(tempoOptions.parse({ rte_client_id: 'a', rte_client_secret: 'b', ecodevice_host: '192.168.1.30' })), ['rte', 'api_couleur_tempo', 'edf', 'ecodevice']);
  assert.deepEqual(configuredSources(tempoOptions.parse({ sources: ['edf', 'api_couleur_tempo'] })), ['edf', 'api_couleur_tempo']);
  const problem = (o: unknown) => {
    const r = tempoOptions.safeParse(o);
    return r.success ? 'accepted' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  assert.match(problem({ rte_client_id: 'a' }), /rte_client_secret: RTE needs both/);
  assert.match(problem({ sources: ['rte'] }), /sources: lists rte, which needs rte_client_id/);
  assert.match(problem({ sources: ['ecodevice'] }), /sources: lists ecodevice, which needs ecodevice_host/);
  assert.match(problem({ sources: ['edf', 'edf'] }), /lists a source twice/);
  // The add-on's editor stores an empty list: it means every configured source.
  assert.equal(problem({ sources: [] }), 'accepted');
  assert.deepEqual(configuredSources(tempoOptions.parse({ sources: [] })), ['api_couleur_tempo', 'edf']);
  assert.match(problem({ ecodevice_host: 'http://x/' }), /ecodevice_host/);
  assert.match(problem({ colour: 'red' }), /colour|Unrecognized/i);
});
