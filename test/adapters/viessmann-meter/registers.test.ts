// The ALE3 and SDM630 maps, as pure functions, against the research's register tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALE3,
  ALE3_REGISTER_COUNT,
  Ale3Bank,
  SDM630,
  Sdm630Bank,
  encodeAle3,
  encodeSdm630,
  int16Units,
} from '../../../src/adapters/viessmann-meter/registers.js';
import { EXPECTED, IDENTITY, READING } from './ale3-fixture.js';

test('the ALE3 map holds the 52 registers of the datasheet table', () => {
  const regs = encodeAle3(READING, IDENTITY);
  assert.equal(regs.length, ALE3_REGISTER_COUNT);
  assert.equal(EXPECTED.length, 52);
  for (const [address, value, what] of EXPECTED) assert.equal(regs[address], value, `wire ${address}: ${what}`);
});

test('mqtt2vitocal\'s worked example: 1500 W spread evenly serves 50 (0.50 kW) per phase', () => {
  const regs = encodeAle3({ powerW: [500, 500, 500] });
  assert.deepEqual([regs[37], regs[42], regs[47], regs[50]], [50, 50, 50, 150]);
});

test('power is signed two\'s complement, clamped to int16 rather than wrapped', () => {
  assert.equal(int16Units(-10, 10), 0xffff);
  assert.equal(int16Units(327_670, 10), 32767);
  assert.equal(int16Units(400_000, 10), 32767, 'a huge surplus stays positive');
  assert.equal(int16Units(-400_000, 10), 0x8000);
  assert.equal(int16Units(Number.NaN, 10), 0);
  const regs = encodeAle3({ powerW: [400_000, -400_000, Number.POSITIVE_INFINITY] });
  assert.deepEqual([regs[37], regs[42], regs[47], regs[50]], [32767, 0x8000, 0, 0]);
});

test('energy counters are u32 in 0.01 kWh, high word first, never ahead of the energy', () => {
  const regs = encodeAle3({ powerW: [0, 0, 0], importEnergyWh: 19.99, exportEnergyWh: 42_949_672_960 + 10 });
  assert.deepEqual([regs[27], regs[28]], [0, 1], '19.99 Wh counts one 10 Wh step');
  assert.deepEqual([regs[31], regs[32]], [0, 1], 'the counter wraps like a u32');
});

test('tariff T2 reads 4, and the type string can be set', () => {
  const regs = encodeAle3({ powerW: [0, 0, 0], tariff: 2 }, { typeString: 'ALE3D5FD10C3A00' });
  assert.equal(regs[ALE3.tariff], 4);
  assert.equal(regs[11], 0x4333, '"C3" is the MID variant');
});

test('the ALE3 bank reads ranges, refuses outside the map, and only resets partial counters', () => {
  const resets: string[] = [];
  const bank = new Ale3Bank(IDENTITY, (counter) => resets.push(counter), READING);
  assert.deepEqual(Array.from(bank.read(35, 5)!), [231, 54, 123, 10, 99]);
  assert.equal(bank.read(50, 3), undefined);
  assert.equal(bank.read(52, 1), undefined);
  assert.equal(bank.write(ALE3.energyT1Partial, [0, 0]), undefined);
  assert.deepEqual(Array.from(bank.read(29, 2)!), [0, 0]);
  assert.equal(bank.write(ALE3.energyT2Partial, [0, 1]), 3, 'only 0 resets');
  assert.equal(bank.write(ALE3.energyT1Total, [0, 0]), 2, 'totals are read-only');
  assert.equal(bank.write(ALE3.modbusAddress, [9]), 2);
  assert.deepEqual(resets, ['import']);
  bank.update({ powerW: [100, 200, 300] });
  assert.deepEqual(Array.from(bank.read(50, 1)!), [60]);
});

function floatAt(regs: ArrayLike<number>, address: number): number {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt16BE(regs[address]!, 0);
  bytes.writeUInt16BE(regs[address + 1]!, 2);
  return bytes.readFloatBE(0);
}

test('the SDM630 map holds float32 values, high word first, at Eastron\'s addresses', () => {
  const regs = encodeSdm630(READING);
  const near = (address: number, value: number, what: string) => assert.ok(Math.abs(floatAt(regs, address) - value) < 1e-3 * Math.max(1, Math.abs(value)), `0x${address.toString(16)} ${what}: ${floatAt(regs, address)} ≠ ${value}`);
  near(0x00, 231, 'U L1');
  near(0x02, 229, 'U L2');
  near(0x04, 230, 'U L3');
  near(0x06, Math.hypot(1234, 100) / 231, 'I L1');
  near(0x08, Math.hypot(567, 50) / 229, 'I L2');
  near(0x0a, 405 / 230, 'I L3');
  near(0x0c, 1234, 'P L1');
  near(0x0e, -567, 'P L2');
  near(0x10, 405, 'P L3');
  near(0x12, Math.hypot(1234, 100), 'S L1');
  near(0x18, 100, 'Q L1');
  near(0x1a, -50, 'Q L2');
  near(0x1e, 0.99, 'PF L1');
  near(0x20, -0.95, 'PF L2');
  near(0x34, 1072, 'P total');
  near(0x3c, 50, 'Q total');
  near(0x46, 50, 'frequency');
  near(0x48, 987_654.321, 'import kWh');
  near(0x4a, 5, 'export kWh');
  assert.deepEqual([regs[0x0c], regs[0x0d]], [0x449a, 0x4000], '1234.0 as IEEE-754 big-endian');
  assert.equal(SDM630.power[1], 0x0e);
  const bank = new Sdm630Bank(READING);
  assert.equal(bank.read(0x4e, 4), undefined);
  assert.equal(bank.readFunction, 4);
});
