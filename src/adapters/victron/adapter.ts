// A Victron GX (Venus OS) over its own MQTT broker: the portal id from the retained Serial,
// keepalives that keep the GX publishing, a full refresh after every (re)connection and GX
// restart, telemetry and ESS controls as HA entities. Every setting goes out as a W/ message at
// QoS 1 through the safe writer and counts only once an R/ read-back shows it: the GX reports a
// failed write nowhere but in its own log (research/victron-tempo.md §1.2).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Adapter, AdapterContext } from '../adapter.js';
import type { TimerHandle } from '../../core/clock.js';
import type { Device, Entity } from '../../core/device.js';
import type { EntitySpec } from '../../core/entity.js';
import { clip } from '../../core/outside-text.js';
import type { MqttClient } from '../../io/mqtt-client.js';
import { SafeWriter } from '../../io/safe-writer.js';
import { WriteBudget, writeBudgetState } from '../../io/write-budget.js';
import { ROWS, SETTINGS, WRITE_ALLOWED, stateConfirms, type Row } from './entities.js';
import type { VictronGxOptions } from './options.js';
import { victronDeviceId } from './ids.js';

/** How long a read-back may keep answering with another value before that value is the answer. */
const READ_SETTLE_MS = 1500;
const persistedShape = z.object({ budget: writeBudgetState.optional() });


export class VictronAdapter implements Adapter {
  readonly id: string;
  portalId?: string;
  device?: Device;
  /** The connection to the GX's broker: stays available to say why the GX is not. */
  link?: Device;
  /** The last value of every path the GX published (relative to N/<portal id>/). */
  readonly values = new Map<string, unknown>();
  readonly budget: WriteBudget;
  private readonly client: MqttClient;
  private readonly writer: SafeWriter<string>;
  private readonly entities = new Map<Row, Entity<EntitySpec>>();
  /** Rows by exact path, and the rows whose path has an instance wildcard. */
  private readonly rowsByPath = new Map<string, Row[]>();
  private readonly wildcardRows: Array<{ pattern: RegExp; row: Row }> = [];
  private readonly readWaiters = new Map<string, Set<(value: unknown) => void>>();
  /** Read-backs under way: ended (unconfirmed) on stop, so a stop never waits out their time limit. */
  private readonly pendingReads = new Set<(value: number | undefined) => void>();
  private keepaliveTimer?: TimerHandle;
  private keepaliveSending = false;
  private watchdog?: TimerHandle;
  private lastMessageAt = 0;
  private problem?: string;
  private readonly echo = randomBytes(6).toString('hex');
  private unsubscribers: Array<() => void> = [];

  constructor(
    readonly options: VictronGxOptions,
    private readonly ctx: AdapterContext,
  ) {
    const port = options.port ?? (options.tls ? 8883 : 1883);
    this.id = `victron/${options.host}:${port}`;
    this.portalId = options.portal_id;
    this.client = ctx.mqtt(
      { host: options.host, port, username: options.username, password: options.password, tls: options.tls, rejectUnauthorized: options.reject_unauthorized },
      `victron_${options.host}`,
    );
    this.budget = new WriteBudget(ctx.clock, { perMinute: 30, perDay: options.daily_write_budget }, { writes: 'GX setting writes', protects: "the GX's flash", option: 'victron daily_write_budget' });
    this.writer = new SafeWriter<string>({
      allowed: WRITE_ALLOWED,
      budget: this.budget,
      clock: ctx.clock,
      device: {
        describe: (path) => path.replace('settings/0/Settings/', ''),
        known: (path) => {
          const value = this.values.get(path);
          return typeof value === 'number' ? value : undefined;
        },
        write: async (path, value) => {
          // A number as a JSON number: a string makes the GX's CPU spin (research §1.2).
          if (!(await this.client.publish(this.topic('W', path), JSON.stringify({ value }), { qos: 1 }))) {
            throw new Error('not connected to the GX');
          }
          return undefined;
        },
        readBack: (path) => this.readBack(path, this.pendingWrite.get(path)),
      },
      onWritten: () => void this.save(),
    });
    for (const row of ROWS) {
      for (const path of row.paths) {
        if (path.includes('+')) this.wildcardRows.push({ pattern: new RegExp(`^${path.replace(/\+/g, '[^/]+')}$`), row });
        else this.rowsByPath.set(path, [...(this.rowsByPath.get(path) ?? []), row]);
      }
    }
  }

  /** The value last written to each path, for the read-back to recognise its answer. */
  private readonly pendingWrite = new Map<string, number>();

