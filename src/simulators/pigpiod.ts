// A pigpio daemon (pigpiod) on TCP, faithful enough that pigpio-client (guymcswain/pigpio-client)
// works against it unchanged: the Pi's GPIO pins are outside the world tests can run, so this
// stands in for them (research viessmann-pvheater.md §5). Framing follows pigpio.c's
// pthSocketThreadHandler: a request is 16 bytes (cmd, p1, p2, p3 as little-endian uint32); a
// non-zero p3 announces that many extension bytes, for every command; an extension of 64 KiB or
// more makes the daemon close the socket without an answer. The answer echoes cmd, p1, p2 and
// puts the result (negative = pigpio error) in the fourth word. NOIB turns a socket into an
// in-band notification stream (12-byte reports) that still accepts commands, which is how
// pigpio-client's second socket works. Pin semantics follow pigpio's documentation: WRITE, SERVO
// and PWM make a pin an output and stop whatever pulses it had; setting a mode other than output
// stops servo and PWM pulses; SERVO accepts 0 (off) or 500–2500 µs.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Clock } from '../core/clock.js';

export const PIGPIO_COMMAND = {
  MODES: 0,
  MODEG: 1,
  PUD: 2,
  READ: 3,
  WRITE: 4,
  PWM: 5,
  PRS: 6,
  PFS: 7,
  SERVO: 8,
  WDOG: 9,
  BR1: 10,
  BR2: 11,
  BC1: 12,
  BS1: 14,
  TICK: 16,
  HWVER: 17,
  NB: 19,
  NP: 20,
  NC: 21,
  PRG: 22,
  PFG: 23,
  PRRG: 24,
  PIGPV: 26,
  GDC: 83,
  GPW: 84,
  NOIB: 99,
  EVM: 115,
} as const;

/** pigpio.h's error codes for what this simulator can answer. */
export const PIGPIO_ERROR = {
  PI_BAD_USER_GPIO: -2,
  PI_BAD_GPIO: -3,
  PI_BAD_MODE: -4,
  PI_BAD_LEVEL: -5,
  PI_BAD_PUD: -6,
  PI_BAD_PULSEWIDTH: -7,
  PI_BAD_DUTYCYCLE: -8,
  PI_BAD_WDOG_TIMEOUT: -15,
  PI_BAD_DUTYRANGE: -21,
  PI_NO_HANDLE: -24,
  PI_BAD_HANDLE: -25,
  PI_UNKNOWN_COMMAND: -88,
  PI_NOT_PWM_GPIO: -92,
  PI_NOT_SERVO_GPIO: -93,
} as const;

export const PI_INPUT = 0;
export const PI_OUTPUT = 1;
export const PUD_OFF = 0;
export const PUD_DOWN = 1;
export const PUD_UP = 2;

/** The notification report flag pigpio sets on a keep-alive report (PI_NTFY_FLAGS_ALIVE). */
export const NOTIFY_FLAG_ALIVE = 1 << 6;

const MAX_GPIO = 53;
const MAX_USER_GPIO = 31;
const SERVO_MIN_US = 500;
const SERVO_MAX_US = 2500;
const NOTIFY_SLOTS = 32;
// pigpio.c reads an extension into a CMD_MAX_EXTENSION buffer and closes the socket when it
// does not fit.
const MAX_EXTENSION = 1 << 16;
const REQUEST_BYTES = 16;
const REPORT_BYTES = 12;
/** A Raspberry Pi 3 Model B: pigpio-client derives its user-GPIO mask (2–27) from this. */
const DEFAULT_HARDWARE_REVISION = 0xa02082;
const DEFAULT_PIGPIO_VERSION = 79;

export type PinFunction = 'none' | 'write' | 'servo' | 'pwm';

export interface PinState {
  /** 0 input, 1 output, 2–7 the ALT functions, as pigpio numbers them. */
  mode: number;
  /** The output latch: what the pin drives when it is an output. */
  level: 0 | 1;
  pud: 0 | 1 | 2;
  /** What pigpio last started on the pin: plain writes, servo pulses or PWM. */
  function: PinFunction;
  /** The servo pulse width in µs while the pin is a servo pin (0 = pulses off), else 0. */
  servoUs: number;
  /** The PWM duty cycle (0..range) while the pin is a PWM pin, else 0. */
  pwmDuty: number;
  /** True when something drives the pin (output mode); an input is high impedance. */
  driven: boolean;
}

