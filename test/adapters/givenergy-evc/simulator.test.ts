// The GivEVC simulator on its own, through modbus-serial's client (not our code): the register map
// of research/givenergy.md §3, a car that draws what it is allowed and counts on the clock, the
// charger's answers to writes, and a port that answers nothing while local control is off.
import { test } from 'node:test';
import { randomBytes, randomInt } from 'node:crypto';
import { connect } from 'node:net';
import assert from 'node:assert/strict';
import modbusSerial from 'modbus-serial';
import { GivEvcSimulator } from '../../../src/simulators/givevc.js';
import { SimulatedClock } from '../../../src/core/clock.js';
import { HR, decodeSerial, u32 } from '../../../src/adapters/givenergy-evc/registers.js';

const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

async function client(port: number, timeoutMs = 1000): Promise<ModbusRTU> {
  const c = new ModbusRTU();
  await c.connectTCP('127.0.0.1', { port });
  c.setID(0);
  c.setTimeout(timeoutMs);
  return c;
}
const close = (c: ModbusRTU) => new Promise<void>((resolve) => c.close(() => resolve()));

async function readAll(c: ModbusRTU): Promise<number[]> {
  return [...(await c.readHoldingRegisters(0, 60)).data, ...(await c.readHoldingRegisters(60, 55)).data];
}

test('a car plugged in with plug and go draws limit × phases × 230 V, ramping, and the session and meter count on the clock', async () => {
  const clock = new SimulatedClock(Date.UTC(2026, 11, 3, 18, 0, 0));
  const sim = new GivEvcSimulator({ clock, rampAPerS: 4, meterKwh: 6500 });
  const port = await sim.listen();
  const c = await client(port);
  try {
    let r = await readAll(c);
    assert.equal(decodeSerial(r), 'WF2306G123');
    assert.deepEqual([r[HR.state], r[HR.cable], r[HR.evseMin], r[HR.evseMax], r[HR.chargeLimit], r[HR.plugAndGo]], [1, 0, 6, 32, 320, 0]);
    assert.equal(u32(r, HR.meterEnergy), 65_000, '6500 kWh in 0.1 kWh: above 16 bits, the high word at HR28');
    sim.plugIn();
    clock.advance(2000);
    r = await readAll(c);
    assert.equal(r[HR.state], 4, 'charging');
    assert.equal(r[HR.currentL1], 80, '8 A after 2 s at 4 A/s');
    clock.advance(10_000);
    r = await readAll(c);
    assert.deepEqual([r[HR.currentL1], r[HR.currentL2], r[HR.currentL3]], [320, 320, 320]);
    assert.equal(u32(r, HR.activePower), 22_080);
    assert.deepEqual([r[HR.voltageL1], r[HR.voltageL2], r[HR.voltageL3]], [2300, 2300, 2300]);
    clock.advance(3600_000);
    r = await readAll(c);
    assert.equal(r[HR.sessionEnergy], 221, 'about 22.1 kWh in 0.1 kWh after an hour at 22 kW');
    assert.equal(r[HR.sessionDuration], 3612);
    assert.equal(u32(r, HR.meterEnergy), 65_221);
    assert.equal(r[HR.controlRead], 1);

    // The limit: written at 91 in 0.1 A, reported at 36; the car ramps down to it.
    await c.writeRegisters(HR.chargeLimitWrite, [100]);
    clock.advance(10_000);
    r = await readAll(c);
    assert.deepEqual([r[HR.chargeLimit], r[HR.currentL1]], [100, 100]);
    // Outside the EVSE's range: exception 3, nothing changed.
    await assert.rejects(c.writeRegisters(HR.chargeLimitWrite, [50]), /Modbus exception 3/);
    await assert.rejects(c.writeRegisters(HR.chargeLimitWrite, [330]), /Modbus exception 3/);
    await assert.rejects(c.writeRegisters(HR.state, [4]), /Modbus exception 2/, 'a read-only register');
    assert.equal((await c.readHoldingRegisters(HR.chargeLimit, 1)).data[0], 100);

    // Stop at 95, reported at 94; Start again opens a new session.
    await c.writeRegisters(HR.controlWrite, [2]);
    clock.advance(1000);
    r = await readAll(c);
    assert.deepEqual([r[HR.controlRead], r[HR.state], r[HR.currentL1]], [2, 6, 0]);
    await c.writeRegister(HR.controlWrite, 1);
    clock.advance(60_000);
    r = await readAll(c);
    assert.deepEqual([r[HR.controlRead], r[HR.state], r[HR.sessionDuration]], [1, 4, 60]);
    sim.unplug();
    r = await readAll(c);
    assert.deepEqual([r[HR.state], r[HR.cable], r[HR.controlRead], r[HR.currentL1]], [1, 0, 0, 0]);

    // Plug and go off: plugging in waits for Start.
    await c.writeRegisters(HR.plugAndGo, [1]);
    sim.plugIn();
    clock.advance(5000);
    r = await readAll(c);
    assert.deepEqual([r[HR.state], r[HR.currentL1], r[HR.plugAndGo]], [2, 0, 1]);

    // The clock: all six in one FC16, then read back; 31 February refused.
    await c.writeRegisters(HR.clock, [2027, 1, 2, 3, 4, 5]);
    assert.deepEqual((await c.readHoldingRegisters(HR.clock, 6)).data, [2027, 1, 2, 3, 4, 5]);
    await assert.rejects(c.writeRegisters(HR.clock + 1, [2]).then(() => c.writeRegisters(HR.clock + 2, [31])), /Modbus exception 3/);
    assert.deepEqual(sim.writes.filter((w) => !w.exception).map((w) => w.address), [91, 95, 95, 93, 97, 98]);
  } finally {
    await close(c);
    await sim.close();
  }
});

