// GivEnergy's dongle framing (TCP 8899): an MBAP-like header (transaction 0x5959, protocol 1,
// length, unit, function id), then either a heartbeat or a "transparent" Modbus-RTU-like PDU
// with a CRC-16/MODBUS, low byte first. Layout and rules: shared research givenergy.md §1.

export const MARKER = Buffer.from([0x59, 0x59, 0x00, 0x01]);
export const CLIENT_SERIAL = 'AB1234G567';
const MIN_FRAME = 18;
const MAX_LENGTH = 300;

export function crc16modbus(buf: Buffer, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= buf[i]!;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

export type Frame =
  | { kind: 'heartbeat'; adapterSerial: string; adapterType: number }
  | { kind: 'read-request'; device: number; fn: number; base: number; count: number; crcOk: boolean }
  | { kind: 'write-request'; device: number; register: number; value: number; crcOk: boolean }
  | {
      kind: 'read-response';
      adapterSerial: string;
      device: number;
      fn: number;
      inverterSerial: string;
      base: number;
      count: number;
      values: number[];
      crcOk: boolean;
    }
  | { kind: 'write-response'; adapterSerial: string; device: number; inverterSerial: string; register: number; value: number; crcOk: boolean }
  | { kind: 'exception'; adapterSerial: string; device: number; fn: number; inverterSerial: string; base: number; count: number; crcOk: boolean }
  | { kind: 'null'; adapterSerial: string; device: number; crcOk: boolean }
  | { kind: 'lan-config'; adapterSerial: string }
  | { kind: 'unknown'; reason: string };

const ascii = (buf: Buffer, start: number, end: number) => buf.subarray(start, end).toString('latin1').replace(/\0/g, '');

function crcMatches(frame: Buffer, from: number): boolean {
  return crc16modbus(frame, from, frame.length - 2) === frame.readUInt16LE(frame.length - 2);
}

/** Decodes one complete frame (as cut by the Framer). Never throws. */
export function decodeFrame(frame: Buffer): Frame {
  const fid = frame[7];
  if (fid === 0x01) {
    if (frame.length < 19) return { kind: 'unknown', reason: 'short heartbeat' };
    return { kind: 'heartbeat', adapterSerial: ascii(frame, 8, 18), adapterType: frame[18]! };
  }
  if (frame.length < 28) return { kind: 'unknown', reason: `transparent frame of ${frame.length} bytes` };
  const adapterSerial = ascii(frame, 8, 18);
  if (frame[25] === 0x2c) return { kind: 'lan-config', adapterSerial }; // ",ip,netmask,gateway"
  const device = frame[26]!;
  const fn = frame[27]!;
  if (frame.length === 34 && frame.readUInt32BE(18) === 0 && frame.readUInt32BE(22) === 8) {
    // A client request: address, function, two words, CRC over bytes 26..31.
    const crcOk = crcMatches(frame, 26);
    if (fn === 0x06) return { kind: 'write-request', device, register: frame.readUInt16BE(28), value: frame.readUInt16BE(30), crcOk };
    return { kind: 'read-request', device, fn, base: frame.readUInt16BE(28), count: frame.readUInt16BE(30), crcOk };
  }
  if (frame.length < 44) return { kind: 'unknown', reason: `response of ${frame.length} bytes` };
  const crcOk = crcMatches(frame, 26);
  const inverterSerial = ascii(frame, 28, 38);
  if (fn === 0x00) return { kind: 'null', adapterSerial, device, crcOk };
  if (fn & 0x80) {
    return { kind: 'exception', adapterSerial, device, fn: fn & 0x7f, inverterSerial, base: frame.readUInt16BE(38), count: frame.readUInt16BE(40), crcOk };
  }
  if (fn === 0x06) {
    return { kind: 'write-response', adapterSerial, device, inverterSerial, register: frame.readUInt16BE(38), value: frame.readUInt16BE(40), crcOk };
  }
  const base = frame.readUInt16BE(38);
  const count = frame.readUInt16BE(40);
  if (frame.length !== 44 + 2 * count) return { kind: 'unknown', reason: `read response of ${frame.length} bytes for ${count} registers` };
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(frame.readUInt16BE(42 + 2 * i));
  return { kind: 'read-response', adapterSerial, device, fn, inverterSerial, base, count, values, crcOk };
}

function header(totalLength: number, fid: number, uid = 0x01): Buffer {
  const h = Buffer.alloc(8);
  MARKER.copy(h, 0);
  h.writeUInt16BE(totalLength - 6, 4);
  h[6] = uid;
  h[7] = fid;
  return h;
}

function serialBytes(serial: string): Buffer {
  const b = Buffer.alloc(10);
  b.write(serial.slice(0, 10), 'latin1');
  return b;
}

/** Transparent frame: header, adapter serial, the u64 byte count that follows, body, CRC. */
function transparent(adapterSerial: string, body: Buffer, crcFrom = 0): Buffer {
  const total = 26 + body.length + 2;
  const remaining = Buffer.alloc(8);
  remaining.writeBigUInt64BE(BigInt(total - 26));
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16modbus(body, crcFrom));
  return Buffer.concat([header(total, 0x02), serialBytes(adapterSerial), remaining, body, crc]);
}

