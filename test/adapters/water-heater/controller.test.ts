// The water heater's control law on hand-made houses: a grid meter that sees the heater's draw
// at once, a battery that covers what the sun does not, and a thermostat that can open.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultHeaterSettings, HeaterController, type HeaterCommand, type HeaterInputs, type HeaterSettings } from '../../../src/adapters/water-heater/controller.js';
import { evaluateGates, inWindow, validateWindow } from '../../../src/adapters/water-heater/gates.js';
import { generatedDay, WaterHeaterPhysics } from '../../../src/simulators/water-heater-physics.js';

const START = Date.UTC(2026, 5, 21, 10, 0, 0); // 12:00 in Berlin

function settings(overrides: Partial<HeaterSettings> = {}): HeaterSettings {
  return { ...defaultHeaterSettings(4000), minOnS: 30, minOffS: 60, ...overrides };
}

/** A house whose grid meter sees the heater's draw the next second; zero export hides the part
 *  of the sun nobody uses (the MPPT throttles) and lets the battery cover any shortfall. */
class House {
  surplusW = 0; // PV minus the other loads
  thermostatOpen = false;
  batterySoc = 100;
  now = START;
  heaterW = 0;
  constructor(
    readonly zeroExport = false,
    readonly maxPowerW = 4000,
  ) {}

  readings(extra: Partial<HeaterInputs> = {}): HeaterInputs {
    const balance = this.surplusW - this.heaterW;
    if (!this.zeroExport) return { now: this.now, gridW: -balance, batteryW: 0, batterySoc: this.batterySoc, ...extra };
    // Surplus beyond the heater is throttled away; a shortfall comes from the battery.
    return { now: this.now, gridW: 0, batteryW: Math.min(0, balance), batterySoc: this.batterySoc, forecastGapW: Math.max(0, balance), ...extra };
  }

  apply(command: HeaterCommand): void {
    this.heaterW = command.relay && !this.thermostatOpen ? command.level * this.maxPowerW : 0;
    this.now += 1000;
  }
}

function run(controller: HeaterController, house: House, seconds: number, extra: (house: House) => Partial<HeaterInputs> = () => ({})): HeaterCommand[] {
  const commands: HeaterCommand[] = [];
  for (let s = 0; s < seconds; s++) {
    const command = controller.step(house.readings(extra(house)));
    house.apply(command);
    commands.push(command);
  }
  return commands;
}