  async start(): Promise<void> {
    const port = this.options.port ?? (this.options.tls ? 8883 : 1883);
    this.link = this.ctx.devices.device(
      { id: `victron_link_${this.options.host.replace(/[^a-zA-Z0-9]/g, '_')}_${port}`, name: `Victron GX link ${this.options.host}`, manufacturer: 'Victron Energy', model: 'GX MQTT broker' },
      this.id,
    );
    this.link.binarySensor({ key: 'connection', name: 'Connection problem', deviceClass: 'problem', category: 'diagnostic' }).update(true);
    this.link.sensor({ key: 'last_error', name: 'Last connection error', icon: 'mdi:lan-disconnect', category: 'diagnostic' }).update('none');
    this.link.sensor({ key: 'portal_id', name: 'Portal id', icon: 'mdi:identifier', category: 'diagnostic' }).update(this.portalId ?? null);
    this.link.sensor({ key: 'writes_today', name: 'Setting writes today', icon: 'mdi:counter', stateClass: 'measurement', category: 'diagnostic' });
    if (this.portalId) this.declare(this.portalId);
    else this.unsubscribers.push(this.client.subscribe('N/+/system/0/Serial', (_payload, m) => this.onSerial(m.topic)));
    this.client.on('connect', () => {
      this.setProblem(undefined);
      if (this.portalId) this.refresh();
    });
    this.client.on('disconnect', () => this.setProblem('the connection to the GX broker was lost'));
    this.client.on('problem', (reason) => this.setProblem(`cannot connect to the GX broker at ${this.options.host}: ${reason}`));
    const saved = await this.ctx.store.read(this.storeKey, persistedShape, {});
    if (saved.budget) this.budget.restore(saved.budget);
    this.link.entities.get('writes_today')?.update(this.budget.used);
    // Not awaited: an unreachable GX must not hold up the add-on; the client keeps trying.
    void this.client.start();
    const intervalMs = this.options.keepalive_interval * 1000;
    this.keepaliveTimer = this.ctx.clock.setInterval(() => this.keepalive(false), intervalMs);
    // The GX sends a heartbeat every 3 s while kept alive: silence for two keepalive periods is an outage.
    this.watchdog = this.ctx.clock.setInterval(() => this.checkAlive(), 1000);
  }

  private get storeKey(): string {
    return `victron_${this.options.host.replace(/[^a-zA-Z0-9]/g, '_')}`;
  }

  private save(): Promise<void> {
    return this.ctx.store.write(this.storeKey, { budget: this.budget.state() });
  }

  private topic(kind: 'N' | 'R' | 'W', path: string): string {
    return `${kind}/${this.portalId}/${path}`;
  }

  private onSerial(topic: string): void {
    if (this.portalId) return;
    const id = topic.split('/')[1];
    if (!id || !/^[a-zA-Z0-9]{4,32}$/.test(id)) return;
    this.ctx.log.info(`found the GX with portal id ${id}`);
    this.declare(id);
    this.refresh();
  }

  /** The GX device and every entity that is always there; phase and counter entities follow their first value. */
  private declare(portalId: string): void {
    this.portalId = portalId;
    const device = this.ctx.devices.device(
      { id: victronDeviceId(portalId), name: `Victron GX ${portalId}`, manufacturer: 'Victron Energy', model: 'GX (Venus OS)', configurationUrl: `http://${this.options.host}/` },
      this.id,
    );
    this.device = device;
    this.link?.entities.get('portal_id')?.update(portalId);
    for (const row of ROWS) if (!row.optional) this.declareRow(row);
    device.setAvailable(false);
    this.unsubscribers.push(this.client.subscribe(`N/${portalId}/#`, (payload, m) => this.onMessage(m.topic, payload)));
  }

  private declareRow(row: Row): Entity<EntitySpec> {
    const handler = row.write ? (value: unknown) => this.command(row, value) : undefined;
    const entity = this.device!.add(row.spec, handler as never);
    this.entities.set(row, entity);
    return entity;
  }

  private async command(row: Row, value: unknown): Promise<void> {
    if (!this.device?.available) throw new Error(`the GX is not answering (${this.problem ?? 'no data yet'}); nothing was written`);
    const writes = row.write!(value as never, this.values);
    for (const w of writes) this.pendingWrite.set(w.key, w.value);
    const { written } = await this.writer.apply(writes);
    this.link?.entities.get('writes_today')?.update(this.budget.used);
    if (written) this.ctx.log.info(`${row.spec.name}: ${writes.map((w) => `${w.key.replace('settings/0/Settings/', '')}=${w.value}`).join(', ')} written and confirmed`);
  }

