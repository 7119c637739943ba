import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVaillantDeviceId, vaillantDeviceId } from '../../../src/adapters/vaillant/ids.js';

test('Vaillant device ids are built and read back by one module', () => {
  assert.deepEqual(parseVaillantDeviceId(vaillantDeviceId.system('4f5dff07')), { short: '4f5dff07', kind: 'system' });
  assert.deepEqual(parseVaillantDeviceId(vaillantDeviceId.zone('4f5dff07', 2)), { short: '4f5dff07', kind: 'zone', index: 2 });
  assert.deepEqual(parseVaillantDeviceId(vaillantDeviceId.dhw('4f5dff07', 255)), { short: '4f5dff07', kind: 'dhw', index: 255 });
  for (const other of ['givenergy_sa2114g047', 'vaillant_', 'vaillant_4f5dff07_zone_x', 'vaillant_4f5dff07_pool_1', 'rule_heat_pump']) assert.equal(parseVaillantDeviceId(other), undefined, other);
});
