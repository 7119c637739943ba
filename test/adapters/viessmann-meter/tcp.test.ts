// The meter over Modbus TCP, polled by modbus-serial's client (not our code): the whole ALE3 map,
// exceptions, unit ids, the SDM630 profile, response times, and fuzzed frames.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import modbusSerial from 'modbus-serial';
import { startTcpSlave, type RequestEvent, type TcpSlaveServer } from '../../../src/adapters/viessmann-meter/modbus-slave.js';
import { Ale3Bank, Sdm630Bank, type PartialCounter } from '../../../src/adapters/viessmann-meter/registers.js';
import { EXPECTED, IDENTITY, READING, UNIT_ID } from './ale3-fixture.js';
import { RawTcpMaster, mbapFrame, readPdu } from './helpers.js';

// modbus-serial is CommonJS; under NodeNext its typed default export is the `default` property.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

let server: TcpSlaveServer;
let client: ModbusRTU;
const resets: PartialCounter[] = [];
const events: RequestEvent[] = [];

before(async () => {
  server = await startTcpSlave({ unitId: UNIT_ID, port: 0, bank: new Ale3Bank(IDENTITY, (c) => resets.push(c), READING), onRequest: (e) => events.push(e) });
  client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port: server.port });
  client.setID(UNIT_ID);
  client.setTimeout(1000);
});

after(async () => {
  await new Promise<void>((resolve) => client.close(() => resolve()));
  await server.close();
});

async function modbusError(request: Promise<unknown>): Promise<number | undefined> {
  try {
    await request;
  } catch (error) {
    return (error as { modbusCode?: number }).modbusCode;
  }
  assert.fail('the request was answered without an exception');
}

test('binds to 127.0.0.1 unless told otherwise', { timeout: 10_000 }, () => {
  assert.equal(server.host, '127.0.0.1');
});

test('every ALE3 register reads as the datasheet table says, in blocks of 20 and one by one', { timeout: 10_000 }, async () => {
  const blocks: number[] = [];
  for (const [start, count] of [[0, 20], [20, 20], [40, 12]] as const) blocks.push(...(await client.readHoldingRegisters(start, count)).data);
  assert.deepEqual(blocks, EXPECTED.map(([, value]) => value));
  for (const [address, value, what] of EXPECTED) assert.deepEqual((await client.readHoldingRegisters(address, 1)).data, [value], `wire ${address}: ${what}`);
});

test('unsupported functions give exception 01, reads too long or outside the map exception 02', { timeout: 10_000 }, async () => {
  assert.equal(await modbusError(client.writeRegister(37, 1)), 1, 'FC06');
  assert.equal(await modbusError(client.readInputRegisters(0, 1)), 1, 'FC04');
  assert.equal(await modbusError(client.readCoils(0, 1)), 1, 'FC01');
  assert.equal(await modbusError(client.readHoldingRegisters(0, 21)), 2, '21 registers');
  assert.equal(await modbusError(client.readHoldingRegisters(50, 3)), 2, 'past wire 51');
  assert.equal(await modbusError(client.writeRegisters(37, [5])), 2, 'power is read-only');
  assert.deepEqual((await client.readHoldingRegisters(32, 20)).data.length, 20, 'the server still answers');
});

test('writing 0 to a partial counter resets it', { timeout: 10_000 }, async () => {
  await client.writeRegisters(33, [0, 0]);
  assert.deepEqual((await client.readHoldingRegisters(33, 2)).data, [0, 0]);
  assert.deepEqual(resets, ['export']);
});

test('another unit id gets no answer; a broadcast write is done without one', { timeout: 10_000 }, async () => {
  const raw = await RawTcpMaster.open(server.port);
  try {
    raw.send(mbapFrame(1, UNIT_ID + 1, readPdu(3, 37, 1)));
    raw.send(mbapFrame(2, 0, [16, 0, 29, 0, 2, 4, 0, 0, 0, 0]));
    raw.send(mbapFrame(3, UNIT_ID, readPdu(3, 37, 1)));
    const bytes = await raw.until(11);
    assert.deepEqual(bytes, mbapFrame(3, UNIT_ID, [3, 2, 0, EXPECTED[37]![1]]), 'only the third request is answered');
    assert.ok(resets.includes('import'), 'the broadcast reset the T1 partial counter');
    assert.ok(events.some((e) => e.outcome === 'other-unit' && e.unitId === UNIT_ID + 1));
  } finally {
    raw.close();
  }
});

