// The native pigpio library (fivdi/pigpio) as a pin driver: for a Raspberry Pi 1–4 where this
// add-on itself drives the pins. It is an optional dependency, loaded only for backend pigpio:
// it needs the pigpio C library, root, /dev/mem, and no pigpiod beside it, and it refuses a Pi 5.
import { EventEmitter } from 'node:events';
import type { PinDriver } from './actuators.js';

interface NativeGpio {
  mode(mode: number): void;
  digitalWrite(level: 0 | 1): void;
  servoWrite(pulseWidth: number): void;
}
interface NativePigpio {
  Gpio: { new (gpio: number, options?: { mode?: number }): NativeGpio; INPUT: number; OUTPUT: number };
  terminate?: () => void;
}

const WHY =
  'backend pigpio needs the pigpio C library on a Raspberry Pi 1 to 4 (not a Pi 5), root with /dev/mem, and no pigpiod running beside it; on other hardware, or with the pigpio add-on, use backend pigpiod';

/** Loads the library; a clear error when it is missing or cannot run here. */
export async function loadNativePins(): Promise<PinDriver> {
  // A variable name keeps bundlers and the compiler from requiring the optional package.
  const name = 'pigpio';
  let library: NativePigpio;
  try {
    const loaded = (await import(name)) as { default?: NativePigpio } & NativePigpio;
    library = loaded.default ?? loaded;
  } catch (error) {
    throw new Error(`${WHY} (loading it failed: ${(error as Error).message.split("\n")[0]})`, { cause: error });
  }
  if (typeof library?.Gpio !== 'function') throw new Error(`${WHY} (the module loaded without its native part)`);
  return new NativePins(library);
}

class NativePins extends EventEmitter implements PinDriver {
  private readonly pins = new Map<number, NativeGpio>();
  private ready = false;
  lastError?: string;

  constructor(private readonly library: NativePigpio) {
    super();
  }

  readonly describe = 'pigpio (native)';

  get connected(): boolean {
    return this.ready;
  }

  connect(): void {
    try {
      // The first Gpio initialises the C library: that is where a Pi 5 or a missing /dev/mem fails.
      this.pin(0);
      this.ready = true;
      queueMicrotask(() => this.emit('connected'));
    } catch (error) {
      this.lastError = `${WHY} (${(error as Error).message})`;
      queueMicrotask(() => this.emit('problem', this.lastError));
    }
  }

  private pin(gpio: number): NativeGpio {
    let pin = this.pins.get(gpio);
    if (!pin) {
      pin = new this.library.Gpio(gpio);
      this.pins.set(gpio, pin);
    }
    return pin;
  }

  private run(action: () => void): Promise<void> {
    try {
      action();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  mode(gpio: number, output: boolean): Promise<void> {
    return this.run(() => this.pin(gpio).mode(output ? this.library.Gpio.OUTPUT : this.library.Gpio.INPUT));
  }

  write(gpio: number, level: 0 | 1): Promise<void> {
    return this.run(() => this.pin(gpio).digitalWrite(level));
  }

  servo(gpio: number, pulseUs: number): Promise<void> {
    return this.run(() => this.pin(gpio).servoWrite(pulseUs));
  }

  async close(): Promise<void> {
    this.ready = false;
    this.library.terminate?.();
  }
}
