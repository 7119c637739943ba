// The Vitocal simulator against the meter's slave (TCP and a socat serial pair): what it reads,
// what the meter sees it ask, and how its compressor follows the surplus. The clock is simulated;
// only the Modbus I/O (and its timeouts) takes real time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startSerialSlave, startTcpSlave, type ModbusSlaveServer, type RequestEvent } from '../../src/adapters/viessmann-meter/modbus-slave.js';
import { Ale3Bank, Sdm630Bank, type Ale3Identity, type PhaseValues } from '../../src/adapters/viessmann-meter/registers.js';
import { SimulatedClock } from '../../src/core/clock.js';
import { socatPair, type SerialPair } from '../../src/simulators/serial-pair.js';
import { VitocalSimulator, type PollRecord, type VitocalOptions } from '../../src/simulators/vitocal.js';
import { startTestBroker } from '../helpers/broker.js';
import { Recorder } from '../helpers/mqtt-client.js';

const INTERVAL = 5000;
const UNIT = 1;
type Cleanup = { after(fn: () => Promise<void>): void };

interface Setup {
  transport: 'tcp' | 'serial';
  profile?: 'ale3' | 'sdm630';
  identity?: Ale3Identity;
  sim?: Partial<VitocalOptions>;
}

async function heatPumpOnMeter(t: Cleanup, setup: Setup) {
  const bank = setup.profile === 'sdm630' ? new Sdm630Bank() : new Ale3Bank(setup.identity ?? {});
  const requests: RequestEvent[] = [];
  const slaveOptions = { unitId: UNIT, bank, onRequest: (event: RequestEvent) => requests.push(event) };
  let pair: SerialPair | undefined;
  let server: ModbusSlaveServer;
  let transport: VitocalOptions['transport'];
  let tcpPort = 0;
  if (setup.transport === 'tcp') {
    const tcp = await startTcpSlave({ ...slaveOptions, port: 0 });
    tcpPort = tcp.port;
    server = tcp;
    transport = { tcp: { host: '127.0.0.1', port: tcp.port } };
  } else {
    pair = await socatPair();
    server = await startSerialSlave({ ...slaveOptions, path: pair.slave, baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1 });
    transport = { serial: { path: pair.master, baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1 } };
  }
  const clock = new SimulatedClock();
  const sim = new VitocalSimulator({ transport, unitId: UNIT, profile: setup.profile ?? 'ale3', clock, pollIntervalMs: INTERVAL, timeoutMs: 300, ...setup.sim });
  let serverUp = true;
  t.after(async () => {
    await sim.stop();
    if (serverUp) await server.close();
    await pair?.close();
  });
  const first = once(sim, 'poll') as Promise<[PollRecord]>;
  await sim.start();
  const firstPoll = (await first)[0];
  return {
    sim,
    clock,
    requests,
    firstPoll,
    /** Sets the power the meter serves, per phase (W, in the heat pump's sign convention). */
    serve: (powerW: PhaseValues) => bank.update({ powerW }),
    /** Lets pollIntervalMs pass and resolves with the poll that it brings. */
    nextPoll: async (): Promise<PollRecord> => {
      const polled = once(sim, 'poll') as Promise<[PollRecord]>;
      clock.advance(INTERVAL);
      return (await polled)[0];
    },
    stopMeter: async () => {
      serverUp = false;
      await server.close();
    },
    restartMeter: async () => {
      server = await startTcpSlave({ ...slaveOptions, port: tcpPort });
      serverUp = true;
    },
  };
}

