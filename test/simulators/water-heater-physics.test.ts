// The physics behind the water heater's pins: servo speed and backlash, the regulator, the tank's
// thermostat, the house's energy balance with and without a zero-export battery, and the days.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  WaterHeaterPhysics,
  generatedDay,
  regulatorFraction,
  traceDay,
  type HouseDay,
  type WaterHeaterTotals,
} from '../../src/simulators/water-heater-physics.js';

const TRACES = 'test/fixtures/traces';

function steadyDay(pvW: number, loadW: number): HouseDay {
  return { durationS: 86_400, pvW: () => pvW, loadW: () => loadW, describe: `steady ${pvW} W PV, ${loadW} W load` };
}

/** The pulse that points a 500–2500 µs, 180° servo at `deg`. */
const pulseFor = (deg: number) => 500 + (deg / 180) * 2000;

function assertBalanced(totals: WaterHeaterTotals): void {
  const used = totals.loadWh + totals.heaterWh + totals.exportWh - totals.importWh + totals.batteryChargeWh - totals.batteryDischargeWh;
  assert.ok(Math.abs(totals.pvWh - used) < 1e-6 * Math.max(1, totals.pvWh), `pv ${totals.pvWh} Wh vs. load + heater + export − import + battery ${used} Wh`);
}

test('the servo turns at its speed and the knob follows it', () => {
  const physics = new WaterHeaterPhysics({ day: steadyDay(0, 300), servo: { speedDegPerS: 300, backlashDeg: 0 } });
  physics.setServoPulse(2500);
  physics.advance(300);
  assert.ok(Math.abs(physics.servoAngleDeg - 90) < 1e-9, `after 300 ms at 300°/s: ${physics.servoAngleDeg}°`);
  assert.ok(Math.abs(physics.knobPosition - 0.5) < 1e-9);
  physics.advance(400);
  assert.equal(physics.servoAngleDeg, 180, 'it stops at the pulse’s angle');
  assert.equal(physics.knobPosition, 1);
});

test('reversing the servo loses the backlash before the knob moves', () => {
  const physics = new WaterHeaterPhysics({ day: steadyDay(0, 300), servo: { backlashDeg: 4 } });
  physics.setServoPulse(pulseFor(90));
  physics.advance(1000);
  const knobUpDeg = physics.knobPosition * 180;
  assert.ok(Math.abs(knobUpDeg - 88) < 1e-9, `pushed up, the knob lags by half the play: ${knobUpDeg}°`);
  physics.setServoPulse(pulseFor(87));
  physics.advance(1000);
  assert.ok(Math.abs(physics.knobPosition * 180 - knobUpDeg) < 1e-9, 'a 3° reversal inside the play does not move the knob');
  physics.setServoPulse(pulseFor(80));
  physics.advance(1000);
  assert.ok(Math.abs(physics.knobPosition * 180 - (knobUpDeg - 6)) < 1e-9, `10° back moves the knob 10 − 4 = 6°: ${physics.knobPosition * 180}°`);
});

test('a released servo leaves the knob where it is', () => {
  const physics = new WaterHeaterPhysics({ day: steadyDay(0, 300) });
  physics.setServoPulse(pulseFor(120));
  physics.advance(200);
  physics.setServoPulse(0);
  const knob = physics.knobPosition;
  physics.advance(10_000);
  assert.equal(physics.knobPosition, knob);
  assert.ok(knob > 0.2 && knob < 120 / 180, 'it was stopped on its way');
});