describe('water heater controller: export following', () => {
  it('converges to the export target within the deadband', () => {
    const house = new House();
    house.surplusW = 2300;
    const controller = new HeaterController(settings());
    const commands = run(controller, house, 120);
    const last = commands.at(-1)!;
    assert.equal(last.state, 'heating');
    assert.equal(last.relay, true);
    const exportW = house.surplusW - house.heaterW;
    assert.ok(Math.abs(exportW - 100) <= 50, `export ${exportW} W should be 100 ± 50 W`);
    // and it follows a drop in surplus down again
    house.surplusW = 1200;
    run(controller, house, 60);
    const after = house.surplusW - house.heaterW;
    assert.ok(Math.abs(after - 100) <= 50, `export ${after} W after the drop should be 100 ± 50 W`);
  });

  it('waits for the surplus to hold before switching on, and stays off below the minimum', () => {
    const house = new House();
    house.surplusW = 450; // 350 W above the target: below the 400 W minimum
    const controller = new HeaterController(settings());
    const off = run(controller, house, 30);
    assert.ok(off.every((c) => !c.relay && c.state === 'off'), 'off while the surplus is below the minimum');
    assert.match(off.at(-1)!.reason, /400 W minimum/);
    house.surplusW = 900;
    const on = run(controller, house, 15);
    const firstOn = on.findIndex((c) => c.relay);
    assert.equal(firstOn, 10, 'on after the 10 s on-delay');
    assert.equal(on[5]!.state, 'waiting');
  });

  it('never moves the level faster than maxStepPerS', () => {
    const house = new House();
    const controller = new HeaterController(settings({ maxStepPerS: 0.05 }));
    house.surplusW = 4500;
    const commands = run(controller, house, 60);
    house.surplusW = 600;
    commands.push(...run(controller, house, 60));
    let biggest = 0;
    for (let i = 1; i < commands.length; i++) {
      if (commands[i - 1]!.relay && commands[i]!.relay) biggest = Math.max(biggest, Math.abs(commands[i]!.level - commands[i - 1]!.level));
    }
    assert.ok(biggest <= 0.05 + 1e-9, `largest step ${biggest} exceeds 0.05 per second`);
    assert.ok(biggest > 0.04, 'the test must actually push against the limit');
    assert.ok(commands.every((c) => c.state !== 'tank_hot'), 'a saturated heater or a drop in surplus is no hot tank');
  });

  it('respects the minimum on and off times when the surplus comes and goes', () => {
    const house = new House();
    const controller = new HeaterController(settings({ onDelayS: 2, offDelayS: 2 }));
    const changes: Array<{ at: number; on: boolean }> = [];
    let relay = false;
    for (let s = 0; s < 600; s++) {
      house.surplusW = Math.floor(s / 15) % 2 === 0 ? 2000 : -500; // 15 s of sun, 15 s of kettle
      const command = controller.step(house.readings());
      house.apply(command);
      if (command.relay !== relay) changes.push({ at: s, on: (relay = command.relay) });
    }
    assert.ok(changes.length >= 4, `expected several switchings, saw ${changes.length}`);
    for (let i = 1; i < changes.length; i++) {
      const held = changes[i]!.at - changes[i - 1]!.at;
      const minimum = changes[i - 1]!.on ? 30 : 60;
      assert.ok(held >= minimum, `relay ${changes[i - 1]!.on ? 'on' : 'off'} for ${held} s, minimum ${minimum} s`);
    }
  });
});