export interface PinHistoryEntry {
  at: number;
  gpio: number;
  what: 'mode' | 'write' | 'servo' | 'pwm';
  value: number;
}

/** What the 'request' event carries: a request and the result the daemon answered. */
export interface PigpiodRequest {
  cmd: number;
  p1: number;
  p2: number;
  p3: number;
  extensionBytes: number;
  result: number;
}

export interface PigpiodSimulatorOptions {
  /** For the `at` of the history. Default: the system clock. */
  clock?: Pick<Clock, 'now'>;
  hardwareRevision?: number;
  pigpioVersion?: number;
  /** Pin states left behind by whatever ran before (a crashed process, a boot script). */
  initialPins?: Record<number, Partial<Pick<PinState, 'mode' | 'level' | 'pud'>>>;
  /** Real pigpiod sends a keep-alive report on a notification stream that was quiet this long. */
  keepAliveMs?: number;
}

interface Notification {
  handle: number;
  socket: net.Socket;
  bits: number;
  paused: boolean;
  sequence: number;
}

interface Connection {
  socket: net.Socket;
  pending: Buffer;
  busy: boolean;
  closed: boolean;
}

type PinListener = (gpio: number, state: PinState) => void;

function initialPin(): PinState {
  return { mode: PI_INPUT, level: 0, pud: PUD_OFF, function: 'none', servoUs: 0, pwmDuty: 0, driven: false };
}

/**
 * Events: 'pin' (gpio, state) after every change of a pin, 'request' ({ cmd, p1, p2, p3, result })
 * after every answered command, 'received' (bytes) for every TCP chunk that arrives,
 * 'connection' and 'disconnection' (clientCount).
 */
export class PigpiodSimulator extends EventEmitter {
  readonly history: PinHistoryEntry[] = [];
  private readonly pins: PinState[] = Array.from({ length: MAX_GPIO + 1 }, initialPin);
  private readonly pwmRange: number[] = Array.from({ length: MAX_USER_GPIO + 1 }, () => 255);
  private readonly pwmFrequency: number[] = Array.from({ length: MAX_USER_GPIO + 1 }, () => 800);
  /** Levels that something outside drives onto input pins (a button, a sensor). */
  private readonly externalLevels = new Map<number, 0 | 1>();
  private readonly connections = new Set<Connection>();
  private readonly notifications = new Map<number, Notification>();
  private readonly delays = new Map<number | 'all', number>();
  private readonly clock: Pick<Clock, 'now'>;
  private readonly hardwareRevision: number;
  private readonly pigpioVersion: number;
  private readonly keepAliveMs: number;
  private readonly startedAt = process.hrtime.bigint();
  private server: net.Server | undefined;
  private boundPort = 0;
  private boundHost = '127.0.0.1';
  private refusing = false;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  /** Bank 1 levels as last reported, to see which pins changed. */
  private lastLevels = 0;
  private lastReportAt = Date.now();

  constructor(options: PigpiodSimulatorOptions = {}) {
    super();
    this.clock = options.clock ?? { now: () => Date.now() };
    this.hardwareRevision = options.hardwareRevision ?? DEFAULT_HARDWARE_REVISION;
    this.pigpioVersion = options.pigpioVersion ?? DEFAULT_PIGPIO_VERSION;
    this.keepAliveMs = options.keepAliveMs ?? 60_000;
    for (const [gpio, state] of Object.entries(options.initialPins ?? {})) {
      const pin = this.pins[Number(gpio)];
      if (!pin) throw new RangeError(`no GPIO ${gpio}`);
      Object.assign(pin, state);
      pin.driven = pin.mode === PI_OUTPUT;
      if (pin.driven) pin.function = 'write';
    }
    this.lastLevels = this.bank1Levels();
  }

  get port(): number {
    return this.boundPort;
  }

  /** Open sockets, command and notification sockets alike (pigpio-client opens two). */
  get clientCount(): number {
    return this.connections.size;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    this.boundHost = host;
    await this.openServer(port);
    this.keepAliveTimer = setInterval(() => this.sendKeepAlives(), Math.max(10, this.keepAliveMs / 4));
    this.keepAliveTimer.unref();
    return this.boundPort;
  }

