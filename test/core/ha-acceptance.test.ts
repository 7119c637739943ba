import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceDiscoveryProblems, discoveryTopicIsLegal, unitProblems } from '../../src/core/ha-acceptance.js';

test('unit and state class pairs follow HA core tables', () => {
  assert.deepEqual(unitProblems('sensor', 'power', 'W', 'measurement'), []);
  assert.deepEqual(unitProblems('sensor', 'energy', 'kWh', 'total_increasing'), []);
  assert.deepEqual(unitProblems('sensor', 'battery', '%', 'measurement'), []);
  assert.equal(unitProblems('sensor', 'power', 'w', 'measurement').length, 1, 'units are case-sensitive');
  assert.equal(unitProblems('sensor', 'energy', 'kWh', 'measurement').length, 1);
  assert.equal(unitProblems('sensor', 'monetary', 'GBP', 'total').length, 0);
  assert.equal(unitProblems('sensor', 'monetary', 'GBP/kWh', 'total').length, 1);
  assert.equal(unitProblems('sensor', 'temperature', undefined, 'measurement').length, 1, 'a device class needs its unit');
  assert.equal(unitProblems('sensor', 'watts', 'W', undefined).length, 1);
});

test('discovery topics HA accepts', () => {
  assert.ok(discoveryTopicIsLegal('homeassistant/device/givenergy_SA123/config', 'homeassistant'));
  assert.ok(!discoveryTopicIsLegal('homeassistant/device/give.nergy/config', 'homeassistant'));
  assert.ok(!discoveryTopicIsLegal('homeassistant/device/a b/config', 'homeassistant'));
});

test('device payload checks: device keys, origin, components', () => {
  const good = {
    dev: { identifiers: ['x'], name: 'Inverter' },
    o: { name: 'energy2mqtt' },
    cmps: { pv: { p: 'sensor', unique_id: 'u1', default_entity_id: 'sensor.x_pv', state_topic: 's', name: 'PV' } },
  };
  assert.deepEqual(deviceDiscoveryProblems('homeassistant/device/x/config', good), []);
  const bad = {
    dev: { identifiers: [], name: 'Inverter', support_url: 'http://x' },
    cmps: { pv: { p: 'sensor', object_id: 'x', default_entity_id: 'switch.x', name: 'Inverter PV' } },
  };
  const problems = deviceDiscoveryProblems('homeassistant/device/x/config', bad).join('\n');
  for (const expected of ['o.name is missing', "extra key 'support_url'", 'device needs identifiers', 'unique_id is missing', 'object_id is deprecated', "must be 'sensor.", "'state_topic' is required", 'starts with the device name']) {
    assert.ok(problems.includes(expected), `expected '${expected}' in:\n${problems}`);
  }
});
