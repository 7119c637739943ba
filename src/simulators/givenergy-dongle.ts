// A GivEnergy WiFi/LAN dongle on a real TCP socket: register banks for an inverter and its
// batteries, heartbeats (it hangs up after three unanswered ones), unsolicited null frames, and
// the faults real dongles show: latency, dropped connections, bad CRCs, garbage pages, exception
// replies, frames split across reads. Used by the tests, the benchmarks and `npm run demo`.
// The battery pages, the lifetime battery totals and the silence at the meter addresses are
// those of the captured Gen1 plant (test/fixtures/givenergy/captures/hybrid_2_bat_a, polled at
// 0x11 for 10 minutes), so another client than ours (givenergy-modbus) sees a real battery.
import { createServer, type Server, type Socket } from 'node:net';
import type { Clock } from '../core/clock.js';
import {
  Framer, decodeFrame, encodeException, encodeHeartbeat, encodeNull, encodeReadResponse, encodeWriteResponse,
} from '../adapters/givenergy/frame.js';
import type { CaptureProfile, CapturedDevice } from './givenergy-capture.js';

export interface DongleFaults {
  latencyMs: number;
  /** Probability per request that the connection is dropped instead of answered. */
  dropRate: number;
  badCrcRate: number;
  garbageRate: number;
  exceptionRate: number;
  /** Probability per answer of an unsolicited null frame before it. */
  nullFrameRate: number;
  /** Answers are cut into random pieces. */
  splitFrames: boolean;
}

export interface DongleOptions {
  adapterSerial?: string;
  inverterSerial?: string;
  /** Device type code, e.g. 0x2001 with arm 449 (Gen1 hybrid), arm 312 (Gen3), 0x8001 (AIO). */
  dtc?: number;
  armFirmware?: number;
  batteries?: number;
  heartbeatMs?: number;
  /** Moves PV, load, battery and counters every second (the demo); off for tests. */
  live?: boolean;
  /** Runs the inverter's clock (HR35–40); the system clock unless given. */
  clock?: Pick<Clock, 'now'>;
  /**
   * A real installation instead of the built-in Gen1 plant: every register its devices sent in a
   * wire capture (givenergy-capture.ts), served at the captured addresses. Registers the capture
   * never saw read as 0; meter addresses it has no page for stay silent.
   */
  capture?: CaptureProfile;
}

const BOOT_HR = [8193, 3, 2098, 513, 0, 50000, 3600, 1, 16967, 12849, 13108, 18224, 12343, 21313, 12849, 12596, 18224, 13367, 3007, 449, 1, 449, 2, 0, 32768, 30235, 6000, 1, 0, 0, 17, 0, 4, 7, 140, 23, 4, 28, 12, 15, 36, 1, 3, 0, 0, 0, 101, 1, 0, 0, 100, 0, 0, 1, 1, 160, 0, 0, 1, 0];
const IR_PAGE = '0001 0cb0 0c78 0f19 0000 095b 0000 05c5 0001 0002 0021 0000 008c 138a 0005 0aa9 2b34 0008 0041 0008 003f 0000 0005 0000 0278 0000 0071 0000 02ff 0000 ff75 0000 0000 0bf5 0000 0057 0054 0049 0000 0000 0000 0124 0311 0288 004e 0000 02f7 0000 00b6 0001 139e 0467 023c 094b 1389 0121 00be 0000 00f8 0011'.split(' ').map((h) => parseInt(h, 16));
/**
 * BMS pages IR 60–119 of the captured plant's Giv-Bat 8.2 (0x32) and 9.5 Gen3 (0x33): cells,
 * temperatures, cell sum (IR80), pack voltage (IR82–83), calibrated and design capacity (IR84–87,
 * 160.00 and 186.00 Ah), remaining capacity, cycles (IR96), cell count (IR97), BMS firmware (IR98,
 * 3007 = HR18 of the boot page), SoC (IR100), max/min temperature (IR103/104), serial (IR110–114).
 */
