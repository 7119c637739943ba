// The meter's Modbus slave: request handling we own end to end, over Modbus TCP and RTU on a
// serial port. Why not modbus-serial's ServerSerial / ServerTCP (research §3.2–3.3): its CRC
// check has no effect (the received CRC is overwritten before the comparison, issue #560) and
// its vector callbacks never see the raw frame, so they cannot refuse a corrupted request; it
// ends frames on a fixed 30 ms silence; it answers FC01–06/15/16/17/43 where the ALE3 answers
// exception 01. So the serial side opens the port with `serialport` (the package modbus-serial
// already depends on, loaded lazily so that TCP works where its native part is missing) and
// frames RTU itself (rtu-framer.ts); the TCP side is node:net with the MBAP header.
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { withCrc, crcOk } from './crc.js';
import { RtuFramer, silence35Ms } from './rtu-framer.js';

export type ExceptionCode = 1 | 2 | 3 | 4;

/** A register map as the slave sees it. */
export interface RegisterBank {
  /** The function that reads this map: 3 (holding registers, ALE3) or 4 (input registers, SDM630). */
  readonly readFunction: 3 | 4;
  /** 16 when the map accepts writes (write multiple registers). */
  readonly writeFunction?: 16;
  /** More registers in one read give exception 02, as on the ALE3. */
  readonly maxReadCount: number;
  /** Registers [address, address + count), or undefined when any lies outside the map. */
  read(address: number, count: number): ArrayLike<number> | undefined;
  /** Undefined when written, else the exception to answer. */
  write?(address: number, values: readonly number[]): ExceptionCode | undefined;
}

export type RequestOutcome =
  | 'answered' // a normal response was sent
  | 'exception' // an exception response was sent
  | 'broadcast' // unit 0: writes done, nothing answered
  | 'other-unit' // for another slave on the bus: ignored
  | 'bad-crc' // RTU frame failing its CRC: ignored
  | 'malformed'; // too short to be a request: ignored

export interface RequestEvent {
  transport: 'tcp' | 'rtu';
  outcome: RequestOutcome;
  unitId?: number;
  functionCode?: number;
  address?: number;
  count?: number;
  exceptionCode?: ExceptionCode;
}

export interface SlaveOptions {
  /** The unit id answered (1–247); unit 0 is broadcast. */
  unitId: number;
  bank: RegisterBank;
  /** Called for every request, after its answer was written: polls, errors, statistics. */
  onRequest?: (event: RequestEvent) => void;
}

interface PduResult {
  response?: Buffer;
  event: Omit<RequestEvent, 'transport' | 'unitId'>;
}

const exception = (fn: number, code: ExceptionCode): PduResult => ({
  response: Buffer.from([(fn | 0x80) & 0xff, code]),
  event: { outcome: 'exception', functionCode: fn, exceptionCode: code },
});

/** Handles one request PDU (function code + data); no response for a broadcast. */
export function handlePdu(bank: RegisterBank, pdu: Uint8Array, broadcast: boolean): PduResult {
  const result = answerPdu(bank, pdu, broadcast);
  if (!broadcast || result.event.outcome === 'malformed') return result;
  return { event: { ...result.event, outcome: 'broadcast' } };
}

function answerPdu(bank: RegisterBank, pdu: Uint8Array, broadcast: boolean): PduResult {
  if (pdu.length === 0) return { event: { outcome: 'malformed' } };
  const fn = pdu[0]!;
  const u16 = (at: number) => (pdu[at]! << 8) | pdu[at + 1]!;
  if (fn === bank.readFunction) {
    if (pdu.length !== 5) return exception(fn, 3);
    const address = u16(1);
    const count = u16(3);
    const withRange = (result: PduResult): PduResult => ({ ...result, event: { ...result.event, address, count } });
    if (count === 0) return withRange(exception(fn, 3));
    if (count > bank.maxReadCount) return withRange(exception(fn, 2));
    if (broadcast) return withRange({ event: { outcome: 'broadcast', functionCode: fn } });
    const values = bank.read(address, count);
    if (!values) return withRange(exception(fn, 2));
    const response = Buffer.alloc(2 + 2 * count);
    response[0] = fn;
    response[1] = 2 * count;
    for (let i = 0; i < count; i++) response.writeUInt16BE(values[i]! & 0xffff, 2 + 2 * i);
    return { response, event: { outcome: 'answered', functionCode: fn, address, count } };
  }
  if (fn === 16 && bank.writeFunction === 16 && bank.write) {
    if (pdu.length < 6) return exception(fn, 3);
    const address = u16(1);
    const count = u16(3);
    const byteCount = pdu[5]!;
    if (count < 1 || count > 123 || byteCount !== 2 * count || pdu.length !== 6 + byteCount) return exception(fn, 3);
    const values = Array.from({ length: count }, (_, i) => u16(6 + 2 * i));
    const refused = bank.write(address, values);
    if (refused) return { ...exception(fn, refused), event: { ...exception(fn, refused).event, address, count } };
    return { response: Buffer.from(pdu.subarray(0, 5)), event: { outcome: 'answered', functionCode: fn, address, count } };
  }
  return exception(fn, 1);
}

