// Request handling without sockets: the RTU frame rules (CRC, unit, broadcast, exceptions), the
// framer on split and glued requests, and random frames by the hundred thousand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { handleRtuFrame, type RequestEvent, type SlaveOptions } from '../../../src/adapters/viessmann-meter/modbus-slave.js';
import { RtuFramer } from '../../../src/adapters/viessmann-meter/rtu-framer.js';
import { Ale3Bank, Sdm630Bank } from '../../../src/adapters/viessmann-meter/registers.js';
import { EXPECTED, IDENTITY, READING, UNIT_ID } from './ale3-fixture.js';
import { readPdu, rtuFrame } from './helpers.js';

const ale3 = (resets: string[] = []): SlaveOptions => ({ unitId: UNIT_ID, bank: new Ale3Bank(IDENTITY, (c) => resets.push(c), READING) });

test('a read of the power registers is answered with the map, unit id and a CRC a reference accepts', { timeout: 10_000 }, () => {
  const { response, event } = handleRtuFrame(ale3(), rtuFrame(UNIT_ID, readPdu(3, 35, 16)));
  const values = EXPECTED.slice(35, 51).map(([, v]) => v);
  const expected = rtuFrame(UNIT_ID, [3, 32, ...values.flatMap((v) => [v >> 8, v & 0xff])]);
  assert.deepEqual(response, expected);
  assert.deepEqual(event, { transport: 'rtu', outcome: 'answered', unitId: UNIT_ID, functionCode: 3, address: 35, count: 16 });
});

test('no single-bit error in a request is ever answered', { timeout: 10_000 }, () => {
  const request = rtuFrame(UNIT_ID, readPdu(3, 37, 1));
  assert.ok(handleRtuFrame(ale3(), request).response, 'the intact request is answered');
  for (let bit = 0; bit < request.length * 8; bit++) {
    const corrupted = Buffer.from(request);
    corrupted[bit >> 3]! ^= 1 << (bit & 7);
    const { response, event } = handleRtuFrame(ale3(), corrupted);
    assert.equal(response, undefined, `bit ${bit} flipped`);
    assert.equal(event.outcome, 'bad-crc');
  }
});

test('another unit id is ignored; a broadcast write is done and not answered', { timeout: 10_000 }, () => {
  assert.equal(handleRtuFrame(ale3(), rtuFrame(UNIT_ID + 1, readPdu(3, 0, 1))).response, undefined);
  const resets: string[] = [];
  const options = ale3(resets);
  const { response, event } = handleRtuFrame(options, rtuFrame(0, [16, 0, 29, 0, 2, 4, 0, 0, 0, 0]));
  assert.equal(response, undefined);
  assert.equal(event.outcome, 'broadcast');
  assert.deepEqual(resets, ['import']);
  assert.deepEqual(Array.from(options.bank.read(29, 2)!), [0, 0]);
  assert.equal(handleRtuFrame(options, rtuFrame(0, readPdu(3, 0, 1))).response, undefined, 'a broadcast read has no answer');
});

test('the ALE3 answers exception 01 to every function but FC03 and FC16, the SDM630 to all but FC04', { timeout: 10_000 }, () => {
  for (const fn of [1, 2, 4, 5, 6, 15, 17, 23, 43, 0x41, 0x7f]) {
    const { response } = handleRtuFrame(ale3(), rtuFrame(UNIT_ID, readPdu(fn, 0, 1)));
    assert.deepEqual(response, rtuFrame(UNIT_ID, [fn | 0x80, 1]), `FC${fn}`);
  }
  const sdm: SlaveOptions = { unitId: 2, bank: new Sdm630Bank(READING) };
  assert.deepEqual(handleRtuFrame(sdm, rtuFrame(2, readPdu(3, 0, 2))).response, rtuFrame(2, [0x83, 1]));
  assert.deepEqual(handleRtuFrame(sdm, rtuFrame(2, [16, 0, 0, 0, 1, 2, 0, 0])).response, rtuFrame(2, [0x90, 1]));
  assert.equal(handleRtuFrame(sdm, rtuFrame(2, readPdu(4, 0, 2))).event.outcome, 'answered');
});

test('reads over 20 registers or outside the map give exception 02; a count of 0 exception 03', { timeout: 10_000 }, () => {
  const cases: Array<[address: number, count: number, code: number]> = [
    [0, 21, 2],
    [0, 125, 2],
    [50, 3, 2],
    [52, 1, 2],
    [0xffff, 1, 2],
    [0, 0, 3],
  ];
  for (const [address, count, code] of cases) {
    assert.deepEqual(handleRtuFrame(ale3(), rtuFrame(UNIT_ID, readPdu(3, address, count))).response, rtuFrame(UNIT_ID, [0x83, code]), `${address}+${count}`);
  }
  assert.equal(handleRtuFrame(ale3(), rtuFrame(UNIT_ID, readPdu(3, 32, 20))).event.outcome, 'answered', '32–51 is the last full read');
});