const CAPTURED_BATTERIES = [
  [3356, 3358, 3364, 3364, 3366, 3377, 3362, 3362, 3359, 3362, 3366, 3366, 3358, 3356, 3356, 3359, 232, 217, 225, 208, 53793, 267, 0, 53931, 0, 18961, 0, 16000, 0, 15189, 0, 1552, 0, 0, 0, 0, 1114, 16, 3007, 0, 80, 0, 16000, 232, 217, 0, 0, 0, 0, 0, 16967, 12849, 13108, 18224, 12336, 8, 0, 0, 0, 0],
  [3372, 3367, 3369, 3369, 3377, 3370, 3372, 3377, 3372, 3372, 3372, 3372, 3382, 3374, 3375, 3375, 224, 226, 222, 216, 53931, 249, 0, 53811, 0, 15088, 0, 18600, 0, 11676, 0, 1552, 0, 0, 0, 0, 823, 16, 3009, 0, 77, 0, 18600, 226, 223, 0, 0, 0, 0, 0, 17498, 12850, 12856, 18224, 12336, 8, 0, 0, 0, 0],
];
/** IR180–181 of the same capture: battery discharge and charge since commissioning, 0.1 kWh (Gen1). */
const CAPTURED_BATTERY_TOTALS = [15711, 18427];
/** Meter addresses: the captured plant has no meter, and nothing answers there (fn 0x04 or 0x16). */
const isMeterAddress = (device: number) => device >= 0x01 && device <= 0x08;
const CLOCK = 35; // HR35–40: year − 2000, month, day, hour, minute, second
const GARBAGE_PAGE = (() => {
  const p = new Array<number>(60).fill(0x1234);
  Object.assign(p, { 28: 0x4c32, 30: 0xa119, 31: 0x34ea, 32: 0xe77f, 33: 0xd475, 35: 0x4500, 41: 0xc0a8, 43: 0xc0a8 });
  return p;
})();

function words(text: string, count: number): number[] {
  const padded = text.padEnd(count * 2, '\0');
  return Array.from({ length: count }, (_, i) => (padded.charCodeAt(2 * i) << 8) | padded.charCodeAt(2 * i + 1));
}

export class GivEnergyDongleSimulator {
  /** Big enough for the three-phase (1000–1413), Gateway (1600–1959) and EMS (2040–2075) banks. */
  readonly hr = new Array<number>(2100).fill(0);
  readonly ir = new Array<number>(2100).fill(0);
  /** The other devices of a captured installation: HV BCU and BMUs, meters, LV BMSs. */
  private readonly captured = new Map<number, CapturedDevice>();
  readonly batteries: number[][] = [];
  readonly writes: Array<{ register: number; value: number; at: number }> = [];
  faults: DongleFaults = { latencyMs: 0, dropRate: 0, badCrcRate: 0, garbageRate: 0, exceptionRate: 0, nullFrameRate: 0, splitFrames: false };
  requests = 0;
  /** Registers whose writes are echoed but not kept (a read-back then shows the old value). */
  readonly ignoreWrites = new Set<number>();
  /** Called on every register write (benchmarks time command -> write with it). */
  onWrite?: (register: number, value: number) => void;
  missedHeartbeats = 0;
  private server?: Server;
  private sockets = new Set<Socket>();
  private timers: NodeJS.Timeout[] = [];
  readonly adapterSerial: string;
  readonly inverterSerial: string;
  private readonly clock: Pick<Clock, 'now'>;
  /** When the inverter clock was last brought up to date, and the milliseconds not yet shown. */
  private clockAt: number;
  private clockCarryMs = 0;

