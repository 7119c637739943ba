// The GPIO backend on the pigpiod simulator over TCP: the relay's levels and release, the servo's
// pulse widths from the calibration table, moves that approach from below (backlash), pigpio's
// own errors, and the client's reconnect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PigpiodSimulator } from '../../../src/simulators/pigpiod.js';
import { GpioActuators, PigpiodPins, positionFor, powerAt, pulseFor } from '../../../src/adapters/water-heater/actuators.js';
import { PigpioError, PIGPIO } from '../../../src/adapters/water-heater/pigpiod-client.js';
import { waterHeaterOptions } from '../../../src/adapters/water-heater/options.js';
import { eventually } from '../../helpers/mqtt-client.js';

const options = (extra: Record<string, unknown> = {}) =>
  waterHeaterOptions.parse({ pigpiod: { host: '127.0.0.1' }, relay: { gpio: 17 }, servo: { gpio: 21, release_after_ms: 0 }, grid: 'grid', max_power_w: 3000, ...extra });

async function connected(sim: PigpiodSimulator, extra: Record<string, unknown> = {}) {
  const port = await sim.listen();
  const pins = new PigpiodPins({ host: '127.0.0.1', port, backoff: { initialMs: 50, maxMs: 200 } });
  const actuators = new GpioActuators(pins, options(extra));
  const up = once(actuators, 'connected');
  await actuators.start();
  await up;
  return { pins, actuators };
}

test('servo geometry: a calibration table maps power to position and back; reverse flips the pulse', () => {
  const servo = options({ servo: { gpio: 21, calibration: [{ position: 10, power_w: 0 }, { position: 50, power_w: 1500 }, { position: 90, power_w: 3000 }] } }).servo!;
  assert.equal(positionFor(0, servo, 3000), 0);
  assert.equal(positionFor(750, servo, 3000), 0.3, 'half way up the 10–50 % segment');
  assert.equal(positionFor(3000, servo, 3000), 0.9);
  assert.equal(positionFor(5000, servo, 3000), 0.9, 'never past the last point');
  assert.equal(powerAt(0.3, servo, 3000), 750);
  assert.equal(powerAt(0.05, servo, 3000), 0, 'the dead zone gives nothing');
  assert.equal(pulseFor(0.25, servo), 1000);
  assert.equal(pulseFor(0.25, { ...servo, reverse: true }), 2000);
  assert.equal(positionFor(1500, options().servo!, 3000), 0.5, 'a straight line without a table');
});

test('relay: active high, active low, and off as a released pin; the servo approaches from below', { timeout: 15_000 }, async () => {
  const sim = new PigpiodSimulator();
  const { actuators } = await connected(sim);
  try {
    await actuators.setRelay(true);
    assert.deepEqual([sim.pin(17).driven, sim.pin(17).level], [true, 1]);
    await actuators.setRelay(false);
    assert.deepEqual([sim.pin(17).driven, sim.pin(17).level], [true, 0]);

    await actuators.setPower(1500); // up from unknown: from below (3 % backlash), then the position
    assert.equal(sim.pin(21).servoUs, 1500);
    await actuators.setPower(3000); // up: straight there
    const mark = sim.history.length;
    await actuators.setPower(750); // down: past it, then up to it
    const moves = sim.history.slice(mark).filter((h) => h.gpio === 21 && h.what === 'servo').map((h) => h.value);
    assert.deepEqual(moves, [940, 1000], 'down to 3 % below 25 %, then up to 25 %');
  } finally {
    await actuators.close();
    await sim.close();
  }

  const low = new PigpiodSimulator();
  const released = await connected(low, { relay: { gpio: 17, active_low: true, off_mode: 'released' } });
  try {
    await released.actuators.setRelay(true);
    assert.deepEqual([low.pin(17).driven, low.pin(17).level], [true, 0], 'active low: on is a low pin');
    await released.actuators.setRelay(false);
    assert.equal(low.pin(17).driven, false, 'off: the pin released (an input, high impedance)');
  } finally {
    await released.actuators.close();
    await low.close();
  }
});

test("pigpiod's errors reach the caller with pigpio's name; a dropped daemon is reconnected", { timeout: 15_000 }, async () => {
  const sim = new PigpiodSimulator();
  const { pins, actuators } = await connected(sim);
  try {
    await assert.rejects(pins.servo(21, 3000), (error: unknown) => error instanceof PigpioError && error.command === PIGPIO.SERVO && /PI_BAD_PULSEWIDTH \(-7\)/.test(error.message));
    // Requests are pipelined: three at once come back in order.
    const results = await Promise.all([pins.write(17, 1), pins.servo(21, 1200), pins.write(17, 0)]);
    assert.deepEqual(results, [0, 0, 0]);
    assert.equal(sim.pin(21).servoUs, 1200);

    const lost = once(actuators, 'disconnected');
    sim.dropClients();
    await lost;
    await assert.rejects(pins.write(17, 1), /not connected to pigpiod/);
    await once(actuators, 'connected');
    await pins.write(17, 1);
    assert.equal(sim.pin(17).level, 1);
    // safeNow writes at once: relay off and the servo at the regulator's 0.
    actuators.safeNow();
    await eventually(() => sim.pin(17).level === 0 && sim.pin(21).servoUs === 500, 2000, 'safe');
  } finally {
    await actuators.close();
    await sim.close();
  }
});
