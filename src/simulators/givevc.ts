// A GivEnergy EV charger (GivEVC) on Modbus TCP, with a car plugged into it: the holding
// registers of research/givenergy.md §3 (read with FC03, written with FC16 or FC06), a car that
// draws what it is allowed (limit × phases × 230 V, ramping), sessions counted on the clock, the
// charger's own clock, and the two ways a real one fails a client: local control disabled (the
// connection is accepted and nothing is ever answered, GivTCP #315/#342) and dropped connections.
//
// Where the research is unsure, the simulator takes GivTCP's reading and says so: charge control
// is written at HR95 and reported at HR94; the current limit is written at HR91 and reported at
// HR36; 32-bit values keep their high word in the register before the one GivTCP reads.
import { createServer, type Server, type Socket } from 'node:net';
import { systemClock, type Clock } from '../core/clock.js';
import { CONTROL, HR, REGISTER_COUNT } from '../adapters/givenergy-evc/registers.js';

export interface GivEvcSimulatorOptions {
  serial?: string;
  clock?: Clock;
  /** Phases the car draws on. */
  phases?: 1 | 3;
  voltage?: number;
  evseMinA?: number;
  evseMaxA?: number;
  /** The car's own limit (A). */
  carMaxA?: number;
  /** What the car's battery takes before it is full (kWh). */
  carCapacityKwh?: number;
  /** How fast the car follows a new limit (A per second). */
  rampAPerS?: number;
  /** "Enable Local Control" in the GivEnergy portal; off: connections accepted, nothing answered. */
  localControl?: boolean;
  /** How far the charger's clock is off (s). */
  clockDriftS?: number;
  /** Where the meter starts (kWh). */
  meterKwh?: number;
}

export interface EvcWrite {
  address: number;
  values: number[];
  /** The Modbus exception answered, if any. */
  exception?: number;
}

const MAX_FRAME = 260;

export class GivEvcSimulator {
  localControl: boolean;
  readonly serial: string;
  readonly writes: EvcWrite[] = [];
  /** Requests received (answered or not). */
  requests = 0;
  /** Connections accepted so far. */
  clientCount = 0;
  plugged = false;
  control: number = CONTROL.ready;
  plugAndGoEnabled = true;
  /** The current limit in 0.1 A (HR36). */
  limitTenths = 320;
  /** What the car draws now (A per phase). */
  current = 0;
  sessionWh = 0;
  meterWh: number;
  error = 0;
  private sessionStart?: number;
  private sessionEnd?: number;
  private sessionEnded = false;
  private lastTick: number;
  /** Charger wall time = clock + offset, its fields read as UTC. */
  private clockOffsetMs: number;
  private readonly clock: Clock;
  private readonly o: Required<Omit<GivEvcSimulatorOptions, 'clock' | 'serial' | 'localControl' | 'meterKwh' | 'clockDriftS'>>;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** Raw values last written to HR91 and HR95 (the charger reports elsewhere). */
  private written = new Map<number, number>();

