// A Viessmann Vitocal heat pump as its energy meter sees it: a Modbus master that polls the meter
// (modbus-serial's client, never this project's slave), reads the PV surplus and runs its
// compressor on it, as research viessmann-pvheater.md §1.5–§1.6 and §2.2 describe. ALE3: the
// 262-A reads an 8-register block of the identity area and checks "ALE3" before it trusts the
// meter, then reads the phase powers (wire 37/42/47, int16 × 10 W) and the total (50); the
// SDM630: float32 input registers 0x0C–0x11 and 0x34. It starts at ~800 W of surplus; the surplus
// it reads includes its own draw (the meter sits between the grid and the heat pump), so it stops
// only when that falls under a lower threshold. After a few failed polls in a row it falls back
// to "no PV surplus", as a real Vitocal does when the meter goes silent.
import { EventEmitter } from 'node:events';
import modbusSerial from 'modbus-serial';
import mqtt, { type MqttClient } from 'mqtt';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';

// modbus-serial is CommonJS; under NodeNext its typed default export is the `default` property.
const ModbusRTU = modbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusRTU>;

export type VitocalTransport =
  | { tcp: { host: string; port: number } }
  | { serial: { path: string; baudRate: number; parity: 'even' | 'odd' | 'none'; dataBits: 7 | 8; stopBits: 1 | 2 } };

export interface VitocalOptions {
  transport: VitocalTransport;
  /** The meter's Modbus address. Default 1. */
  unitId?: number;
  profile?: 'ale3' | 'sdm630';
  /** How it reads the meter: export_positive (200-S) takes a positive power as surplus, import_positive (262-A) a negative one. */
  sign?: 'export_positive' | 'import_positive';
  pollIntervalMs?: number;
  /** How long it waits for an answer. Default 1000 ms. */
  timeoutMs?: number;
  startThresholdW?: number;
  /** It stops when the surplus it reads (its own draw included) falls under this. */
  stopThresholdW?: number;
  compressorW?: number;
  /** What it draws with the compressor off (controller, pumps on standby). */
  standbyW?: number;
  minRunMs?: number;
  minPauseMs?: number;
  /** Failed polls in a row after which it assumes no PV surplus. Default 3. */
  maxFailures?: number;
  clock?: Clock;
  /** Publishes its power (plain W) on powerTopic after every poll, as a smart plug would. */
  mqtt?: { host: string; port: number; powerTopic: string };
}

export type PollErrorKind = 'connect' | 'timeout' | 'exception' | 'identity' | 'io';

export interface PollRecord {
  at: number;
  /** The surplus it read, in its own sign convention: positive is surplus. */
  surplusW?: number;
  phasesW?: [number, number, number];
  /** The meter's total power register, as read (before the sign convention). */
  totalW?: number;
  error?: { kind: PollErrorKind; message: string };
  compressorOn: boolean;
}

