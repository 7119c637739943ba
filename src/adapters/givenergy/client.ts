// One TCP connection to a GivEnergy dongle. Heartbeats are answered at once; requests go one at
// a time with a gap between frames; a response is matched to its request by shape (device,
// function, base, count; register for writes), never by arrival order, because the dongle also
// forwards answers meant for the cloud and the app. A frame failing its CRC, and a page of known
// garbage, count as no answer: the request times out and is tried again.
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { reconnectWait } from '../../core/backoff.js';
import type { Logger } from '../../core/logger.js';
import { CLIENT_SERIAL, Framer, decodeFrame, encodeHeartbeat, encodeReadRequest, encodeWriteRequest, type Frame } from './frame.js';
import { isGarbagePage } from './registers.js';

export interface ClientOptions {
  host: string;
  port: number;
  frameGapMs: number;
  timeoutMs?: number;
  retries?: number;
  backoff?: { initialMs: number; maxMs: number };
}

type Job = {
  describe: string;
  frame: Buffer;
  matches: (f: Frame) => 'ok' | 'error' | false;
  /** Tries after the first (default: the client's); a write is sent once (each one wears the memory). */
  retries?: number;
  attempts: number;
  resolve: (v: number[]) => void;
  reject: (e: Error) => void;
};

export class DongleError extends Error {}

/**
 * Reconnect waits grow up to this (ms, ±20 % jitter): with a connection attempt of up to 5 s to
 * an unplugged dongle, one that is back is polled again within 15 s.
 */
export const MAX_RECONNECT_WAIT_MS = 7000;
/** A connection attempt that gets no answer at all (a wrong address) gives up after this. */
const CONNECT_TIMEOUT_MS = 5000;

export class DongleClient extends EventEmitter<{ connected: []; disconnected: []; problem: [reason: string] }> {
  private socket?: Socket;
  private framer = new Framer();
  private queue: Job[] = [];
  private inFlight?: { job: Job; timer: NodeJS.Timeout; answer?: Frame };
  private gapUntil = 0;
  private pumpTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private stopped = false;
  private isConnected = false;
  readonly stats = { crcErrors: 0, garbagePages: 0, timeouts: 0, heartbeats: 0, unmatched: 0, reconnects: 0 };

  constructor(
    private readonly options: ClientOptions,
    private readonly log: Logger,
  ) {
    super();
  }

  get connected(): boolean {
    return this.isConnected;
  }

  start(): void {
    this.connect();
  }

