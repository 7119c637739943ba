// A client of pigpiod's socket interface (the pigpio daemon, port 8888): four commands are all a
// relay and a servo need, so a small client of our own instead of a library. Each request is
// four little-endian uint32 (cmd, p1, p2, p3 = length of an extension, none here); the daemon
// answers in order with cmd, p1, p2 and a signed result (< 0: a pigpio error). Requests are
// written at once (pipelined), so a fail-safe's commands are on the socket when send() returns.
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';

export const PIGPIO = { MODES: 0, WRITE: 4, SERVO: 8, HWVER: 17 } as const;
export const MODE = { input: 0, output: 1 } as const;

/** pigpio's error codes that a relay and a servo can meet (pigpio.h). */
const ERRORS: Record<number, string> = {
  [-2]: 'PI_BAD_USER_GPIO',
  [-3]: 'PI_BAD_GPIO',
  [-4]: 'PI_BAD_MODE',
  [-5]: 'PI_BAD_LEVEL',
  [-7]: 'PI_BAD_PULSEWIDTH',
  [-41]: 'PI_NOT_PERMITTED',
  [-42]: 'PI_SOME_PERMITTED',
  [-88]: 'PI_UNKNOWN_COMMAND',
  [-93]: 'PI_NOT_SERVO_GPIO',
};

export class PigpioError extends Error {
  constructor(
    readonly command: number,
    readonly code: number,
  ) {
    super(`pigpiod refused command ${command}: ${ERRORS[code] ?? 'error'} (${code})`);
  }
}

interface Pending {
  command: number;
  resolve: (result: number) => void;
  reject: (error: Error) => void;
}

export interface PigpiodClientOptions {
  host: string;
  port: number;
  /** A request without an answer after this long ends the connection (the daemon hangs). */
  timeoutMs?: number;
  /** Waits between reconnect attempts. */
  backoff?: { initialMs: number; maxMs: number };
}

/**
 * Events: 'connected', 'disconnected' (with the reason), 'problem' (an attempt failed, with the
 * reason). Reconnects by itself until close();
 * every request made while disconnected fails at once.
 */
export class PigpiodClient extends EventEmitter {
  private socket?: Socket;
  private pending: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private ready = false;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;
  private retryMs: number;
  private watchdog?: NodeJS.Timeout;
  /** Why the last attempt failed, if it did. */
  lastError?: string;

  constructor(private readonly options: PigpiodClientOptions) {
    super();
    this.retryMs = options.backoff?.initialMs ?? 1000;
  }

  get connected(): boolean {
    return this.ready;
  }

  get describe(): string {
    return `pigpiod ${this.options.host}:${this.options.port}`;
  }

  connect(): void {
    if (this.closed || this.socket) return;
    const socket = new Socket();
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.receive(data));
    socket.on('error', (error: NodeJS.ErrnoException) => (this.lastError = error.code ?? error.message));
    socket.on('close', () => this.lost(this.lastError ?? 'connection closed'));
    socket.connect(this.options.port, this.options.host, () => {
      // The daemon says hello to nothing: ask its hardware revision to know it is pigpiod.
      this.ready = true;
      this.send(PIGPIO.HWVER, 0, 0).then(
        () => {
          this.lastError = undefined;
          this.retryMs = this.options.backoff?.initialMs ?? 1000;
          this.emit('connected');
        },
        (error: Error) => socket.destroy(error),
      );
    });
  }

  /** One request; resolves with the daemon's result (≥ 0) or rejects with its error. */
  send(command: number, p1: number, p2: number): Promise<number> {
    const socket = this.socket;
    if (!this.ready || !socket) return Promise.reject(new Error(`not connected to ${this.describe}${this.lastError ? ` (${this.lastError})` : ''}`));
    const frame = Buffer.alloc(16);
    frame.writeUInt32LE(command, 0);
    frame.writeUInt32LE(p1 >>> 0, 4);
    frame.writeUInt32LE(p2 >>> 0, 8);
    frame.writeUInt32LE(0, 12);
    socket.write(frame);
    this.armWatchdog();
    return new Promise((resolve, reject) => this.pending.push({ command, resolve, reject }));
  }

  private receive(data: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
    while (this.buffer.length >= 16) {
      const answer = this.buffer.subarray(0, 16);
      this.buffer = this.buffer.subarray(16);
      const request = this.pending.shift();
      if (!request) continue;
      const command = answer.readUInt32LE(0);
      const result = answer.readInt32LE(12);
      if (command !== request.command) {
        request.reject(new Error(`pigpiod answered command ${command} to ${request.command}: not a pigpio daemon?`));
        this.socket?.destroy();
        return;
      }
      if (result < 0) request.reject(new PigpioError(command, result));
      else request.resolve(result);
    }
    this.armWatchdog();
  }

  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    if (!this.pending.length) return;
    this.watchdog = setTimeout(() => {
      this.lastError = `no answer within ${this.options.timeoutMs ?? 3000} ms`;
      this.socket?.destroy();
    }, this.options.timeoutMs ?? 3000);
  }

  private lost(reason: string): void {
    clearTimeout(this.watchdog);
    const wasReady = this.ready;
    this.ready = false;
    this.socket = undefined;
    this.buffer = Buffer.alloc(0);
    for (const request of this.pending.splice(0)) request.reject(new Error(`connection to ${this.describe} lost (${reason})`));
    if (this.closed) return; // our own close: nothing was lost
    if (wasReady) this.emit('disconnected', reason);
    else this.emit('problem', reason);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, this.options.backoff?.maxMs ?? 30_000);
  }

  /** Waits for the requests already written (a fail-safe's), then disconnects for good. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const last = this.pending.at(-1);
    if (last) await new Promise<void>((resolve) => {
      const done = () => resolve();
      const timer = setTimeout(done, 1000);
      const { resolve: ok, reject: failed } = last;
      last.resolve = (v) => (clearTimeout(timer), ok(v), done());
      last.reject = (e) => (clearTimeout(timer), failed(e), done());
    });
    const socket = this.socket;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 500).unref();
    });
  }
}