test('the regulator gives nothing in its dead zone and rises monotonically to the element’s power', () => {
  assert.equal(regulatorFraction(0.05, 0.08), 0);
  assert.equal(regulatorFraction(0.08, 0.08), 0);
  assert.ok(Math.abs(regulatorFraction(1, 0.08) - 1) < 1e-12);
  assert.ok(Math.abs(regulatorFraction(0.54, 0.08) - 0.5) < 1e-12, 'half way through its travel it gives half');
  let previous = 0;
  for (let knob = 0; knob <= 1; knob += 0.01) {
    const fraction = regulatorFraction(knob, 0.08);
    assert.ok(fraction >= previous - 1e-12, `monotone at ${knob}`);
    previous = fraction;
  }
  const physics = new WaterHeaterPhysics({ day: steadyDay(0, 300), heaterW: 3000, regulator: { startKnob: 1 } });
  physics.setRelay(true);
  physics.advance(100);
  assert.equal(physics.heaterW, 3000);
  const overRated = new WaterHeaterPhysics({ day: steadyDay(0, 300), heaterW: 6000, regulator: { maxW: 4000, startKnob: 1 } });
  overRated.setRelay(true);
  overRated.advance(100);
  assert.equal(overRated.heaterW, 4000, 'the regulator’s rating caps the power');
});

test('the thermostat cuts the element at its setting and closes again below the hysteresis', () => {
  const tank = { litres: 10, startC: 59, thermostatC: 60, hysteresisC: 5, lossW: 500 };
  const physics = new WaterHeaterPhysics({ day: steadyDay(5000, 300), heaterW: 3000, regulator: { startKnob: 1 }, tank });
  physics.setRelay(true);
  physics.advance(100);
  assert.equal(physics.heaterW, 3000);
  let seconds = 0;
  while (!physics.thermostatOpen && seconds < 60) {
    physics.advance(1000);
    seconds += 1;
  }
  assert.ok(physics.thermostatOpen, 'the tank reached 60 °C within a minute');
  // 1 K of 10 kg of water at (3000 − 500) W: 41.86 kJ / 2.5 kW ≈ 17 s.
  assert.ok(seconds >= 16 && seconds <= 18, `cut out after ${seconds} s`);
  physics.advance(1000);
  assert.equal(physics.heaterW, 0, 'relay on, knob open, and the element draws nothing');
  const cutOutC = physics.tankC;
  physics.advance(300_000);
  assert.ok(physics.thermostatOpen, '300 s at 500 W is 3.6 K: still above 55 °C');
  assert.ok(physics.tankC < cutOutC);
  while (physics.thermostatOpen && seconds < 2000) {
    physics.advance(1000);
    seconds += 1;
  }
  physics.advance(100);
  assert.equal(physics.heaterW, 3000, 'the element heats again under 55 °C');
  assert.ok(physics.tankC <= 55.1 && physics.tankC > 54.5, `it closed at ${physics.tankC} °C`);
});

test('the tank warms by the heater’s energy: 4186 J per kg and kelvin, minus its loss', () => {
  const physics = new WaterHeaterPhysics({ day: steadyDay(5000, 300), heaterW: 3000, regulator: { startKnob: 1 }, tank: { litres: 100, startC: 20, lossW: 0 } });
  physics.setRelay(true);
  physics.advance(3_600_000);
  assert.ok(Math.abs(physics.totals.heaterWh - 3000) < 1e-6);
  assert.ok(Math.abs(physics.tankC - (20 + (3000 * 3600) / (100 * 4186))) < 1e-6, `${physics.tankC} °C`);
});

test('energy balance: pv = load + heater + export − import + battery, on a cloudy day with the heater moving', () => {
  for (const zeroExport of [undefined, { capacityWh: 5000, soc: 0.3, maxChargeW: 2500, maxDischargeW: 2500 }]) {
    const physics = new WaterHeaterPhysics({ day: generatedDay({ peakW: 5000, clouds: true, seed: 7 }), startS: 6 * 3600, zeroExport });
    for (let minute = 0; minute < 12 * 60; minute += 1) {
      physics.setRelay(minute % 90 < 60);
      physics.setServoPulse(minute % 7 === 0 ? 0 : 500 + ((minute * 37) % 2000));
      physics.advance(60_000);
    }
    const totals = physics.totals;
    assert.ok(totals.heaterWh > 1000 && totals.pvWh > 10_000, 'the heater and the sun both did something');
    assertBalanced(totals);
    assert.ok(Math.abs(totals.surplusToTankWh + totals.importForHeaterWh - totals.heaterWh) < 1e-6);
    if (zeroExport) {
      assert.equal(totals.exportWh, 0, 'zero export');
      assert.ok(totals.batteryChargeWh > 0 && totals.batteryDischargeWh > 0);
    } else {
      assert.ok(totals.exportWh > 0 && totals.importWh > 0);
    }
  }
});