test('reads the phase powers and the total of an ALE3 over TCP, in the sign convention it is given', { timeout: 10_000 }, async (t) => {
  const exportPositive = await heatPumpOnMeter(t, { transport: 'tcp' });
  exportPositive.serve([400, 300, -104]);
  const read = await exportPositive.nextPoll();
  assert.equal(read.error, undefined);
  assert.deepEqual(read.phasesW, [400, 300, -100]);
  assert.equal(read.totalW, 600);
  assert.equal(read.surplusW, 600);
  assert.equal(exportPositive.sim.lastSurplusW, 600);

  const importPositive = await heatPumpOnMeter(t, { transport: 'tcp', sim: { sign: 'import_positive' } });
  importPositive.serve([-1000, -500, 0]);
  assert.equal((await importPositive.nextPoll()).surplusW, 1500, 'a negative power is surplus to a 262-A');
  importPositive.serve([1000, 0, 0]);
  assert.equal((await importPositive.nextPoll()).surplusW, -1000);
});

test('asks the ALE3 what a 262-A asks: the identity block once, then wire 35-50 in one read each poll', { timeout: 10_000 }, async (t) => {
  const { requests, nextPoll } = await heatPumpOnMeter(t, { transport: 'tcp' });
  await nextPoll();
  await nextPoll();
  const asked = requests.map((r) => [r.functionCode, r.address, r.count, r.outcome]);
  assert.deepEqual(asked, [
    [3, 0, 8, 'answered'],
    [3, 35, 16, 'answered'],
    [3, 35, 16, 'answered'],
    [3, 35, 16, 'answered'],
  ]);
});

test('reads an SDM630 (float32 input registers) over a serial pair', { timeout: 15_000 }, async (t) => {
  const { nextPoll, serve, requests } = await heatPumpOnMeter(t, { transport: 'serial', profile: 'sdm630' });
  serve([1234.5, -200.25, 0]);
  const read = await nextPoll();
  assert.equal(read.error, undefined);
  assert.deepEqual(read.phasesW, [1234.5, -200.25, 0]);
  assert.equal(read.totalW, 1034.25);
  assert.equal(read.surplusW, 1034.25);
  assert.deepEqual(requests.slice(-2).map((r) => [r.functionCode, r.address, r.count]), [[4, 0x0c, 6], [4, 0x34, 2]]);
});

test('starts its compressor at the threshold and stops on low surplus, its own draw included', { timeout: 15_000 }, async (t) => {
  const { sim, serve, nextPoll } = await heatPumpOnMeter(t, { transport: 'serial', sim: { startThresholdW: 800, stopThresholdW: 300, compressorW: 900, standbyW: 15 } });
  assert.equal(sim.powerW, 15);
  serve([260, 260, 260]);
  assert.equal((await nextPoll()).compressorOn, false, '780 W is under the threshold');
  const started = once(sim, 'compressor');
  serve([270, 270, 260]);
  assert.equal((await nextPoll()).compressorOn, true, '800 W starts it');
  assert.deepEqual(await started, [true]);
  assert.equal(sim.powerW, 900);
  // Running, it reads export + its own 900 W: a cloud leaving 400 W of that keeps it on.
  serve([140, 130, 130]);
  assert.equal((await nextPoll()).compressorOn, true, '400 W is still above the stop threshold');
  serve([100, 100, 90]);
  assert.equal((await nextPoll()).compressorOn, false, '290 W stops it');
  assert.equal(sim.powerW, 15);
});

test('keeps the minimum run and pause times', { timeout: 15_000 }, async (t) => {
  const { sim, serve, nextPoll } = await heatPumpOnMeter(t, { transport: 'tcp', sim: { minRunMs: 30_000, minPauseMs: 20_000 } });
  serve([1000, 0, 0]);
  assert.equal((await nextPoll()).compressorOn, true);
  const startedAt = sim.history.at(-1)!.at;
  serve([0, 0, 0]);
  let poll = await nextPoll();
  while (poll.at - startedAt < 30_000) {
    assert.equal(poll.compressorOn, true, `still on ${poll.at - startedAt} ms after the start`);
    poll = await nextPoll();
  }
  assert.equal(poll.compressorOn, false, 'off once the minimum run time is over');
  const stoppedAt = poll.at;
  serve([2000, 0, 0]);
  poll = await nextPoll();
  while (poll.at - stoppedAt < 20_000) {
    assert.equal(poll.compressorOn, false, `still off ${poll.at - stoppedAt} ms after the stop`);
    poll = await nextPoll();
  }
  assert.equal(poll.compressorOn, true, 'on again once the minimum pause is over');
});

