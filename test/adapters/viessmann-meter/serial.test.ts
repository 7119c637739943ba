// The meter as an RTU slave on a virtual serial pair (socat), polled by modbus-serial's RTU
// client (not our code) and by raw bytes: the whole map at the two settings seen on Vitocals,
// CRC and unit rules, exceptions, response time, and fuzzed frames.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import modbusSerial from 'modbus-serial';
import { startSerialSlave, type ModbusSlaveServer, type RequestEvent, type RequestOutcome } from '../../../src/adapters/viessmann-meter/modbus-slave.js';
import { Ale3Bank } from '../../../src/adapters/viessmann-meter/registers.js';
import { EXPECTED, IDENTITY, READING, UNIT_ID } from './ale3-fixture.js';
import { RawSerialMaster, readPdu, rtuFrame, socatPair } from './helpers.js';

// modbus-serial is CommonJS; under NodeNext its typed default export is the `default` property.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

const SETTINGS = [
  { name: '19200 8E1 (Vitocal 200-S)', baudRate: 19200, parity: 'even' },
  { name: '38400 8N1 (Vitocal 262-A)', baudRate: 38400, parity: 'none' },
] as const;

const answerTo = (address: number) => rtuFrame(UNIT_ID, [3, 2, EXPECTED[address]![1] >> 8, EXPECTED[address]![1] & 0xff]);

