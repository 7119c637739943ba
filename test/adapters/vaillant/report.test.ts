// Every fixture parses into the right values (spot checks per fixture).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseReport, normalSetpoint } from '../../../src/adapters/vaillant/report.js';

const load = (path: string) => JSON.parse(readFileSync(`test/fixtures/vaillant/${path}`, 'utf8')) as unknown;

test('current_power: system, zone, hot water', () => {
  const r = parseReport('4f5d', load('current_power/4f5dff076e0dd0245aa0993a3d6f0e38754dd926/system.json'));
  assert.deepEqual([r.controller, r.outdoorTemperature, r.waterPressure, r.energyManagerState, r.flowTemperature], ['VRC720', 8.019531, 1.3, 'HEATING', undefined]);
  assert.equal(r.zones.length, 1);
  const z = r.zones[0]!;
  assert.deepEqual([z.index, z.name, z.roomTemperature, z.humidity, z.desiredSetpoint, z.heatingMode, z.specialFunction, z.quickVetoEnd, z.setBackTemperature], [0, 'Zone 1', 23.2875, 42, 20, 'TIME_CONTROLLED', 'NONE', undefined, 20]);
  assert.deepEqual(r.hotWater, [{ index: 255, temperature: 43, setpoint: 48, mode: 'TIME_CONTROLLED', specialFunction: 'REGULAR', minSetpoint: 35, maxSetpoint: 70 }]);
});

test('quick_veto_historical: an active veto and its end', () => {
  const r = parseReport('91b3', load('quick_veto_historical/91b3ac21d0e3060c99d117422bede91c3fe1cb51/system.json'));
  const z = r.zones[0]!;
  assert.deepEqual([z.specialFunction, z.desiredSetpoint, z.roomTemperature, z.heatingState, z.quickVetoEnd?.toISOString(), z.setBackTemperature], ['QUICK_VETO', 20.5, 20.35, 'HEATING_UP', '2023-04-24T12:35:00.000Z', 15.5]);
  assert.deepEqual([r.hotWater[0]!.temperature, r.hotWater[0]!.setpoint], [45.5, 49]);
});

test('two_systems: zones without room sensors stay unknown, never 0; a tank without a temperature too', () => {
  const a = parseReport('e763', load('two_systems/e763593de7370e8d6f90fea50daacd9883e2e532/system.json'));
  assert.deepEqual(a.zones.map((z) => z.name), ['Altbau', 'Neubau Hei', 'Neub Fussb']);
  assert.ok(a.zones.every((z) => z.roomTemperature === undefined));
  assert.equal(a.hotWater[0]!.setpoint, 48);
  const b = parseReport('eed6', load('two_systems/eed6a6500c47dc8f433846e845bb662e13fe469e/system.json'));
  assert.deepEqual(b.zones.map((z) => z.name), ['Hk', 'Fbh']);
  assert.equal(b.hotWater[0]!.temperature, undefined);
  assert.equal(b.hotWater[0]!.setpoint, 45);
});

test('no_system: zones on holiday, no hot water at all', () => {
  const r = parseReport('1835', load('no_system/1835c08766437e41a9c69bdf454e0ec8bfb0e82f/system.json'));
  assert.equal(r.zones.length, 2);
  assert.ok(r.zones.every((z) => z.specialFunction === 'HOLIDAY' && z.heatingMode === 'MANUAL' && z.desiredSetpoint === 15));
  assert.deepEqual(r.hotWater, []);
  assert.equal(typeof r.flowTemperature, 'number');
});

test('inactive_zone: an inactive zone is left out', () => {
  const r = parseReport('3f74', load('inactive_zone/3f745bfcd23f0d4f02fd119df1a6facf6944a4e4/system.json'));
  assert.deepEqual(r.zones, []);
  assert.deepEqual([r.hotWater[0]!.temperature, r.hotWater[0]!.setpoint, r.hotWater[0]!.mode], [50.5, 53, 'TIME_CONTROLLED']);
});

test('vrc700_flexotherm: the other key names and a zone numbered from 1', () => {
  const r = parseReport('4d63', load('vrc700_flexotherm/4d6354e40143a24b8caa0666a79f705b3df9e59e/system.json'));
  assert.equal(r.controller, 'VRC700');
  assert.deepEqual(r.zones.map((z) => [z.index, z.heatingMode]), [[1, 'AUTO']]);
  assert.deepEqual([r.hotWater[0]!.temperature, r.hotWater[0]!.setpoint, r.hotWater[0]!.mode, r.hotWater[0]!.specialFunction], [45, 47, 'AUTO', 'NONE']);
});

test('items are joined by index, not by position; garbage is no crash', () => {
  const report = {
    state: { zones: [{ index: 1, currentRoomTemperature: 19 }, { index: 0, currentRoomTemperature: 21 }] },
    configuration: { zones: [{ index: 0, general: { name: 'Living' }, heating: { operationModeHeating: 'OFF' } }, { index: 1, general: { name: 'Bath' }, heating: { operationModeHeating: 'MANUAL' } }] },
  };
  const r = parseReport('x', report);
  assert.deepEqual(r.zones.map((z) => [z.name, z.roomTemperature, z.heatingMode]), [['Bath', 19, 'MANUAL'], ['Living', 21, 'OFF']]);
  for (const junk of [null, 'x', 42, [], { state: 'no' }, { state: { zones: [null, 1, { index: 'a' }] } }]) assert.doesNotThrow(() => parseReport('j', junk));
});

test('the normal setpoint: desired, or in an eco period (desired 0) the time program', () => {
  const r = parseReport('4f5d', load('current_power/4f5dff076e0dd0245aa0993a3d6f0e38754dd926/system.json'));
  const zone = { ...r.zones[0]!, desiredSetpoint: 0 };
  assert.equal(normalSetpoint(r.zones[0]!, new Date('2026-11-23T10:00:00')), 20);
  assert.equal(normalSetpoint(zone, new Date('2026-11-23T10:00:00')), 22, 'Monday 10:00 is in the 04:00–22:00 slot at 22 °C');
});