describe('water heater controller: gates and stale data', () => {
  it('a stale grid reading switches off at once, inside the minimum on time', () => {
    const house = new House();
    house.surplusW = 2000;
    const controller = new HeaterController(settings({ minOnS: 600 }));
    run(controller, house, 30);
    const command = controller.step({ now: house.now });
    assert.deepEqual([command.relay, command.level, command.state, command.estimatedHeaterW], [false, 0, 'stale', 0]);
  });

  it('the daylight window gate uses the time zone', () => {
    const window = { from: '09:00', to: '18:00', timeZone: 'Europe/Berlin' };
    validateWindow(window);
    assert.throws(() => validateWindow({ ...window, timeZone: 'Mars/Olympus' }), /time zone/);
    assert.throws(() => validateWindow({ ...window, from: '9' }), /time of day/);
    assert.equal(inWindow(window, Date.UTC(2026, 5, 21, 6, 30)), false); // 08:30 CEST
    assert.equal(inWindow(window, Date.UTC(2026, 5, 21, 7, 30)), true); // 09:30 CEST
    assert.equal(inWindow(window, Date.UTC(2026, 0, 21, 7, 30)), false); // 08:30 CET
    assert.equal(inWindow({ from: '22:00', to: '06:00', timeZone: 'UTC' }, Date.UTC(2026, 0, 21, 23)), true);

    const house = new House();
    house.surplusW = 2000;
    house.now = Date.UTC(2026, 5, 21, 15, 50); // 17:50 CEST
    const controller = new HeaterController(settings({ gates: { window } }));
    const inside = run(controller, house, 30);
    assert.equal(inside.at(-1)!.relay, true);
    assert.equal(inside.at(-1)!.gates.window, true);
    house.now = Date.UTC(2026, 5, 21, 16, 0, 5); // 18:00:05 CEST
    const outside = controller.step(house.readings());
    assert.deepEqual([outside.relay, outside.level, outside.state, outside.gates.window], [false, 0, 'gated', false]);
    assert.match(outside.reason, /18:00 is outside the window 09:00–18:00 \(Europe\/Berlin\)/);
    assert.equal(outside.gates.soc, undefined, 'an unconfigured gate is undefined');
  });

  it('the SoC gate stops heating below its minimum and names the values', () => {
    const house = new House();
    house.surplusW = 2000;
    const controller = new HeaterController(settings({ gates: { minSoc: 95 } }));
    assert.equal(run(controller, house, 30).at(-1)!.relay, true);
    house.batterySoc = 95;
    const command = controller.step(house.readings());
    assert.deepEqual([command.relay, command.state, command.gates.soc], [false, 'gated', false]);
    assert.match(command.reason, /SoC 95 % is not above the minimum 95 %/);
    assert.equal(controller.step({ ...house.readings(), batterySoc: undefined }).gates.soc, false, 'an unknown SoC fails');
  });

  it('the grid import gate acts after its hold time, not on a transient', () => {
    const house = new House();
    house.surplusW = 2000;
    const controller = new HeaterController(settings({ gates: { maxGridImportW: 80 }, gateHoldS: 10 }));
    run(controller, house, 40);
    const transient = run(controller, house, 5, () => ({ gridW: 500 }));
    assert.ok(transient.every((c) => c.relay && c.gates.grid_import === true), 'a 5 s import does not gate');
    run(controller, house, 5);
    const sustained = run(controller, house, 12, () => ({ gridW: 500 }));
    const gatedAt = sustained.findIndex((c) => c.state === 'gated');
    assert.equal(gatedAt, 10, 'gated after 10 s of import');
    assert.equal(sustained[gatedAt]!.relay, false);
    assert.match(sustained[gatedAt]!.reason, /grid import 500 W exceeds the maximum 80 W for 10 s/);
  });

  it('the battery discharge gate stops heating after its hold time', () => {
    const house = new House();
    house.surplusW = 2000;
    const controller = new HeaterController(settings({ gates: { maxBatteryDischargeW: 100 }, gateHoldS: 3 }));
    run(controller, house, 40);
    const commands = run(controller, house, 5, () => ({ batteryW: -800 }));
    assert.deepEqual(commands.map((c) => c.state), ['heating', 'heating', 'heating', 'gated', 'gated']);
    assert.equal(commands[3]!.gates.battery_discharge, false);
    assert.match(commands[3]!.reason, /battery discharge 800 W exceeds the maximum 100 W/);
  });

  it('gates evaluate pure readings', () => {
    const verdicts = evaluateGates({ maxGridImportW: 80, maxBatteryDischargeW: 100 }, { now: START, gridW: -300, batteryW: 50 });
    assert.equal(verdicts.grid_import.pass, true);
    assert.equal(verdicts.battery_discharge.pass, true);
    assert.equal(evaluateGates({ maxGridImportW: 80 }, { now: START, gridW: 81 }).grid_import.pass, false);
  });
});