  /** Resolves once connected; rejects at the first failed attempt (saying why) or after timeoutMs. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.isConnected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.off('connected', onConnected);
        this.off('problem', onProblem);
        if (error) reject(error);
        else resolve();
      };
      const onConnected = () => finish();
      const onProblem = (reason: string) => finish(new DongleError(`no connection to the dongle at ${this.options.host}:${this.options.port}: ${reason}`));
      const timer = setTimeout(() => finish(new DongleError(`no connection to the dongle at ${this.options.host}:${this.options.port} within ${timeoutMs / 1000} s`)), timeoutMs);
      this.once('connected', onConnected);
      this.once('problem', onProblem);
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = new Socket();
    this.socket = socket;
    this.framer.reset();
    socket.setNoDelay(true);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!this.isConnected) socket.destroy(Object.assign(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' }));
    });
    socket.on('connect', () => {
      socket.setTimeout(0);
      this.isConnected = true;
      this.attempt = 0;
      this.log.info(`connected to the dongle at ${this.options.host}:${this.options.port}`);
      this.emit('connected');
      this.pump();
    });
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug(`dongle socket: ${err.message}`);
      // ECONNREFUSED, ENOTFOUND, EHOSTUNREACH, ETIMEDOUT...: what the user needs to see in HA.
      if (!this.stopped) this.emit('problem', err.code ?? err.message);
    });
    socket.on('close', (hadError) => {
      const was = this.isConnected;
      this.isConnected = false;
      this.failAll(new DongleError('the connection to the dongle was lost'));
      if (this.stopped) return; // a deliberate stop is no loss
      if (was) {
        // The adapter logs the reason (the 'problem' event), once for each new one.
        this.log.debug(`lost the connection to the dongle at ${this.options.host}:${this.options.port}`);
        this.emit('disconnected');
        if (!hadError) this.emit('problem', 'the dongle closed the connection');
      }
      const delay = reconnectWait(this.attempt++, this.options.backoff ?? { initialMs: 1000, maxMs: MAX_RECONNECT_WAIT_MS });
      this.stats.reconnects++;
      this.retryTimer = setTimeout(() => this.connect(), delay);
    });
    socket.connect(this.options.port, this.options.host);
  }

  private onData(chunk: Buffer): void {
    for (const raw of this.framer.push(chunk)) {
      const frame = decodeFrame(raw);
      if (frame.kind === 'heartbeat') {
        // The dongle drops us after three unanswered heartbeats; answer before anything else.
        this.stats.heartbeats++;
        this.socket?.write(encodeHeartbeat(CLIENT_SERIAL, frame.adapterType));
        continue;
      }
      const current = this.inFlight;
      const bad = 'crcOk' in frame && !frame.crcOk ? 'crcErrors' : frame.kind === 'read-response' && isGarbagePage(frame.values) ? 'garbagePages' : undefined;
      if (bad) {
        this.stats[bad]++;
        // Our answer, spoiled: ask again now rather than wait for the timeout.
        if (current && current.job.matches({ ...frame, crcOk: true } as Frame)) this.retryNow(current);
        continue;
      }
      const verdict = current?.job.matches(frame);
      if (!current || !verdict) {
        if (frame.kind === 'read-response' || frame.kind === 'write-response') this.stats.unmatched++;
        continue;
      }
      clearTimeout(current.timer);
      this.inFlight = undefined;
      this.gapUntil = Date.now() + this.options.frameGapMs;
      if (verdict === 'ok') current.job.resolve(frame.kind === 'read-response' ? frame.values : frame.kind === 'write-response' ? [frame.value] : []);
      else current.job.reject(new DongleError(`the inverter refused ${current.job.describe} (exception)`));
      this.pump();
    }
  }

  read(device: number, fn: 0x03 | 0x04, base: number, count: number): Promise<number[]> {
    const kind = fn === 0x03 ? 'HR' : 'IR';
    return this.enqueue({
      describe: `${kind} ${base}–${base + count - 1} at 0x${device.toString(16)}`,
      frame: encodeReadRequest(device, fn, base, count),
      matches: (f) =>
        f.kind === 'read-response' && f.device === device && f.fn === fn && f.base === base && f.count === count
          ? 'ok'
          : f.kind === 'exception' && f.device === device && f.fn === fn && f.base === base
            ? 'error'
            : false,
    });
  }

  /** Writes one holding register; resolves with the value the inverter reports back. */
  async write(device: number, register: number, value: number): Promise<number> {
    const [back] = await this.enqueue({
      describe: `HR ${register} ← ${value}`,
      retries: 0, // not sent again: the caller reads the register back to see whether it landed
      frame: encodeWriteRequest(device, register, value),
      matches: (f) =>
        f.kind === 'write-response' && f.device === device && f.register === register ? 'ok' : f.kind === 'exception' && f.device === device && f.fn === 0x06 && f.base === register ? 'error' : false,
    });
    return back!;
  }

  private enqueue(job: Omit<Job, 'attempts' | 'resolve' | 'reject'>): Promise<number[]> {
    if (!this.isConnected) return Promise.reject(new DongleError(`not connected to the dongle at ${this.options.host}:${this.options.port}`));
    return new Promise((resolve, reject) => {
      this.queue.push({ ...job, attempts: 0, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight || !this.isConnected || this.pumpTimer) return;
    const wait = this.gapUntil - Date.now();
    if (wait > 0) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const job = this.queue.shift();
    if (!job) return;
    job.attempts++;
    const timer = setTimeout(() => this.onTimeout(), this.options.timeoutMs ?? 3000);
    this.inFlight = { job, timer };
    this.socket?.write(job.frame);
  }

  private onTimeout(): void {
    const current = this.inFlight;
    if (!current) return;
    this.stats.timeouts++;
    this.retryNow(current);
  }

  private retryNow(current: NonNullable<DongleClient['inFlight']>): void {
    clearTimeout(current.timer);
    this.inFlight = undefined;
    this.gapUntil = Date.now() + this.options.frameGapMs;
    const { job } = current;
    if (job.attempts <= (job.retries ?? this.options.retries ?? 2)) {
      this.log.debug(`no answer to ${job.describe}, trying again (${job.attempts})`);
      this.queue.unshift(job);
    } else {
      job.reject(new DongleError(`no valid answer to ${job.describe} after ${job.attempts} tries`));
    }
    this.pump();
  }

  private failAll(error: Error): void {
    if (this.inFlight) {
      clearTimeout(this.inFlight.timer);
      this.inFlight.job.reject(error);
      this.inFlight = undefined;
    }
    for (const job of this.queue.splice(0)) job.reject(error);
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.failAll(new DongleError('stopped'));
    const socket = this.socket;
    if (socket && !socket.destroyed) await new Promise<void>((resolve) => socket.end(() => resolve()));
    socket?.destroy();
  }
}
