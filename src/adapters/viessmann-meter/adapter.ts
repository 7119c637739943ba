// The meter a Vitocal polls (mqtt2vitocal done properly): an ALE3 or SDM630 served over Modbus
// RTU on a serial port and/or Modbus TCP, showing the PV surplus this add-on computes from its
// measurements. The register image is rebuilt the moment a measurement arrives and once a second
// (so a stale source turns into 0 W within a second of its limit); a poll only copies it.
import { z } from 'zod';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Entity } from '../../core/device.js';
import type { SensorSpec, SwitchSpec } from '../../core/entity.js';
import { RateLimitedWarning } from '../../core/rate-limited-log.js';
import { startSerialSlave, startTcpSlave, type ModbusSlaveServer, type RequestEvent } from './modbus-slave.js';
import { Ale3Bank, Sdm630Bank, type MeterReading, type PartialCounter, type PhaseValues } from './registers.js';
import { meterDeviceId, type ViessmannMeterOptions } from './options.js';
import { computeSurplus, inHeatPumpSign, type Surplus } from './surplus.js';

const TICK_MS = 1000;
const REOPEN_MS = 10_000;
const PERSIST_MS = 60_000;
/** A longer gap between two integrations (a suspended host) is not counted as energy. */
const MAX_INTEGRATION_GAP_MS = 10_000;
/** The last poll's time is shown to the nearest 10 s: a timestamp per poll would flood HA's recorder. */
const LAST_POLL_STEP_MS = 10_000;
/** What a 16-bit register in 10 W units can hold (ALE3). */
const ALE3_LIMIT_W = { min: -327_680, max: 327_670 };
/** HA refuses a state longer than 255 characters. */
const STATE_MAX = 250;

const energyShape = z.object({
  /** Energy served as positive and as negative power, Wh, in the real sense: surplus (export) and import. */
  exportWh: z.number().min(0),
  importWh: z.number().min(0),
  /** Where the ALE3's partial counters were last reset by the heat pump, Wh. */
  exportPartialFromWh: z.number().min(0).default(0),
  importPartialFromWh: z.number().min(0).default(0),
});
type Energy = z.infer<typeof energyShape>;

type SourceState = 'fresh' | 'stale' | 'held';

interface Entities {
  served: Entity<SensorSpec>;
  servedPhases: [Entity<SensorSpec>, Entity<SensorSpec>, Entity<SensorSpec>];
  surplus: Entity<SensorSpec>;
  sourceState: Entity<SensorSpec>;
  sourceReason: Entity<SensorSpec>;
  pollsPerMinute: Entity<SensorSpec>;
  lastPoll: Entity<SensorSpec>;
  requestErrors: Entity<SensorSpec>;
  energyExport: Entity<SensorSpec>;
  energyImport: Entity<SensorSpec>;
  serverState: Entity<SensorSpec>;
  serve: Entity<SwitchSpec>;
}

export class ViessmannMeterAdapter implements Adapter {
  readonly id: string;
  readonly deviceId: string;
  private bank?: Ale3Bank | Sdm630Bank;
  private entities?: Entities;
  private tcp?: ModbusSlaveServer;
  private serial?: ModbusSlaveServer;
  private tcpProblem?: string;
  private serialProblem?: string;
  private timers: TimerHandle[] = [];
  private reopenTimer?: TimerHandle;
  private disposers: Array<() => void> = [];
  private readonly warnings: RateLimitedWarning;
  /** Serve surplus (the HA switch); off serves 0 W. */
  private serving = true;
  private failedSafe = false;
  private stopped = false;
  private surplus: Surplus = { fresh: false, reason: 'starting' };
  /** The power served now, W per phase, in the real sense (positive = surplus). */
  private served: PhaseValues = [0, 0, 0];
  private energy: Energy = { exportWh: 0, importWh: 0, exportPartialFromWh: 0, importPartialFromWh: 0 };
  private integratedAt?: number;
  private energyDirty = false;
  private readonly pollTimes: number[] = [];
  private lastPollAt?: number;
  private requestErrors = 0;
  /** The TCP server's port once it listens. */
  tcpPort?: number;