describe('water heater controller: zero export', () => {
  it('probes up while the battery holds, backs off at once on discharge and on import', () => {
    const house = new House(true);
    house.surplusW = 1500; // hidden: the MPPT throttles it away
    const controller = new HeaterController(settings({ zeroExport: true, onDelayS: 1, probe: { stepW: 100, everyS: 5, maxImportW: 100, maxDischargeW: 100 } }));
    const levels = run(controller, house, 240, () => ({ forecastGapW: undefined }));
    assert.ok(levels.slice(5).every((c) => c.relay && c.state === 'probing'), 'probing throughout');
    // Probing climbs by 100 W every 5 s, then saw-tooths just under the hidden 1500 W.
    const late = levels.slice(120).map((c) => c.level * 4000);
    assert.ok(Math.max(...late) <= 1500 + 100 + 1, `never more than one step beyond the hidden power: ${Math.max(...late)}`);
    assert.ok(Math.min(...late) >= 1000, `stays near the hidden power: ${Math.min(...late)}`);
    // A discharge beyond the limit is answered on the very next step by a drop of all of it.
    const before = controller.step(house.readings({ forecastGapW: undefined }));
    house.apply(before);
    const after = controller.step(house.readings({ forecastGapW: undefined, batteryW: -700 }));
    assert.ok(before.level * 4000 - after.level * 4000 >= 800 - 1, `dropped ${before.level * 4000 - after.level * 4000} W on 700 W discharge`);
    assert.match(after.reason, /backed off by 800 W/);
    house.apply(after);
    run(controller, house, 30, () => ({ forecastGapW: undefined }));
    const beforeImport = controller.step(house.readings({ forecastGapW: undefined }));
    house.apply(beforeImport);
    const onImport = controller.step(house.readings({ forecastGapW: undefined, gridW: 400 }));
    assert.ok(beforeImport.level - onImport.level >= 500 / 4000 - 1e-9, 'backs off on grid import too');
  });

  it('uses the forecast gap and the MPPT state as hints', () => {
    const house = new House(true);
    house.surplusW = 0;
    const controller = new HeaterController(settings({ zeroExport: true, onDelayS: 1 }));
    const noSun = run(controller, house, 20);
    assert.ok(noSun.every((c) => !c.relay), 'no forecast gap, no probing');
    house.surplusW = 2000;
    const throttlingOff = run(controller, house, 20, () => ({ forecastGapW: undefined, mpptThrottling: false }));
    assert.ok(throttlingOff.every((c) => !c.relay), 'an MPPT that says it does not throttle has nothing to give');
    const withGap = run(controller, house, 60);
    assert.ok(withGap.at(-1)!.relay);
    // With a gap the steps are bigger than probe.stepW (up to four of them).
    assert.ok(withGap.at(-1)!.level * 4000 > 1000, `the forecast gap speeds the climb: ${withGap.at(-1)!.level * 4000} W`);
  });
});

describe('water heater controller: thermostat cut-out', () => {
  for (const measured of [true, false]) {
    it(`holds the level without winding up while the tank is hot, and resumes when it cools (heater power ${measured ? 'measured' : 'inferred'})`, () => {
      const house = new House();
      house.surplusW = 1600;
      const controller = new HeaterController(settings());
      const extra = (h: House) => (measured ? { heaterW: h.heaterW } : {});
      run(controller, house, 60, extra);
      const heatingLevel = house.heaterW / 4000;
      assert.ok(Math.abs(house.surplusW - house.heaterW - 100) <= 50);

      house.thermostatOpen = true;
      const commands = run(controller, house, 300, extra);
      const hotAt = commands.findIndex((c) => c.state === 'tank_hot');
      assert.ok(hotAt >= 0 && hotAt < 60, `tank_hot detected within a minute (at ${hotAt} s)`);
      const held = commands.slice(hotAt);
      assert.ok(held.every((c) => c.state === 'tank_hot' && c.relay && c.estimatedHeaterW === 0), 'stays tank_hot, relay on, no estimated power');
      const levels = new Set(held.map((c) => c.level));
      assert.equal(levels.size, 1, `the level must not creep while the tank is hot: ${[...levels].join(', ')}`);
      assert.match(held[0]!.reason, /thermostat/);
      assert.ok(held[0]!.level <= heatingLevel + 0.05, `the level was held at ${held[0]!.level}, not wound up from ${heatingLevel}`);

      // The tank cools: the heater draws the held level; the loop takes over again.
      house.thermostatOpen = false;
      const resumed = run(controller, house, 60, extra);
      assert.equal(resumed.at(-1)!.state, 'heating');
      const exportW = house.surplusW - house.heaterW;
      assert.ok(Math.abs(exportW - 100) <= 50, `back at the target after cooling: export ${exportW} W`);
    });
  }

  it('sees a cut-out in zero export through the forecast gap, and resumes when the tank cools', () => {
    const house = new House(true);
    house.surplusW = 1500;
    const controller = new HeaterController(settings({ zeroExport: true, onDelayS: 1 }));
    run(controller, house, 180);
    const heatingLevel = house.heaterW / 4000;
    assert.ok(house.heaterW > 1000, `probing found ${house.heaterW} W of 1500 W`);
    house.thermostatOpen = true;
    const hot = run(controller, house, 300);
    const hotAt = hot.findIndex((c) => c.state === 'tank_hot');
    assert.ok(hotAt >= 0 && hotAt < 120, `tank_hot within two minutes (at ${hotAt} s)`);
    const levels = new Set(hot.slice(hotAt).map((c) => c.level));
    assert.equal(levels.size, 1, 'held while hot');
    assert.ok([...levels][0]! <= heatingLevel + 0.05, 'not wound up');
    house.thermostatOpen = false;
    const resumed = run(controller, house, 120);
    assert.equal(resumed.at(-1)!.state, 'probing');
    assert.ok(house.heaterW > 1000, `heating again at ${house.heaterW} W`);
  });

  it('re-checks a hot tank periodically', () => {
    const house = new House();
    house.surplusW = 3000;
    const controller = new HeaterController(settings({ cutOut: { detectS: 10, recheckEveryS: 120 } }));
    run(controller, house, 60);
    house.thermostatOpen = true;
    const commands = run(controller, house, 400);
    const states = commands.map((c) => c.state);
    const recheckStarts = states.filter((s, i) => i > 0 && states[i - 1] === 'tank_hot' && s !== 'tank_hot').length;
    assert.ok(recheckStarts >= 2, `expected re-checks every 120 s, saw ${recheckStarts}`);
    assert.ok(commands.every((c) => c.relay), 'the relay stays on through the re-checks');
  });
});

