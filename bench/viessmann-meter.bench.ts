// Viessmann meter benchmarks (issue 11): how fast the emulated ALE3 answers a heat pump over TCP
// and over a serial pair at 19200 8E1, and how old the surplus is when the heat pump reads it.
// The add-on runs with the meter; the heat pump is modbus-serial's client or raw bytes on a pty.
import modbusSerial from 'modbus-serial';
import type { TestBroker } from '../test/helpers/broker.js';
import { freePort } from '../test/helpers/broker.js';
import { startApp, type TestApp } from '../test/helpers/app.js';
import { Recorder, sleep } from '../test/helpers/mqtt-client.js';
import { RawSerialMaster, readPdu, rtuFrame, socatPair } from '../test/adapters/viessmann-meter/helpers.js';
import { summary, type Row } from './stats.js';

const ModbusRTU = modbusSerial.default;
const SOURCES = [{ name: 'rest', mqtt: { topic: 'bench/rest', unit: 'W' }, stale_after: 60 }];

export async function benchViessmannMeter(broker: TestBroker): Promise<Row[]> {
  return [...(await overTcp(broker)), ...(await overSerial(broker))];
}

async function withMeter<T>(broker: TestBroker, meter: Record<string, unknown>, run: (t: TestApp, rec: Recorder) => Promise<T>): Promise<T> {
  const t = await startApp(broker.port, { log_level: 'warning', automation: { sources: SOURCES }, viessmann_meter: [{ rest_power: 'rest', ...meter }] });
  const rec = await Recorder.connect(broker.port);
  try {
    return await run(t, rec);
  } finally {
    await rec.close();
    await t.stop();
  }
}

async function overTcp(broker: TestBroker): Promise<Row[]> {
  const port = await freePort();
  return withMeter(broker, { tcp: { port, host: '127.0.0.1' } }, async (_t, rec) => {
    const client = new ModbusRTU();
    await client.connectTCP('127.0.0.1', { port });
    client.setID(1);
    client.setTimeout(1000);
    try {
      // What a Vitocal reads: the power block, 16 registers from wire 35.
      for (let i = 0; i < 300; i++) await client.readHoldingRegisters(35, 16); // warm-up (JIT)
      const response: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const start = performance.now();
        await client.readHoldingRegisters(35, 16);
        response.push(performance.now() - start);
      }

      // Measurement -> register: publish a new surplus, poll until the heat pump reads it.
      const toRegister: number[] = [];
      for (let i = 1; i <= 200; i++) {
        const watts = (i % 2 ? 3000 : 6000) + i * 30; // a new register value every time
        const sent = performance.now();
        await rec.publish('bench/rest', String(watts), { qos: 0 });
        while ((await client.readHoldingRegisters(50, 1)).data[0] !== Math.round(watts / 10)) {
          if (performance.now() - sent > 2000) throw new Error(`the meter never served ${watts} W`);
        }
        toRegister.push(performance.now() - sent);
      }

      // Age at a Vitocal-like poll: the source publishes every second, the heat pump polls every
      // 1.3 s (out of step with it); the age is the time since the value it reads was published.
      const publishedAt = new Map<number, number>();
      let value = 0;
      const publisher = setInterval(() => {
        value = (value % 3000) + 1;
        publishedAt.set(value, performance.now());
        void rec.publish('bench/rest', String(value * 10), { qos: 0 });
      }, 1000);
      const ages: number[] = [];
      try {
        await sleep(1200);
        for (let i = 0; i < 25; i++) {
          const read = (await client.readHoldingRegisters(50, 1)).data[0]!;
          const at = publishedAt.get(read);
          if (at !== undefined) ages.push(performance.now() - at);
          await sleep(1300);
        }
      } finally {
        clearInterval(publisher);
      }
      return [
        summary('TCP: poll of 16 registers, request -> answer (modbus-serial client)', response, 'ms', 'p99 < 5 ms; the ALE3: < 60 ms'),
        summary('measurement -> register (MQTT publish -> the heat pump reads it), TCP', toRegister, 'ms'),
        summary('age of the served value at a poll (source every 1 s, poll every 1.3 s)', ages, 'ms', 'mqtt2vitocal: unbounded (no staleness)'),
      ];
    } finally {
      await new Promise<void>((resolve) => client.close(() => resolve()));
    }
  });
}

async function overSerial(broker: TestBroker): Promise<Row[]> {
  const pair = await socatPair();
  try {
    return await withMeter(broker, { serial: { port: pair.slave, baud: 19200, parity: 'even' } }, async () => {
      const raw = await RawSerialMaster.open(pair.master, 19200, 'even');
      try {
        const request = rtuFrame(1, readPdu(3, 35, 16));
        const times: number[] = [];
        // The first requests may meet the port before it is open in the add-on.
        for (let i = 0; i < 520; i++) {
          raw.take();
          await raw.send(request);
          try {
            await raw.until(5 + 2 * 16, 500);
          } catch {
            continue;
          }
          if (i >= 20) times.push(raw.firstByteAt - raw.sentAt);
        }
        return [
          summary('serial pty 19200 8E1: request\'s last byte -> answer\'s first byte', times, 'ms', 'the ALE3: ~5 characters (2.9 ms), max 60 ms'),
        ];
      } finally {
        await raw.close();
      }
    });
  } finally {
    await pair.close();
  }
}
