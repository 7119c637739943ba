// The heater's two actuators, the relay that feeds it and the regulator that sets its power,
// behind one interface whatever drives them: GPIO pins (through pigpiod or the native pigpio
// library) with a servo turning the regulator's knob, or HA entities / MQTT topics (a Shelly
// dimmer on a 0–10 V regulator, an ESPHome output).
import { EventEmitter } from 'node:events';
import { createLevelTarget, createTarget, type LevelTarget, type Target, type TargetDeps } from '../../automation/targets.js';
import { MODE, PIGPIO, PigpiodClient } from './pigpiod-client.js';
import type { WaterHeaterOptions } from './options.js';

export interface HeaterActuators extends EventEmitter {
  readonly describe: string;
  /** Whether commands can reach the actuators now. Events: 'connected', 'disconnected' (reason), 'problem' (reason). */
  readonly connected: boolean;
  /** Why they cannot, if they cannot. */
  readonly problem?: string;
  start(): Promise<void>;
  setRelay(on: boolean): Promise<void>;
  /** The regulator to this power, W (0 … max_power_w). */
  setPower(powerW: number): Promise<void>;
  /** Relay off and regulator to 0, synchronously: the commands are on the wire when it returns. */
  safeNow(): void;
  close(): Promise<void>;
}

// ---- servo geometry ----

type ServoOptions = NonNullable<WaterHeaterOptions['servo']>;

/** Servo position (0–1 of its travel) for a power, from the calibration table (or a straight line). */
export function positionFor(powerW: number, servo: ServoOptions, maxPowerW: number): number {
  if (powerW <= 0) return 0;
  const table = servo.calibration;
  if (!table.length) return Math.min(1, powerW / maxPowerW);
  const points = [{ position: 0, power_w: 0 }, ...table];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    if (powerW <= b.power_w && b.power_w > a.power_w) {
      return (a.position + ((powerW - a.power_w) / (b.power_w - a.power_w)) * (b.position - a.position)) / 100;
    }
  }
  return points.at(-1)!.position / 100;
}

/** The power the regulator gives at a servo position (0–1), by the same table. */
export function powerAt(position: number, servo: ServoOptions | undefined, maxPowerW: number): number {
  const table = servo?.calibration ?? [];
  if (!table.length) return Math.max(0, Math.min(1, position)) * maxPowerW;
  const points = [{ position: 0, power_w: 0 }, ...table];
  const at = position * 100;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    if (at <= b.position) return a.power_w + ((at - a.position) / (b.position - a.position || 1)) * (b.power_w - a.power_w);
  }
  return points.at(-1)!.power_w;
}

export function pulseFor(position: number, servo: ServoOptions): number {
  const p = Math.max(0, Math.min(1, position));
  const span = servo.max_us - servo.min_us;
  return Math.round(servo.reverse ? servo.max_us - p * span : servo.min_us + p * span);
}

// ---- GPIO: a relay pin and a servo pin ----

/** What a relay and a servo need from a GPIO library. Commands must be written before the first await. */
export interface PinDriver extends EventEmitter {
  readonly describe: string;
  readonly connected: boolean;
  readonly lastError?: string;
  connect(): void;
  mode(gpio: number, output: boolean): Promise<unknown>;
  write(gpio: number, level: 0 | 1): Promise<unknown>;
  /** Pulse width in µs; 0 stops the pulses. */
  servo(gpio: number, pulseUs: number): Promise<unknown>;
  close(): Promise<void>;
}

/** pigpiod as a pin driver. */
export class PigpiodPins extends PigpiodClient implements PinDriver {
  mode(gpio: number, output: boolean): Promise<number> {
    return this.send(PIGPIO.MODES, gpio, output ? MODE.output : MODE.input);
  }
  write(gpio: number, level: 0 | 1): Promise<number> {
    return this.send(PIGPIO.WRITE, gpio, level);
  }
  servo(gpio: number, pulseUs: number): Promise<number> {
    return this.send(PIGPIO.SERVO, gpio, pulseUs);
  }
}

/** How long the servo gets to reach a position before the next step (SG90: ~0.1 s per 60° unloaded). */
const SERVO_SETTLE_MS = 400;