test('counts timeouts when the meter is gone and stops the compressor after three in a row', { timeout: 20_000 }, async (t) => {
  const { sim, serve, nextPoll, stopMeter } = await heatPumpOnMeter(t, { transport: 'serial', sim: { maxFailures: 3 } });
  serve([500, 500, 500]);
  assert.equal((await nextPoll()).compressorOn, true);
  await stopMeter();
  for (const failures of [1, 2]) {
    const poll = await nextPoll();
    assert.equal(poll.error?.kind, 'timeout');
    assert.equal(sim.consecutiveFailures, failures);
    assert.equal(poll.compressorOn, true, `${failures} failed poll(s) keep the compressor's state`);
  }
  const third = await nextPoll();
  assert.equal(third.error?.kind, 'timeout');
  assert.equal(third.compressorOn, false, 'three failed polls mean no PV surplus');
  assert.equal(sim.errors, 3);
  assert.equal(sim.polls, 5);
});

test('over TCP, a meter that went away counts as failed polls until it is back', { timeout: 15_000 }, async (t) => {
  const { sim, serve, nextPoll, stopMeter, restartMeter } = await heatPumpOnMeter(t, { transport: 'tcp' });
  serve([500, 500, 500]);
  assert.equal((await nextPoll()).compressorOn, true);
  await stopMeter();
  const polls = [await nextPoll(), await nextPoll(), await nextPoll()];
  assert.ok(polls.every((p) => p.error !== undefined), JSON.stringify(polls));
  assert.equal(polls[2]!.compressorOn, false);
  await restartMeter();
  serve([500, 500, 500]);
  const back = await nextPoll();
  assert.equal(back.error, undefined, JSON.stringify(back.error));
  assert.equal(back.surplusW, 1500);
  assert.equal(back.compressorOn, true);
  assert.equal(sim.consecutiveFailures, 0);
});

test('refuses to run on a meter whose type string is not ALE3', { timeout: 10_000 }, async (t) => {
  const { sim, serve, nextPoll, firstPoll, requests } = await heatPumpOnMeter(t, { transport: 'tcp', identity: { typeString: 'AWD3D5WD00C3A00' } });
  assert.equal(firstPoll.error?.kind, 'identity');
  assert.match(firstPoll.error!.message, /not an ALE3 \(type "AWD3"\)/);
  serve([3000, 3000, 3000]);
  for (let i = 0; i < 4; i++) {
    const poll = await nextPoll();
    assert.equal(poll.error?.kind, 'identity');
    assert.equal(poll.surplusW, undefined);
  }
  assert.equal(sim.compressorOn, false);
  assert.equal(sim.errors, 5);
  assert.ok(requests.every((r) => r.address === 0 && r.count === 8), 'it never reads the powers of a meter it does not know');
});

test('publishes its power on MQTT after every poll', { timeout: 15_000 }, async (t) => {
  const broker = await startTestBroker();
  t.after(() => broker.stop());
  const topic = 'demo/heat_pump/power';
  const rec = await Recorder.connect(broker.port, [topic]);
  t.after(() => rec.close());
  const { serve, nextPoll } = await heatPumpOnMeter(t, { transport: 'tcp', sim: { mqtt: { host: '127.0.0.1', port: broker.port, powerTopic: topic }, compressorW: 1100, standbyW: 12 } });
  await rec.waitFor(topic, (p) => p === '12');
  const mark = rec.mark();
  serve([1000, 0, 0]);
  await nextPoll();
  await rec.waitFor(topic, (p) => p === '1100', 5000, mark);
});