  constructor(options: GivEvcSimulatorOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.serial = options.serial ?? 'WF2306G123';
    this.localControl = options.localControl ?? true;
    this.meterWh = (options.meterKwh ?? 1234.5) * 1000;
    this.o = {
      phases: options.phases ?? 3, voltage: options.voltage ?? 230, evseMinA: options.evseMinA ?? 6, evseMaxA: options.evseMaxA ?? 32,
      carMaxA: options.carMaxA ?? 32, carCapacityKwh: options.carCapacityKwh ?? 60, rampAPerS: options.rampAPerS ?? 4,
    };
    this.lastTick = this.clock.now();
    this.clockOffsetMs = -new Date(this.lastTick).getTimezoneOffset() * 60_000 + (options.clockDriftS ?? 95) * 1000;
  }

  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return this.port;
  }

  /** Every open connection is cut (a charger rebooting, WiFi dropping). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  // ---- the car ----

  plugIn(): void {
    this.tick();
    this.plugged = true;
    this.sessionEnded = false;
    if (this.plugAndGoEnabled) this.startSession();
  }

  unplug(): void {
    this.tick();
    this.plugged = false;
    this.endSession();
    this.control = CONTROL.ready;
    this.sessionEnded = false;
  }

  /** The charger's state code (HR0). */
  get state(): number {
    if (this.error) return 7;
    if (!this.plugged) return 1;
    if (this.control === CONTROL.start && !this.full) return this.current > 0 ? 4 : 3;
    return this.sessionEnded ? 6 : 2;
  }

  get full(): boolean {
    return this.sessionWh >= this.o.carCapacityKwh * 1000;
  }

  /** Watts drawn now. */
  get power(): number {
    return Math.round(this.current * this.o.voltage * this.o.phases);
  }

  /** The charger's clock as Y, M, D, h, m, s. */
  clockFields(): number[] {
    const d = new Date(this.clock.now() + this.clockOffsetMs);
    return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  }

  private startSession(): void {
    this.control = CONTROL.start;
    if (this.sessionStart === undefined || this.sessionEnd !== undefined) {
      this.sessionStart = this.clock.now();
      this.sessionEnd = undefined;
      this.sessionWh = 0;
    }
    this.sessionEnded = false;
  }

  private endSession(): void {
    if (this.sessionStart !== undefined && this.sessionEnd === undefined) this.sessionEnd = this.clock.now();
    this.sessionEnded = true;
    this.current = 0;
  }

  /** Moves the car on to the clock's now: the current ramps to what it may draw, energy counts. */
  tick(): void {
    const now = this.clock.now();
    const dt = Math.max(0, (now - this.lastTick) / 1000);
    this.lastTick = now;
    if (dt === 0) return;
    const allowed = this.plugged && this.control === CONTROL.start && !this.full && !this.error ? Math.min(this.limitTenths / 10, this.o.carMaxA) : 0;
    const before = this.current;
    const step = this.o.rampAPerS * dt;
    this.current = allowed > before ? Math.min(allowed, before + step) : Math.max(allowed, before - step);
    const wh = (((before + this.current) / 2) * this.o.voltage * this.o.phases * dt) / 3600;
    this.sessionWh += wh;
    this.meterWh += wh;
    if (this.full && this.control === CONTROL.start && this.sessionEnd === undefined) {
      this.endSession();
    }
  }

  /** The register image as a client reads it now. */
  registers(): number[] {
    this.tick();
    const r = new Array<number>(REGISTER_COUNT).fill(0);
    const put32 = (lowAt: number, value: number) => {
      const v = Math.max(0, Math.round(value)) >>> 0;
      r[lowAt - 1] = Math.floor(v / 65_536) & 0xffff;
      r[lowAt] = v & 0xffff;
    };
    r[HR.state] = this.state;
    r[HR.cable] = this.plugged ? 1 : 0;
    r[HR.error] = this.error;
    const tenths = Math.round(this.current * 10);
    const phaseCurrents = [tenths, this.o.phases === 3 ? tenths : 0, this.o.phases === 3 ? tenths : 0];
    [HR.currentL1, HR.currentL2, HR.currentL3].forEach((at, i) => (r[at] = phaseCurrents[i]!));
    put32(HR.activePower, this.power);
    [HR.powerL1, HR.powerL2, HR.powerL3].forEach((at, i) => (r[at] = Math.round((phaseCurrents[i]! / 10) * this.o.voltage)));
    put32(HR.meterEnergy, this.meterWh / 100);
    r[HR.evseMax] = this.o.evseMaxA;
    r[HR.evseMin] = this.o.evseMinA;
    r[HR.chargeLimit] = this.limitTenths;
    [...this.serial].forEach((c, i) => (r[HR.serialStart + i] = c.charCodeAt(0)));
    r[HR.sessionEnergy] = Math.round(this.sessionWh / 100);
    const wallOf = (ms: number) => new Date(ms + this.clockOffsetMs);
    if (this.sessionStart !== undefined) {
      const s = wallOf(this.sessionStart);
      [s.getUTCHours(), s.getUTCMinutes(), s.getUTCSeconds()].forEach((v, i) => (r[HR.sessionStart + i] = v));
      r[HR.sessionDuration] = Math.round(((this.sessionEnd ?? this.clock.now()) - this.sessionStart) / 1000);
    }
    if (this.sessionEnd !== undefined) {
      const e = wallOf(this.sessionEnd);
      [e.getUTCHours(), e.getUTCMinutes(), e.getUTCSeconds()].forEach((v, i) => (r[HR.sessionEnd + i] = v));
    }
    r[HR.chargeLimitWrite] = this.written.get(HR.chargeLimitWrite) ?? this.limitTenths;
    r[HR.plugAndGo] = this.plugAndGoEnabled ? 0 : 1;
    r[HR.controlRead] = this.control;
    r[HR.controlWrite] = this.written.get(HR.controlWrite) ?? 0;
    this.clockFields().forEach((v, i) => (r[HR.clock + i] = v));
    const volts = Math.round(this.o.voltage * 10);
    [HR.voltageL1, HR.voltageL2, HR.voltageL3].forEach((at, i) => (r[at] = i === 0 || this.o.phases === 3 ? volts : 0));
    return r;
  }

  /** Applies one register write as the charger does; returns a Modbus exception code or 0. */
  writeRegister(address: number, value: number): number {
    this.tick();
    switch (address) {
      case HR.chargeLimitWrite:
        if (value < this.o.evseMinA * 10 || value > this.o.evseMaxA * 10) return 3;
        this.limitTenths = value;
        this.written.set(address, value);
        return 0;
      case HR.plugAndGo:
        if (value > 1) return 3;
        this.plugAndGoEnabled = value === 0;
        return 0;
      case HR.controlWrite:
        if (value > 2) return 3;
        this.written.set(address, value);
        if (value === CONTROL.start) {
          if (this.plugged) this.startSession();
          else this.control = CONTROL.start;
        } else if (value === CONTROL.stop) {
          this.control = CONTROL.stop;
          if (this.plugged) this.endSession();
        } else {
          this.control = CONTROL.ready;
        }
        return 0;
      default:
        if (address >= HR.clock && address < HR.clock + 6) return this.setClockField(address - HR.clock, value);
        return 2;
    }
  }

  private setClockField(index: number, value: number): number {
    const fields = this.clockFields();
    fields[index] = value;
    const [y, mo, d, h, mi, s] = fields as [number, number, number, number, number, number];
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59 || y < 2000 || y > 2099) return 3;
    const wall = Date.UTC(y, mo - 1, d, h, mi, s);
    if (new Date(wall).getUTCDate() !== d) return 3; // 31 February
    this.clockOffsetMs = wall - this.clock.now();
    return 0;
  }

  // ---- Modbus TCP ----

  private accept(socket: Socket): void {
    this.clientCount++;
    this.sockets.add(socket);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 7) {
        const length = buffer.readUInt16BE(4);
        if (length < 2 || length > MAX_FRAME) return void socket.destroy();
        if (buffer.length < 6 + length) return;
        const frame = buffer.subarray(0, 6 + length);
        buffer = buffer.subarray(6 + length);
        this.requests++;
        // Local control disabled: the port takes the request and never answers.
        if (!this.localControl) continue;
        const answer = this.handle(frame.subarray(7));
        const header = Buffer.alloc(7);
        frame.copy(header, 0, 0, 4);
        header.writeUInt16BE(answer.length + 1, 4);
        header[6] = frame[6]!;
        socket.write(Buffer.concat([header, answer]));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(pdu: Buffer): Buffer {
    const fc = pdu[0]!;
    const exception = (code: number) => Buffer.from([fc | 0x80, code]);
    if (fc === 3 && pdu.length === 5) {
      const start = pdu.readUInt16BE(1);
      const count = pdu.readUInt16BE(3);
      if (count < 1 || count > 125) return exception(3);
      if (start + count > REGISTER_COUNT) return exception(2);
      const r = this.registers();
      const out = Buffer.alloc(2 + count * 2);
      out[0] = 3;
      out[1] = count * 2;
      for (let i = 0; i < count; i++) out.writeUInt16BE(r[start + i]!, 2 + i * 2);
      return out;
    }
    if (fc === 6 && pdu.length === 5) {
      const address = pdu.readUInt16BE(1);
      const value = pdu.readUInt16BE(3);
      const code = this.writeRegister(address, value);
      this.writes.push({ address, values: [value], ...(code ? { exception: code } : {}) });
      return code ? exception(code) : Buffer.from(pdu);
    }
    if (fc === 16 && pdu.length >= 6) {
      const address = pdu.readUInt16BE(1);
      const count = pdu.readUInt16BE(3);
      if (count < 1 || count > 123 || pdu[5] !== count * 2 || pdu.length !== 6 + count * 2) return exception(3);
      const values = Array.from({ length: count }, (_v, i) => pdu.readUInt16BE(6 + i * 2));
      let code = 0;
      for (const [i, value] of values.entries()) {
        code = this.writeRegister(address + i, value);
        if (code) break;
      }
      this.writes.push({ address, values, ...(code ? { exception: code } : {}) });
      return code ? exception(code) : pdu.subarray(0, 5);
    }
    return exception(1);
  }
}
