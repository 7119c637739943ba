// The Notifier over real HTTP to the Prowl simulator and the fake HA REST API: one notice to
// every target, in the chosen language; the same text once in 10 minutes; at most 30 an hour
// per target; failures logged once per kind and target; keys and tokens never in a log line.
import { test, after } from 'node:test';
import { performance } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import { SimulatedClock } from '../../src/core/clock.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';
import { createHttpClient } from '../../src/io/http.js';
import type { Notice } from '../../src/notify/messages.js';
import { Notifier, MAX_PER_HOUR } from '../../src/notify/notifier.js';
import { notificationOptions } from '../../src/notify/options.js';
import { ProwlSimulator } from '../../src/simulators/prowl.js';
import { FakeHomeAssistantRest, viaSupervisor } from '../helpers/fake-ha-rest.js';

const KEY = '0123456789abcdef0123456789abcdef01234567';
const UNKNOWN_KEY = '9999999999888888888877777777776666666666';
const HA_TOKEN = 'long-lived-token-abcdefghijklmnopqrstuvwxyz';
const SUPERVISOR_TOKEN = 'supervisor-token-0123456789abcdef';

const http = createHttpClient({ timeoutMs: 5000 });
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers) await close();
});

const RED: Notice = { kind: 'tomorrow_colour', date: '2026-01-07', colour: 'red' };

async function world(options: { keys?: string[]; haToken?: string } = {}) {
  const clock = new SimulatedClock();
  const sim = new ProwlSimulator({ keys: options.keys ?? [KEY], now: () => clock.now() });
  await sim.listen();
  const ha = await FakeHomeAssistantRest.start({ token: options.haToken ?? HA_TOKEN });
  closers.push(() => sim.close(), () => ha.close());
  // The log hub has Secrets of its own that know nothing: a key in a line would show.
  const lines: string[] = [];
  const hub = new LogHub({ level: 'debug', secrets: new Secrets(), out: { write: (line) => lines.push(line) } });
  const secrets = new Secrets();
  const notifier = (raw: Record<string, unknown>, extra: { supervisorToken?: string; language?: 'en' | 'fr' | 'de' } = {}) => {
    const made = new Notifier({ options: notificationOptions.parse(raw), http: extra.supervisorToken ? viaSupervisor(http, ha.port) : http, log: hub.child('notify'), secrets, clock, ...extra });
    closers.push(() => made.stop());
    return made;
  };
  const both = { prowl_api_key: KEY, prowl_url: sim.url, ha_services: ['notify.mobile_app_pixel_7', 'persistent_notification'], ha_api_url: ha.apiUrl, ha_token: HA_TOKEN };
  return { clock, sim, ha, lines, secrets, notifier, both };
}

test('one notice goes to Prowl and every HA service, in the chosen language', async () => {
  const { sim, ha, notifier, both } = await world();
  const results = await notifier({ ...both, language: 'fr', prowl_priority: 1 }).send(RED);
  assert.deepEqual(results, [
    { target: 'prowl', ok: true },
    { target: 'notify.mobile_app_pixel_7', ok: true },
    { target: 'persistent_notification.create', ok: true },
  ]);
  const message = 'Demain, mercredi 7 janvier, est un jour Tempo rouge. Les heures pleines (6 h à 22 h) sont au tarif rouge.';
  assert.deepEqual(
    sim.received.map((m) => [m.application, m.event, m.description, m.priority]),
    [['energy2mqtt', 'Tempo demain : ROUGE', message, 1]],
  );
  assert.deepEqual(
    ha.calls.map((c) => [c.domain, c.service, c.data]),
    [
      ['notify', 'mobile_app_pixel_7', { title: 'Tempo demain : ROUGE', message }],
      ['persistent_notification', 'create', { title: 'Tempo demain : ROUGE', message, notification_id: 'energy2mqtt_tomorrow_colour' }],
    ],
  );
  // The constructor's language wins over the option.
  await notifier({ ...both, language: 'fr' }, { language: 'de' }).send(RED);
  assert.equal(sim.received.at(-1)?.event, 'Tempo morgen: ROT');
});

test('notify() returns at once and never throws; stop() lets the send finish, then nothing more goes out', async () => {
  const { sim, ha, notifier, both } = await world();
  const n = notifier(both);
  assert.equal(n.notify(RED), undefined);
  assert.equal(sim.received.length, 0, 'nothing has arrived synchronously');
  // A notice that is not one (from untyped code) is logged, not thrown.
  assert.doesNotThrow(() => n.notify({ kind: 'nonsense' } as unknown as Notice));
  await n.stop();
  assert.equal(sim.received.length, 1);
  assert.equal(ha.calls.length, 2);
  n.notify({ ...RED, date: '2026-01-08' });
  assert.deepEqual(await n.send({ ...RED, date: '2026-01-09' }), []);
  assert.equal(sim.received.length, 1);
  assert.equal(ha.calls.length, 2);
});

