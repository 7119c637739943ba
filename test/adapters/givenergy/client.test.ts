// The dongle client against the simulated dongle on a real socket, with its faults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { DongleClient } from '../../../src/adapters/givenergy/client.js';
import { encodeReadResponse } from '../../../src/adapters/givenergy/frame.js';
import { GivEnergyDongleSimulator } from '../../../src/simulators/givenergy-dongle.js';
import { LogHub } from '../../../src/core/logger.js';
import { Secrets } from '../../../src/core/secrets.js';
import { eventually, sleep } from '../../helpers/mqtt-client.js';

const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('givenergy');

async function setup(heartbeatMs = 180_000) {
  const sim = new GivEnergyDongleSimulator({ heartbeatMs });
  const port = await sim.listen();
  const client = new DongleClient({ host: '127.0.0.1', port, frameGapMs: 0, timeoutMs: 300, retries: 5, backoff: { initialMs: 50, maxMs: 200 } }, log);
  client.start();
  await client.waitConnected();
  return { sim, client };
}

test('reads a page, and keeps the connection by answering heartbeats', async () => {
  const { sim, client } = await setup(30);
  try {
    assert.deepEqual(await client.read(0x11, 0x03, 0, 60), sim.hr.slice(0, 60));
    await sleep(300);
    assert.ok(client.stats.heartbeats >= 5, `${client.stats.heartbeats} heartbeats answered`);
    assert.equal(client.connected, true);
    assert.deepEqual(await client.read(0x11, 0x04, 0, 60), sim.ir.slice(0, 60));
  } finally {
    await client.stop();
    await sim.close();
  }
});

test('a client that does not answer heartbeats is dropped by the dongle after three', async () => {
  const sim = new GivEnergyDongleSimulator({ heartbeatMs: 20 });
  const port = await sim.listen();
  const socket = connect(port, '127.0.0.1');
  socket.resume(); // read (and ignore) the heartbeats, never answer them
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await closed;
  assert.ok(sim.missedHeartbeats >= 3);
  await sim.close();
});

test('answers are matched by shape: a forwarded answer for another client is not taken', async () => {
  const { sim, client } = await setup();
  try {
    sim.faults.latencyMs = 50;
    const pending = client.read(0x11, 0x04, 0, 60);
    await sleep(10);
    // The app asked for HR 0–59; the dongle forwards that answer to us too, first.
    sim.broadcast(encodeReadResponse(sim.adapterSerial, 0x11, 0x03, sim.inverterSerial, 0, new Array(60).fill(7)));
    assert.deepEqual(await pending, sim.ir.slice(0, 60));
    assert.equal(client.stats.unmatched, 1);
  } finally {
    await client.stop();
    await sim.close();
  }
});

test('an exception reply rejects with a reason', async () => {
  const { sim, client } = await setup();
  try {
    await assert.rejects(client.read(0x11, 0x04, 0, 120), /the inverter refused IR 0–119 at 0x11/);
  } finally {
    await client.stop();
    await sim.close();
  }
});

test('under bad CRCs, garbage pages, null frames, split frames and latency, no wrong value is ever returned', async () => {
  const { sim, client } = await setup();
  sim.faults = { latencyMs: 2, dropRate: 0, badCrcRate: 0.2, garbageRate: 0.2, exceptionRate: 0, nullFrameRate: 0.3, splitFrames: true };
  try {
    let answered = 0;
    for (let i = 0; i < 200; i++) {
      // With 36 % of answers spoiled, six spoiled tries in a row happen now and then: such a read
      // fails with a clear error. What must never happen is a wrong value.
      const values = await client.read(0x11, 0x04, 0, 60).catch((err: Error) => {
        assert.match(err.message, /no valid answer to IR 0–59 at 0x11 after 6 tries/);
        return undefined;
      });
      if (values) {
        assert.deepEqual(values, sim.ir.slice(0, 60));
        answered++;
      }
    }
    assert.ok(answered >= 190, `${answered} of 200 reads answered`);
    assert.ok(client.stats.crcErrors > 0 && client.stats.garbagePages > 0, JSON.stringify(client.stats));
  } finally {
    await client.stop();
    await sim.close();
  }
});

test('a dropped connection comes back by itself', async () => {
  const { sim, client } = await setup();
  try {
    sim.dropConnections();
    await eventually(() => !client.connected, 2000, 'the drop noticed');
    await assert.rejects(client.read(0x11, 0x03, 0, 60), /not connected/);
    await client.waitConnected(3000);
    assert.deepEqual(await client.read(0x11, 0x03, 0, 60), sim.hr.slice(0, 60));
  } finally {
    await client.stop();
    await sim.close();
  }
});