  constructor(private readonly options: DongleOptions = {}) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.clockAt = this.clock.now();
    const capture = options.capture;
    this.adapterSerial = options.adapterSerial ?? (capture?.adapterSerial || 'WF2125G316');
    this.inverterSerial = options.inverterSerial ?? (capture?.inverterSerial || 'SA2114G047');
    if (capture) {
      for (const [address, device] of capture.devices) {
        if (address !== 0x11) this.captured.set(address, device);
        else {
          for (const [r, v] of device.hr) this.hr[r] = v;
          for (const [r, v] of device.ir) this.ir[r] = v;
        }
      }
      return;
    }
    BOOT_HR.forEach((v, i) => (this.hr[i] = v));
    this.hr[0] = options.dtc ?? 0x2001;
    this.hr[21] = options.armFirmware ?? 449;
    words(this.inverterSerial, 5).forEach((w, i) => (this.hr[13 + i] = w));
    Object.assign(this.hr, { 94: 30, 95: 430, 96: 1, 110: 4, 111: 50, 112: 50, 114: 4, 116: 100, 313: 100, 314: 100, 318: 0 });
    IR_PAGE.forEach((v, i) => (this.ir[i] = v));
    this.ir[180] = CAPTURED_BATTERY_TOTALS[0]!;
    this.ir[181] = CAPTURED_BATTERY_TOTALS[1]!;
    this.ir[182] = this.ir[37]!; // discharge today, as IR37
    this.ir[183] = this.ir[36]!; // charge today, as IR36
    for (let b = 0; b < (options.batteries ?? 1); b++) {
      const page = [...CAPTURED_BATTERIES[b % CAPTURED_BATTERIES.length]!];
      words(`BG2134G00${b}`, 5).forEach((w, i) => (page[50 + i] = w));
      this.batteries.push(page);
    }
    this.followSoc();
  }

  /** Each BMS shows the inverter's SoC (IR100) and the remaining capacity that goes with it (IR88–89). */
  private followSoc(): void {
    const soc = this.ir[59]!;
    for (const page of this.batteries) {
      page[40] = soc;
      const remaining = Math.round(((page[26]! * 65536 + page[27]!) * soc) / 100); // of the design capacity, 0.01 Ah
      page[28] = Math.floor(remaining / 65536);
      page[29] = remaining % 65536;
    }
  }

  /** Moves HR35–40 on by the time passed since they were last shown (a set time runs on from there). */
  private runClock(): void {
    const now = this.clock.now();
    const elapsed = this.clockCarryMs + Math.max(0, now - this.clockAt);
    this.clockAt = now;
    const seconds = Math.floor(elapsed / 1000);
    this.clockCarryMs = elapsed - seconds * 1000;
    if (seconds === 0) return;
    const [y, mo, d, h, mi, sec] = this.hr.slice(CLOCK, CLOCK + 6) as [number, number, number, number, number, number];
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return; // not a time: left as it is
    const t = new Date(Date.UTC(2000 + y, mo - 1, d, h, mi, sec) + seconds * 1000);
    [t.getUTCFullYear() - 2000, t.getUTCMonth() + 1, t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds()].forEach((v, i) => (this.hr[CLOCK + i] = v));
  }

  /** Clients connected now (a real dongle serves a few at once: the cloud, the app, us). */
  get clientCount(): number {
    return this.sockets.size;
  }

  /** Listens on 127.0.0.1 (port 0: any free port) and resolves with the port. */
  async listen(port = 0): Promise<number> {
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    if (this.options.live) this.timers.push(setInterval(() => this.simulate(), 1000));
    return (server.address() as { port: number }).port;
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const framer = new Framer();
    let unanswered = 0;
    const heartbeat = setInterval(() => {
      if (unanswered >= 3) {
        this.missedHeartbeats += unanswered;
        socket.destroy(); // what a real dongle does after three misses
        return;
      }
      unanswered++;
      socket.write(encodeHeartbeat(this.adapterSerial, 1));
    }, this.options.heartbeatMs ?? 180_000);
    socket.on('close', () => {
      clearInterval(heartbeat);
      this.sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      for (const raw of framer.push(chunk)) {
        const f = decodeFrame(raw);
        if (f.kind === 'heartbeat') unanswered = 0;
        else if (f.kind === 'read-request' || f.kind === 'write-request') this.answer(socket, f);
      }
    });
  }

  private answer(socket: Socket, f: Extract<ReturnType<typeof decodeFrame>, { kind: 'read-request' | 'write-request' }>): void {
    this.requests++;
    const faults = this.faults;
    if (Math.random() < faults.dropRate) {
      socket.destroy();
      return;
    }
    let reply: Buffer;
    if (!f.crcOk) return; // a real inverter ignores a corrupt request
    if (isMeterAddress(f.device) && !this.captured.has(f.device)) return; // no meter installed: the probe times out
    if (f.kind === 'write-request') {
      const inverter = f.device === 0x11 || f.device === 0x31;
      if (!inverter || f.register >= this.hr.length || Math.random() < faults.exceptionRate) {
        reply = encodeWriteResponse(this.adapterSerial, f.device, this.inverterSerial, f.register, f.value, true);
      } else {
        const clockField = f.register >= CLOCK && f.register < CLOCK + 6;
        if (clockField) this.runClock(); // the other fields run on up to the write
        if (!this.ignoreWrites.has(f.register)) this.hr[f.register] = f.value;
        if (clockField) this.clockCarryMs = 0; // the time set starts a whole second
        this.writes.push({ register: f.register, value: f.value, at: Date.now() });
        this.onWrite?.(f.register, f.value);
        reply = encodeWriteResponse(this.adapterSerial, f.device, this.inverterSerial, f.register, f.value);
      }
    } else if (f.count > 60 || f.count === 0 || Math.random() < faults.exceptionRate) {
      reply = encodeException(this.adapterSerial, f.device, f.fn, this.inverterSerial, f.base, f.count);
    } else {
      let values = this.page(f.device, f.fn, f.base, f.count);
      if (f.count === 60 && Math.random() < faults.garbageRate) values = GARBAGE_PAGE;
      reply = encodeReadResponse(this.adapterSerial, f.device, f.fn, this.inverterSerial, f.base, values);
    }
    if (Math.random() < faults.badCrcRate) reply[reply.length - 1]! ^= 0x5a;
    const chunks: Buffer[] = [];
    if (Math.random() < faults.nullFrameRate) chunks.push(encodeNull(this.adapterSerial));
    if (faults.splitFrames) {
      for (let at = 0; at < reply.length; ) {
        const n = 1 + Math.floor(Math.random() * 40);
        chunks.push(reply.subarray(at, at + n));
        at += n;
      }
    } else {
      chunks.push(reply);
    }
    const send = () => {
      for (const chunk of chunks) if (!socket.destroyed) socket.write(chunk);
    };
    if (faults.latencyMs > 0) setTimeout(send, faults.latencyMs);
    else send();
  }

  private page(device: number, fn: number, base: number, count: number): number[] {
    const slice = (bank: number[], from: number) => Array.from({ length: count }, (_, i) => bank[from + i] ?? 0);
    if (device === 0x11 || device === 0x31) {
      if (fn === 0x03 && base < CLOCK + 6 && base + count > CLOCK) this.runClock();
      return slice(fn === 0x03 ? this.hr : this.ir, base);
    }
    const captured = this.captured.get(device);
    if (captured) {
      const bank = fn === 0x03 ? captured.hr : captured.ir;
      return Array.from({ length: count }, (_, i) => bank.get(base + i) ?? 0);
    }
    const battery = this.batteries[device - 0x32];
    if (battery && fn === 0x04 && base >= 60) return slice(battery, base - 60);
    return new Array<number>(count).fill(0); // no such device: an all-zero page
  }

  /** Sends a frame to every client, as the dongle does with answers meant for the cloud or app. */
  broadcast(frame: Buffer): void {
    for (const s of this.sockets) s.write(frame);
  }

  /** Drops every connection (a dongle reboot, WiFi loss). */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** A simple day for the demo: PV, house load, the battery following Eco mode, counters. */
  private step = 0;
  private simulate(): void {
    this.step++;
    const pv = Math.round(Math.max(0, Math.sin(((this.step % 600) / 600) * Math.PI)) * 4200);
    const load = 450 + Math.round(150 * Math.sin(this.step / 13));
    const soc = this.ir[59]!;
    const maxRate = (this.hr[111]! / 50) * 2600;
    let battery = load - pv; // Eco: the battery covers the difference
    if (battery < 0) battery = soc >= 100 ? 0 : Math.max(battery, -maxRate);
    else battery = soc <= this.hr[110]! ? 0 : Math.min(battery, (this.hr[112]! / 50) * 2600);
    const grid = pv + battery - load; // + export
    const set = (r: number, v: number) => (this.ir[r] = v & 0xffff);
    set(18, Math.round(pv * 0.55)); set(20, pv - Math.round(pv * 0.55)); set(42, load); set(52, battery); set(30, grid);
    if (this.step % 30 === 0) set(59, Math.max(0, Math.min(100, soc - Math.sign(battery))));
    if (this.step % 10 === 0) {
      set(17, this.ir[17]! + Math.round((pv * 0.55 * 10) / 36_000));
      if (grid < 0) set(26, this.ir[26]! + 1);
    }
    this.followSoc();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.dropConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