class PollFailure extends Error {
  constructor(
    readonly kind: PollErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const HISTORY_SIZE = 1000;
const ALE3_IDENTITY_COUNT = 8;
const ALE3_TYPE_WIRE = 6;
const ALE3_POWER_BLOCK = { start: 35, count: 16 } as const;
const ALE3_PHASE_OFFSETS = [37 - 35, 42 - 35, 47 - 35] as const;
const ALE3_TOTAL_OFFSET = 50 - 35;

const int16 = (word: number) => (word << 16) >> 16;

function float32(words: readonly number[], offset: number): number {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt16BE(words[offset]! & 0xffff, 0);
  bytes.writeUInt16BE(words[offset + 1]! & 0xffff, 2);
  return bytes.readFloatBE(0);
}

/** What came from the meter, made safe to show: printable ASCII only, cut short. */
function printable(text: string): string {
  return JSON.stringify(text.replace(/[^\x20-\x7e]/g, '?').slice(0, 16));
}

function asFailure(error: unknown): PollFailure {
  if (error instanceof PollFailure) return error;
  const problem = error as { errno?: string; modbusCode?: number; message?: string };
  if (problem.errno === 'ETIMEDOUT') return new PollFailure('timeout', 'no answer from the meter');
  if (typeof problem.modbusCode === 'number') return new PollFailure('exception', `the meter answered exception ${problem.modbusCode}`);
  return new PollFailure('io', problem.message ?? String(error));
}

export class VitocalSimulator extends EventEmitter<{ poll: [PollRecord]; compressor: [boolean] }> {
  compressorOn = false;
  polls = 0;
  errors = 0;
  consecutiveFailures = 0;
  lastSurplusW?: number;
  /** The last polls, oldest first. */
  readonly history: PollRecord[] = [];
  private readonly clock: Clock;
  private client?: ModbusClient;
  private identityChecked = false;
  private startedAt = -Infinity;
  private stoppedAt = -Infinity;
  private running = false;
  private timer?: TimerHandle;
  private inFlight?: Promise<void>;
  private broker?: MqttClient;

  constructor(private readonly options: VitocalOptions) {
    super();
    this.clock = options.clock ?? systemClock;
  }

  /** What it draws now, W. */
  get powerW(): number {
    return this.compressorOn ? (this.options.compressorW ?? 900) : (this.options.standbyW ?? 15);
  }

  /** Polls at once, then every pollIntervalMs; a meter that is not up yet only counts failed polls. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.options.mqtt) {
      const { host, port } = this.options.mqtt;
      this.broker = await mqtt.connectAsync({ host, port, clientId: `vitocal_sim_${Math.random().toString(16).slice(2, 8)}` });
    }
    this.running = true;
    this.pollLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    await this.inFlight;
    await this.dropClient();
    await this.broker?.endAsync();
    this.broker = undefined;
  }

  private pollLoop(): void {
    this.inFlight = this.poll().then((record) => {
      // Scheduled before anyone hears of the poll, so a test driving the clock finds the next one due.
      if (this.running) this.timer = this.clock.setTimeout(() => this.pollLoop(), this.options.pollIntervalMs ?? 5000);
      this.emit('poll', record);
    });
  }

  private async poll(): Promise<PollRecord> {
    const at = this.clock.now();
    this.polls++;
    let record: PollRecord;
    try {
      const { phasesW, totalW } = await this.readMeter();
      const surplusW = phasesW.reduce((sum, watts) => sum + watts, 0) * (this.options.sign === 'import_positive' ? -1 : 1);
      this.consecutiveFailures = 0;
      this.lastSurplusW = surplusW;
      this.decide(surplusW, at);
      record = { at, surplusW, phasesW, totalW, compressorOn: this.compressorOn };
    } catch (error) {
      const failure = asFailure(error);
      if (failure.kind === 'io' || failure.kind === 'connect') await this.dropClient();
      this.errors++;
      this.consecutiveFailures++;
      // No PV surplus from now on; the compressor's minimum run time still holds.
      if (this.consecutiveFailures >= (this.options.maxFailures ?? 3)) this.decide(0, at);
      record = { at, error: { kind: failure.kind, message: failure.message }, compressorOn: this.compressorOn };
    }
    this.history.push(record);
    if (this.history.length > HISTORY_SIZE) this.history.shift();
    if (this.broker && this.options.mqtt) void this.broker.publishAsync(this.options.mqtt.powerTopic, String(this.powerW)).catch(() => undefined);
    return record;
  }

  private decide(surplusW: number, now: number): void {
    const startW = this.options.startThresholdW ?? 800;
    const stopW = this.options.stopThresholdW ?? 300;
    if (!this.compressorOn && surplusW >= startW && this.identityChecked && now - this.stoppedAt >= (this.options.minPauseMs ?? 0)) {
      this.compressorOn = true;
      this.startedAt = now;
      this.emit('compressor', true);
    } else if (this.compressorOn && surplusW < stopW && now - this.startedAt >= (this.options.minRunMs ?? 0)) {
      this.compressorOn = false;
      this.stoppedAt = now;
      this.emit('compressor', false);
    }
  }

  private async readMeter(): Promise<{ phasesW: [number, number, number]; totalW: number }> {
    const client = await this.connected();
    if (this.options.profile === 'sdm630') {
      const phases = (await client.readInputRegisters(0x0c, 6)).data;
      const total = (await client.readInputRegisters(0x34, 2)).data;
      this.identityChecked = true; // the SDM630 has no type string to check
      return { phasesW: [float32(phases, 0), float32(phases, 2), float32(phases, 4)], totalW: float32(total, 0) };
    }
    if (!this.identityChecked) await this.checkAle3Identity(client);
    const block = (await client.readHoldingRegisters(ALE3_POWER_BLOCK.start, ALE3_POWER_BLOCK.count)).data;
    const phasesW = ALE3_PHASE_OFFSETS.map((offset) => int16(block[offset]!) * 10) as [number, number, number];
    return { phasesW, totalW: int16(block[ALE3_TOTAL_OFFSET]!) * 10 };
  }

  private async checkAle3Identity(client: ModbusClient): Promise<void> {
    const identity = (await client.readHoldingRegisters(0, ALE3_IDENTITY_COUNT)).data;
    const type = [identity[ALE3_TYPE_WIRE]!, identity[ALE3_TYPE_WIRE + 1]!].map((word) => String.fromCharCode(word >> 8, word & 0xff)).join('');
    if (type !== 'ALE3') throw new PollFailure('identity', `the meter is not an ALE3 (type ${printable(type)})`);
    this.identityChecked = true;
  }

  private async connected(): Promise<ModbusClient> {
    if (this.client?.isOpen) return this.client;
    await this.dropClient();
    const client = new ModbusRTU();
    // Port errors also reject the request in flight; the poll records them there.
    client.on('error', () => undefined);
    const { transport } = this.options;
    try {
      if ('tcp' in transport) await client.connectTCP(transport.tcp.host, { port: transport.tcp.port });
      else await client.connectRTUBuffered(transport.serial.path, { ...transport.serial });
    } catch (error) {
      throw new PollFailure('connect', (error as Error).message ?? String(error));
    }
    client.setID(this.options.unitId ?? 1);
    client.setTimeout(this.options.timeoutMs ?? 1000);
    // A meter reached anew may be another meter: check who it is again.
    this.identityChecked = false;
    this.client = client;
    return client;
  }

  private async dropClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client?.isOpen) return;
    await new Promise<void>((resolve) => client.close(() => resolve()));
  }
}