test('local control disabled: the connection is accepted and no request is ever answered; dropped connections are cut', async () => {
  const sim = new GivEvcSimulator({ localControl: false });
  const port = await sim.listen();
  const c = await client(port, 300);
  try {
    await assert.rejects(c.readHoldingRegisters(0, 60), (err: { errno?: string }) => err.errno === 'ETIMEDOUT');
    assert.equal(sim.requests, 1);
    sim.localControl = true;
    assert.equal((await c.readHoldingRegisters(0, 1)).data[0], 1);
    sim.dropConnections();
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(c.readHoldingRegisters(0, 1));
  } finally {
    if (c.isOpen) await close(c);
    await sim.close();
  }
});

test('malformed frames do not crash the simulator, and a good request is answered after them', async () => {
  const sim = new GivEvcSimulator();
  const port = await sim.listen();
  try {
    for (let i = 0; i < 200; i++) {
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      const header = Buffer.alloc(7);
      header.writeUInt16BE(i, 0);
      header.writeUInt16BE(randomInt(0, 300), 4);
      socket.write(Buffer.concat([i % 2 ? header : Buffer.alloc(0), randomBytes(randomInt(0, 300))]));
      socket.destroy();
    }
    const c = await client(port);
    assert.equal(decodeSerial([...(await c.readHoldingRegisters(0, 60)).data, ...(await c.readHoldingRegisters(60, 55)).data]), 'WF2306G123');
    await assert.rejects(c.readHoldingRegisters(100, 20), /Modbus exception 2/, 'past the map');
    await close(c);
  } finally {
    await sim.close();
  }
});

test('the serial decoder takes printable serials only and never throws on random registers', () => {
  for (let i = 0; i < 2000; i++) {
    const r = Array.from({ length: 115 }, () => (randomInt(0, 4) === 0 ? 0 : randomInt(0, 2) ? randomInt(0x30, 0x5b) : randomInt(0, 65_536)));
    const serial = decodeSerial(r);
    assert.ok(serial === null || /^[A-Za-z0-9_-]{4,31}$/.test(serial), String(serial));
  }
  const r = new Array<number>(115).fill(0);
  [...'SA12'].forEach((ch, i) => (r[HR.serialStart + i * 2] = ch.charCodeAt(0)));
  assert.equal(decodeSerial(r), 'SA12', 'zeros between characters are skipped');
  assert.equal(decodeSerial(new Array<number>(115).fill(0)), null, 'no serial');
});
