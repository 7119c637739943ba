// Discovery payloads built without a broker: the pure function the bridge publishes, checked
// byte for byte against what the bridge published before discovery left it, and against HA's
// acceptance checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devicePayload } from '../../src/core/discovery/device-payload.js';
import { PLATFORMS } from '../../src/core/discovery/registry.js';
import { deviceDiscoveryProblems } from '../../src/core/ha-acceptance.js';
import type { EntitySpec } from '../../src/core/entity.js';
import {
  BRIDGE_INFO, BRIDGE_SPECS, CONTEXT, GOLDEN_BRIDGE_PAYLOAD, GOLDEN_DEVICE_PAYLOAD, GOLDEN_REMOVED_COMPONENTS, INFO, REMOVED, SPECS,
} from './discovery-payload.golden.js';

/** Equal and in the same key order: the JSON HA receives is the same, byte for byte. */
function assertSameJson(actual: unknown, golden: unknown): void {
  assert.deepEqual(actual, golden);
  assert.equal(JSON.stringify(actual), JSON.stringify(golden), 'the same keys in the same order');
}

test('a device with every platform gets byte for byte the payload it got before', () => {
  assertSameJson(devicePayload(INFO, SPECS, CONTEXT), GOLDEN_DEVICE_PAYLOAD);
});

test('the golden device covers every registered platform', () => {
  const published = new Set(Object.values(GOLDEN_DEVICE_PAYLOAD.cmps).map((c) => c.p));
  assert.deepEqual([...published].sort(), Object.keys(PLATFORMS).sort(), 'a new platform needs an entity in discovery-payload.golden.ts');
});

test('components that go away come first, reduced to their platform, before the rest unchanged', () => {
  const payload = devicePayload(INFO, SPECS, CONTEXT, REMOVED);
  assertSameJson(payload, { ...GOLDEN_DEVICE_PAYLOAD, cmps: { ...GOLDEN_REMOVED_COMPONENTS, ...GOLDEN_DEVICE_PAYLOAD.cmps } });
  assert.deepEqual(payload.cmps.old_zone, { p: 'climate' });
});

test("the bridge's own device: no via_device, only the bridge's availability, ids from energy2mqtt", () => {
  assertSameJson(devicePayload(BRIDGE_INFO, BRIDGE_SPECS, CONTEXT), GOLDEN_BRIDGE_PAYLOAD);
});

test("HA's acceptance checks find nothing wrong in the golden payloads", () => {
  assert.deepEqual(deviceDiscoveryProblems('homeassistant/device/Golden-Device_1/config', GOLDEN_DEVICE_PAYLOAD), []);
  assert.deepEqual(deviceDiscoveryProblems('homeassistant/device/bridge/config', GOLDEN_BRIDGE_PAYLOAD), []);
});

test('each platform gets its own topics: a state, a command, or one of each per part', () => {
  const topicKeys = (spec: EntitySpec) => Object.keys(devicePayload(INFO, [spec], CONTEXT).cmps[spec.key]!).filter((k) => k.includes('topic'));
  const byKey = new Map(SPECS.map((s) => [s.key, s]));
  const at = (key: string) => topicKeys(byKey.get(key)!);
  assert.deepEqual(at('power'), ['state_topic']);
  assert.deepEqual(at('online'), ['state_topic']);
  for (const key of ['eco', 'rate', 'mode', 'label', 'start']) assert.deepEqual(at(key), ['state_topic', 'command_topic'], key);
  assert.deepEqual(at('sync'), ['command_topic'], 'a button has no state');
  const thermostat = ['mode_state_topic', 'mode_command_topic', 'temperature_state_topic', 'temperature_command_topic', 'current_temperature_topic'];
  assert.deepEqual(at('dhw'), thermostat);
  assert.deepEqual(at('plain_zone'), thermostat);
  assert.deepEqual(at('zone'), [...thermostat, 'preset_mode_state_topic', 'preset_mode_command_topic']);
  const zone = devicePayload(INFO, [byKey.get('zone')!], CONTEXT).cmps.zone!;
  assert.equal(zone.preset_mode_command_topic, 'e2m/Golden-Device_1/zone/set/preset');
  assert.deepEqual(zone.preset_modes, ['away', 'boost'], "HA adds its own 'none'");
});
