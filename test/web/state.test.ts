// What the page's flow adds up from the devices (several inverters, families with other signs),
// and how the rules' timelines stay within a day and a size limit, across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { Device, type DeviceHost } from '../../src/core/device.js';
import type { Bridge } from '../../src/core/bridge.js';
import { flowOf, entityIdOf } from '../../src/web/state.js';
import { MAX_CHANGES, TIMELINE_FILE, Timelines } from '../../src/web/timeline.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { Store } from '../../src/core/store.js';
import { tempDir } from '../helpers/app.js';

const host: DeviceHost = { entityChanged() {}, deviceChanged() {}, availabilityChanged() {}, removeDevice: async () => undefined };
const power = { deviceClass: 'power', unit: 'W', stateClass: 'measurement' } as const;

function device(id: string, owner: string, values: Record<string, number>): Device {
  const d = new Device({ id, name: id }, owner, host);
  for (const [key, value] of Object.entries(values)) d.sensor({ key, name: key, ...(key.includes('soc') ? { deviceClass: 'battery', unit: '%' } : power) }).update(value);
  return d;
}

function bridgeOf(devices: Device[]): Bridge {
  return { allDevices: () => devices, entity: () => undefined } as unknown as Bridge;
}

test('the flow adds up two GivEnergy inverters (+ export, + discharge) and a Victron GX (+ import, + charge)', () => {
  const flow = flowOf(bridgeOf([
    // GivEnergy: explicit import/export and charge/discharge entities.
    device('givenergy_a', 'givenergy/a', { pv_power: 3000, grid_power: 500, import_power: 0, export_power: 500, battery_power: -1000, charge_power: 1000, discharge_power: 0, load_power: 1500, soc: 40 }),
    device('givenergy_b', 'givenergy/b', { pv_power: 1000, grid_power: -200, import_power: 200, export_power: 0, battery_power: 300, charge_power: 0, discharge_power: 300, load_power: 1500, soc: 60 }),
    // Victron three-phase: its totals, a battery charging at 400 W, PV on both sides.
    device('victron_gx', 'victron/gx', { grid_power: 100, grid_power_l1: 30, battery_power: 400, pv_dc_power: 700, pv_ac_power: 200, consumption_power: 600, battery_soc: 80 }),
    // A battery module and a water heater are not sources; the heater is a steered appliance.
    device('givenergy_a_battery_1', 'givenergy/a', { soc: 40, power: -500 }),
    device('water_heater_tank', 'water_heater/tank', { heater_power: 1800 }),
  ]));
  assert.equal(flow.sources, 3);
  assert.equal(flow.pv, 3000 + 1000 + 900);
  assert.equal(flow.grid, -500 + 200 + 100, '+ import');
  assert.equal(flow.battery, -1000 + 300 - 400, '+ discharge');
  assert.equal(flow.load, 1500 + 1500 + 600);
  assert.equal(flow.soc, 60, 'the mean of the three');
  assert.deepEqual(flow.appliances, [{ id: 'water_heater_tank', name: 'water_heater_tank', drawn: 1800 }]);
  assert.equal(flow.surplusSource, null, 'no automation: no surplus source');
});

test('HA entity ids are those discovery gives (default_entity_id)', () => {
  assert.equal(entityIdOf('givenergy_SA2114G047', { component: 'sensor', key: 'pv_power', name: 'PV' }), 'sensor.givenergy_sa2114g047_pv_power');
  assert.equal(entityIdOf('bridge', { component: 'select', key: 'log_level', name: 'Log level', options: ['info'] }), 'select.energy2mqtt_log_level');
});

test('a timeline keeps 24 h and at most MAX_CHANGES changes, and survives a restart', async () => {
  const clock = new SimulatedClock(Date.parse('2026-06-21T00:00:00Z'));
  const dir = tempDir();
  const store = new Store(dir);
  store.open();
  const timelines = new Timelines(store, clock);
  await timelines.load();
  const seen = (state: string) => ({ state, reason: `${state}: ${'x'.repeat(400)}`, dryRun: false, surplusW: 1234.4, drawnW: state === 'on' ? 1200 : 0 });
  // A rule that flaps every 10 s for 30 h.
  for (let i = 0; i < 30 * 360; i++) {
    clock.advance(10_000);
    timelines.record('pump', seen(i % 2 ? 'on' : 'off'), true);
  }
  const kept = timelines.get('pump');
  assert.equal(kept.changes.length, MAX_CHANGES);
  assert.ok(kept.changes[0]!.reason.length <= 250, 'reasons are cut');
  assert.equal(kept.samples.length, 24 * 60, 'a sample a minute for the day');
  assert.ok(kept.samples[0]![0] >= clock.now() - 24 * 3600_000, 'nothing older than 24 h');
  assert.equal(kept.changes.at(-1)!.surplus, 1234);
  await timelines.stop();
  const size = statSync(store.path(TIMELINE_FILE)).size;
  assert.ok(size < 500_000, `the file stays small (${size} bytes)`);
  const again = new Timelines(store, clock);
  await again.load();
  assert.deepEqual(again.get('pump'), JSON.parse(readFileSync(store.path(TIMELINE_FILE), 'utf8')).pump);
  await again.stop();
});