/** Handles one RTU frame (address, PDU, CRC); the answer to write back, if any. */
export function handleRtuFrame(options: SlaveOptions, frame: Uint8Array): { response?: Buffer; event: RequestEvent } {
  if (frame.length < 4) return { event: { transport: 'rtu', outcome: 'malformed' } };
  const unitId = frame[0]!;
  if (!crcOk(frame)) return { event: { transport: 'rtu', outcome: 'bad-crc', unitId } };
  if (unitId !== 0 && unitId !== options.unitId) return { event: { transport: 'rtu', outcome: 'other-unit', unitId, functionCode: frame[1]! } };
  const result = handlePdu(options.bank, frame.subarray(1, frame.length - 2), unitId === 0);
  const event: RequestEvent = { transport: 'rtu', unitId, ...result.event };
  if (!result.response) return { event };
  return { response: withCrc(Buffer.concat([Buffer.from([options.unitId]), result.response])), event };
}

export interface ModbusSlaveServer {
  close(): Promise<void>;
}

export interface TcpSlaveOptions extends SlaveOptions {
  /** Default 127.0.0.1: nothing outside the add-on reaches the meter unless asked for. */
  host?: string;
  /** Default 502; 0 picks a free port (tests). */
  port?: number;
  maxConnections?: number;
}

export interface TcpSlaveServer extends ModbusSlaveServer {
  readonly host: string;
  readonly port: number;
}

const MBAP_HEADER = 7;

/** Modbus TCP: MBAP header (transaction, protocol 0, length, unit) + PDU; same unit rules as RTU. */
export async function startTcpSlave(options: TcpSlaveOptions): Promise<TcpSlaveServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      buffer = buffer.length === 0 ? data : Buffer.concat([buffer, data]);
      while (buffer.length >= MBAP_HEADER) {
        const protocol = buffer.readUInt16BE(2);
        const length = buffer.readUInt16BE(4);
        // Not Modbus, or a length no request can have: the stream cannot be resynchronised.
        if (protocol !== 0 || length < 2 || length > 254) {
          options.onRequest?.({ transport: 'tcp', outcome: 'malformed' });
          socket.destroy();
          return;
        }
        if (buffer.length < 6 + length) break;
        const frame = buffer.subarray(0, 6 + length);
        buffer = buffer.subarray(6 + length);
        const unitId = frame[6]!;
        if (unitId !== 0 && unitId !== options.unitId) {
          options.onRequest?.({ transport: 'tcp', outcome: 'other-unit', unitId, functionCode: frame[7]! });
          continue;
        }
        const result = handlePdu(options.bank, frame.subarray(MBAP_HEADER), unitId === 0);
        if (result.response) {
          const header = Buffer.alloc(MBAP_HEADER);
          frame.copy(header, 0, 0, 2);
          header.writeUInt16BE(result.response.length + 1, 4);
          header[6] = unitId;
          socket.write(Buffer.concat([header, result.response]));
        }
        options.onRequest?.({ transport: 'tcp', unitId, ...result.event });
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  server.maxConnections = options.maxConnections ?? 8;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 502, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    host,
    port: typeof address === 'object' && address ? address.port : (options.port ?? 502),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface SerialSlaveOptions extends SlaveOptions {
  path: string;
  baudRate: number;
  parity: 'even' | 'odd' | 'none';
  dataBits: 7 | 8;
  stopBits: 1 | 2;
  /**
   * Silence that ends a frame whose length the function code does not tell, ms. Default 20: above
   * a USB adapter's latency timer, well under the 60 ms the ALE3 may take to answer; never below
   * 3.5 characters.
   */
  silenceMs?: number;
  /** The port failed or closed (adapter unplugged), called once: the owner decides whether to reopen. */
  onClose?: (error?: Error) => void;
}

/** RTU slave on a serial port; resolves once the port is open. */
export async function startSerialSlave(options: SerialSlaveOptions): Promise<ModbusSlaveServer> {
  const { SerialPort } = await import('serialport');
  const bitsPerChar = 1 + options.dataBits + (options.parity === 'none' ? 0 : 1) + options.stopBits;
  const silenceMs = Math.max(options.silenceMs ?? 20, silence35Ms(options.baudRate, bitsPerChar));
  const port = new SerialPort({
    path: options.path,
    baudRate: options.baudRate,
    parity: options.parity,
    dataBits: options.dataBits,
    stopBits: options.stopBits,
    autoOpen: false,
  });
  let closing = false;
  let reported = false;
  const lost = (error?: Error) => {
    if (closing || reported) return;
    reported = true;
    options.onClose?.(error);
  };
  const framer = new RtuFramer(silenceMs, (frame) => {
    const { response, event } = handleRtuFrame(options, frame);
    if (response) port.write(response);
    options.onRequest?.(event);
  });
  port.on('data', (data: Buffer) => framer.push(data));
  port.on('error', (error: Error) => lost(error));
  port.on('close', (error?: Error | null) => {
    framer.stop();
    clearInterval(watchdog);
    lost(error ?? undefined);
  });
  // A tty that hangs up (a USB adapter unplugged, the far end of a pty closed) reads 0 bytes, and
  // serialport's reader retries that at once, for ever, without an event: it would spin and grow
  // until the process dies. The device node goes away with it, so watch the path instead.
  const watchdog = setInterval(() => {
    if (existsSync(options.path)) return;
    lost(new Error(`${options.path} is gone (adapter unplugged?)`));
    if (port.isOpen) port.close(() => undefined);
    clearInterval(watchdog);
  }, 250);
  watchdog.unref();
  try {
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  } catch (error) {
    clearInterval(watchdog);
    throw error;
  }
  return {
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        clearInterval(watchdog);
        framer.stop();
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };
}
