// The removal record without a broker: what the bridge remembers of each device it published,
// and what it takes out of HA when a component or a device goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devicePayload } from '../../src/core/discovery/device-payload.js';
import { goneComponents, recordAfterPublish, topicsToEmpty, type DeviceRecord } from '../../src/core/discovery/removal-record.js';
import type { EntitySpec } from '../../src/core/entity.js';

const ROOTS = { baseTopic: 'e2m', discoveryPrefix: 'homeassistant' };
const CONTEXT = { baseTopic: 'e2m', version: '1.0.0' };
const INFO = { id: 'inv', name: 'Inverter' };
const power: EntitySpec = { component: 'sensor', key: 'power', name: 'Power', deviceClass: 'power', unit: 'W', stateClass: 'measurement' };
const label: EntitySpec = { component: 'text', key: 'label', name: 'Label' };
const mode: EntitySpec = { component: 'select', key: 'mode', name: 'Mode', options: ['Eco'] };
const componentsOf = (specs: EntitySpec[]) => new Map(specs.map((s) => [s.key, s.component]));

/** One publish as the bridge does it: what goes, the payloads in order, the record after. */
function publish(recorded: DeviceRecord | undefined, publishedThisRun: string[], specs: EntitySpec[], settled: boolean) {
  const current = componentsOf(specs);
  const gone = goneComponents(recorded, publishedThisRun, current, settled);
  const payloads = [...(gone.size ? [devicePayload(INFO, specs, CONTEXT, gone)] : []), devicePayload(INFO, specs, CONTEXT)];
  const record = recordAfterPublish(recorded, { id: INFO.id, owner: 'givenergy', current, gone }, settled, ROOTS);
  return { gone, payloads, record };
}

test('the first publish records every component and every retained topic of the device', () => {
  const { gone, payloads, record } = publish(undefined, [], [power, label], false);
  assert.equal(gone.size, 0);
  assert.equal(payloads.length, 1);
  assert.deepEqual(record, {
    owner: 'givenergy',
    components: { power: 'sensor', label: 'text' },
    topics: ['homeassistant/device/inv/config', 'e2m/inv/power', 'e2m/inv/label', 'e2m/inv/availability'],
  });
});

test('a component that goes away is first reduced to {p}, then omitted, and leaves the record', () => {
  const first = publish(undefined, [], [power, label], false).record;
  const { gone, payloads, record } = publish(first, ['power', 'label'], [power], false);
  assert.deepEqual([...gone], [['label', 'text']]);
  assert.equal(payloads.length, 2);
  assert.deepEqual(payloads[0]!.cmps.label, { p: 'text' }, 'first reduced to its platform');
  assert.ok('power' in payloads[0]!.cmps, 'the others stay while it goes');
  assert.ok(!('label' in payloads[1]!.cmps), 'then left out');
  assert.deepEqual(record.components, { power: 'sensor' });
  assert.deepEqual(record.topics, ['homeassistant/device/inv/config', 'e2m/inv/power', 'e2m/inv/availability']);
});

test('before every adapter has started, a component of an earlier run not declared yet stays', () => {
  const earlier = publish(undefined, [], [power, mode], false).record;
  // A new run: the adapter has declared power so far, mode may still come.
  const { gone, record } = publish(earlier, [], [power], false);
  assert.equal(gone.size, 0);
  assert.deepEqual(record.components, { power: 'sensor', mode: 'select' });
});

test('once settled, a component of an earlier run that is no longer declared goes', () => {
  const earlier = publish(undefined, [], [power, mode], false).record;
  const { gone, payloads, record } = publish(earlier, [], [power], true);
  assert.deepEqual([...gone], [['mode', 'select']]);
  assert.deepEqual(payloads[0]!.cmps.mode, { p: 'select' });
  assert.ok(!('mode' in payloads[1]!.cmps));
  assert.deepEqual(record.components, { power: 'sensor' });
});

test('a removed device is emptied: its discovery first, then every state and its availability', () => {
  const record = publish(undefined, [], [power, label], false).record;
  assert.deepEqual(topicsToEmpty(record, 'homeassistant', 'inv'), ['homeassistant/device/inv/config', 'e2m/inv/power', 'e2m/inv/label', 'e2m/inv/availability']);
  // A device the record does not know (a crash before it was stored): at least its discovery.
  assert.deepEqual(topicsToEmpty(undefined, 'homeassistant', 'ghost'), ['homeassistant/device/ghost/config']);
});

test("the bridge's own device has no availability topic of its own to empty", () => {
  const record = recordAfterPublish(undefined, { id: 'bridge', owner: 'bridge', current: componentsOf([power]), gone: new Map() }, false, ROOTS);
  assert.deepEqual(record.topics, ['homeassistant/device/bridge/config', 'e2m/bridge/power']);
});