export class GpioActuators extends EventEmitter implements HeaterActuators {
  private readonly relay: NonNullable<WaterHeaterOptions['relay']> & { gpio: number };
  private readonly servo: ServoOptions & { gpio: number };
  /** Where the servo was last sent (0–1); unknown after a (re)connect. */
  private position?: number;
  private moving: Promise<void> = Promise.resolve();
  private wanted?: number;
  private releaseTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly pins: PinDriver,
    options: WaterHeaterOptions,
  ) {
    super();
    this.relay = options.relay as typeof this.relay;
    this.servo = options.servo as typeof this.servo;
    this.maxPowerW = options.max_power_w;
    pins.on('connected', () => {
      this.position = undefined;
      this.emit('connected');
    });
    pins.on('disconnected', (reason: string) => this.emit('disconnected', reason));
    pins.on('problem', (reason: string) => this.emit('problem', reason));
  }

  private readonly maxPowerW: number;

  get describe(): string {
    return `${this.pins.describe}: relay GPIO ${this.relay.gpio}${this.relay.active_low ? ' (active low)' : ''}, servo GPIO ${this.servo.gpio}`;
  }

  get connected(): boolean {
    return this.pins.connected;
  }

  get problem(): string | undefined {
    return this.pins.connected ? undefined : this.pins.lastError;
  }

  async start(): Promise<void> {
    this.pins.connect();
  }

  setRelay(on: boolean): Promise<void> {
    const { gpio, active_low: activeLow, off_mode: offMode } = this.relay;
    const level = (on !== activeLow ? 1 : 0) as 0 | 1;
    // WRITE makes the pin an output; releasing it makes it an input (high impedance).
    const done = !on && offMode === 'released' ? this.pins.mode(gpio, false) : this.pins.write(gpio, level);
    return done.then(() => undefined);
  }

  setPower(powerW: number): Promise<void> {
    this.wanted = positionFor(powerW, this.servo, this.maxPowerW);
    // Moves run one after the other; a failed one is the caller's to hear, the next still runs.
    const move = this.moving.then(() => this.moveTo());
    this.moving = move.catch(() => undefined);
    return move;
  }

  /** Moves to the latest wanted position, approaching it from below (the gears' play taken one way). */
  private async moveTo(): Promise<void> {
    const target = this.wanted;
    if (target === undefined || this.closed) return;
    if (this.position !== undefined && Math.abs(target - this.position) < 0.002) return;
    clearTimeout(this.releaseTimer);
    const backlash = this.servo.backlash_percent / 100;
    if (backlash > 0 && (this.position === undefined || target < this.position)) {
      await this.pins.servo(this.servo.gpio, pulseFor(Math.max(0, target - backlash), this.servo));
      await sleep(SERVO_SETTLE_MS);
    }
    await this.pins.servo(this.servo.gpio, pulseFor(target, this.servo));
    this.position = target;
    if (this.servo.release_after_ms > 0) {
      this.releaseTimer = setTimeout(() => void this.pins.servo(this.servo.gpio, 0).catch(() => undefined), this.servo.release_after_ms);
    }
  }

  safeNow(): void {
    clearTimeout(this.releaseTimer);
    this.wanted = 0;
    if (!this.pins.connected) return;
    // Both commands are written now; their answers do not matter any more.
    this.setRelay(false).catch(() => undefined);
    this.pins.servo(this.servo.gpio, pulseFor(0, this.servo)).catch(() => undefined);
    this.position = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.releaseTimer);
    await this.pins.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- HA entities and MQTT topics ----

export class EntityActuators extends EventEmitter implements HeaterActuators {
  private readonly relay: Target;
  private readonly regulator: LevelTarget;

  constructor(
    private readonly options: WaterHeaterOptions,
    private readonly deps: TargetDeps,
  ) {
    super();
    if (options.backend === 'ha') {
      const regulator = options.regulator_entity!;
      // A light's level is its brightness: raw 0–255 when regulator_max says so, else percent.
      const brightness = regulator.startsWith('light.') ? (options.regulator_max === 255 ? 'raw' : 'percent') : undefined;
      this.relay = createTarget({ ha_entity: options.relay_entity! }, deps);
      this.regulator = createLevelTarget({ ha_entity: regulator, brightness }, deps);
    } else {
      const relay = options.relay_mqtt!;
      this.relay = createTarget({ mqtt: { command_topic: relay.command_topic!, payload_on: relay.payload_on, payload_off: relay.payload_off } }, deps);
      this.regulator = createLevelTarget({ mqtt: { command_topic: options.regulator_mqtt!.command_topic!, payload_on: 'ON', payload_off: 'OFF' } }, deps);
    }
  }

  get describe(): string {
    return `${this.relay.describe} and ${this.regulator.describe}`;
  }

  get connected(): boolean {
    return this.options.backend === 'ha' ? Boolean(this.deps.ha?.connected) : true;
  }

  get problem(): string | undefined {
    return this.connected ? undefined : 'no connection to Home Assistant';
  }

  async start(): Promise<void> {
    // HA's connection is the app's; its state is looked at on every step.
  }

  setRelay(on: boolean): Promise<void> {
    return this.relay.set(on);
  }

  setPower(powerW: number): Promise<void> {
    const level = Math.round((Math.max(0, powerW) / this.options.max_power_w) * this.options.regulator_max * 10) / 10;
    return this.regulator.set(Math.min(this.options.regulator_max, level));
  }

  safeNow(): void {
    // Both messages leave before the first await (targets.ts).
    this.relay.set(false).catch(() => undefined);
    this.regulator.set(0).catch(() => undefined);
  }

  async close(): Promise<void> {
    // Nothing of its own to close.
  }
}

export function createActuators(options: WaterHeaterOptions, deps: TargetDeps, pins?: PinDriver): HeaterActuators {
  if (options.backend === 'ha' || options.backend === 'mqtt') return new EntityActuators(options, deps);
  if (!pins) throw new Error(`backend ${options.backend} needs its GPIO driver`);
  return new GpioActuators(pins, options);
}