// Response times are measured in bench/viessmann-meter.bench.ts; here only that every answer is right.
test('1000 polls in a row are all answered right', { timeout: 10_000 }, async () => {
  for (let i = 0; i < 1000; i++) {
    const { data } = await client.readHoldingRegisters(35, 16);
    assert.equal(data[2], EXPECTED[37]![1]);
  }
});

/** Checks a stream of MBAP responses: each answers a request sent, with its function or an exception. */
function checkResponses(bytes: Buffer, sent: Map<number, number>): number {
  let count = 0;
  for (let at = 0; at < bytes.length; ) {
    assert.ok(bytes.length - at >= 9, 'truncated response');
    const transaction = bytes.readUInt16BE(at);
    assert.equal(bytes.readUInt16BE(at + 2), 0, 'protocol id');
    const length = bytes.readUInt16BE(at + 4);
    const fn = bytes[at + 7]!;
    const requested = sent.get(transaction);
    assert.notEqual(requested, undefined, `transaction ${transaction} was never sent`);
    if (fn === requested && fn < 0x80) {
      if (fn === 3) assert.equal(length, 3 + bytes[at + 8]!);
      else assert.equal(fn, 16);
    } else {
      assert.equal(fn, (requested! | 0x80) & 0xff);
      assert.equal(length, 3);
      assert.ok([1, 2, 3].includes(bytes[at + 8]!));
    }
    at += 6 + length;
    count++;
  }
  return count;
}

test('fuzz: 4000 random requests and 200 connections of random bytes never crash the server', { timeout: 10_000 }, async () => {
  let answered = 0;
  for (let batch = 0; batch < 20; batch++) {
    const raw = await RawTcpMaster.open(server.port);
    const sent = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      const transaction = batch * 1000 + i;
      const fn = [3, 16, randomInt(0, 256)][i % 3]!;
      const pdu = Buffer.concat([Buffer.from([fn]), randomBytes(randomInt(0, fn === 16 ? 40 : 8))]);
      if (fn === 3 && pdu.length === 5) pdu.writeUInt16BE(randomInt(0, 60), 1);
      sent.set(transaction, fn);
      raw.send(mbapFrame(transaction, [UNIT_ID, 0, randomInt(0, 256)][randomInt(0, 3)]!, pdu));
    }
    const sentinel = mbapFrame(0xffff, UNIT_ID, readPdu(3, 50, 1));
    raw.send(sentinel);
    sent.set(0xffff, 3);
    const sentinelAnswer = mbapFrame(0xffff, UNIT_ID, [3, 2, 0, EXPECTED[50]![1]]);
    while (!(await raw.until(raw.bytes.length + 1)).subarray(-sentinelAnswer.length).equals(sentinelAnswer));
    answered += checkResponses(raw.take(), sent) - 1;
    raw.close();
  }
  assert.ok(answered > 1000, `only ${answered} answered`);
  for (let i = 0; i < 200; i++) {
    const raw = await RawTcpMaster.open(server.port);
    raw.send(randomBytes(randomInt(1, 600)));
    raw.close();
  }
  assert.deepEqual((await client.readHoldingRegisters(37, 1)).data, [EXPECTED[37]![1]], 'still serving');
  assert.ok(events.some((e) => e.outcome === 'malformed'), 'the random bytes reached the server');
});

test('the SDM630 profile serves float32 input registers over TCP', { timeout: 10_000 }, async () => {
  const sdm = await startTcpSlave({ unitId: 2, port: 0, bank: new Sdm630Bank(READING) });
  const master = new ModbusRTU();
  try {
    await master.connectTCP('127.0.0.1', { port: sdm.port });
    master.setID(2);
    master.setTimeout(1000);
    const { buffer } = await master.readInputRegisters(0, 0x4c);
    const float = (address: number) => buffer.readFloatBE(address * 2);
    assert.deepEqual([float(0x00), float(0x02), float(0x04)], [231, 229, 230]);
    assert.deepEqual([float(0x0c), float(0x0e), float(0x10), float(0x34)], [1234, -567, 405, 1072]);
    assert.ok(Math.abs(float(0x06) - Math.hypot(1234, 100) / 231) < 1e-4, 'current L1');
    assert.ok(Math.abs(float(0x48) - 987_654.321) < 0.1, 'import kWh');
    assert.equal(float(0x4a), 5, 'export kWh');
    assert.equal(float(0x46), 50, 'frequency');
    assert.equal(await modbusError(master.readHoldingRegisters(0, 2)), 1, 'FC03 is not the SDM630 map');
    assert.equal(await modbusError(master.readInputRegisters(0x4e, 4)), 2, 'outside the map');
  } finally {
    await new Promise<void>((resolve) => master.close(() => resolve()));
    await sdm.close();
  }
});