  async close(): Promise<void> {
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
    this.dropClients();
    await this.closeServer();
  }

  pin(gpio: number): PinState {
    const pin = this.pins[gpio];
    if (!pin) throw new RangeError(`no GPIO ${gpio}`);
    return { ...pin };
  }

  /** Calls listener after every change of any pin; returns a function that removes it. */
  onPin(listener: PinListener): () => void {
    this.on('pin', listener);
    return () => this.off('pin', listener);
  }

  /** Something outside drives an input pin (undefined: nothing does, the pull decides). */
  setExternalLevel(gpio: number, level: 0 | 1 | undefined): void {
    if (level === undefined) this.externalLevels.delete(gpio);
    else this.externalLevels.set(gpio, level);
    this.notifyLevels();
  }

  /**
   * Closes every socket, as a daemon restart does. With `restart`, servo and PWM pulses stop too
   * (pigpio's gpioTerminate stops them; outputs keep their level).
   */
  dropClients(options: { restart?: boolean } = {}): void {
    for (const connection of this.connections) connection.socket.destroy();
    this.connections.clear();
    this.notifications.clear();
    if (options.restart) {
      this.pins.forEach((pin, gpio) => {
        if (pin.function === 'servo' || pin.function === 'pwm') {
          pin.function = 'none';
          pin.servoUs = 0;
          pin.pwmDuty = 0;
          this.pinChanged(gpio);
        }
      });
    }
  }

  /** While on, the port is closed: clients get ECONNREFUSED, as with a stopped daemon. */
  async refuseConnections(on: boolean): Promise<void> {
    if (on === this.refusing) return;
    this.refusing = on;
    if (on) await this.closeServer();
    else await this.openServer(this.boundPort);
  }

  /** Delays the answer to one command (or to all); 0 removes the delay. */
  setCommandDelay(delayMs: number, cmd: number | 'all' = 'all'): void {
    if (delayMs > 0) this.delays.set(cmd, delayMs);
    else this.delays.delete(cmd);
  }