test('the same text is sent once in 10 minutes; a failed send does not count as sent', async () => {
  const { sim, ha, notifier, both, clock } = await world();
  const n = notifier(both);
  // Twice at once (two callers): one goes out.
  const [first, twin] = await Promise.all([n.send(RED), n.send(RED)]);
  assert.ok(first!.every((r) => r.ok));
  assert.deepEqual(twin!.map((r) => r.skipped), ['duplicate', 'duplicate', 'duplicate']);
  assert.equal(sim.received.length, 1);
  assert.equal(ha.calls.length, 2);

  clock.advance(9 * 60_000);
  assert.deepEqual((await n.send(RED)).map((r) => r.skipped), ['duplicate', 'duplicate', 'duplicate']);
  // Another text is not a duplicate.
  assert.ok((await n.send({ ...RED, colour: 'white' })).every((r) => r.ok));
  clock.advance(60_000);
  assert.ok((await n.send(RED)).every((r) => r.ok), 'ten minutes later the same text goes out again');
  assert.equal(sim.received.length, 3);

  // Prowl is down: the failure is not remembered as sent, so a retry a minute later goes out.
  const plan: Notice = { kind: 'plan_applied', date: '2026-01-08', colour: 'blue', minSoc: 30, batteryLife: true };
  sim.outage(true);
  const failed = await n.send(plan);
  assert.deepEqual(failed[0], { target: 'prowl', ok: false, reason: "Prowl had an internal error (500: 'Internal server error'); the notification was not delivered" });
  assert.ok(failed[1]!.ok);
  sim.outage(false);
  clock.advance(60_000);
  const retried = await n.send(plan);
  assert.deepEqual(retried.map((r) => [r.target, r.ok, r.skipped]), [
    ['prowl', true, undefined],
    ['notify.mobile_app_pixel_7', false, 'duplicate'],
    ['persistent_notification.create', false, 'duplicate'],
  ]);
  assert.equal(sim.received.length, 4);
});

test(`at most ${MAX_PER_HOUR} notifications an hour per target; the cap is logged once`, async () => {
  const { sim, ha, notifier, both, clock, lines } = await world();
  const n = notifier({ ...both, ha_services: ['notify.notify'] });
  const firstAt = clock.now();
  for (let i = 0; i < MAX_PER_HOUR; i++) {
    const results = await n.send({ kind: 'write_failed', what: `setting ${i}`, reason: 'no read-back' });
    assert.ok(results.every((r) => r.ok), `notice ${i}`);
    clock.advance(60_000);
  }
  assert.equal(sim.received.length, MAX_PER_HOUR);
  const over = await n.send({ kind: 'write_failed', what: 'one more', reason: 'no read-back' });
  assert.deepEqual(over.map((r) => [r.target, r.skipped]), [['prowl', 'hourly_cap'], ['notify.notify', 'hourly_cap']]);
  await n.send({ kind: 'write_failed', what: 'and another', reason: 'no read-back' });
  assert.equal(sim.received.length, MAX_PER_HOUR);
  assert.equal(ha.calls.length, MAX_PER_HOUR);
  const capLines = lines.filter((l) => l.includes('more are held back'));
  assert.equal(capLines.length, 2, 'one warning per target');
  assert.match(capLines[0]!, /WARN .*the write_failed notification is not sent: 30 notifications went to prowl in the last hour; more are held back/);

  // When the first send of the hour is an hour old, one more may go.
  clock.advance(firstAt + 3_600_000 - 1 - clock.now());
  assert.equal((await n.send({ kind: 'write_failed', what: 'almost', reason: 'no read-back' }))[0]!.skipped, 'hourly_cap');
  clock.advance(1);
  const later = await n.send({ kind: 'write_failed', what: 'an hour later', reason: 'no read-back' });
  assert.ok(later.every((r) => r.ok), JSON.stringify(later));
  assert.equal(sim.received.length, MAX_PER_HOUR + 1);
});

test('failures are logged once per kind and target, and the recovery once', async () => {
  const { sim, notifier, lines } = await world();
  const n = notifier({ prowl_api_key: UNKNOWN_KEY, prowl_url: sim.url });
  for (const date of ['2026-01-07', '2026-01-08', '2026-01-09']) {
    const [result] = await n.send({ kind: 'tomorrow_colour', date, colour: 'blue' });
    assert.equal(result!.reason, "Prowl refused the API key (401: 'Invalid API key(s)'): check notifications.prowl_api_key");
  }
  await n.send({ kind: 'sources_failed', reasons: 'all down' });
  const warnings = lines.filter((l) => / WARN /.test(l));
  assert.deepEqual(
    warnings.map((l) => l.replace(/^.* WARN +\[notify\] /, '').trim()),
    [
      "could not send the tomorrow_colour notification to prowl: Prowl refused the API key (401: 'Invalid API key(s)'): check notifications.prowl_api_key",
      "could not send the sources_failed notification to prowl: Prowl refused the API key (401: 'Invalid API key(s)'): check notifications.prowl_api_key",
    ],
  );
  assert.equal(lines.filter((l) => / DEBUG .*could not send the tomorrow_colour/.test(l)).length, 2, 'the repeats at debug level');

  sim.options.keys.push(UNKNOWN_KEY); // the user registered the key at Prowl
  await n.send({ kind: 'tomorrow_colour', date: '2026-01-10', colour: 'blue' });
  assert.equal(lines.filter((l) => / INFO .*notifications to prowl work again/.test(l)).length, 1);
  await n.send({ kind: 'tomorrow_colour', date: '2026-01-11', colour: 'blue' });
  assert.equal(lines.filter((l) => l.includes('work again')).length, 1);
});