describe('water heater controller on the simulated house', () => {
  /** Steps the controller once a second against the physics; the knob goes where the level says
   *  (uncalibrated: the loop must cope with the regulator's curve and dead zone itself). */
  function drive(physics: WaterHeaterPhysics, controller: HeaterController, seconds: number, startEpochMs: number) {
    const trace: Array<{ command: HeaterCommand; gridW: number; batteryW: number; heaterW: number }> = [];
    for (let s = 0; s < seconds; s++) {
      const soc = physics.batterySoc;
      const inputs: HeaterInputs = { now: startEpochMs + physics.tS * 1000, gridW: physics.gridW, batteryW: physics.batteryW };
      if (!Number.isNaN(soc)) inputs.batterySoc = soc * 100;
      const command = controller.step(inputs);
      physics.setRelay(command.relay);
      physics.setServoPulse(500 + command.level * 2000);
      physics.advance(1000);
      trace.push({ command, gridW: physics.gridW, batteryW: physics.batteryW, heaterW: physics.heaterW });
    }
    return trace;
  }

  it('holds the export at its target on a sunny noon', () => {
    const day = generatedDay({ peakW: 3000, baseLoadW: 300 });
    const physics = new WaterHeaterPhysics({ day, startS: 11.5 * 3600, heaterW: 3000, tank: { litres: 300, startC: 30 } });
    const controller = new HeaterController(settings({ maxPowerW: 3000, minPowerW: 300 }));
    const trace = drive(physics, controller, 1200, Date.UTC(2026, 5, 21));
    const settled = trace.slice(300);
    const within = settled.filter((t) => Math.abs(-t.gridW - 100) <= 50).length / settled.length;
    assert.ok(within > 0.9, `export within 100 ± 50 W ${Math.round(within * 100)} % of the time`);
    assert.ok(settled.every((t) => t.heaterW > 1000), 'the heater takes the surplus');
    assert.ok(physics.totals.importForHeaterWh < 5, `import caused by the heater: ${physics.totals.importForHeaterWh} Wh`);
  });

  it('does not take a regulator at full power for a hot tank', () => {
    const day = generatedDay({ peakW: 4000, baseLoadW: 300 }); // 3.3 kW of surplus for a 3 kW element
    const physics = new WaterHeaterPhysics({ day, startS: 11.5 * 3600, heaterW: 3000, tank: { litres: 300, startC: 30 } });
    const controller = new HeaterController(settings({ maxPowerW: 3000, minPowerW: 300 }));
    const trace = drive(physics, controller, 1800, Date.UTC(2026, 5, 21));
    assert.ok(trace.every((t) => t.command.state !== 'tank_hot'), 'never tank_hot');
    const full = trace.slice(60).filter((t) => t.heaterW > 2900).length / (trace.length - 60);
    assert.ok(full > 0.95, `the element at full power ${Math.round(full * 100)} % of the time`);
  });

  it('sees the thermostat open and close on the simulated tank, without winding up', () => {
    const day = generatedDay({ peakW: 3000, baseLoadW: 300 });
    // A small, leaky tank just under its thermostat: it cuts out within minutes and cools fast.
    const physics = new WaterHeaterPhysics({ day, startS: 11.5 * 3600, heaterW: 3000, tank: { litres: 10, startC: 58, thermostatC: 60, hysteresisC: 3, lossW: 400 } });
    const controller = new HeaterController(settings({ maxPowerW: 3000, minPowerW: 300 }));
    const trace = drive(physics, controller, 1800, Date.UTC(2026, 5, 21));
    const hot = trace.filter((t) => t.command.state === 'tank_hot');
    assert.ok(hot.length > 60, `tank_hot for ${hot.length} s`);
    // A decision sees the second before it: tank_hot only on readings where the element drew nothing.
    assert.ok(trace.every((t, i) => i === 0 || t.command.state !== 'tank_hot' || trace[i - 1]!.heaterW === 0), 'tank_hot only while the element draws nothing');
    // Each stretch of tank_hot holds one level.
    for (let i = 1; i < trace.length; i++) {
      if (trace[i]!.command.state === 'tank_hot' && trace[i - 1]!.command.state === 'tank_hot') assert.equal(trace[i]!.command.level, trace[i - 1]!.command.level);
    }
    const cycles = trace.filter((t, i) => i > 0 && trace[i - 1]!.command.state === 'tank_hot' && t.command.state === 'heating').length;
    assert.ok(cycles >= 2, `heating resumed after the tank cooled ${cycles} times`);
    assert.ok(physics.totals.importForHeaterWh < 10, `import caused by the heater: ${physics.totals.importForHeaterWh} Wh`);
  });

  it('finds the power a zero-export system throttles away, without draining the battery', () => {
    const day = generatedDay({ peakW: 4000, baseLoadW: 300 });
    const physics = new WaterHeaterPhysics({
      day,
      startS: 11.5 * 3600,
      heaterW: 3000,
      tank: { litres: 300, startC: 30 },
      zeroExport: { capacityWh: 4800, soc: 1, maxChargeW: 2500, maxDischargeW: 2500 },
    });
    const controller = new HeaterController(settings({ maxPowerW: 3000, minPowerW: 300, zeroExport: true, gates: { minSoc: 95 } }));
    const trace = drive(physics, controller, 1800, Date.UTC(2026, 5, 21));
    const late = trace.slice(600);
    const meanHeaterW = late.reduce((sum, t) => sum + t.heaterW, 0) / late.length;
    const hiddenW = physics.pvAvailableW - physics.loadW;
    assert.ok(meanHeaterW > 0.8 * Math.min(3000, hiddenW), `heater ${Math.round(meanHeaterW)} W of ${Math.round(hiddenW)} W hidden`);
    assert.ok(physics.totals.importForHeaterWh < 0.02 * physics.totals.heaterWh, `discharge caused ${physics.totals.importForHeaterWh} Wh of ${physics.totals.heaterWh} Wh`);
    assert.ok(physics.batterySoc > 0.95, `battery kept above 95 %: ${physics.batterySoc}`);
  });
});
