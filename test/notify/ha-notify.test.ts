// HA notify services against a fake of HA's REST API over real HTTP, directly and as the
// Supervisor proxies it: the call HA receives, a refused token, an unknown service named,
// data a service refuses, HA down behind the Supervisor, and errors without the token.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Secrets } from '../../src/core/secrets.js';
import { createHttpClient } from '../../src/io/http.js';
import { HaNotifyClient, HaNotifyError, SUPERVISOR_CORE_API } from '../../src/notify/ha-notify.js';
import { FakeHomeAssistantRest, viaSupervisor } from '../helpers/fake-ha-rest.js';

const TOKEN = 'long-lived-token-abcdefghijklmnopqrstuvwxyz';
const http = createHttpClient({ timeoutMs: 5000 });
const fakes: FakeHomeAssistantRest[] = [];
after(async () => {
  for (const fake of fakes) await fake.close();
});

async function fakeHa(token = TOKEN): Promise<FakeHomeAssistantRest> {
  const fake = await FakeHomeAssistantRest.start({ token });
  fakes.push(fake);
  return fake;
}

async function haError(promise: Promise<unknown>): Promise<HaNotifyError> {
  const err = await promise.then(() => assert.fail('no error'), (e: unknown) => e);
  assert.ok(err instanceof HaNotifyError, `not an HaNotifyError: ${inspect(err)}`);
  return err;
}

test('a notify service gets the title and message with the bearer token', async () => {
  const fake = await fakeHa();
  const client = new HaNotifyClient({ apiUrl: `${fake.apiUrl}/`, token: TOKEN, http, secrets: new Secrets() });
  await client.call('notify.mobile_app_pixel_7', { title: 'Tempo tomorrow: RED', message: 'Tomorrow is red.', notificationId: 'ignored_for_notify' });
  assert.deepEqual(fake.calls, [
    { domain: 'notify', service: 'mobile_app_pixel_7', data: { title: 'Tempo tomorrow: RED', message: 'Tomorrow is red.' }, prefix: '/api', authorization: `Bearer ${TOKEN}` },
  ]);
  // `persistent_notification` alone is its create service, with an id so the next one replaces it.
  await client.call('persistent_notification', { title: 'T', message: 'M', notificationId: 'energy2mqtt_tomorrow_colour' });
  assert.deepEqual(fake.calls[1], {
    domain: 'persistent_notification',
    service: 'create',
    data: { title: 'T', message: 'M', notification_id: 'energy2mqtt_tomorrow_colour' },
    prefix: '/api',
    authorization: `Bearer ${TOKEN}`,
  });
});

test('inside the add-on the call goes through the Supervisor with its token', async () => {
  const supervisorToken = 'supervisor-token-0123456789abcdef';
  const fake = await fakeHa(supervisorToken);
  const client = new HaNotifyClient({ apiUrl: SUPERVISOR_CORE_API, token: supervisorToken, http: viaSupervisor(http, fake.port), secrets: new Secrets() });
  await client.call('notify.notify', { title: 'T', message: 'M' });
  assert.equal(fake.calls[0]?.prefix, '/core/api');
  assert.equal(fake.calls[0]?.authorization, `Bearer ${supervisorToken}`);

  fake.failNext = 502;
  const down = await haError(client.call('notify.notify', { title: 'T', message: 'M' }));
  assert.equal(down.code, 502);
  assert.equal(down.message, 'Home Assistant did not answer the Supervisor (HTTP 502) for notify.notify; is it starting or stopped?');

  const refused = await haError(new HaNotifyClient({ apiUrl: SUPERVISOR_CORE_API, token: 'not-the-token', http: viaSupervisor(http, fake.port), secrets: new Secrets() }).call('notify.notify', { title: 'T', message: 'M' }));
  assert.equal(refused.code, 401);
  assert.equal(refused.message, "the Supervisor refused the add-on's token for notify.notify (HTTP 401): the add-on needs homeassistant_api: true");
});

test('a wrong token outside the add-on is a 401 that names ha_token', async () => {
  const fake = await fakeHa();
  const wrong = 'wrong-token-zyxwvutsrqponmlkjihgfedcba';
  const err = await haError(new HaNotifyClient({ apiUrl: fake.apiUrl, token: wrong, http, secrets: new Secrets() }).call('notify.notify', { title: 'T', message: 'M' }));
  assert.equal(err.code, 401);
  assert.equal(err.message, 'Home Assistant refused notifications.ha_token for notify.notify (HTTP 401): use a long-lived access token from your Home Assistant profile');
  assert.equal(fake.calls.length, 0);
  assert.ok(!inspect(err, { depth: 20, showHidden: true }).includes(wrong));
});

test('an unknown service is named, whether HA answers 400 (today) or 404; refused data is told apart', async () => {
  const fake = await fakeHa();
  const client = new HaNotifyClient({ apiUrl: fake.apiUrl, token: TOKEN, http, secrets: new Secrets() });
  const unknown = await haError(client.call('notify.mobile_app_old_phone', { title: 'T', message: 'M' }));
  assert.equal(unknown.code, 400);
  assert.equal(unknown.message, 'Home Assistant has no service notify.mobile_app_old_phone (the names are under Developer tools > Actions, e.g. notify.mobile_app_<phone>)');
  assert.deepEqual(fake.requests.slice(-2).map((r) => `${r.method} ${r.path} ${r.status}`), ['POST /api/services/notify/mobile_app_old_phone 400', 'GET /api/services 200']);

  const refused = await haError(client.call('persistent_notification.dismiss', { title: 'T', message: 'M' }));
  assert.equal(refused.message, 'Home Assistant refused the call to persistent_notification.dismiss (HTTP 400): the service does not take a title and a message');

  fake.unknownServiceStatus = 404;
  const old = await haError(client.call('notify.gone', { title: 'T', message: 'M' }));
  assert.equal(old.code, 404);
  assert.equal(old.message, "Home Assistant answered 404 for notify.gone: the service does not exist, or notifications.ha_api_url is not Home Assistant's API (it ends in /api)");
  assert.equal(fake.calls.length, 0);
});

test('Home Assistant out of reach: the URL without credentials, never the token', async () => {
  const fake = await fakeHa();
  const apiUrl = fake.apiUrl;
  await fake.close();
  const err = await haError(new HaNotifyClient({ apiUrl, token: TOKEN, http, secrets: new Secrets() }).call('notify.notify', { title: 'T', message: 'M' }));
  assert.equal(err.code, 'ECONNREFUSED');
  assert.match(err.message, new RegExp(`^cannot reach Home Assistant at ${apiUrl.replace(/\./g, '\\.')} \\(connect ECONNREFUSED`));
  assert.ok(!inspect(err, { depth: 20, showHidden: true, getters: true }).includes(TOKEN));
});