for (const settings of SETTINGS) {
  describe(`RTU over a serial pair at ${settings.name}`, { timeout: 20_000 }, () => {
    let pair: Awaited<ReturnType<typeof socatPair>>;
    let server: ModbusSlaveServer;
    const events: RequestEvent[] = [];
    let eventWaiter: { outcome: RequestOutcome; resolve: () => void } | undefined;
    const nextEvent = (outcome: RequestOutcome) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the slave never reported a '${outcome}' request`)), 2000);
        eventWaiter = { outcome, resolve: () => (clearTimeout(timer), resolve()) };
      });

    before(async () => {
      pair = await socatPair();
      server = await startSerialSlave({
        path: pair.slave,
        baudRate: settings.baudRate,
        parity: settings.parity,
        dataBits: 8,
        stopBits: 1,
        unitId: UNIT_ID,
        bank: new Ale3Bank(IDENTITY, undefined, READING),
        onRequest: (event) => {
          events.push(event);
          if (eventWaiter?.outcome === event.outcome) eventWaiter.resolve();
        },
      });
    });

    after(async () => {
      await server.close();
      await pair.close();
    });

    // A Linux pty keeps the speed but refuses parity and stop bits, so only the speed can be seen.
    test('the port is opened at the configured speed', () => {
      const termios = execFileSync('stty', ['-F', pair.slave], { encoding: 'utf8' });
      assert.match(termios, new RegExp(`speed ${settings.baudRate} baud`));
    });

    test('every register reads as the datasheet table says; FC06 gives 01, 21 registers 02', async () => {
      const client = new ModbusRTU();
      await client.connectRTUBuffered(pair.master, { baudRate: settings.baudRate, parity: settings.parity, dataBits: 8, stopBits: 1 });
      client.setID(UNIT_ID);
      client.setTimeout(1000);
      try {
        const blocks: number[] = [];
        for (const [start, count] of [[0, 20], [20, 20], [40, 12]] as const) blocks.push(...(await client.readHoldingRegisters(start, count)).data);
        assert.deepEqual(blocks, EXPECTED.map(([, value]) => value));
        for (const [address, value, what] of EXPECTED) assert.deepEqual((await client.readHoldingRegisters(address, 1)).data, [value], `wire ${address}: ${what}`);
        const code = async (request: Promise<unknown>) => request.then(() => undefined, (error: { modbusCode?: number }) => error.modbusCode);
        assert.equal(await code(client.writeRegister(37, 1)), 1);
        assert.equal(await code(client.readInputRegisters(37, 1)), 1);
        assert.equal(await code(client.readHoldingRegisters(0, 21)), 2);
        assert.equal(await code(client.readHoldingRegisters(51, 2)), 2);
      } finally {
        await new Promise<void>((resolve) => client.close(() => resolve()));
      }
    });

    test('a bad CRC and another unit id get no answer; the next good request does', async () => {
      const raw = await RawSerialMaster.open(pair.master, settings.baudRate, settings.parity);
      try {
        const corrupted = rtuFrame(UNIT_ID, readPdu(3, 37, 1));
        corrupted[7]! ^= 0x01;
        let seen = nextEvent('bad-crc');
        await raw.send(corrupted);
        await seen;
        seen = nextEvent('other-unit');
        await raw.send(rtuFrame(UNIT_ID + 1, readPdu(3, 37, 1)));
        await seen;
        await raw.send(rtuFrame(UNIT_ID, readPdu(3, 42, 1)));
        assert.deepEqual(await raw.until(7), answerTo(42), 'the only bytes received answer the good request');
        assert.equal(raw.bytes.length, 7);
      } finally {
        await raw.close();
      }
    });

    // The response time is measured in bench/viessmann-meter.bench.ts; here only the answers.
    test('300 requests in a row, each answered right', async () => {
      const raw = await RawSerialMaster.open(pair.master, settings.baudRate, settings.parity);
      try {
        for (let i = 0; i < 300; i++) {
          raw.take();
          await raw.send(rtuFrame(UNIT_ID, readPdu(3, 37, 1)));
          assert.deepEqual(await raw.until(7), answerTo(37));
        }
      } finally {
        await raw.close();
      }
    });

    test('fuzz: 2000 random frames, glued and split, never crash the slave', async () => {
      const raw = await RawSerialMaster.open(pair.master, settings.baudRate, settings.parity);
      try {
        for (let group = 0; group < 100; group++) {
          const frames = Array.from({ length: 20 }, (_, i) => {
            if (i % 5 === 0) return randomBytes(randomInt(1, 40));
            const fn = [3, 16, randomInt(0, 256)][i % 3]!;
            return rtuFrame([UNIT_ID, 0, randomInt(0, 256)][randomInt(0, 3)]!, Buffer.concat([Buffer.from([fn]), randomBytes(randomInt(0, fn === 16 ? 30 : 6))]));
          });
          const stream = Buffer.concat(frames);
          for (let at = 0; at < stream.length; ) {
            const size = randomInt(1, 64);
            raw.port.write(stream.subarray(at, at + size));
            at += size;
          }
          // The line goes quiet between groups, as between a master's polls.
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        // A master retries after a timeout; the slave must answer within a few tries.
        let answered = false;
        for (let attempt = 0; attempt < 5 && !answered; attempt++) {
          raw.take();
          await raw.send(rtuFrame(UNIT_ID, readPdu(3, 47, 1)));
          answered = await raw.until(7, 300).then((bytes) => bytes.subarray(-7).equals(answerTo(47)), () => false);
        }
        assert.ok(answered, 'still answering after the fuzz');
        assert.ok(events.filter((e) => e.outcome === 'bad-crc').length > 10, 'garbage reached the CRC check');
      } finally {
        await raw.close();
      }
    });
  });
}

test('a serial port that does not exist rejects the start instead of crashing', { timeout: 10_000 }, async () => {
  await assert.rejects(
    startSerialSlave({ path: '/dev/ttyE2M-missing', baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1, unitId: UNIT_ID, bank: new Ale3Bank() }),
    /ttyE2M-missing|No such file/,
  );
});

test('the other end going away is reported once', { timeout: 10_000 }, async () => {
  const pair = await socatPair();
  const reasons: Array<Error | undefined> = [];
  let reported: () => void = () => undefined;
  const gone = new Promise<void>((resolve) => (reported = resolve));
  const server = await startSerialSlave({
    path: pair.slave,
    baudRate: 19200,
    parity: 'even',
    dataBits: 8,
    stopBits: 1,
    unitId: UNIT_ID,
    bank: new Ale3Bank(),
    onClose: (error) => {
      reasons.push(error);
      reported();
    },
  });
  await pair.close();
  await gone;
  await server.close();
  assert.equal(reasons.length, 1);
});
