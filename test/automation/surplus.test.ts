import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock } from '../../src/core/clock.js';
import { Measurement } from '../../src/measurements/measurement.js';
import { computeSurplus } from '../../src/automation/surplus.js';

function sources() {
  const clock = new SimulatedClock();
  const grid = new Measurement('grid', 'grid', 60, clock);
  const soc = new Measurement('soc', 'soc', 60, clock);
  const battery = new Measurement('battery', 'battery', 60, clock);
  return { clock, grid, soc, battery };
}

test('surplus: export minus the residual offset, either sign convention', () => {
  const { grid } = sources();
  grid.set(-1500);
  assert.equal(computeSurplus({ grid, gridPositiveIsImport: true, residualW: 0, batteryPowerPositiveIsCharge: true }).ok && true, true);
  const s = computeSurplus({ grid, gridPositiveIsImport: true, residualW: 200, batteryPowerPositiveIsCharge: true });
  assert.ok(s.ok);
  assert.equal(s.watts, 1300, 'keeps 200 W of export');
  const allowImport = computeSurplus({ grid, gridPositiveIsImport: true, residualW: -300, batteryPowerPositiveIsCharge: true });
  assert.ok(allowImport.ok);
  assert.equal(allowImport.watts, 1800, 'allows 300 W of import');
  const flipped = computeSurplus({ grid, gridPositiveIsImport: false, residualW: 0, batteryPowerPositiveIsCharge: true });
  assert.ok(flipped.ok);
  assert.equal(flipped.watts, -1500, 'positive = export convention: -1500 means import');
});

test('battery priority: below the SoC the battery keeps its charging power, above it the loads get it', () => {
  const { grid, soc, battery } = sources();
  grid.set(-200);
  battery.set(2000); // charging at 2 kW
  const settings = { grid, gridPositiveIsImport: true, residualW: 0, batterySoc: soc, batteryPower: battery, batteryPowerPositiveIsCharge: true, batteryPrioritySoc: 80 };
  soc.set(60);
  const low = computeSurplus(settings);
  assert.ok(low.ok);
  assert.equal(low.watts, 200);
  assert.match(low.explain, /battery has priority below 80 %, at 60 %/);
  soc.set(85);
  const high = computeSurplus(settings);
  assert.ok(high.ok);
  assert.equal(high.watts, 2200);
  assert.match(high.explain, /with 2000 W the battery would give up/);
  battery.set(-1000); // discharging: nothing to take
  const discharging = computeSurplus(settings);
  assert.ok(discharging.ok);
  assert.equal(discharging.watts, 200);
});

test('a stale grid source means no surplus, with the reason', () => {
  const { clock, grid } = sources();
  grid.set(-1000);
  clock.advance(61_000);
  const s = computeSurplus({ grid, gridPositiveIsImport: true, residualW: 0, batteryPowerPositiveIsCharge: true });
  assert.deepEqual(s, { ok: false, why: "no fresh value from source 'grid' for 61 s (limit 60 s)" });
});