test('zero export: a full battery makes the MPPT throttle, and the heater takes the throttled PV without import', () => {
  const physics = new WaterHeaterPhysics({
    day: steadyDay(4000, 500),
    heaterW: 3000,
    regulator: { startKnob: 1 },
    zeroExport: { capacityWh: 1000, soc: 0.99, maxChargeW: 3000, maxDischargeW: 3000 },
  });
  physics.advance(60_000);
  assert.equal(physics.batterySoc, 1);
  assert.equal(physics.pvAvailableW, 4000);
  assert.equal(physics.pvW, 500, 'with the battery full only the load takes PV');
  assert.equal(physics.gridW, 0);
  assert.equal(physics.batteryW, 0);
  const before = physics.totals;
  physics.setRelay(true);
  physics.advance(60_000);
  assert.equal(physics.heaterW, 3000);
  assert.equal(physics.pvW, 3500, 'the MPPT produces what the heater takes');
  assert.equal(physics.gridW, 0);
  const during = physics.totals;
  assert.ok(Math.abs(during.surplusToTankWh - before.surplusToTankWh - 50) < 1e-6, '3000 W for a minute, all from surplus');
  assert.equal(during.importForHeaterWh, 0);
  assert.equal(during.exportWh, 0);
  assertBalanced(during);
});

test('zero export: a heater larger than the throttled PV discharges the battery, then imports, and counts both against itself', () => {
  const physics = new WaterHeaterPhysics({
    day: steadyDay(2000, 500),
    heaterW: 3000,
    regulator: { startKnob: 1 },
    tank: { litres: 1000 },
    zeroExport: { capacityWh: 10_000, soc: 0.5, maxChargeW: 3000, maxDischargeW: 1000 },
  });
  physics.setRelay(true);
  physics.advance(3_600_000);
  // 3000 + 500 − 2000 = 1500 W short: 1000 W from the battery, 500 W from the grid.
  assert.equal(physics.batteryW, -1000);
  assert.equal(physics.gridW, 500);
  const totals = physics.totals;
  assert.ok(Math.abs(totals.importForHeaterWh - 1500) < 1e-6, `${totals.importForHeaterWh} Wh`);
  assert.ok(Math.abs(totals.displacedChargeWh - 1500) < 1e-6, 'without the heater the battery would have charged 1500 W');
  assert.ok(Math.abs(physics.batterySoc - 0.4) < 1e-9);
  assertBalanced(totals);
});

test('with a grid meter: the heater’s import is only what the surplus does not cover', () => {
  const physics = new WaterHeaterPhysics({ day: steadyDay(2000, 500), heaterW: 3000, regulator: { startKnob: 1 }, tank: { litres: 1000 } });
  physics.setRelay(true);
  physics.advance(3_600_000);
  assert.equal(physics.gridW, 1500);
  const totals = physics.totals;
  assert.ok(Math.abs(totals.importForHeaterWh - 1500) < 1e-6);
  assert.ok(Math.abs(totals.surplusToTankWh - 1500) < 1e-6);
  assert.equal(totals.relaySwitches, 1);
  physics.setRelay(false);
  physics.setRelay(false);
  assert.equal(physics.totals.relaySwitches, 2, 'only changes count');
});