test('the Prowl key and the HA token never reach a log line or a notification, whatever fails', async () => {
  const { sim, ha, notifier, both, lines } = await world();
  const n = notifier(both);
  await n.send(RED); // success
  sim.outage(true);
  await n.send({ ...RED, date: '2026-01-08' }); // Prowl 500
  sim.outage(false);
  // A reason that quotes the key (a GX error echoing a request, say) is masked in the text sent.
  await n.send({ kind: 'write_failed', what: 'State', reason: `refused apikey=${KEY} token ${HA_TOKEN}` });
  const wrongKey = notifier({ ...both, prowl_api_key: UNKNOWN_KEY, ha_token: 'wrong-token-zyxwvutsrqponmlkjihgfedcba' });
  await wrongKey.send(RED); // 401 from both
  await ha.close();
  await sim.close();
  await n.send({ ...RED, date: '2026-01-09' }); // nobody there

  assert.ok(sim.received.some((m) => m.apikeys.includes(KEY)), 'the key was really sent to Prowl');
  assert.ok(ha.requests.some((r) => r.authorization === `Bearer ${HA_TOKEN}`), 'the token was really sent to HA');
  const masked = sim.received.find((m) => m.event === 'Victron: write failed');
  assert.equal(masked?.description, 'Writing State to the GX failed: refused apikey=*** token ***. The battery plan may not be in place; please check the GX.');
  assert.ok(lines.length >= 8, `${lines.length} log lines`);
  assert.ok(lines.some((l) => l.includes('cannot reach Prowl')));
  for (const secret of [KEY, UNKNOWN_KEY, HA_TOKEN, 'wrong-token-zyxwvutsrqponmlkjihgfedcba']) {
    const leaked = lines.filter((l) => l.includes(secret) || l.includes(encodeURIComponent(secret)));
    assert.deepEqual(leaked, [], `${secret.slice(0, 6)}… in the log`);
  }
});

test("the Supervisor's token goes to the Supervisor only; without any access HA services fail with a clear reason", async () => {
  const { ha, notifier, lines, sim } = await world({ haToken: SUPERVISOR_TOKEN });
  // Inside the add-on: no ha_api_url, the Supervisor's proxy with its token.
  const inside = notifier({ ha_services: ['notify.notify'] }, { supervisorToken: SUPERVISOR_TOKEN });
  assert.deepEqual(await inside.send(RED), [{ target: 'notify.notify', ok: true }]);
  assert.deepEqual(ha.calls.map((c) => [c.prefix, c.authorization]), [['/core/api', `Bearer ${SUPERVISOR_TOKEN}`]]);

  // With ha_api_url, its own token is used even inside the add-on.
  const elsewhere = notifier({ ha_services: ['notify.notify'], ha_api_url: ha.apiUrl, ha_token: HA_TOKEN }, { supervisorToken: SUPERVISOR_TOKEN });
  const [refused] = await elsewhere.send(RED);
  assert.equal(refused!.ok, false);
  assert.ok(!ha.requests.slice(1).some((r) => r.authorization?.includes(SUPERVISOR_TOKEN)), 'the Supervisor token did not go to ha_api_url');

  // Outside the add-on without ha_api_url and ha_token: said at start and on every failure.
  const none = notifier({ ha_services: ['notify.notify'], prowl_api_key: KEY, prowl_url: sim.url });
  assert.deepEqual(none.targetNames, ['prowl', 'notify.notify']);
  assert.ok(lines.some((l) => / WARN .*notifications\.ha_services is set, but there is no access to Home Assistant/.test(l)));
  const results = await none.send(RED);
  assert.deepEqual(results[1], {
    target: 'notify.notify',
    ok: false,
    reason: 'notify.notify cannot be called: there is no access to Home Assistant: outside the add-on set notifications.ha_api_url and notifications.ha_token',
  });
  assert.ok(results[0]!.ok, 'Prowl still works');
});

test('stop() gives a hanging send a few seconds, then cuts it off without an error escaping', async () => {
  const { createServer } = await import('node:http');
  const hanging = createServer(() => undefined); // accepts, never answers
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => resolve()));
  });
  const { notifier, lines } = await world();
  const n = notifier({ prowl_api_key: KEY, prowl_url: `http://127.0.0.1:${(hanging.address() as { port: number }).port}/publicapi` });
  const sending = n.send(RED);
  const started = performance.now();
  await n.stop();
  const waited = performance.now() - started;
  assert.ok(waited >= 2900 && waited < 4500, `stop() took ${Math.round(waited)} ms`);
  const [result] = await sending;
  assert.deepEqual(result, { target: 'prowl', ok: false, reason: 'cannot reach Prowl (aborted)' });
  assert.ok(!lines.some((l) => / WARN /.test(l)), 'a send cut off by stop() is not a warning');
});
