// Cuts a serial byte stream into Modbus RTU frames. The standard ends a frame at 3.5 character
// times of silence, but behind a USB-RS485 adapter byte timing is lost: an FTDI chip flushes on
// its 16 ms latency timer, so a request may arrive in two chunks several ms apart, and a short
// silence timer would cut it in two. So a request whose length follows from its function code
// (FC01–06: 8 bytes, FC15/16: 9 + byte count) ends as soon as it is complete with a good CRC,
// which answers at once; anything else (unknown functions, a bad CRC, another slave's answer)
// ends at the silence, which is never shorter than 3.5 characters.
import { crcOk } from './crc.js';

/** The longest RTU frame the standard allows. */
export const MAX_RTU_FRAME = 256;

/** The length a request must have, judged from its first bytes; 'more' when it cannot tell yet. */
export function expectedRequestLength(buf: Uint8Array): number | 'more' | 'unknown' {
  if (buf.length < 2) return 'more';
  const fn = buf[1]!;
  if (fn >= 1 && fn <= 6) return 8;
  if (fn === 15 || fn === 16) return buf.length < 7 ? 'more' : 9 + buf[6]!;
  return 'unknown';
}

/** 3.5 character times in ms; the standard fixes 1.75 ms above 19200 baud. */
export function silence35Ms(baudRate: number, bitsPerChar: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * bitsPerChar * 1000) / baudRate;
}

export class RtuFramer {
  private buffer: Buffer = Buffer.alloc(0);
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** After an overflow, bytes are dropped until the line goes quiet. */
  private discarding = false;

  constructor(
    private readonly silenceMs: number,
    private readonly onFrame: (frame: Buffer) => void,
  ) {}

  push(data: Buffer): void {
    if (!this.discarding) {
      this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
      while (this.buffer.length > 0) {
        const length = expectedRequestLength(this.buffer);
        if (typeof length !== 'number' || this.buffer.length < length) break;
        const frame = this.buffer.subarray(0, length);
        if (!crcOk(frame)) break;
        this.buffer = this.buffer.subarray(length);
        this.onFrame(frame);
      }
      if (this.buffer.length > MAX_RTU_FRAME) {
        this.buffer = Buffer.alloc(0);
        this.discarding = true;
      }
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = this.buffer.length > 0 || this.discarding ? setTimeout(() => this.onSilence(), this.silenceMs) : undefined;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.buffer = Buffer.alloc(0);
  }

  private onSilence(): void {
    this.timer = undefined;
    const frame = this.buffer;
    this.buffer = Buffer.alloc(0);
    this.discarding = false;
    if (frame.length > 0) this.onFrame(frame);
  }
}