test('a fixtures day: the PV and load energy over the day match the CSV', () => {
  const csv = readFileSync(`${TRACES}/composite_2022-03-19_pv-serf_load-emhass_10s.csv`, 'utf8');
  const rows = csv.trim().split('\n').slice(1).map((line) => line.split(','));
  const csvPvKWh = rows.reduce((sum, row) => sum + Number(row[2]), 0) * (10 / 3600 / 1000);
  const csvLoadKWh = rows.reduce((sum, row) => sum + Number(row[3]), 0) * (10 / 3600 / 1000);
  assert.ok(Math.abs(csvPvKWh - 35.58) < 0.005, `the CSV itself says ${csvPvKWh} kWh (PROVENANCE.md: 35.58)`);

  const day = traceDay(csv, 'SERF 2022-03-19, EMHASS load');
  assert.equal(day.durationS, 86_400);
  // On a row's time the day gives that row's values.
  const firstSun = rows.findIndex((row) => Number(row[2]) > 0);
  assert.equal(day.pvW(0), 0);
  assert.equal(day.pvW(firstSun * 10), Number(rows[firstSun]![2]));
  assert.equal(day.loadW(firstSun * 10), Number(rows[firstSun]![3]));
  const physics = new WaterHeaterPhysics({ day, stepMs: 10_000 });
  physics.advance(day.durationS * 1000);
  const totals = physics.totals;
  assert.ok(Math.abs(totals.pvAvailableWh / 1000 - csvPvKWh) < 0.001, `physics ${totals.pvAvailableWh / 1000} kWh vs. CSV ${csvPvKWh} kWh`);
  assert.ok(Math.abs(totals.loadWh / 1000 - csvLoadKWh) < 0.001, `physics ${totals.loadWh / 1000} kWh vs. CSV ${csvLoadKWh} kWh`);
  assertBalanced(totals);
});

test('a trace is interpolated between its rows and refuses what is not a trace', () => {
  const day = traceDay('time,grid_w,pv_w,load_w\n2022-03-19T07:00:00Z,0,100,100\n2022-03-19T07:00:10Z,0,300,200\n', 'two rows');
  assert.equal(day.durationS, 20);
  assert.equal(day.pvW(5), 200);
  assert.equal(day.loadW(2.5), 125);
  assert.equal(day.pvW(15), 300, 'the last row holds for its step');
  assert.throws(() => traceDay('time,pv\n2022-03-19T07:00:00Z,1\n', 'bad'), /time, pv_w and load_w/);
  assert.throws(() => traceDay('time,grid_w,pv_w,load_w\nyesterday,0,1,2\n2022-03-19T07:00:10Z,0,1,2\n', 'bad'), /row 2/);
});

test('a generated day is the same for the same seed, and clouds take energy away', () => {
  const integrate = (day: HouseDay) => {
    let pvWh = 0;
    for (let tS = 0; tS < day.durationS; tS += 60) pvWh += day.pvW(tS) / 60;
    return pvWh;
  };
  const sunny = generatedDay({ peakW: 4000 });
  const cloudy = generatedDay({ peakW: 4000, clouds: true, seed: 3 });
  assert.equal(sunny.pvW(13 * 3600), 4000, 'the peak at 13:00');
  assert.equal(sunny.pvW(3 * 3600), 0);
  assert.equal(cloudy.pvW(11 * 3600 + 17), generatedDay({ peakW: 4000, clouds: true, seed: 3 }).pvW(11 * 3600 + 17));
  assert.ok(integrate(cloudy) < 0.95 * integrate(sunny), `${integrate(cloudy)} Wh cloudy vs. ${integrate(sunny)} Wh sunny`);
  assert.notEqual(integrate(cloudy), integrate(generatedDay({ peakW: 4000, clouds: true, seed: 4 })));
  assert.match(cloudy.describe, /cloudy/);
  assert.ok(sunny.loadW(3 * 3600) >= 250);
});