test('writes: partial counters reset with 0, anything else refused', { timeout: 10_000 }, () => {
  const write = (address: number, values: number[]) => rtuFrame(UNIT_ID, [16, 0, address, 0, values.length, 2 * values.length, ...values.flatMap((v) => [v >> 8, v & 0xff])]);
  assert.deepEqual(handleRtuFrame(ale3(), write(33, [0, 0])).response, rtuFrame(UNIT_ID, [16, 0, 33, 0, 2]));
  assert.deepEqual(handleRtuFrame(ale3(), write(33, [0, 5])).response, rtuFrame(UNIT_ID, [0x90, 3]));
  assert.deepEqual(handleRtuFrame(ale3(), write(37, [100])).response, rtuFrame(UNIT_ID, [0x90, 2]));
  assert.deepEqual(handleRtuFrame(ale3(), rtuFrame(UNIT_ID, [16, 0, 33, 0, 2, 3, 0, 0, 0])).response, rtuFrame(UNIT_ID, [0x90, 3]), 'byte count does not match');
});

/** A response, if any, must be one a master can parse: our unit, a good CRC, the request's function. */
function checkResponse(request: Buffer, response: Buffer | undefined, event: RequestEvent): void {
  if (!response) {
    assert.ok(['bad-crc', 'other-unit', 'broadcast', 'malformed'].includes(event.outcome), event.outcome);
    return;
  }
  assert.equal(response[0], UNIT_ID);
  assert.deepEqual(response, rtuFrame(UNIT_ID, response.subarray(1, -2)), 'CRC');
  const fn = request[1]!;
  if (response[1] === fn && fn < 0x80) {
    if (fn === 3) assert.equal(response.length, 5 + response[2]!);
    else assert.equal(fn, 16);
  } else {
    assert.equal(response[1], (fn | 0x80) & 0xff);
    assert.ok([1, 2, 3].includes(response[2]!), `exception ${response[2]}`);
    assert.equal(response.length, 5);
  }
}

test('100 000 random frames never throw and never give a malformed answer', { timeout: 10_000 }, () => {
  const options = ale3();
  let answered = 0;
  for (let i = 0; i < 100_000; i++) {
    const kind = i % 4;
    let frame: Buffer;
    if (kind === 0) frame = randomBytes(randomInt(0, 40));
    else {
      const unit = [UNIT_ID, 0, randomInt(0, 256)][randomInt(0, 3)]!;
      const fn = kind === 1 ? 3 : kind === 2 ? 16 : randomInt(0, 256);
      frame = rtuFrame(unit, Buffer.concat([Buffer.from([fn]), randomBytes(randomInt(0, kind === 2 ? 30 : 8))]));
      if (kind === 1 && frame.length === 8) frame.writeUInt16BE(randomInt(0, 70), 2);
    }
    const { response, event } = handleRtuFrame(options, frame);
    checkResponse(frame, response, event);
    if (response) answered++;
  }
  assert.ok(answered > 15_000, `only ${answered} answered: the generator misses the slave`);
});

test('the framer cuts glued and split requests at their length, without waiting for silence', { timeout: 10_000 }, () => {
  const requests = Array.from({ length: 500 }, (_, i) =>
    i % 3 === 0 ? rtuFrame(UNIT_ID, [16, 0, 29, 0, 2, 4, 0, 0, 0, 0]) : rtuFrame(randomInt(1, 248), readPdu(3, randomInt(0, 52), randomInt(1, 21))),
  );
  const stream = Buffer.concat(requests);
  const frames: Buffer[] = [];
  const framer = new RtuFramer(60_000, (frame) => frames.push(Buffer.from(frame)));
  for (let at = 0; at < stream.length; ) {
    const size = randomInt(1, 30);
    framer.push(stream.subarray(at, at + size));
    at += size;
  }
  framer.stop();
  assert.deepEqual(frames, requests);
});

test('the framer hands over a frame it cannot size, or a corrupted one, at the silence', { timeout: 10_000 }, async () => {
  const frames: Buffer[] = [];
  let delivered: () => void = () => undefined;
  const framer = new RtuFramer(5, (frame) => {
    frames.push(Buffer.from(frame));
    delivered();
  });
  const unknown = rtuFrame(UNIT_ID, [0x41, 1, 2, 3]);
  const corrupted = rtuFrame(UNIT_ID, readPdu(3, 0, 1));
  corrupted[7]! ^= 0xff;
  for (const frame of [unknown, corrupted]) {
    const done = new Promise<void>((resolve) => (delivered = resolve));
    framer.push(frame.subarray(0, 3));
    framer.push(frame.subarray(3));
    await done;
  }
  // More than 256 bytes without a pause is no frame: dropped up to the next silence.
  framer.push(Buffer.concat([Buffer.alloc(300, 0xaa), unknown]));
  await new Promise((resolve) => setTimeout(resolve, 30));
  const done = new Promise<void>((resolve) => (delivered = resolve));
  framer.push(unknown);
  await done;
  framer.stop();
  assert.deepEqual(frames, [unknown, corrupted, unknown]);
});
