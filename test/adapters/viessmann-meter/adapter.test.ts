// The meter as a user runs it: the add-on with a real Mosquitto, sources published on MQTT,
// and a heat pump's side played by modbus-serial's client (not our code) over TCP and over a
// socat serial pair. What the heat pump reads, and what HA shows.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import modbusSerial from 'modbus-serial';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder } from '../../helpers/mqtt-client.js';
import { startApp, tempDir, type TestApp } from '../../helpers/app.js';
import { socatPair } from './helpers.js';
import { ViessmannMeterAdapter } from '../../../src/adapters/viessmann-meter/adapter.js';

const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

const DEVICE = 'viessmann_meter_heat_pump_meter';
const T = `energy2mqtt/${DEVICE}`;
const signed = (v: number) => (v << 16) >> 16;

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

const SOURCES = [
  { name: 'grid', mqtt: { topic: 'home/grid', unit: 'W' }, stale_after: 60 },
  { name: 'heat_pump', mqtt: { topic: 'home/heat_pump', unit: 'W' }, stale_after: 60 },
  { name: 'rest', mqtt: { topic: 'home/rest', unit: 'kW' }, stale_after: 60 },
  { name: 'l1', mqtt: { topic: 'home/grid_l1', json_path: 'power', unit: 'W' }, stale_after: 60 },
  { name: 'l2', mqtt: { topic: 'home/grid_l2', json_path: 'power', unit: 'W' }, stale_after: 60 },
  { name: 'l3', mqtt: { topic: 'home/grid_l3', json_path: 'power', unit: 'W' }, stale_after: 60 },
];

interface Running {
  t: TestApp;
  rec: Recorder;
  meter: ViessmannMeterAdapter;
  client: ModbusRTU;
  stop(): Promise<void>;
}

/** The add-on with one meter on TCP, and a Modbus TCP master connected to it. */
async function runMeter(meter: Record<string, unknown>, dataDir = tempDir()): Promise<Running> {
  const port = await freePort();
  const t = await startApp(broker.port, { automation: { sources: SOURCES }, viessmann_meter: [{ tcp: { port, host: '127.0.0.1' }, ...meter }] }, { dataDir });
  const rec = await Recorder.connect(broker.port, [`${T}/#`, `homeassistant/device/${DEVICE}/config`]);
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(Number(meter.unit_id ?? 1));
  client.setTimeout(1000);
  const adapter = t.app.adapters.find((a): a is ViessmannMeterAdapter => a instanceof ViessmannMeterAdapter)!;
  return {
    t, rec, meter: adapter, client,
    stop: async () => {
      await new Promise<void>((resolve) => client.close(() => resolve()));
      await rec.close();
      await t.stop();
    },
  };
}

async function holding(client: ModbusRTU, address: number, count: number): Promise<number[]> {
  return (await client.readHoldingRegisters(address, count)).data;
}

/** Polls the power registers (37, 42, 47, 50) until they match. */
async function powersBecome(client: ModbusRTU, expected: [number, number, number, number], timeoutMs = 3000): Promise<void> {
  let last: number[] = [];
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const regs = await holding(client, 35, 16);
    last = [regs[2]!, regs[7]!, regs[12]!, regs[15]!].map(signed);
    if (last.every((v, i) => v === expected[i])) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(last, expected, 'power registers L1, L2, L3, total (10 W units)');
}