  /** Keeps the GX publishing; a full keepalive makes it republish everything (at most 3 a second on its side). */
  private keepalive(full: boolean): void {
    if (!this.portalId || !this.client.connected) return;
    // One at a time: keepalives piling up behind a slow socket would only arrive together.
    if (this.keepaliveSending && !full) return;
    const options = full ? [{ 'full-publish-completed-echo': this.echo }] : ['suppress-republish'];
    this.keepaliveSending = true;
    void this.client.publish(this.topic('R', 'keepalive'), JSON.stringify({ 'keepalive-options': options })).finally(() => (this.keepaliveSending = false));
  }

  /** After a (re)connection or a GX restart: everything again, since nothing but the Serial is retained. */
  private refresh(): void {
    this.keepalive(true);
  }

  private onMessage(topic: string, payload: string): void {
    const path = topic.slice(`N/${this.portalId}/`.length);
    this.lastMessageAt = this.ctx.clock.now();
    if (path === 'keepalive') {
      // The GX's MQTT plugin (re)started: it knows none of our keepalive any more.
      this.ctx.log.info('the GX restarted its MQTT service; asking for everything again');
      this.refresh();
      return;
    }
    if (!this.device?.available && path !== 'system/0/Serial') this.markAvailable();
    if (path === 'heartbeat' || path === 'full_publish_completed') return;
    let value: unknown;
    if (payload === '') {
      value = null; // the device vanished from D-Bus
    } else {
      try {
        const parsed = JSON.parse(payload) as unknown;
        if (typeof parsed !== 'object' || parsed === null || !('value' in parsed)) throw new Error('no value');
        value = (parsed as { value: unknown }).value;
      } catch {
        this.ctx.log.debug(`ignored ${clip(topic, 120)}: not a {"value": ...} payload`);
        return;
      }
    }
    this.values.set(path, value);
    const waiters = this.readWaiters.get(path);
    if (waiters) for (const waiter of [...waiters]) waiter(value);
    this.updateRows(path);
  }

  private updateRows(path: string): void {
    const rows = this.rowsByPath.get(path) ?? [];
    for (const { pattern, row } of this.wildcardRows) if (pattern.test(path)) rows.push(row);
    for (const row of rows) {
      const value = row.read(this.values);
      let entity = this.entities.get(row);
      if (!entity) {
        if (value === null) continue; // a phase this system does not have
        entity = this.declareRow(row);
      }
      entity.update(value as never);
    }
  }

  /**
   * Asks the GX for a setting and waits for its answer. The first answer that holds the written
   * value confirms it; otherwise the last one heard within READ_SETTLE_MS is the answer (an
   * older value may still be on its way from a full republish).
   */
  private readBack(path: string, expected: number | undefined): Promise<number | undefined> {
    return new Promise((resolve) => {
      let settle: TimerHandle | undefined;
      const waiters = this.readWaiters.get(path) ?? new Set();
      this.readWaiters.set(path, waiters);
      const done = (value: number | undefined) => {
        settle?.cancel();
        waiters.delete(waiter);
        this.pendingReads.delete(done);
        resolve(value);
      };
      this.pendingReads.add(done);
      const waiter = (raw: unknown) => {
        const value = typeof raw === 'number' ? raw : undefined;
        if (value !== undefined && expected !== undefined && this.confirms(path, expected, value)) return done(expected);
        settle?.cancel();
        settle = this.ctx.clock.setTimeout(() => done(value), READ_SETTLE_MS);
      };
      waiters.add(waiter);
      void this.client.publish(this.topic('R', path), '', { qos: 1 });
    });
  }

  private confirms(path: string, written: number, reported: number): boolean {
    return path === SETTINGS.state ? stateConfirms(written, reported) : written === reported;
  }

  private markAvailable(): void {
    this.problem = 'none';
    this.setProblem(undefined);
    this.device?.setAvailable(true);
  }

  private checkAlive(): void {
    if (!this.device?.available) return;
    const silentMs = this.ctx.clock.now() - this.lastMessageAt;
    if (silentMs > 2 * this.options.keepalive_interval * 1000) {
      this.setProblem(`the GX has sent nothing for ${Math.round(silentMs / 1000)} s`);
      // Ask again: a GX that restarted or lost our keepalive answers a full one.
      this.refresh();
    }
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

  /** Read-backs still waiting end unconfirmed: their writes are reported as not confirmed. */
  private endReads(): void {
    for (const done of [...this.pendingReads]) done(undefined);
  }

  /** Nothing of ours runs on the GX; from now on nothing more is written to it. */
  failSafe(): void {
    this.writer.stop('energy2mqtt is stopping after a failure; nothing is written to the GX');
    this.endReads();
    this.keepaliveTimer?.cancel();
    this.watchdog?.cancel();
  }

  async stop(): Promise<void> {
    this.writer.stop('the Victron adapter is stopped; nothing is written');
    this.endReads();
    this.keepaliveTimer?.cancel();
    this.watchdog?.cancel();
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    await this.client.stop();
  }
}
