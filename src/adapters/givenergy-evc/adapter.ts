// A GivEnergy EV charger (GivEVC) on local Modbus TCP: polled as GivTCP does (HR 0–59 and 60–114
// every poll_interval, a 5-minute pause after 10 failures in a row, research/givenergy.md §3),
// declared as an HA device once its serial is read, and steered through the safe writer. Until
// the serial is known, and whenever the charger cannot be reached, a link device says why: above
// all "local control disabled", where the charger accepts the connection and never answers.
import { z } from 'zod';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import { parseCommand, type EntitySpec } from '../../core/entity.js';
import { SafeWriter, WriteRefused, type Write } from '../../io/safe-writer.js';
import { WriteBudget, writeBudgetState } from '../../io/write-budget.js';
import { EvcClient, NoAnswer } from './client.js';
import { CLOCK_KEYS, EVC_KEYS, ROWS, evcDeviceId, evcLinkId, phasesOf, type Row, type Values } from './entities.js';
import { EvcGivTcp } from './givtcp-evc.js';
import type { GivenergyEvcOptions } from './options.js';
import { CONTROL, HR, READ_BACK_AT, READ_BLOCKS, WRITE_RULES, decodeSerial, scaled, u16, wallClock } from './registers.js';

const persistedShape = z.object({
  budget: writeBudgetState.optional(),
  serial: z.string().regex(/^[A-Za-z0-9_-]{4,31}$/).optional(),
  maxSessionKwh: z.number().min(0).max(200).optional(),
});

/** GivTCP's back-off: the charger's port locks up when hammered (research §3, #311). */
const FAILURES_BEFORE_PAUSE = 10;
const PAUSE_MS = 5 * 60_000;

export const LOCAL_CONTROL_DISABLED =
  'the charger accepts connections but answers no Modbus request: switch on "Enable Local Control" in the GivEnergy portal (EV Charger card, Settings, Other)';

export class GivEvcAdapter implements Adapter {
  readonly id: string;
  device?: Device;
  /** The connection to the charger: stays available to say why the charger is not. */
  link?: Device;
  serial?: string;
  /** The register image, index = holding register, as last read. */
  readonly registers: Array<number | undefined> = [];
  readonly budget: WriteBudget;
  /** How long an answer may take: 5 s, less with a short poll interval (tests shorten it further). */
  tuning: { timeoutMs: number };
  maxSessionKwh = 0;
  private readonly writer: SafeWriter<number>;
  private client?: EvcClient;
  private readonly entities = new Map<string, Entity<EntitySpec>>();
  private timer?: TimerHandle;
  private polling?: Promise<void>;
  private failures = 0;
  private pausedUntil = 0;
  private problem?: string = 'not connected yet';
  private phases: number | null = null;
  private stopped = false;
  private stoppingSession = false;
  private givtcp?: EvcGivTcp;
  /** Counts writes, so a poll that read before a write does not undo its read-back. */
  private writeGeneration = 0;
  private readonly lastWritten = new Map<number, number>();

  constructor(
    readonly options: GivenergyEvcOptions,
    private readonly ctx: AdapterContext,
  ) {
    this.id = `givenergy_evc/${options.host}`;
    this.tuning = { timeoutMs: Math.min(5000, Math.max(500, options.poll_interval * 500)) };
    this.budget = new WriteBudget(ctx.clock, { perMinute: 12, perDay: options.daily_write_budget }, {
      writes: 'charger setting writes', protects: "the charger's settings memory", option: 'givenergy_evc daily_write_budget',
    });
    this.writer = new SafeWriter<number>({
      allowed: WRITE_RULES,
      budget: this.budget,
      clock: ctx.clock,
      device: {
        describe: (at) => `register ${at}`,
        known: (at) => this.registers[READ_BACK_AT.get(at) ?? at],
        write: async (at, value) => {
          if (!this.client?.connected) throw new Error('not connected to the charger');
          this.writeGeneration++;
          this.lastWritten.set(at, value);
          await this.client.write(at, value);
          return undefined;
        },
        readBack: (at) => this.readBack(at),
      },
      onWritten: () => void this.save(),
    });
  }