  private async openServer(port: number): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.boundHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : port;
    this.server = server;
  }

  private async closeServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const connection: Connection = { socket, pending: Buffer.alloc(0), busy: false, closed: false };
    this.connections.add(connection);
    socket.on('data', (chunk) => {
      this.emit('received', chunk.length);
      connection.pending = Buffer.concat([connection.pending, chunk]);
      this.pump(connection);
    });
    // A client that vanishes is not the daemon's problem; it only forgets the socket.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      connection.closed = true;
      this.connections.delete(connection);
      for (const [handle, notification] of this.notifications) {
        if (notification.socket === socket) this.notifications.delete(handle);
      }
      this.emit('disconnection', this.clientCount);
    });
    this.emit('connection', this.clientCount);
  }

  // One request at a time per socket, as the daemon's thread per socket does; a delayed answer
  // holds back the requests behind it.
  private pump(connection: Connection): void {
    while (!connection.busy && !connection.closed && connection.pending.length >= REQUEST_BYTES) {
      const cmd = connection.pending.readUInt32LE(0);
      const p1 = connection.pending.readUInt32LE(4);
      const p2 = connection.pending.readUInt32LE(8);
      const p3 = connection.pending.readUInt32LE(12);
      if (p3 >= MAX_EXTENSION) {
        connection.closed = true;
        connection.socket.destroy();
        return;
      }
      if (connection.pending.length < REQUEST_BYTES + p3) return;
      const extension = connection.pending.subarray(REQUEST_BYTES, REQUEST_BYTES + p3);
      connection.pending = connection.pending.subarray(REQUEST_BYTES + p3);
      const delayMs = this.delays.get(cmd) ?? this.delays.get('all') ?? 0;
      if (delayMs > 0) {
        connection.busy = true;
        setTimeout(() => {
          connection.busy = false;
          this.answer(connection, cmd, p1, p2, p3, extension);
          this.pump(connection);
        }, delayMs);
        return;
      }
      this.answer(connection, cmd, p1, p2, p3, extension);
    }
  }

  private answer(connection: Connection, cmd: number, p1: number, p2: number, p3: number, extension: Buffer): void {
    if (connection.closed) return;
    // No implemented command reads its extension; it is consumed so the framing stays in step.
    const result = this.execute(connection, cmd, p1, p2);
    const response = Buffer.alloc(REQUEST_BYTES);
    response.writeUInt32LE(cmd, 0);
    response.writeUInt32LE(p1, 4);
    response.writeUInt32LE(p2, 8);
    // The daemon writes the int result into a uint32 word; HWVER's revision may not fit an int32.
    response.writeUInt32LE(result >>> 0, 12);
    connection.socket.write(response);
    const answered: PigpiodRequest = { cmd, p1, p2, p3, extensionBytes: extension.length, result };
    this.emit('request', answered);
  }

  private execute(connection: Connection, cmd: number, p1: number, p2: number): number {
    const command = PIGPIO_COMMAND;
    switch (cmd) {
      case command.MODES:
        return this.setMode(p1, p2);
      case command.MODEG:
        return p1 > MAX_GPIO ? PIGPIO_ERROR.PI_BAD_GPIO : this.pins[p1]!.mode;
      case command.PUD:
        return this.setPull(p1, p2);
      case command.READ:
        return p1 > MAX_GPIO ? PIGPIO_ERROR.PI_BAD_GPIO : this.levelOf(p1);
      case command.WRITE:
        return this.write(p1, p2);
      case command.PWM:
        return this.setPwm(p1, p2);
      case command.PRS:
        if (p1 > MAX_USER_GPIO) return PIGPIO_ERROR.PI_BAD_USER_GPIO;
        if (p2 < 25 || p2 > 40_000) return PIGPIO_ERROR.PI_BAD_DUTYRANGE;
        this.pwmRange[p1] = p2;
        return 250;
      case command.PFS:
        if (p1 > MAX_USER_GPIO) return PIGPIO_ERROR.PI_BAD_USER_GPIO;
        this.pwmFrequency[p1] = p2;
        return p2;
      case command.PRG:
        return p1 > MAX_USER_GPIO ? PIGPIO_ERROR.PI_BAD_USER_GPIO : this.pwmRange[p1]!;
      case command.PFG:
        return p1 > MAX_USER_GPIO ? PIGPIO_ERROR.PI_BAD_USER_GPIO : this.pwmFrequency[p1]!;
      case command.PRRG:
        return p1 > MAX_USER_GPIO ? PIGPIO_ERROR.PI_BAD_USER_GPIO : 250;
      case command.SERVO:
        return this.setServo(p1, p2);
      case command.GPW: {
        if (p1 > MAX_USER_GPIO) return PIGPIO_ERROR.PI_BAD_USER_GPIO;
        const pin = this.pins[p1]!;
        return pin.function === 'servo' ? pin.servoUs : PIGPIO_ERROR.PI_NOT_SERVO_GPIO;
      }
      case command.GDC: {
        if (p1 > MAX_USER_GPIO) return PIGPIO_ERROR.PI_BAD_USER_GPIO;
        const pin = this.pins[p1]!;
        return pin.function === 'pwm' ? pin.pwmDuty : PIGPIO_ERROR.PI_NOT_PWM_GPIO;
      }
      case command.WDOG:
        if (p1 > MAX_USER_GPIO) return PIGPIO_ERROR.PI_BAD_USER_GPIO;
        return p2 > 60_000 ? PIGPIO_ERROR.PI_BAD_WDOG_TIMEOUT : 0;
      case command.BR1:
        return this.bank1Levels();
      case command.BR2:
        return this.bank2Levels();
      case command.BC1:
      case command.BS1:
        return this.writeBank(p1, cmd === command.BS1 ? 1 : 0);
      case command.TICK:
        return Number((process.hrtime.bigint() - this.startedAt) / 1000n) >>> 0;
      case command.HWVER:
        return this.hardwareRevision;
      case command.PIGPV:
        return this.pigpioVersion;
      case command.NOIB:
        return this.openNotification(connection.socket);
      case command.NB: {
        const notification = this.notifications.get(p1);
        if (!notification) return PIGPIO_ERROR.PI_BAD_HANDLE;
        notification.bits = p2;
        notification.paused = false;
        return 0;
      }
      case command.NP: {
        const notification = this.notifications.get(p1);
        if (!notification) return PIGPIO_ERROR.PI_BAD_HANDLE;
        notification.paused = true;
        return 0;
      }
      case command.NC:
        return this.notifications.delete(p1) ? 0 : PIGPIO_ERROR.PI_BAD_HANDLE;
      case command.EVM:
        return this.notifications.has(p1) ? 0 : PIGPIO_ERROR.PI_BAD_HANDLE;
      default:
        return PIGPIO_ERROR.PI_UNKNOWN_COMMAND;
    }
  }

  private setMode(gpio: number, mode: number): number {
    if (gpio > MAX_GPIO) return PIGPIO_ERROR.PI_BAD_GPIO;
    if (mode > 7) return PIGPIO_ERROR.PI_BAD_MODE;
    const pin = this.pins[gpio]!;
    if (mode !== PI_OUTPUT && (pin.function === 'servo' || pin.function === 'pwm')) this.stopPulses(pin);
    pin.mode = mode;
    pin.driven = mode === PI_OUTPUT;
    this.record(gpio, 'mode', mode);
    this.pinChanged(gpio);
    return 0;
  }

  private setPull(gpio: number, pud: number): number {
    if (gpio > MAX_GPIO) return PIGPIO_ERROR.PI_BAD_GPIO;
    if (pud > PUD_UP) return PIGPIO_ERROR.PI_BAD_PUD;
    this.pins[gpio]!.pud = pud as 0 | 1 | 2;
    this.pinChanged(gpio);
    return 0;
  }

  private write(gpio: number, level: number): number {
    if (gpio > MAX_GPIO) return PIGPIO_ERROR.PI_BAD_GPIO;
    if (level > 1) return PIGPIO_ERROR.PI_BAD_LEVEL;
    const pin = this.pins[gpio]!;
    this.stopPulses(pin);
    pin.function = 'write';
    pin.level = level as 0 | 1;
    this.makeOutput(gpio, pin);
    this.record(gpio, 'write', level);
    this.pinChanged(gpio);
    return 0;
  }

  private setServo(gpio: number, pulseUs: number): number {
    if (gpio > MAX_USER_GPIO) return PIGPIO_ERROR.PI_BAD_USER_GPIO;
    if (pulseUs !== 0 && (pulseUs < SERVO_MIN_US || pulseUs > SERVO_MAX_US)) return PIGPIO_ERROR.PI_BAD_PULSEWIDTH;
    const pin = this.pins[gpio]!;
    if (pin.function === 'pwm') pin.pwmDuty = 0;
    pin.function = 'servo';
    pin.servoUs = pulseUs;
    // Between pulses (and with pulses off) pigpio holds the pin low.
    pin.level = 0;
    this.makeOutput(gpio, pin);
    this.record(gpio, 'servo', pulseUs);
    this.pinChanged(gpio);
    return 0;
  }

  private setPwm(gpio: number, duty: number): number {
    if (gpio > MAX_USER_GPIO) return PIGPIO_ERROR.PI_BAD_USER_GPIO;
    if (duty > this.pwmRange[gpio]!) return PIGPIO_ERROR.PI_BAD_DUTYCYCLE;
    const pin = this.pins[gpio]!;
    if (pin.function === 'servo') pin.servoUs = 0;
    pin.function = 'pwm';
    pin.pwmDuty = duty;
    pin.level = 0;
    this.makeOutput(gpio, pin);
    this.record(gpio, 'pwm', duty);
    this.pinChanged(gpio);
    return 0;
  }

  private writeBank(bits: number, level: 0 | 1): number {
    for (let gpio = 0; gpio <= MAX_USER_GPIO; gpio += 1) {
      if (!((bits >>> gpio) & 1)) continue;
      // BS1/BC1 only set the output latch; they change neither mode nor running pulses.
      this.pins[gpio]!.level = level;
      this.record(gpio, 'write', level);
      this.pinChanged(gpio);
    }
    return 0;
  }

  private makeOutput(gpio: number, pin: PinState): void {
    if (pin.mode === PI_OUTPUT) return;
    pin.mode = PI_OUTPUT;
    pin.driven = true;
    this.record(gpio, 'mode', PI_OUTPUT);
  }

  private stopPulses(pin: PinState): void {
    if (pin.function === 'servo' || pin.function === 'pwm') pin.function = 'none';
    pin.servoUs = 0;
    pin.pwmDuty = 0;
  }

  private levelOf(gpio: number): 0 | 1 {
    const pin = this.pins[gpio]!;
    if (pin.driven) return pin.function === 'write' || pin.function === 'none' ? pin.level : 0;
    const external = this.externalLevels.get(gpio);
    if (external !== undefined) return external;
    return pin.pud === PUD_UP ? 1 : 0;
  }

  private bank1Levels(): number {
    let levels = 0;
    for (let gpio = 0; gpio <= 31; gpio += 1) levels |= this.levelOf(gpio) << gpio;
    return levels >>> 0;
  }

  private bank2Levels(): number {
    let levels = 0;
    for (let gpio = 32; gpio <= MAX_GPIO; gpio += 1) levels |= this.levelOf(gpio) << (gpio - 32);
    return levels >>> 0;
  }

  private openNotification(socket: net.Socket): number {
    for (let handle = 0; handle < NOTIFY_SLOTS; handle += 1) {
      if (this.notifications.has(handle)) continue;
      this.notifications.set(handle, { handle, socket, bits: 0, paused: true, sequence: 0 });
      return handle;
    }
    return PIGPIO_ERROR.PI_NO_HANDLE;
  }

  private notifyLevels(): void {
    const levels = this.bank1Levels();
    const changed = (levels ^ this.lastLevels) >>> 0;
    this.lastLevels = levels;
    if (!changed) return;
    for (const notification of this.notifications.values()) {
      if (!notification.paused && notification.bits & changed) this.report(notification, 0, levels);
    }
  }

  private sendKeepAlives(): void {
    if (Date.now() - this.lastReportAt < this.keepAliveMs) return;
    const levels = this.bank1Levels();
    for (const notification of this.notifications.values()) this.report(notification, NOTIFY_FLAG_ALIVE, levels);
    this.lastReportAt = Date.now();
  }

  private report(notification: Notification, flags: number, levels: number): void {
    const report = Buffer.alloc(REPORT_BYTES);
    report.writeUInt16LE(notification.sequence & 0xffff, 0);
    report.writeUInt16LE(flags, 2);
    report.writeUInt32LE(Number((process.hrtime.bigint() - this.startedAt) / 1000n) >>> 0, 4);
    report.writeUInt32LE(levels, 8);
    notification.sequence += 1;
    this.lastReportAt = Date.now();
    if (!notification.socket.destroyed) notification.socket.write(report);
  }

  private record(gpio: number, what: PinHistoryEntry['what'], value: number): void {
    this.history.push({ at: this.clock.now(), gpio, what, value });
  }

  private pinChanged(gpio: number): void {
    this.emit('pin', gpio, { ...this.pins[gpio]! });
    this.notifyLevels();
  }
}

