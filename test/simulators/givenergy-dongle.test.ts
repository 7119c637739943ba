// The GivEnergy dongle simulator as another client than ours sees it (issue 13, item 5): the
// battery page a peer library sizes the battery from, the inverter clock that runs, and meter
// probes that go unanswered, as on the captured Gen1 plant without meters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { DongleClient } from '../../src/adapters/givenergy/client.js';
import { Framer, MARKER, crc16modbus, decodeFrame, encodeReadRequest, type Frame } from '../../src/adapters/givenergy/frame.js';
import { GivEnergyDongleSimulator } from '../../src/simulators/givenergy-dongle.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { LogHub } from '../../src/core/logger.js';
import { Secrets } from '../../src/core/secrets.js';
import { eventually } from '../helpers/mqtt-client.js';

const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('givenergy');

async function setup(options: ConstructorParameters<typeof GivEnergyDongleSimulator>[0] = {}) {
  const sim = new GivEnergyDongleSimulator(options);
  const client = new DongleClient({ host: '127.0.0.1', port: await sim.listen(), frameGapMs: 0, timeoutMs: 300, retries: 1 }, log);
  client.start();
  await client.waitConnected();
  return { sim, client, stop: async () => (await client.stop(), await sim.close()) };
}

const u32 = (page: number[], register: number) => page[register - 60]! * 65536 + page[register - 59]!;
const s16 = (v: number) => (v & 0x8000 ? v - 0x10000 : v);

test('the battery page carries what the captured BMS sent: design capacity, cells, firmware, pack voltages, temperatures', async () => {
  const { client, stop } = await setup({ batteries: 2 });
  try {
    // Decoded as givenergy-modbus's BatteryRegisterGetter does (IR 60–119 at 0x32+i).
    const decode = (page: number[]) => ({
      capDesignAh: u32(page, 86) / 100,
      capDesign2Ah: u32(page, 101) / 100,
      capCalibratedAh: u32(page, 84) / 100,
      capRemainingAh: u32(page, 88) / 100,
      cells: page[97 - 60],
      bmsFirmware: page[98 - 60],
      vCellsSum: page[80 - 60]! / 1000,
      vOut: u32(page, 82) / 1000,
      tMax: s16(page[103 - 60]!) / 10,
      tMin: s16(page[104 - 60]!) / 10,
      soc: page[100 - 60],
      cycles: page[96 - 60],
    });
    const first = decode(await client.read(0x32, 0x04, 60, 60));
    assert.deepEqual(first, { capDesignAh: 160, capDesign2Ah: 160, capCalibratedAh: 189.61, capRemainingAh: 27.2, cells: 16, bmsFirmware: 3007, vCellsSum: 53.793, vOut: 53.931, tMax: 23.2, tMin: 21.7, soc: 17, cycles: 1114 });
    // What a peer client shows as the battery's size: design capacity × 51.2 V (0 Wh before).
    assert.equal(Math.round(first.capDesignAh * 51.2), 8192);
    const second = decode(await client.read(0x33, 0x04, 60, 60));
    assert.deepEqual([second.capDesignAh, second.cells, second.bmsFirmware, second.soc], [186, 16, 3009, 17]);
    // Lifetime battery totals of the Gen1 inverter (IR180–183): discharge, charge, and today's.
    const totals = await client.read(0x11, 0x04, 180, 60);
    const today = await client.read(0x11, 0x04, 0, 60);
    assert.deepEqual(totals.slice(0, 4), [15711, 18427, today[37], today[36]]);
  } finally {
    await stop();
  }
});

test('the inverter clock runs with the simulator clock, from a time set by a write', async () => {
  const clock = new SimulatedClock(Date.UTC(2026, 5, 21, 10, 0, 0));
  const { client, stop } = await setup({ clock });
  try {
    const time = async () => (await client.read(0x11, 0x03, 0, 60)).slice(35, 41);
    assert.deepEqual(await time(), [23, 4, 28, 12, 15, 36], 'the captured boot page');
    clock.advance(61_500);
    assert.deepEqual(await time(), [23, 4, 28, 12, 16, 37]);
    clock.advance(600);
    assert.deepEqual(await time(), [23, 4, 28, 12, 16, 38], 'half seconds add up');
    // Set to New Year's Eve, one field at a time as syncDateTime writes them.
    for (const [register, value] of [[35, 25], [36, 12], [37, 31], [38, 23], [39, 59], [40, 58]] as const) await client.write(0x11, register, value);
    assert.deepEqual(await time(), [25, 12, 31, 23, 59, 58]);
    clock.advance(2_000);
    assert.deepEqual(await time(), [26, 1, 1, 0, 0, 0], 'the year turns');
    // Reading IR only does not move the clock back or forth.
    clock.advance(3_600_000);
    await client.read(0x11, 0x04, 0, 60);
    assert.deepEqual(await time(), [26, 1, 1, 1, 0, 0]);
  } finally {
    await stop();
  }
});

/** A request frame for any function (the meter product read is function 0x16). */
function request(device: number, fn: number, base: number, count: number): Buffer {
  const frame = encodeReadRequest(device, 0x04, base, count);
  frame[27] = fn;
  frame.writeUInt16LE(crc16modbus(frame, 26, frame.length - 2), frame.length - 2);
  return frame;
}

test('meter probes (function 0x16 and IR reads at 0x01–0x08) get no answer, as on the captured plant without meters', async () => {
  // The research's vector for the meter product read at 0x01: …08 01 16 003c 003c 8814.
  assert.equal(request(0x01, 0x16, 60, 60).subarray(26).toString('hex'), '0116003c003c8814');
  assert.ok(request(0x01, 0x16, 60, 60).subarray(0, 4).equals(MARKER));
  const sim = new GivEnergyDongleSimulator();
  const socket = connect(await sim.listen(), '127.0.0.1');
  const framer = new Framer();
  const received: Frame[] = [];
  socket.on('data', (chunk) => received.push(...framer.push(chunk).map(decodeFrame)));
  try {
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    for (let meter = 0x01; meter <= 0x08; meter++) {
      socket.write(request(meter, 0x16, 60, 60));
      socket.write(encodeReadRequest(meter, 0x04, 60, 30));
    }
    // Then the inverter: its answer comes, and nothing else came before it.
    socket.write(encodeReadRequest(0x11, 0x03, 0, 60));
    await eventually(() => received.length > 0, 2000, 'the inverter answer');
    assert.equal(sim.requests, 17, 'all 17 requests reached the dongle');
    assert.deepEqual(received.map((f) => [f.kind, 'device' in f ? f.device : undefined]), [['read-response', 0x11]]);
  } finally {
    socket.destroy();
    await sim.close();
  }
});