describe('the meter over TCP (ALE3)', { timeout: 30_000 }, () => {
  test('grid + heat pump: the heat pump reads hpPower − gridPower, a third per phase, and HA sees the same', async () => {
    const m = await runMeter({ grid: 'grid', heat_pump: 'heat_pump' });
    try {
      // Discovery: one device with the entities of the issue, that HA accepts.
      const config = JSON.parse((await m.rec.waitFor(`homeassistant/device/${DEVICE}/config`)).payload) as { cmps: Record<string, { unique_id: string }> };
      const keys = Object.keys(config.cmps).map((k) => k.replace(/^.*?_heat_pump_meter_/, ''));
      for (const key of ['power_served', 'power_served_l1', 'power_served_l2', 'power_served_l3', 'surplus', 'source_state', 'source_reason', 'polls_per_minute', 'last_poll', 'request_errors', 'serve_surplus', 'energy_export', 'energy_import', 'server_state']) {
        assert.ok(keys.includes(key), `entity ${key} in ${keys.join(', ')}`);
      }
      // Nothing measured yet: 0 W, and why.
      await powersBecome(m.client, [0, 0, 0, 0]);
      await m.rec.waitFor(`${T}/source_state`, (p) => p === 'stale');
      await m.rec.waitFor(`${T}/source_reason`, (p) => /serving 0 W: no value yet from source 'grid'/.test(p));

      await m.rec.publish('home/grid', '-1200.4'); // exporting; floats are fine
      await m.rec.publish('home/heat_pump', '900');
      await powersBecome(m.client, [70, 70, 70, 210]);
      await m.rec.waitFor(`${T}/power_served`, (p) => p === '2100');
      await m.rec.waitFor(`${T}/surplus`, (p) => p === '2100');
      await m.rec.waitFor(`${T}/power_served_l2`, (p) => p === '700');
      await m.rec.waitFor(`${T}/source_state`, (p) => p === 'fresh');
      await m.rec.waitFor(`${T}/source_reason`, (p) => p === 'heat_pump 900 W − grid -1200 W = 2100 W');
      await m.rec.waitFor(`${T}/polls_per_minute`, (p) => Number(p) >= 1);
      await m.rec.waitFor(`${T}/last_poll`, (p) => Math.abs(Date.parse(p) - Date.now()) < 15_000);
      await m.rec.waitFor(`${T}/server_state`, (p) => /^TCP 127\.0\.0\.1:\d+, unit 1: listening$/.test(p));

      // Importing more than the heat pump draws: a negative surplus, served as such.
      await m.rec.publish('home/grid', '1500');
      await powersBecome(m.client, [-20, -20, -20, -60]);

      // The identity block as a Vitocal checks it.
      const id = await holding(m.client, 0, 20);
      assert.equal(id[1], 52, 'register count');
      assert.equal(String.fromCharCode(id[6]! >> 8, id[6]! & 0xff, id[7]! >> 8, id[7]! & 0xff), 'ALE3');
      assert.equal((await holding(m.client, 23, 1))[0], 1, 'R24 holds the unit id');

      // The real meter's limits: more than 20 registers, or past the map, gives exception 02.
      await assert.rejects(holding(m.client, 0, 21), /Illegal data address/);
      await assert.rejects(holding(m.client, 50, 3), /Illegal data address/);
      await assert.rejects(m.client.readInputRegisters(0, 2), /Illegal function/);
      await m.rec.waitFor(`${T}/request_errors`, (p) => p === '3');
    } finally {
      await m.stop();
    }
  });

  test('rest power in kW, import_positive and all on L1 (the Vitocal 262-A way)', async () => {
    const m = await runMeter({ rest_power: 'rest', sign: 'import_positive', phase_split: 'l1' });
    try {
      await m.rec.publish('home/rest', '1.5');
      await powersBecome(m.client, [-150, 0, 0, -150]);
      await m.rec.waitFor(`${T}/power_served`, (p) => p === '-1500');
      await m.rec.waitFor(`${T}/surplus`, (p) => p === '1500');
      await m.rec.publish('home/rest', '-0.4');
      await powersBecome(m.client, [40, 0, 0, 40]);
      // A payload that is not a number does not change what is served, and is not served for ever.
      await m.rec.publish('home/rest', 'n/a');
      await powersBecome(m.client, [40, 0, 0, 40]);
    } finally {
      await m.stop();
    }
  });

  test('per-phase grid powers, measured split: each phase its own surplus, the heat pump shared out', async () => {
    const m = await runMeter({ grid_l1: 'l1', grid_l2: 'l2', grid_l3: 'l3', heat_pump: 'heat_pump', phase_split: 'measured' });
    try {
      await m.rec.publish('home/heat_pump', '600');
      await m.rec.publish('home/grid_l1', JSON.stringify({ power: -1000 }));
      await m.rec.publish('home/grid_l2', JSON.stringify({ power: 300 }));
      await m.rec.publish('home/grid_l3', JSON.stringify({ power: -50 }));
      // (200 + 1000), (200 − 300), (200 + 50)
      await powersBecome(m.client, [120, -10, 25, 135]);
      await m.rec.waitFor(`${T}/source_reason`, (p) => p === 'heat_pump 600 W − (l1 -1000 W, l2 300 W, l3 -50 W) = 1350 W');
    } finally {
      await m.stop();
    }
  });

  test('a stale source serves 0 W within stale_after, says why, and serves again when it is back', async () => {
    const m = await runMeter({ grid: 'grid', heat_pump: 'heat_pump', stale_after: 2 });
    try {
      await m.rec.publish('home/heat_pump', '0');
      await m.rec.publish('home/grid', '-3000');
      await powersBecome(m.client, [100, 100, 100, 300]);
      const last = Date.now();
      // Only the grid keeps coming: the heat pump's power goes stale.
      const feeding = setInterval(() => void m.rec.publish('home/grid', '-3000'), 300);
      try {
        await powersBecome(m.client, [0, 0, 0, 0], 4000);
        const after = (Date.now() - last) / 1000;
        assert.ok(after <= 2 + 1.2, `0 W after ${after} s (stale_after 2 s, checked every second)`);
        await m.rec.waitFor(`${T}/source_state`, (p) => p === 'stale');
        await m.rec.waitFor(`${T}/source_reason`, (p) => /^serving 0 W: no fresh value from source 'heat_pump' for \d+ s \(the meter's stale_after is 2 s\)$/.test(p));
        await m.rec.waitFor(`${T}/surplus`, (p) => p === 'None');
      } finally {
        clearInterval(feeding);
      }
      await m.rec.publish('home/heat_pump', '0');
      await m.rec.publish('home/grid', '-3000');
      await powersBecome(m.client, [100, 100, 100, 300]);
    } finally {
      await m.stop();
    }
  });

  test('the Serve surplus switch holds the heat pump off from HA (0 W) and is kept across a restart', async () => {
    const dataDir = tempDir();
    let m = await runMeter({ rest_power: 'rest' }, dataDir);
    try {
      await m.rec.publish('home/rest', '2.4');
      await powersBecome(m.client, [80, 80, 80, 240]);
      await m.rec.publish(`${T}/serve_surplus/set`, 'OFF');
      await powersBecome(m.client, [0, 0, 0, 0]);
      await m.rec.waitFor(`${T}/serve_surplus`, (p) => p === 'OFF');
      await m.rec.waitFor(`${T}/source_state`, (p) => p === 'held');
      await m.rec.waitFor(`${T}/source_reason`, (p) => p.startsWith('held off from Home Assistant (Serve surplus is off), serving 0 W; rest 2400 W'));
    } finally {
      await m.stop();
    }
    m = await runMeter({ rest_power: 'rest' }, dataDir);
    try {
      await m.rec.publish('home/rest', '2.4');
      await m.rec.waitFor(`${T}/source_state`, (p) => p === 'held');
      await powersBecome(m.client, [0, 0, 0, 0]);
      await m.rec.publish(`${T}/serve_surplus/set`, 'ON');
      await powersBecome(m.client, [80, 80, 80, 240]);
    } finally {
      await m.stop();
    }
  });

  test('energy counters count the served power in 0.01 kWh, are kept across a restart, and the heat pump can reset the partial one', async () => {
    const dataDir = tempDir();
    const u32 = (regs: number[], at: number) => regs[at]! * 0x10000 + regs[at + 1]!;
    let m = await runMeter({ rest_power: 'rest' }, dataDir);
    let before: number[];
    try {
      await m.rec.publish('home/rest', '300'); // 300 kW: about 83 Wh a second
      await powersBecome(m.client, [10000, 10000, 10000, 30000]);
      assert.deepEqual(m.meter.servedPowerW, [100_000, 100_000, 100_000]);
      // Surplus served as positive power (export_positive) counts into T1.
      let regs: number[] = [];
      const end = Date.now() + 5000;
      while (Date.now() < end) {
        regs = await holding(m.client, 27, 8);
        if (u32(regs, 0) >= 10) break; // 100 Wh
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(u32(regs, 0) >= 10, `T1 total ${u32(regs, 0)} x 10 Wh`);
      assert.equal(u32(regs, 4), 0, 'nothing served as negative power');
      // The heat pump resets the partial counter (FC16, 0 to both registers).
      await m.client.writeRegisters(29, [0, 0]);
      const partial = u32(await holding(m.client, 27, 4), 2);
      assert.ok(partial < u32(regs, 0), `partial ${partial} restarted`);
      await m.rec.publish('home/rest', '0');
      await powersBecome(m.client, [0, 0, 0, 0]);
      before = await holding(m.client, 27, 8);
      await m.rec.waitFor(`${T}/energy_export`, (p) => Math.abs(Number(p) - u32(before, 0) / 100) <= 0.011);
    } finally {
      await m.stop();
    }
    m = await runMeter({ rest_power: 'rest' }, dataDir);
    try {
      const after = await holding(m.client, 27, 8);
      assert.deepEqual(after, before!, 'the counters (total and partial) as they were at the stop');
      await m.rec.waitFor(`${T}/energy_export`, (p) => Number(p) >= u32(after, 0) / 100);
    } finally {
      await m.stop();
    }
  });

  test('SDM630 profile: FC04 float32 powers, holding registers refused', async () => {
    const m = await runMeter({ profile: 'sdm630', grid: 'grid', heat_pump: 'heat_pump', sign: 'import_positive' });
    try {
      await m.rec.publish('home/heat_pump', '1000');
      await m.rec.publish('home/grid', '-2000');
      const floats = (data: number[]) => Array.from({ length: data.length / 2 }, (_, i) => {
        const b = Buffer.alloc(4);
        b.writeUInt16BE(data[2 * i]!, 0);
        b.writeUInt16BE(data[2 * i + 1]!, 2);
        return b.readFloatBE(0);
      });
      let powers: number[] = [];
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        const phases = floats((await m.client.readInputRegisters(0x0c, 6)).data);
        const total = floats((await m.client.readInputRegisters(0x34, 2)).data);
        powers = [...phases, ...total];
        if (powers[3] === -3000) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(powers, [-1000, -1000, -1000, -3000]);
      const voltage = floats((await m.client.readInputRegisters(0, 2)).data)[0];
      assert.equal(voltage, 230);
      await assert.rejects(holding(m.client, 0, 2), /Illegal function/);
    } finally {
      await m.stop();
    }
  });
});

const SERIAL = [
  { name: '19200 8E1 (Vitocal 200-S)', baud: 19200, parity: 'even' },
  { name: '38400 8N1 (Vitocal 262-A)', baud: 38400, parity: 'none' },
] as const;

for (const line of SERIAL) {
  test(`the meter on a serial pair at ${line.name}: the whole map, unit rules, served power`, { timeout: 30_000 }, async () => {
    const pair = await socatPair();
    const t = await startApp(broker.port, {
      automation: { sources: SOURCES },
      viessmann_meter: [{ serial: { port: pair.slave, baud: line.baud, parity: line.parity }, unit_id: 7, rest_power: 'rest' }],
    });
    const rec = await Recorder.connect(broker.port, [`${T}/#`]);
    const client = new ModbusRTU();
    try {
      await rec.waitFor(`${T}/server_state`, (p) => p === `serial ${pair.slave} ${line.baud} 8${line.parity[0]!.toUpperCase()}1, unit 7: open`);
      await client.connectRTUBuffered(pair.master, { baudRate: line.baud, parity: line.parity, dataBits: 8, stopBits: 1 });
      client.setTimeout(500);
      await rec.publish('home/rest', '-0.9');
      client.setID(7);
      let power: number[] = [];
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        power = (await client.readHoldingRegisters(37, 14)).data.filter((_, i) => i % 5 === 0).map(signed);
        if (power[0] === -30) break;
      }
      assert.deepEqual(power, [-30, -30, -30], 'P L1, L2, L3');
      // The whole map in the ALE3's 20-register reads.
      const map = [...(await client.readHoldingRegisters(0, 20)).data, ...(await client.readHoldingRegisters(20, 20)).data, ...(await client.readHoldingRegisters(40, 12)).data];
      assert.equal(map.length, 52);
      assert.equal(map[1], 52);
      assert.equal(map[3]! * 0x10000 + map[4]!, line.baud, 'R4-5: the baud rate');
      assert.equal(map[23], 7, 'R24: the unit id');
      assert.equal(signed(map[50]!), -90, 'R51: total power');
      // Another unit id gets no answer.
      client.setID(8);
      await assert.rejects(client.readHoldingRegisters(0, 2), { message: 'Timed out' });
      await rec.waitFor(`${T}/polls_per_minute`, (p) => Number(p) >= 4);
    } finally {
      await new Promise<void>((resolve) => (client.isOpen ? client.close(() => resolve()) : resolve()));
      await rec.close();
      await t.stop();
      await pair.close();
    }
  });
}

test('a serial port that is not there: the add-on starts, HA is told why, and it opens once the adapter is plugged in', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const path = join(tempDir(), 'ttyUSB-meter');
  const t = await startApp(broker.port, {
    automation: { sources: SOURCES },
    viessmann_meter: [{ serial: { port: path }, tcp: { port, host: '127.0.0.1' }, rest_power: 'rest' }],
  });
  const rec = await Recorder.connect(broker.port, [`${T}/#`]);
  let plugged: ChildProcess | undefined;
  try {
    const state = await rec.waitFor(`${T}/server_state`, (p) => p.startsWith(`serial ${path}: cannot open`));
    assert.match(state.payload, /retrying; TCP 127\.0\.0\.1:\d+, unit 1: listening$/);
    assert.ok(t.logs.some((l) => l.includes(`${path}: cannot open`) && l.includes('trying again every 10 s')), 'the log says it too');
    // The USB adapter appears (a pty linked at that path): the meter opens it at the next try.
    plugged = spawn('/usr/bin/socat', [`pty,raw,echo=0,link=${path}`, 'pty,raw,echo=0'], { stdio: 'ignore' });
    await rec.waitFor(`${T}/server_state`, (p) => p.startsWith(`serial ${path} 19200 8E1, unit 1: open`), 15_000);
    // Unplugged again: said at once (the tty hangs up without an error), and opened again after.
    const mark = rec.mark();
    plugged.kill();
    await rec.waitFor(`${T}/server_state`, (p) => p.startsWith(`serial ${path} closed (`), 3000, mark);
    plugged = spawn('/usr/bin/socat', [`pty,raw,echo=0,link=${path}`, 'pty,raw,echo=0'], { stdio: 'ignore' });
    await rec.waitFor(`${T}/server_state`, (p) => p.startsWith(`serial ${path} 19200 8E1, unit 1: open`), 15_000, mark);
  } finally {
    plugged?.kill();
    await rec.close();
    await t.stop();
  }
});