/** What the pins drive: WaterHeaterPhysics has this shape. */
export interface PinDrivenHeater {
  setRelay(on: boolean): void;
  setServoPulse(us: number): void;
}

export interface PigpiodWiring {
  relayGpio: number;
  /** The relay module energizes on a low pin (most opto-isolated boards do). */
  activeLow?: boolean;
  servoGpio: number;
}

/**
 * Makes pin changes at the simulator drive the physics, starting from the pins' present state.
 * The relay is energized only while its pin is an output at the active level: a released pin
 * (input, high impedance) lets the relay drop whatever the wiring. Returns a detach function.
 */
export function attachPigpiod(sim: PigpiodSimulator, physics: PinDrivenHeater, wiring: PigpiodWiring): () => void {
  const activeLevel = wiring.activeLow ? 0 : 1;
  const apply = (gpio: number, state: PinState) => {
    if (gpio === wiring.relayGpio) {
      physics.setRelay(state.driven && state.function !== 'servo' && state.function !== 'pwm' && state.level === activeLevel);
    }
    if (gpio === wiring.servoGpio) physics.setServoPulse(state.function === 'servo' ? state.servoUs : 0);
  };
  apply(wiring.relayGpio, sim.pin(wiring.relayGpio));
  apply(wiring.servoGpio, sim.pin(wiring.servoGpio));
  return sim.onPin(apply);
}
