// A device with one entity of every command component, recording what its handlers receive.
import type { DeviceRegistry } from '../../src/adapters/adapter.js';
import type { Device } from '../../src/core/device.js';

export interface TestDevice {
  device: Device;
  calls: Array<{ key: string; value: unknown; source: string }>;
}

export function declareTestDevice(bridge: Pick<DeviceRegistry, 'device'>, id = 'test_device', owner = 'test'): TestDevice {
  const calls: TestDevice['calls'] = [];
  const record = (key: string) => (value: unknown, source: string) => {
    calls.push({ key, value, source });
    return value as never;
  };
  const device = bridge.device({ id, name: 'Test device', manufacturer: 'energy2mqtt', model: 'Test', serialNumber: 'T1' }, owner);
  device.sensor({ key: 'power', name: 'Power', deviceClass: 'power', unit: 'W', stateClass: 'measurement', deadband: 10 }).update(0);
  device.sensor({ key: 'energy_total', name: 'Energy total', deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing' }).update(12.5);
  device.binarySensor({ key: 'fault', name: 'Fault', deviceClass: 'problem' }).update(false);
  device.switch({ key: 'eco', name: 'Eco mode', command: record('eco') }).update(false);
  device.number({ key: 'target_soc', name: 'Target SoC', min: 4, max: 100, step: 1, unit: '%', deviceClass: 'battery', category: 'config', command: record('target_soc') }).update(100);
  device.select({ key: 'mode', name: 'Mode', options: ['Eco', 'Timed Demand', 'Timed Export'], command: record('mode') }).update('Eco');
  device.button({ key: 'sync_clock', name: 'Sync clock', command: record('sync_clock') });
  device.text({ key: 'label', name: 'Label', max: 20, pattern: '[A-Za-z0-9 ]*', command: record('label') }).update('home');
  device.time({ key: 'slot_start', name: 'Charge slot start', command: record('slot_start') }).update('00:30:00');
  return { device, calls };
}
