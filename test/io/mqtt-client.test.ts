// An adapter's own MQTT connection against a second Mosquitto that wants credentials (as a
// Victron GX can): wildcard subscriptions that really match, QoS 1 publishes, subscriptions
// renewed after the broker restarts. And the same router behind the bridge's external topics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startTestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { MqttClient, topicMatches, validFilter } from '../../src/io/mqtt-client.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';
import { parseOptions } from '../../src/options.js';

test('topic filters match as MQTT says', () => {
  const yes: Array<[string, string]> = [
    ['N/c0619ab1/battery/+/Dc/0/Power', 'N/c0619ab1/battery/512/Dc/0/Power'], ['N/+/system/#', 'N/abc/system/0/Dc/Battery/Soc'],
    ['N/+/system/#', 'N/abc/system'], ['#', 'a/b/c'], ['a/+', 'a/'], ['+/+', '/x'], ['a/b', 'a/b'],
  ];
  const no: Array<[string, string]> = [
    ['N/+/battery', 'N/a/b/battery'], ['a/b', 'a/b/c'], ['a/+', 'a/b/c'], ['#', '$SYS/broker/load'], ['+/broker', '$SYS/broker'], ['a/#', 'b/a'],
  ];
  for (const [filter, topic] of yes) assert.ok(topicMatches(filter, topic), `${filter} ~ ${topic}`);
  for (const [filter, topic] of no) assert.ok(!topicMatches(filter, topic), `${filter} !~ ${topic}`);
  for (const bad of ['a/#/b', 'a/b#', 'a/+b', '']) assert.ok(!validFilter(bad), bad);
  assert.throws(() => parseOptions({ automation: { sources: [{ name: 'grid', mqtt: { topic: 'meter/#/power' } }] } }), /^Error: Invalid option automation\.sources\.0\.mqtt\.topic: is not a valid MQTT topic/);
});

test("an adapter's connection to a broker of its own: credentials, wildcards, QoS 1, subscriptions renewed after a restart", async () => {
  const credentials = { username: 'gx', password: 'gx-secret-77' };
  const gx = await startTestBroker({ credentials });
  const lines: string[] = [];
  const logs = new LogHub({ level: 'debug', secrets: new Secrets(), out: { write: (l) => void lines.push(l) } });
  const client = new MqttClient({ host: '127.0.0.1', port: gx.port, ...credentials, keepaliveS: 10 }, 'victron', logs.child('victron'));
  const device = await mqtt.connectAsync({ host: '127.0.0.1', port: gx.port, ...credentials, clientId: 'gx_device', reconnectPeriod: 0 });
  const got: Array<[string, string]> = [];
  try {
    await client.start();
    const stop = client.subscribe('N/c0619ab1/+/+/Dc/0/Power', (payload, m) => got.push([m.topic, payload]));
    client.subscribe('N/c0619ab1/system/#', (payload, m) => got.push([m.topic, payload]));
    await eventually(() => client.connected, 3000, 'connected');
    await new Promise((r) => setTimeout(r, 100)); // the SUBACK
    await device.publishAsync('N/c0619ab1/battery/512/Dc/0/Power', '{"value":-1200}');
    await device.publishAsync('N/c0619ab1/battery/512/Dc/0/Voltage', '{"value":52.1}'); // not followed
    await device.publishAsync('N/c0619ab1/system/0/Dc/Battery/Soc', '{"value":81}');
    await eventually(() => got.length === 2, 3000, 'two matching messages');
    assert.deepEqual(got, [['N/c0619ab1/battery/512/Dc/0/Power', '{"value":-1200}'], ['N/c0619ab1/system/0/Dc/Battery/Soc', '{"value":81}']]);

    // QoS 1 reaches a QoS 1 subscriber as QoS 1.
    await device.subscribeAsync('W/c0619ab1/#', { qos: 1 });
    const delivered = new Promise<number>((resolve) => device.once('message', (_t, _p, packet) => resolve(packet.qos)));
    assert.equal(await client.publish('W/c0619ab1/settings/0/Settings/CGwacs/BatteryLife/MinimumSocLimit', '{"value":40}', { qos: 1 }), true);
    assert.equal(await delivered, 1);

    // The broker restarts: the client comes back by itself and follows its filters again.
    await device.endAsync();
    await gx.kill();
    await eventually(() => !client.connected, 5000, 'the client notices');
    await gx.restart();
    await eventually(() => client.connected, 8000, 'back after the restart');
    await new Promise((r) => setTimeout(r, 200));
    const again = await mqtt.connectAsync({ host: '127.0.0.1', port: gx.port, ...credentials, clientId: 'gx_device2', reconnectPeriod: 0 });
    await again.publishAsync('N/c0619ab1/system/0/Dc/Battery/Soc', '{"value":82}');
    await eventually(() => got.length === 3, 3000, 'a message after the restart');
    await again.endAsync();
    stop();
    assert.ok(!lines.join('').includes(credentials.password) || lines.join('').includes('***'), 'no password in its log');
  } finally {
    await client.stop();
    await device.endAsync().catch(() => undefined);
    await gx.stop();
  }
  // Wrong credentials are refused by that broker (and said so).
  const strict = await startTestBroker({ credentials });
  const refusedLines: string[] = [];
  const wrong = new MqttClient({ host: '127.0.0.1', port: strict.port, username: 'gx', password: 'nope' }, 'victron', new LogHub({ level: 'info', secrets: new Secrets(), out: { write: (l) => void refusedLines.push(l) } }).child('victron'));
  void wrong.start();
  try {
    await eventually(() => refusedLines.some((l) => /not authori[sz]ed|bad user name or password/.test(l)), 5000, 'the refusal');
  } finally {
    await wrong.stop();
    await strict.stop();
  }
});

test("the bridge's external subscriptions take wildcards too (the engine's sources and load states)", async () => {
  const broker = await startTestBroker();
  const t = await startApp(broker.port);
  const pub = await Recorder.connect(broker.port);
  const seen: string[] = [];
  try {
    const stop = t.app.bridge.subscribeExternal('home/+/power', (payload, m) => seen.push(`${m.topic}=${payload}`));
    await new Promise((r) => setTimeout(r, 100));
    await pub.publish('home/kitchen/power', '120');
    await pub.publish('home/kitchen/energy', '5');
    await pub.publish('home/garage/power', '80');
    await eventually(() => seen.length === 2, 3000, 'two matches');
    assert.deepEqual(seen, ['home/kitchen/power=120', 'home/garage/power=80']);
    stop();
    // A barrier on another topic: messages from one publisher arrive in order.
    let barrier = false;
    t.app.bridge.subscribeExternal('home/barrier', () => (barrier = true));
    await new Promise((r) => setTimeout(r, 100)); // the SUBACK of the barrier (and the UNSUBACK)
    await pub.publish('home/attic/power', '1');
    await pub.publish('home/barrier', 'x');
    await eventually(() => barrier, 3000, 'the barrier');
    assert.equal(seen.length, 2, 'nothing after unsubscribing');
  } finally {
    await pub.close();
    await t.stop();
    await broker.stop();
  }
});