  private get storeKey(): string {
    return `givenergy_evc_${this.options.host.replace(/[^a-zA-Z0-9]/g, '_')}_${this.options.port}`;
  }

  private save(): Promise<void> {
    this.link?.entities.get('writes_today')?.update(this.budget.used);
    return this.ctx.store.write(this.storeKey, { budget: this.budget.state(), serial: this.serial, maxSessionKwh: this.maxSessionKwh });
  }

  async start(): Promise<void> {
    const { host, port } = this.options;
    this.link = this.ctx.devices.device({ id: evcLinkId(host, port), name: `GivEnergy EV charger link ${host}`, manufacturer: 'GivEnergy', model: 'GivEVC Modbus TCP link' }, this.id);
    this.link.binarySensor({ key: 'connection', name: 'Connection problem', deviceClass: 'problem', category: 'diagnostic' }).update(true);
    this.link.sensor({ key: 'last_error', name: 'Last connection error', icon: 'mdi:lan-disconnect', category: 'diagnostic' }).update(this.problem ?? 'none');
    this.link.sensor({ key: 'serial', name: 'Charger serial number', icon: 'mdi:identifier', category: 'diagnostic' });
    this.link.sensor({ key: 'writes_today', name: 'Setting writes today', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' });
    const saved = await this.ctx.store.read(this.storeKey, persistedShape, {});
    if (saved.budget) this.budget.restore(saved.budget);
    this.maxSessionKwh = saved.maxSessionKwh ?? 0;
    this.link.entities.get('writes_today')?.update(this.budget.used);
    this.link.entities.get('serial')?.update(saved.serial ?? null);
    // Known from an earlier run: HA shows the charger at once, unavailable until it answers.
    if (saved.serial) this.declare(saved.serial);
    if (this.stopped) return;
    this.client = new EvcClient({ host, port, unitId: this.options.unit_id, timeoutMs: this.tuning.timeoutMs });
    // Not awaited: an unreachable charger must not hold up the add-on.
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.ctx.clock.setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedule(this.options.poll_interval * 1000));
    }, delayMs);
  }

  /** One poll: (re)connect if needed, read both blocks, publish. Never throws. */
  async poll(): Promise<void> {
    const client = this.client;
    if (!client || this.stopped) return;
    if (this.ctx.clock.now() < this.pausedUntil) return;
    try {
      if (!client.connected) await client.connect();
      const generation = this.writeGeneration;
      const image: number[] = [];
      for (const block of READ_BLOCKS) image.push(...(await client.readHolding(block.start, block.count)));
      if (this.stopped) return;
      // A write landed between the two reads or after them: this image predates its read-back.
      if (generation !== this.writeGeneration) return;
      image.forEach((value, at) => (this.registers[at] = value));
      this.failures = 0;
      this.received();
    } catch (err) {
      if (this.stopped) return;
      this.failed(err, client);
    }
  }

  private received(): void {
    if (!this.device) {
      const serial = decodeSerial(this.registers);
      if (!serial) {
        this.setProblem('the charger answered but reported no serial number (HR 38–68); is this a GivEnergy EV charger?');
        return;
      }
      this.ctx.log.info(`found the GivEnergy EV charger ${serial}`);
      this.declare(serial);
      void this.save();
    }
    this.setProblem(undefined);
    this.device!.setAvailable(true);
    this.publish();
    void this.enforceMaxSession();
  }

  private failed(err: unknown, client: EvcClient): void {
    this.failures++;
    let reason: string;
    if (err instanceof NoAnswer) {
      reason = client.answered === 0 ? LOCAL_CONTROL_DISABLED : `the charger stopped answering (${err.message})`;
    } else {
      reason = (err as Error).message;
    }
    // A fresh connection next time: a half-answered Modbus TCP stream cannot be trusted.
    void client.disconnect();
    if (this.failures >= FAILURES_BEFORE_PAUSE) {
      this.failures = 0;
      this.pausedUntil = this.ctx.clock.now() + PAUSE_MS;
      reason += `; ${FAILURES_BEFORE_PAUSE} failures in a row, pausing 5 minutes`;
    }
    this.setProblem(reason);
  }

  private setProblem(problem: string | undefined): void {
    if (problem === this.problem) return;
    this.problem = problem;
    if (problem) {
      this.ctx.log.warn(problem);
      this.device?.setAvailable(false);
    }
    this.link?.entities.get('connection')?.update(problem !== undefined);
    if (problem) this.link?.entities.get('last_error')?.update(problem);
  }

  private declare(serial: string): void {
    this.serial = serial;
    const device = this.ctx.devices.device(
      { id: evcDeviceId(serial), name: `GivEnergy EV charger ${serial}`, manufacturer: 'GivEnergy', model: 'GivEVC', serialNumber: serial },
      this.id,
    );
    this.device = device;
    this.link?.entities.get('serial')?.update(serial);
    for (const row of ROWS) {
      // Returns nothing: the read-back updates the entities (a returned value would become the state).
      const handler = row.write || row.local ? async (value: unknown) => void (await this.command(row, value)) : undefined;
      this.entities.set(row.spec.key, device.add(row.spec, handler as never));
    }
    // The add-on's own setting is known before the charger answers.
    this.entities.get(EVC_KEYS.maxSessionEnergy)?.update(this.maxSessionKwh as never);
    device.setAvailable(false);
    this.givtcp = new EvcGivTcp(this, this.ctx.devices, this.ctx.log);
    this.givtcp.subscribe(this.options.mqtt_root, serial);
  }

  private values(): Values {
    return { r: this.registers, phases: this.phases, maxSessionKwh: this.maxSessionKwh };
  }

  private publish(): void {
    this.phases = phasesOf(this.values());
    const values = this.values();
    for (const row of ROWS) {
      if (!row.read) continue;
      this.entities.get(row.spec.key)?.update(row.read(values) as never);
    }
  }

  /** A command from HA, an automation or GivTCP's topics: checked, written, read back. */
  async command(row: Row, value: unknown): Promise<{ written: number; skipped: number }> {
    if (row.local) {
      this.maxSessionKwh = value as number;
      await this.save();
      this.entities.get(row.spec.key)?.update(this.maxSessionKwh as never);
      this.ctx.log.info(`max session energy set to ${this.maxSessionKwh} kWh${this.maxSessionKwh === 0 ? ' (off)' : ''}`);
      void this.enforceMaxSession();
      return { written: 0, skipped: 0 };
    }
    if (!this.device?.available) throw new Error(`the charger is not answering (${this.problem ?? 'no data yet'}); nothing was written`);
    const writes = row.write!(value as never, this.values(), this.ctx.clock.now());
    if (row.spec.key === EVC_KEYS.chargeLimit) this.checkEvseRange(writes);
    const result = await this.writer.apply(writes);
    this.link?.entities.get('writes_today')?.update(this.budget.used);
    if (result.written) this.ctx.log.info(`${row.spec.name}: ${result.written} register(s) written and confirmed, ${result.skipped} already held (${writes.map((w) => `HR${w.key}=${w.value}`).join(', ')})`);
    this.publish();
    return result;
  }

  /** The EVSE's own limits (HR34, HR32) narrow 6–32 A further, as GivTCP clamps. */
  private checkEvseRange(writes: Array<Write<number>>): void {
    const min = u16(this.registers, HR.evseMin);
    const max = u16(this.registers, HR.evseMax);
    for (const w of writes) {
      const amps = w.value / 10;
      if (min !== null && min > 0 && amps < min) throw new WriteRefused(`${amps} A is below this charger's minimum of ${min} A`);
      if (max !== null && max > 0 && amps > max) throw new WriteRefused(`${amps} A is above this charger's maximum of ${max} A`);
    }
  }

  /** Reads a written setting back where the charger reports it (HR36 for 91, HR94 for 95). */
  private async readBack(at: number): Promise<number | undefined> {
    const client = this.client;
    if (!client) return undefined;
    if (CLOCK_KEYS.has(at)) {
      const fields = await client.readHolding(HR.clock, 6);
      fields.forEach((v, i) => (this.registers[HR.clock + i] = v));
      const index = at - HR.clock;
      const read = fields[index]!;
      // The clock runs on: a field that matches our time within 2 s is the value written.
      const now = this.ctx.clock.now();
      const written = this.lastWritten.get(at);
      for (let d = -2000; d <= 2000; d += 1000) if (wallClock(now + d)[index] === read) return written ?? read;
      return read;
    }
    const from = READ_BACK_AT.get(at) ?? at;
    const [value] = await client.readHolding(from, 1);
    this.registers[from] = value;
    return value;
  }

  /** Max session energy (the add-on's, as GivTCP's): stops the charge once the session reached it. */
  private async enforceMaxSession(): Promise<void> {
    if (this.maxSessionKwh <= 0 || this.stoppingSession || !this.device?.available) return;
    const session = scaled(u16(this.registers, HR.sessionEnergy), 0.1);
    const control = u16(this.registers, HR.controlRead);
    const state = u16(this.registers, HR.state);
    if (session === null || session < this.maxSessionKwh || control !== CONTROL.start || (state !== 3 && state !== 4)) return;
    this.stoppingSession = true;
    try {
      this.ctx.log.info(`session energy ${session} kWh reached the maximum of ${this.maxSessionKwh} kWh: stopping the charge`);
      await this.writer.apply([{ key: HR.controlWrite, value: CONTROL.stop }]);
      this.ctx.devices.event({ type: 'evc_session_limit', device: this.device.id, session_kwh: session, max_kwh: this.maxSessionKwh });
      this.publish();
    } catch (err) {
      this.ctx.log.warn(`could not stop the charge at the session maximum: ${(err as Error).message}`);
    } finally {
      this.stoppingSession = false;
    }
  }

  /** GivTCP's command path for this charger (topics; a REST server can route to it too). */
  get givTcp(): EvcGivTcp | undefined {
    return this.givtcp;
  }

  /** The latest values by entity key, for a GivTCP-style GET /getCache. */
  cache(): Record<string, unknown> {
    return { serial: this.serial ?? null, available: this.device?.available ?? false, ...Object.fromEntries([...this.entities].map(([key, entity]) => [key, entity.value])) };
  }

  /** A command in GivTCP's words (topics), run through the same path as HA's. */
  async execute(key: string, payload: string): Promise<{ written: number; skipped: number }> {
    const entity = this.entities.get(key);
    const row = ROWS.find((r) => r.spec.key === key);
    if (!entity || !row) throw new WriteRefused(`no control ${key}`);
    const parsed = parseCommand(entity.spec, entity.schema, payload);
    if (!parsed.ok) throw new WriteRefused(parsed.reason);
    return this.command(row, parsed.value);
  }

  /** Nothing of ours runs on the charger; from now on nothing more is written to it. */
  failSafe(): void {
    this.stopped = true;
    this.writer.stop('energy2mqtt is stopping after a failure; nothing is written to the charger');
    this.timer?.cancel();
    void this.client?.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.writer.stop('the GivEnergy EV charger adapter is stopped; nothing is written');
    this.timer?.cancel();
    this.givtcp?.unsubscribe();
    await this.client?.close();
    await this.polling?.catch(() => undefined);
  }
}