export function encodeReadRequest(device: number, fn: 0x03 | 0x04, base: number, count: number): Buffer {
  const body = Buffer.alloc(6);
  body[0] = device;
  body[1] = fn;
  body.writeUInt16BE(base, 2);
  body.writeUInt16BE(count, 4);
  return transparent(CLIENT_SERIAL, body);
}

export function encodeWriteRequest(device: number, register: number, value: number): Buffer {
  const body = Buffer.alloc(6);
  body[0] = device;
  body[1] = 0x06;
  body.writeUInt16BE(register, 2);
  body.writeUInt16BE(value, 4);
  return transparent(CLIENT_SERIAL, body);
}

export function encodeHeartbeat(adapterSerial: string, adapterType: number): Buffer {
  return Buffer.concat([header(19, 0x01), serialBytes(adapterSerial), Buffer.from([adapterType])]);
}

export function encodeReadResponse(adapterSerial: string, device: number, fn: number, inverterSerial: string, base: number, values: number[]): Buffer {
  const body = Buffer.alloc(16 + 2 * values.length);
  body[0] = device;
  body[1] = fn;
  serialBytes(inverterSerial).copy(body, 2);
  body.writeUInt16BE(base, 12);
  body.writeUInt16BE(values.length, 14);
  values.forEach((v, i) => body.writeUInt16BE(v & 0xffff, 16 + 2 * i));
  return transparent(adapterSerial, body);
}

export function encodeWriteResponse(adapterSerial: string, device: number, inverterSerial: string, register: number, value: number, failed = false): Buffer {
  const body = Buffer.alloc(16);
  body[0] = device;
  body[1] = failed ? 0x86 : 0x06;
  serialBytes(inverterSerial).copy(body, 2);
  body.writeUInt16BE(register, 12);
  body.writeUInt16BE(value, 14);
  return transparent(adapterSerial, body);
}

export function encodeException(adapterSerial: string, device: number, fn: number, inverterSerial: string, base: number, count: number): Buffer {
  const body = Buffer.alloc(16);
  body[0] = device;
  body[1] = fn | 0x80;
  serialBytes(inverterSerial).copy(body, 2);
  body.writeUInt16BE(base, 12);
  body.writeUInt16BE(count, 14);
  return transparent(adapterSerial, body);
}

/** The unsolicited all-zero page dongles send now and then (fn 0, zero serial, 62 zero words). */
export function encodeNull(adapterSerial: string, device = 0x22): Buffer {
  const body = Buffer.alloc(2 + 10 + 124);
  body[0] = device;
  return transparent(adapterSerial, body);
}

export interface FramerStats {
  frames: number;
  junkBytes: number;
  rejectedHeaders: number;
  corrupt: number;
}

/**
 * Cuts a byte stream into frames: finds the marker, checks the header, waits for the rest of a
 * split frame, takes several from one read, and drops noise between them.
 */
export class Framer {
  private buffer: Buffer = Buffer.alloc(0);
  readonly stats: FramerStats = { frames: 0, junkBytes: 0, rejectedHeaders: 0, corrupt: 0 };

  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const frames: Buffer[] = [];
    for (;;) {
      const at = this.buffer.indexOf(MARKER);
      if (at < 0) {
        // Keep what could be the start of a marker.
        const keep = Math.min(3, this.buffer.length);
        this.stats.junkBytes += this.buffer.length - keep;
        this.buffer = this.buffer.subarray(this.buffer.length - keep);
        return frames;
      }
      if (at > 0) {
        this.stats.junkBytes += at;
        this.buffer = this.buffer.subarray(at);
      }
      if (this.buffer.length < 8) return frames;
      const length = this.buffer.readUInt16BE(4);
      const uid = this.buffer[6]!;
      const fid = this.buffer[7]!;
      const total = length + 6;
      if (length > MAX_LENGTH || uid > 1 || (fid !== 1 && fid !== 2) || total < MIN_FRAME + 1) {
        this.stats.rejectedHeaders++;
        this.buffer = this.buffer.subarray(4);
        continue;
      }
      // Another marker inside the first bytes: this frame was cut off; start over there.
      const next = this.buffer.indexOf(MARKER, 4);
      if (next >= 0 && next < Math.min(total, MIN_FRAME)) {
        this.stats.corrupt++;
        this.buffer = this.buffer.subarray(next);
        continue;
      }
      if (this.buffer.length < total) return frames; // the rest comes with a later read
      frames.push(Buffer.from(this.buffer.subarray(0, total)));
      this.stats.frames++;
      this.buffer = this.buffer.subarray(total);
    }
  }

  /** Bytes waiting for the rest of a frame. */
  get pending(): number {
    return this.buffer.length;
  }

  reset(): void {
    this.buffer = Buffer.alloc(0);
  }
}
