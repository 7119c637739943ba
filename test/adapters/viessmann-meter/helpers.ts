// What the meter's tests share: a reference CRC from modbus-serial (not ours), frame builders,
// a virtual serial pair from socat, and raw masters that record every byte they receive.
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { SerialPort } from 'serialport';

export { socatPair } from '../../../src/simulators/serial-pair.js';

const require = createRequire(import.meta.url);
const referenceCrc: (buf: Buffer) => number = require('modbus-serial/utils/crc16.js');

/** An RTU frame: unit, PDU, CRC (computed by modbus-serial's own function). */
export function rtuFrame(unit: number, pdu: readonly number[] | Buffer): Buffer {
  const body = Buffer.from([unit, ...pdu]);
  const crc = referenceCrc(body);
  return Buffer.concat([body, Buffer.from([crc & 0xff, crc >>> 8])]);
}

export const readPdu = (fn: number, address: number, count: number) => [fn, address >> 8, address & 0xff, count >> 8, count & 0xff];

export function mbapFrame(transaction: number, unit: number, pdu: readonly number[] | Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt16BE(transaction, 0);
  header.writeUInt16BE(pdu.length + 1, 4);
  header[6] = unit;
  return Buffer.concat([header, Buffer.from(pdu)]);
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Collects bytes; `until(n)` resolves once n bytes were received since the last `take()`. */
class ByteCollector {
  bytes: Buffer = Buffer.alloc(0);
  private waiter: { length: number; resolve: () => void } | undefined;

  push(data: Buffer): void {
    this.bytes = Buffer.concat([this.bytes, data]);
    if (this.waiter && this.bytes.length >= this.waiter.length) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve();
    }
  }

  async until(length: number, timeoutMs = 2000): Promise<Buffer> {
    if (this.bytes.length < length) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${length} bytes, got ${this.bytes.toString('hex')}`)), timeoutMs);
        this.waiter = {
          length,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    }
    return this.bytes;
  }

  take(): Buffer {
    const bytes = this.bytes;
    this.bytes = Buffer.alloc(0);
    return bytes;
  }
}

export class RawTcpMaster extends ByteCollector {
  private constructor(readonly socket: Socket) {
    super();
    socket.on('data', (data: Buffer) => this.push(data));
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawTcpMaster> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.setNoDelay(true);
    return new RawTcpMaster(socket);
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  close(): void {
    this.socket.destroy();
  }
}

export class RawSerialMaster extends ByteCollector {
  /** When the last request was handed to the OS, and when the first byte after it came back. */
  sentAt = 0;
  firstByteAt = 0;

  private constructor(readonly port: SerialPort) {
    super();
    port.on('data', (data: Buffer) => {
      if (this.bytes.length === 0) this.firstByteAt = performance.now();
      this.push(data);
    });
  }

  static async open(path: string, baudRate: number, parity: 'even' | 'none'): Promise<RawSerialMaster> {
    const port = new SerialPort({ path, baudRate, parity, dataBits: 8, stopBits: 1, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    return new RawSerialMaster(port);
  }

  async send(frame: Buffer): Promise<void> {
    this.sentAt = performance.now();
    this.port.write(frame);
    await new Promise<void>((resolve, reject) => this.port.drain((error) => (error ? reject(error) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}
