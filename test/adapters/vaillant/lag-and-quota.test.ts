// The Vaillant adapter under a lagging report and a quota stop. (In its own file: run after the
// other adapter tests in one process it hung now and then; see the closing note of issue 5.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { S, vaillantSetup } from '../../helpers/vaillant.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const setup = (lagMs = 0) => vaillantSetup(broker.port, lagMs);

test('a command is trusted while the report lags; a quota stop is shown and refuses commands', async () => {
  const s = await setup(60_000);
  try {
    await s.rec.waitFor(`energy2mqtt/${S}_dhw_255/boost`, (p) => p === 'OFF');
    await s.rec.publish(`energy2mqtt/${S}_dhw_255/boost/set`, 'ON');
    await s.rec.waitFor(`energy2mqtt/${S}_dhw_255/boost`, (p) => p === 'ON');
    const mark = s.rec.mark();
    await s.adapter.poll(); // the report still says REGULAR (the cloud is a minute behind)
    assert.equal(s.rec.last(`energy2mqtt/${S}_dhw_255/boost`)!.payload, 'ON', 'not contradicted by the lagging report');
    assert.ok(!s.rec.messages.slice(mark).some((m) => m.topic.endsWith('/boost') && m.payload === 'OFF'));

    s.sim.exhaustQuota(3600);
    await s.adapter.poll();
    const statusTopic = s.rec.messages.find((m) => m.topic.endsWith('/api_status'))!.topic;
    await s.rec.waitFor(statusTopic, (p) => p === 'paused: call volume quota exhausted');
    await s.rec.waitFor(statusTopic.replace(/api_status$/, 'paused_until'), (p) => p.startsWith('20'));
    const before = s.api().length;
    const eventMark = s.rec.mark();
    await s.rec.publish(`energy2mqtt/${S}_dhw_255/boost/set`, 'OFF');
    const event = JSON.parse((await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_failed'), 3000, eventMark)).payload);
    assert.match(event.reason, /myVaillant requests are paused \(call volume quota exhausted\)/);
    assert.equal(s.api().length, before, 'nothing was sent during the quota stop');
  } finally {
    await s.stop();
  }
});

