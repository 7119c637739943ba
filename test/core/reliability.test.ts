// What the bridge must survive: the broker dying under it, and garbage on its command topics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually, sleep } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';
import { testAdapters, type TestAdapter } from '../helpers/test-adapter.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

test('broker killed and restarted: the bridge comes back and runs a command sent meanwhile exactly once', async () => {
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, {}, {
    extraAdapters: testAdapters(holder),
    tuning: { birthDelayMs: { min: 10, max: 30 }, backoff: { initialMs: 1500, maxMs: 3000 }, discoveryDebounceMs: 5 },
  });
  const calls = holder.adapter!.declared!.calls;
  try {
    await broker.kill();
    await eventually(() => !t.app.bridge.connected, 5000, 'the bridge to notice the broker is gone');
    await broker.restart();

    // The broker kept the bridge's session: a QoS 1 command now is queued for it.
    const pub = await Recorder.connect(broker.port);
    await pub.publish('energy2mqtt/test_device/target_soc/set', '55', { qos: 1 });
    assert.equal(t.app.bridge.connected, false, 'the command was sent while the bridge was away');
    const watcher = await Recorder.connect(broker.port, ['energy2mqtt/#', 'homeassistant/device/#']);

    await eventually(() => t.app.bridge.connected, 10_000, 'reconnect');
    await watcher.waitFor('energy2mqtt/test_device/target_soc', (p) => p === '55', 5000);
    // Re-published after the reconnect (live messages, not the broker's retained copies).
    const live = (topic: string) => watcher.on(topic).some((m) => !m.retain);
    await eventually(() => live('energy2mqtt/bridge/state') && live('homeassistant/device/test_device/config') && live('energy2mqtt/test_device/availability') && live('energy2mqtt/test_device/energy_total'), 5000, 'availability, discovery and states re-published');
    await sleep(1000);
    assert.deepEqual(calls.filter((c) => c.key === 'target_soc'), [{ key: 'target_soc', value: 55, source: 'mqtt' }], 'executed exactly once');
    await pub.close();
    await watcher.close();
  } finally {
    await t.stop();
  }
});

/** Payloads that no command entity of the test device accepts: random bytes, broken JSON, huge strings, out-of-range numbers. */
function garbage(i: number): Buffer | string {
  switch (i % 5) {
    case 0: {
      const bytes = randomBytes(randomInt(1, 64));
      bytes[0] = 0x80 | randomInt(0, 0x3f); // a stray continuation byte: never valid UTF-8
      return bytes;
    }
    case 1:
      return ['{"value":', '[1,2', '{"state":"ON"', 'null}', '{"a":{"b":}}'][randomInt(0, 5)]! + randomBytes(4).toString('hex');
    case 2:
      return 'x'.repeat(randomInt(1025, 20_000));
    case 3:
      return `-${randomInt(1, 1e9)}.${randomInt(1, 999)}e${randomInt(1, 400)}`;
    default:
      return `${randomInt(101, 1e9)}.5`;
  }
}

test('10,000 random payloads on every command topic: no crash, nothing executed, each rejected with an event', async () => {
  const holder: { adapter?: TestAdapter } = {};
  const t = await startApp(broker.port, { log_level: 'error' }, { extraAdapters: testAdapters(holder) });
  const events = await Recorder.connect(broker.port, ['energy2mqtt/bridge/event']);
  const pub = await Recorder.connect(broker.port);
  const topics = ['eco', 'target_soc', 'mode', 'sync_clock', 'label', 'slot_start'].map((k) => `energy2mqtt/test_device/${k}/set`);
  try {
    const total = 10_000;
    // Pipelined in batches: waiting for each PUBACK in turn would measure TCP's delayed ACKs.
    for (let start = 0; start < total; start += 250) {
      const batch: Promise<void>[] = [];
      for (let i = start; i < Math.min(total, start + 250); i++) {
        const payload = garbage(i);
        for (const topic of topics) batch.push(pub.publish(topic, payload, { qos: 1 }));
      }
      await Promise.all(batch);
    }
    await eventually(() => events.messages.length >= total * topics.length, 120_000, 'every rejection event');
    assert.deepEqual(holder.adapter!.declared!.calls, [], 'nothing executed');
    const kinds = new Set(events.messages.map((m) => (JSON.parse(m.payload) as { type: string }).type));
    assert.deepEqual([...kinds], ['command_rejected']);
    // Still alive and obeying: a valid command works afterwards.
    const states = await Recorder.connect(broker.port, ['energy2mqtt/test_device/mode']);
    await pub.publish('energy2mqtt/test_device/mode/set', 'Timed Export');
    await states.waitFor('energy2mqtt/test_device/mode', (p) => p === 'Timed Export');
    await states.close();
  } finally {
    await events.close();
    await pub.close();
    await t.stop();
  }
});
