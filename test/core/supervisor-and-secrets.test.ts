// Inside Home Assistant: the broker comes from the Supervisor, and no secret ever leaks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually, sleep } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { testAdapters, type TestAdapter } from '../helpers/test-adapter.js';
import { App } from '../../src/app.js';
import { parseOptions } from '../../src/options.js';
import { tempDir } from '../helpers/app.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const TOKEN = 'supervisor-token-8f3a9c2e';
const SUPERVISOR_MQTT_PASSWORD = 'Mosq-Addon-Pass-7731';

/** A stand-in for the Supervisor's /services/mqtt: fails `failures` times with the given status first. */
async function fakeSupervisor(port: number, failures: number, status: number): Promise<{ server: Server; url: string; requests: Array<{ auth?: string; path?: string }> }> {
  const requests: Array<{ auth?: string; path?: string }> = [];
  let left = failures;
  const server = createServer((req, res) => {
    requests.push({ auth: req.headers.authorization, path: req.url });
    res.setHeader('content-type', 'application/json');
    if (left-- > 0) {
      res.statusCode = status;
      res.end(JSON.stringify({ result: 'error', message: status === 403 ? 'No access to mqtt service!' : 'Service not enabled' }));
      return;
    }
    res.end(JSON.stringify({ result: 'ok', data: { host: '127.0.0.1', port, ssl: false, username: 'addons', password: SUPERVISOR_MQTT_PASSWORD, protocol: '3.1.1', addon: 'core_mosquitto' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}`, requests };
}

function supervisedApp(url: string, logs: string[]): App {
  return new App({
    options: parseOptions({}),
    dataDir: tempDir(),
    supervisorToken: TOKEN,
    supervisorUrl: url,
    logOut: { write: (line) => void logs.push(line) },
    tuning: { supervisorRetryMs: 50, birthDelayMs: { min: 10, max: 20 }, backoff: { initialMs: 100, maxMs: 500 } },
  });
}

test('with no broker configured, the Supervisor provides it (retried while Mosquitto is not ready yet)', async () => {
  const sup = await fakeSupervisor(broker.port, 2, 400);
  const logs: string[] = [];
  const app = supervisedApp(sup.url, logs);
  try {
    await app.start();
    await app.bridge.ready;
    assert.equal(sup.requests.length, 3);
    assert.deepEqual(sup.requests[0], { auth: `Bearer ${TOKEN}`, path: '/services/mqtt' });
    assert.ok(logs.some((l) => l.includes('Service not enabled')), 'the wait is explained');
    assert.ok(logs.some((l) => l.includes('the Supervisor reports the MQTT broker at 127.0.0.1')));
    const all = logs.join('');
    assert.ok(!all.includes(SUPERVISOR_MQTT_PASSWORD) && !all.includes(TOKEN), 'no secret in the log');
  } finally {
    await app.stop();
    sup.server.close();
  }
});

test('a Supervisor refusal and a missing broker stop the start with a clear sentence', async () => {
  const sup = await fakeSupervisor(broker.port, 99, 403);
  const app = supervisedApp(sup.url, []);
  await assert.rejects(app.start(), /refused access to the MQTT service; the add-on needs "services: mqtt"/);
  sup.server.close();
  const bare = new App({ options: parseOptions({}), dataDir: tempDir(), logOut: { write: () => undefined } });
  await assert.rejects(bare.start(), /No MQTT broker: set mqtt.host in the options/);
});

test('passwords and tokens never appear in any log line or MQTT message', async () => {
  const secrets = { mqtt: 'Mqtt-Secret-Pass-4412', other: 'quote"and\\backslash-secret' };
  const everything = await Recorder.connect(broker.port, ['#']);
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, { log_level: 'trace', mqtt: { host: '127.0.0.1', port: broker.port, username: 'user', password: secrets.mqtt } }, { extraAdapters: testAdapters(holder) });
  t.app.secrets.add(secrets.other); // a token an adapter obtained at run time
  try {
    // Secrets pushed through every path that echoes input: rejected commands, text entities, errors.
    for (const secret of Object.values(secrets)) {
      await everything.publish('energy2mqtt/test_device/mode/set', secret);
      await everything.publish('energy2mqtt/test_device/label/set', `x ${secret}`);
      holder.adapter!.declared!.device.entities.get('label')!.update(`label ${secret}`);
      t.app.logs.child('test').error({ err: new Error(`login failed for ${secret}`), token: secret }, `request with ${secret}`);
    }
    await eventually(() => everything.on('energy2mqtt/bridge/event').length >= 4, 5000, 'the rejection events');
    await sleep(200);
    // Everything the add-on published (the /set topics carry what this test itself sent).
    const mqttText = everything.messages.filter((m) => !m.topic.endsWith('/set')).map((m) => `${m.topic} ${m.payload}`).join('\n');
    const logText = t.logs.join('');
    for (const secret of Object.values(secrets)) {
      assert.ok(!logText.includes(secret), `log leaks ${secret}`);
      assert.ok(!mqttText.includes(secret), `MQTT leaks ${secret}`);
      assert.ok(!logText.includes(JSON.stringify(secret).slice(1, -1)), 'not even JSON-escaped');
    }
    assert.ok(logText.includes('***'), 'the secrets were masked, not silently dropped');
    assert.ok(mqttText.includes('***'));
  } finally {
    await t.stop();
    await everything.close();
  }
});