  constructor(
    readonly options: ViessmannMeterOptions,
    private readonly ctx: AdapterContext,
  ) {
    this.deviceId = meterDeviceId(options.name);
    this.id = `viessmann_meter/${this.deviceId}`;
    this.warnings = new RateLimitedWarning(ctx.log, ctx.clock);
  }

  // ---- what tests, the bench and the demo read ----

  /** The power served now per phase, in the heat pump's sign convention, W. */
  get servedPowerW(): PhaseValues {
    return inHeatPumpSign(this.served, this.options.sign);
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    const { options, ctx } = this;
    this.declare();
    this.energy = await ctx.store.read(this.deviceId, energyShape, this.energy);
    this.serving = ctx.haChanges.get(this.deviceId, 'serve_surplus', z.boolean(), true);
    this.bank =
      options.profile === 'sdm630'
        ? new Sdm630Bank(this.reading())
        : new Ale3Bank(
            { unitId: options.unit_id, baudRate: options.serial?.baud ?? 19200, serialNumber: serialNumberOf(this.deviceId) },
            (counter) => this.resetPartial(counter),
            this.reading(),
          );
    for (const role of ['rest_power', 'grid', 'heat_pump', 'grid_l1', 'grid_l2', 'grid_l3'] as const) {
      const name = options[role];
      const measurement = name === undefined ? undefined : ctx.measurements.get(name);
      if (measurement) this.disposers.push(measurement.onChange(() => this.refresh()));
    }
    this.integratedAt = ctx.clock.now();
    this.refresh();
    this.timers.push(ctx.clock.setInterval(() => this.refresh(), TICK_MS));
    this.timers.push(ctx.clock.setInterval(() => this.persist(), PERSIST_MS));
    await this.openServers();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers.splice(0)) timer.cancel();
    this.reopenTimer?.cancel();
    for (const dispose of this.disposers.splice(0)) dispose();
    this.integrate(this.ctx.clock.now());
    await Promise.all([this.serial?.close(), this.tcp?.close()]);
    this.serial = this.tcp = undefined;
    await this.persist();
  }

  /** Serves 0 W from now on: a heat pump never runs on a surplus nobody vouches for. */
  failSafe(): void {
    if (this.failedSafe) return;
    this.failedSafe = true;
    this.refresh();
  }

  // ---- the served value ----

  /** Recomputes the surplus and the register image; publishes what HA shows. */
  private refresh(): void {
    if (!this.bank || this.stopped) return;
    const now = this.ctx.clock.now();
    this.integrate(now);
    this.surplus = computeSurplus(this.options, (name) => this.ctx.measurements.get(name), now);
    const state = this.sourceState();
    this.served = state === 'fresh' && this.surplus.fresh ? this.clamp(this.surplus.phasesW) : [0, 0, 0];
    this.bank.update(this.reading());
    this.show(state, now);
  }

  private sourceState(): SourceState {
    if (this.failedSafe || !this.serving) return 'held';
    return this.surplus.fresh ? 'fresh' : 'stale';
  }

  private clamp(phases: PhaseValues): PhaseValues {
    if (this.options.profile !== 'ale3') return phases;
    const one = (w: number) => Math.max(ALE3_LIMIT_W.min, Math.min(ALE3_LIMIT_W.max, w));
    const clamped = [one(phases[0]), one(phases[1]), one(phases[2])] as const;
    // The total register must fit too: scale the phases down together when their sum does not.
    const total = clamped[0] + clamped[1] + clamped[2];
    const scale = total > ALE3_LIMIT_W.max ? ALE3_LIMIT_W.max / total : total < ALE3_LIMIT_W.min ? ALE3_LIMIT_W.min / total : 1;
    return [clamped[0] * scale, clamped[1] * scale, clamped[2] * scale];
  }

  /**
   * The register contents. The counters follow the sign the heat pump reads: power it reads as
   * positive counts into the meter's first counter (ALE3 T1 / SDM630 import), the rest into the
   * second, so the image stays consistent whichever sign is configured.
   */
  private reading(): MeterReading {
    const e = this.energy;
    const exportFirst = this.options.sign === 'export_positive';
    const [positiveWh, negativeWh] = exportFirst ? [e.exportWh, e.importWh] : [e.importWh, e.exportWh];
    const [positiveFrom, negativeFrom] = exportFirst ? [e.exportPartialFromWh, e.importPartialFromWh] : [e.importPartialFromWh, e.exportPartialFromWh];
    return {
      powerW: this.servedPowerW,
      importEnergyWh: positiveWh,
      exportEnergyWh: negativeWh,
      importPartialWh: Math.max(0, positiveWh - positiveFrom),
      exportPartialWh: Math.max(0, negativeWh - negativeFrom),
    };
  }

  /** Adds the energy served since the last call (the power served in between was constant). */
  private integrate(now: number): void {
    const since = this.integratedAt;
    this.integratedAt = now;
    if (since === undefined || now <= since || now - since > MAX_INTEGRATION_GAP_MS) return;
    const totalW = this.served[0] + this.served[1] + this.served[2];
    if (totalW === 0) return;
    const wh = (Math.abs(totalW) * (now - since)) / 3_600_000;
    if (totalW > 0) this.energy.exportWh += wh;
    else this.energy.importWh += wh;
    this.energyDirty = true;
  }

  /** The heat pump reset an ALE3 partial counter (FC16 of 0): it restarts from the total. */
  private resetPartial(counter: PartialCounter): void {
    const exportFirst = this.options.sign === 'export_positive';
    const realExport = (counter === 'import') === exportFirst;
    if (realExport) this.energy.exportPartialFromWh = this.energy.exportWh;
    else this.energy.importPartialFromWh = this.energy.importWh;
    this.energyDirty = true;
    this.ctx.log.info(`the heat pump reset the partial ${realExport ? 'export' : 'import'} counter`);
  }

  private async persist(): Promise<void> {
    if (!this.energyDirty) return;
    this.energyDirty = false;
    await this.ctx.store.write(this.deviceId, this.energy).catch((err: Error) => this.ctx.log.warn(`energy counters not saved: ${err.message}`));
  }

  // ---- polls ----

  private onRequest(event: RequestEvent): void {
    const now = this.ctx.clock.now();
    if (event.outcome === 'answered' && event.functionCode === this.bank?.readFunction) {
      this.pollTimes.push(now);
      if (this.pollTimes.length > 10_000) this.pollTimes.splice(0, 5_000);
      this.lastPollAt = now;
    } else if (event.outcome === 'exception' || event.outcome === 'bad-crc' || event.outcome === 'malformed') {
      this.requestErrors++;
      const what =
        event.outcome === 'exception'
          ? `function ${event.functionCode}${event.address !== undefined ? ` at ${event.address} x${event.count}` : ''} answered with exception ${event.exceptionCode}`
          : event.outcome === 'bad-crc'
            ? 'a frame with a bad CRC was ignored (noise on the bus, or wrong baud rate or parity)'
            : 'a malformed request was ignored';
      this.warnings.warn(event.outcome, `request error over ${event.transport}: ${what}`);
    }
  }

  private pollsLastMinute(now: number): number {
    while (this.pollTimes.length && this.pollTimes[0]! <= now - 60_000) this.pollTimes.shift();
    return this.pollTimes.length;
  }

  // ---- servers ----

  private async openServers(): Promise<void> {
    const { options } = this;
    const slave = { unitId: options.unit_id, bank: this.bank!, onRequest: (event: RequestEvent) => this.onRequest(event) };
    if (options.tcp?.port !== undefined && !this.tcp) {
      try {
        const server = await startTcpSlave({ ...slave, host: options.tcp.host, port: options.tcp.port });
        if (this.stopped) await server.close();
        else {
          this.tcp = server;
          this.tcpPort = server.port;
          this.tcpProblem = undefined;
        }
      } catch (err) {
        this.tcpProblem = `TCP ${options.tcp.host}:${options.tcp.port}: cannot listen (${describeError(err)})`;
      }
    }
    const serial = options.serial;
    if (serial?.port && !this.serial) {
      try {
        const server = await startSerialSlave({
          ...slave,
          path: serial.port,
          baudRate: serial.baud,
          parity: serial.parity,
          dataBits: serial.data_bits as 7 | 8,
          stopBits: serial.stop_bits as 1 | 2,
          onClose: (error) => {
            this.serial = undefined;
            this.serialProblem = `serial ${serial.port} closed (${error ? describeError(error) : 'adapter unplugged?'})`;
            this.serverChanged();
          },
        });
        if (this.stopped) await server.close();
        else {
          this.serial = server;
          this.serialProblem = undefined;
        }
      } catch (err) {
        this.serialProblem = `serial ${serial.port}: cannot open (${describeError(err)})`;
      }
    }
    this.serverChanged();
  }

  /** Shows the servers' state, and tries a failed one again in 10 s. */
  private serverChanged(): void {
    if (this.stopped) return;
    const problems = [this.serialProblem, this.tcpProblem].filter((p): p is string => p !== undefined);
    for (const problem of problems) this.warnings.warn(problem.split(':')[0]!, `${problem}; trying again every ${REOPEN_MS / 1000} s`);
    this.entities?.serverState.update(cut(this.describeServers()));
    if (problems.length && !this.reopenTimer) {
      this.reopenTimer = this.ctx.clock.setTimeout(() => {
        this.reopenTimer = undefined;
        void this.openServers();
      }, REOPEN_MS);
    }
  }

  private describeServers(): string {
    const { serial, tcp } = this.options;
    const parts: string[] = [];
    if (serial?.port) {
      const line = `${serial.baud} ${serial.data_bits}${serial.parity[0]!.toUpperCase()}${serial.stop_bits}`;
      parts.push(this.serial ? `serial ${serial.port} ${line}, unit ${this.options.unit_id}: open` : `${this.serialProblem ?? `serial ${serial.port}: opening`}, retrying`);
    }
    if (tcp?.port !== undefined) {
      parts.push(this.tcp ? `TCP ${tcp.host}:${this.tcpPort}, unit ${this.options.unit_id}: listening` : `${this.tcpProblem ?? `TCP ${tcp.host}:${tcp.port}: starting`}, retrying`);
    }
    return parts.join('; ');
  }

  // ---- entities ----

  private declare(): void {
    const { options } = this;
    const device = this.ctx.devices.device(
      {
        id: this.deviceId,
        name: options.name,
        manufacturer: 'energy2mqtt',
        model: options.profile === 'ale3' ? 'Emulated Saia-Burgess ALE3 (Viessmann energy meter)' : 'Emulated Eastron SDM630',
      },
      this.id,
    );
    const power = (key: string, name: string, extra: Partial<SensorSpec> = {}) =>
      device.sensor({ key, name, deviceClass: 'power', unit: 'W', stateClass: 'measurement', precision: 0, ...extra });
    const energy = (key: string, name: string) => device.sensor({ key, name, deviceClass: 'energy', unit: 'kWh', stateClass: 'total_increasing', precision: 2 });
    this.entities = {
      served: power('power_served', 'Power served', { icon: 'mdi:transmission-tower-export' }),
      servedPhases: [
        power('power_served_l1', 'Power served L1', { enabledByDefault: options.phase_split !== 'even' }),
        power('power_served_l2', 'Power served L2', { enabledByDefault: options.phase_split === 'measured' }),
        power('power_served_l3', 'Power served L3', { enabledByDefault: options.phase_split === 'measured' }),
      ],
      surplus: power('surplus', 'Surplus', { icon: 'mdi:solar-power' }),
      sourceState: device.sensor({ key: 'source_state', name: 'Source state', deviceClass: 'enum', options: ['fresh', 'stale', 'held'], icon: 'mdi:clock-check-outline' }),
      sourceReason: device.sensor({ key: 'source_reason', name: 'Source', icon: 'mdi:information-outline', category: 'diagnostic' }),
      pollsPerMinute: device.sensor({ key: 'polls_per_minute', name: 'Polls per minute', unit: 'polls/min', stateClass: 'measurement', precision: 0, icon: 'mdi:heat-pump', category: 'diagnostic' }),
      lastPoll: device.sensor({ key: 'last_poll', name: 'Last poll', deviceClass: 'timestamp', category: 'diagnostic' }),
      requestErrors: device.sensor({ key: 'request_errors', name: 'Request errors', stateClass: 'total_increasing', precision: 0, icon: 'mdi:alert-circle-outline', category: 'diagnostic' }),
      energyExport: energy('energy_export', 'Energy served as surplus'),
      energyImport: energy('energy_import', 'Energy served as import'),
      serverState: device.sensor({ key: 'server_state', name: 'Server', icon: 'mdi:serial-port', category: 'diagnostic' }),
      serve: device.switch({
        key: 'serve_surplus',
        name: 'Serve surplus',
        icon: 'mdi:heat-pump-outline',
        command: async (on) => {
          this.serving = on;
          this.ctx.log.info(on ? 'serving the surplus again' : 'holding the heat pump off: serving 0 W (switched off from Home Assistant)');
          this.refresh();
          await this.ctx.haChanges.set(this.deviceId, 'serve_surplus', on);
          return on;
        },
      }),
    };
  }

  private show(state: SourceState, now: number): void {
    const e = this.entities;
    if (!e) return;
    const served = this.servedPowerW;
    e.served.update(round(served[0] + served[1] + served[2]));
    e.servedPhases.forEach((entity, i) => entity.update(round(served[i]!)));
    e.surplus.update(this.surplus.fresh ? round(this.surplus.totalW) : null);
    e.sourceState.update(state);
    e.sourceReason.update(cut(this.reason(state)));
    e.pollsPerMinute.update(this.pollsLastMinute(now));
    const lastPoll = this.lastPollAt === undefined ? null : new Date(Math.floor(this.lastPollAt / LAST_POLL_STEP_MS) * LAST_POLL_STEP_MS).toISOString();
    if (e.lastPoll.value !== lastPoll) e.lastPoll.update(lastPoll);
    e.requestErrors.update(this.requestErrors);
    e.energyExport.update(this.energy.exportWh / 1000);
    e.energyImport.update(this.energy.importWh / 1000);
    e.serve.update(this.serving);
    if (!e.serverState.hasValue) e.serverState.update(cut(this.describeServers()));
  }

  private reason(state: SourceState): string {
    if (this.failedSafe) return 'fail-safe: serving 0 W';
    const surplus = this.surplus;
    if (!surplus.fresh) return `serving 0 W: ${surplus.reason}`;
    const computed = this.describeFormula(surplus.totalW);
    return state === 'held' ? `held off from Home Assistant (Serve surplus is off), serving 0 W; ${computed}` : computed;
  }

  /** The formula with this moment's values, e.g. "heat_pump 900 W − grid −1200 W = 2100 W". */
  private describeFormula(totalW: number): string {
    const o = this.options;
    const value = (name: string) => `${round(this.ctx.measurements.get(name)?.value as number)} W`;
    if (o.rest_power !== undefined) return `${o.rest_power} ${value(o.rest_power)}`;
    const hp = o.heat_pump !== undefined ? `${o.heat_pump} ${value(o.heat_pump)} − ` : '−';
    if (o.grid !== undefined) return `${hp}${o.grid} ${value(o.grid)} = ${round(totalW)} W`;
    return `${hp}(${[o.grid_l1!, o.grid_l2!, o.grid_l3!].map((p) => `${p} ${value(p)}`).join(', ')}) = ${round(totalW)} W`;
  }
}

function round(w: number): number {
  return Math.round(w) || 0;
}

function cut(text: string): string {
  return text.length > STATE_MAX ? `${text.slice(0, STATE_MAX - 1)}…` : text;
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message;
}

/** A serial number the meter keeps across restarts: from its device id. */
function serialNumberOf(id: string): number {
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) % 100_000_000;
  return hash;
}
