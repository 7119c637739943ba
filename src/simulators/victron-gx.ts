// A Victron GX (Venus OS >= 3.20) as an MQTT client of it sees it: dbus-flashmq's N/ R/ W/ topics
// on a broker that stands in for the GX's own FlashMQ, over a small systemcalc (BatteryLife
// states, scheduled charge windows) and a battery that charges and discharges on the clock.
// Facts (shared research victron-tempo.md §1.2–1.6): victronenergy/dbus-flashmq src/state.cpp
// (handle_keepalive, heartbeat, publish_all, write_to_dbus), src/types.cpp (only Serial retained);
// victronenergy/dbus-systemcalc-py delegates/batterylife.py and delegates/schedule.py.
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';

export type GxValue = number | string | null;

interface Item {
  value: GxValue;
  /** What SetValue accepts; localsettings items (setting) also publish it: {"max":..,"min":..,"value":..}. */
  range?: [number, number];
  setting?: boolean;
  writable?: boolean;
  integer?: boolean;
  text?: boolean;
}

export interface VictronGxOptions {
  host: string;
  port: number;
  portalId?: string;
  username?: string;
  password?: string;
  clock?: Clock;
  /** The GX's time zone: systemcalc evaluates schedules with datetime.now(), i.e. local time. */
  timezone?: string;
  keepaliveTimeoutMs?: number;
  tickMs?: number;
  batteryCapacityWh?: number;
  /** What the inverter/charger can push into or draw from the battery. */
  batteryMaxPowerW?: number;
  initialSoc?: number;
  /** Peak of the clear-sky DC PV curve. */
  pvPeakW?: number;
  consumptionW?: number;
  /** Passed to mqtt.connect as is (TLS: protocol 'mqtts', ca, rejectUnauthorized, ...). */
  mqtt?: IClientOptions;
}

export interface GxWrite { path: string; value: GxValue; at: number }
export interface GxRejectedWrite { path: string; payload: string; reason: string; at: number }
export interface GxKeepalive { at: number; kind: 'full' | 'suppress'; republished: boolean; echo?: string }

const CGWACS = 'settings/0/Settings/CGwacs';
const STATE = `${CGWACS}/BatteryLife/State`;
const MIN_SOC = `${CGWACS}/BatteryLife/MinimumSocLimit`;
const SOC_LIMIT = `${CGWACS}/BatteryLife/SocLimit`;
const HUB4_MODE = `${CGWACS}/Hub4Mode`;
const VEBUS = 'vebus/276';
const SOC = 'system/0/Dc/Battery/Soc';
const KEEPALIVE_TOKENS = 3; // dbus-flashmq src/state.h, refilled in per_second_action
const HEARTBEAT_MS = 3000; // State::heartbeat
const NO_DISCHARGE = new Set([5, 6, 7, 8, 9, 11, 12]); // discharged, sustain, recharge, keep charged
const RECHARGE = new Set([6, 8, 12]); // batterylife.py: force charge / low-SoC charge at about 5 A
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

const setting = (value: number, min: number, max: number, integer = false): Item => ({ value, range: [min, max], setting: true, writable: true, integer });
const control = (value: number, min: number, max: number, integer = true): Item => ({ value, range: [min, max], writable: true, integer });

function defaultItems(portalId: string): Map<string, Item> {
  const items = new Map<string, Item>();
  const add = (path: string, item: Item | GxValue) => items.set(path, typeof item === 'object' && item !== null ? item : { value: item });
  add('system/0/Serial', portalId);
  add(MIN_SOC, setting(10, 0, 100));
  add(SOC_LIMIT, { value: 10, range: [0, 100], setting: true }); // BatteryLife's own dynamic limit: systemcalc writes it, clients read it
  add(STATE, setting(2, 0, 12, true));
  add(HUB4_MODE, setting(1, 1, 3, true));
  add(`${CGWACS}/AcPowerSetPoint`, setting(50, -100000, 100000));
  add(`${CGWACS}/MaxChargePower`, setting(-1, -1, 100000)); // -1 = no limit (gui-v2 PageSettingsHub4.qml)
  add(`${CGWACS}/MaxDischargePower`, setting(-1, -1, 100000));
  add(`${CGWACS}/MaxFeedInPower`, setting(-1, -1, 100000));
  for (let n = 0; n < 5; n++) {
    // The seed's users set up GUI "Schedule 1" (index 0) for the off-peak hours: 22:00 + 8 h, every day.
    const first = n === 0;
    const base = `${CGWACS}/BatteryLife/Schedule/Charge/${n}`;
    add(`${base}/Day`, setting(first ? 7 : -7, -11, 11, true));
    add(`${base}/Start`, setting(first ? 79200 : 0, 0, 86399, true));
    add(`${base}/Duration`, setting(first ? 28800 : 0, 0, 35996400, true));
    add(`${base}/Soc`, setting(first ? 80 : 100, 0, 100));
    add(`${base}/AllowDischarge`, setting(0, 0, 1, true));
  }
  add('settings/0/Settings/DynamicEss/Mode', setting(0, 0, 4, true));
  add('settings/0/Settings/SystemSetup/SystemName', { value: '', setting: true, writable: true, text: true }); // strings have no range
  for (const path of ['Dc/Battery/Soc', 'Dc/Battery/Power', 'Dc/Battery/Voltage', 'Dc/Battery/Current', 'Dc/Battery/State', 'Dc/Pv/Power',
    'Ac/PvOnGrid/L1/Power', 'Ac/Grid/L1/Power', 'Ac/Consumption/L1/Power', 'SystemState/State', 'Control/ScheduledCharge',
    'Control/ScheduledSoc', 'Control/ActiveSocLimit']) add(`system/0/${path}`, null);
  add('system/0/Ac/Grid/L2/Power', null); // single phase: the other phases are invalid (null) on D-Bus
  add('system/0/Ac/Grid/L3/Power', null);
  add('system/0/Ac/Grid/NumberOfPhases', 1);
  add('system/0/Ac/Consumption/NumberOfPhases', 1);
  add('system/0/VebusInstance', 276);
  add('system/0/Relay/0/State', control(0, 0, 1));
  add(`${VEBUS}/Mode`, control(3, 1, 4)); // 1 charger only, 2 inverter only, 3 on, 4 off
  add(`${VEBUS}/Hub4/L1/AcPowerSetpoint`, control(0, -32768, 32767, false)); // the grid setpoint in external control (Hub4Mode 3)
  add(`${VEBUS}/Hub4/DisableCharge`, control(0, 0, 1));
  for (const path of ['grid/30/Ac/L1/Power', 'grid/30/Ac/Power', 'grid/30/Ac/Energy/Forward', 'grid/30/Ac/Energy/Reverse',
    'solarcharger/279/Yield/Power', 'solarcharger/279/Yield/User']) add(path, null);
  return items;
}

/** Why D-Bus SetValue would fail, or undefined. The plugin hands the JSON type over as is, so a
 *  number sent as a string only suits a string setting (freakent/dbus-mqtt-devices#143). */
function invalid(item: Item, value: unknown): string | undefined {
  if (item.text) return typeof value === 'string' ? undefined : 'not a string';
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'not a number';
  if (item.integer && !Number.isInteger(value)) return 'not an integer';
  if (item.range && (value < item.range[0] || value > item.range[1])) return 'out of range';
  return undefined;
}

interface LocalTime { weekday: number; dayOfMonth: number; secondOfDay: number }
const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(ms: number, timeZone: string): LocalTime {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(ms).map((p) => [p.type, p.value]));
  return { weekday: WEEKDAYS.indexOf(parts.weekday ?? ''), dayOfMonth: Number(parts.day), secondOfDay: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second) };
}

/** schedule.py's day codes: 0 Sunday, 1..6 Monday..Saturday, 7 every day, 8 weekdays, 9 weekends, >= 10 monthly (the 1st). */
function dayMatches(day: number, weekday: number, dayOfMonth: () => number): boolean {
  if (day <= 6) return weekday === day;
  if (day === 7) return true;
  if (day === 8) return weekday >= 1 && weekday <= 5;
  if (day === 9) return weekday === 0 || weekday === 6;
  return dayOfMonth() === 1;
}

/** A clear-sky day: sunrise 06:00, sunset 20:00 local time, peak at 13:00. */
const clearSky = (hour: number) => (hour <= 6 || hour >= 20 ? 0 : Math.sin((Math.PI * (hour - 6)) / 14));
const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

export class VictronGxSimulator {
  readonly portalId: string;
  /** Writes the GX accepted (values changed or equal), in order. */
  readonly writes: GxWrite[] = [];
  /** Writes that failed: on a real GX only a line in its log ("Error on 'SetValue'"), nothing published. */
  readonly rejectedWrites: GxRejectedWrite[] = [];
  readonly keepalives: GxKeepalive[] = [];
  /** Request topics that arrived while unresponsive. */
  readonly unanswered: string[] = [];
  fullPublishes = 0;
  /** DC PV power in W; undefined follows the clear-sky curve on the GX's local hour. */
  pvW: number | undefined;
  acPvW = 0;
  consumptionW: number;

  private readonly clock: Clock;
  private readonly timezone: string;
  private readonly items: Map<string, Item>;
  private readonly ignored = new Set<string>();
  private client?: MqttClient;
  private isAlive = false;
  private unresponsive = false;
  private tokens = KEEPALIVE_TOKENS;
  private expiry?: TimerHandle;
  private heartbeatTimer?: TimerHandle;
  private timers: TimerHandle[] = [];
  private soc: number;
  private lastTick = 0;
  private forceCharge = false;
  private hysteresis = true;
  private dischargedSoc = -1;
  private energy = { forward: 1520.4, reverse: 2210.7, yield: 4311.2 };

  constructor(private readonly options: VictronGxOptions) {
    this.portalId = options.portalId ?? randomBytes(6).toString('hex');
    this.clock = options.clock ?? systemClock;
    this.timezone = options.timezone ?? 'Europe/Paris';
    localTime(0, this.timezone); // an unknown time zone throws here, not in a tick
    this.items = defaultItems(this.portalId);
    this.soc = options.initialSoc ?? 50;
    this.consumptionW = options.consumptionW ?? 400;
  }

  get alive(): boolean {
    return this.isAlive;
  }

  async start(): Promise<void> {
    this.lastTick = this.clock.now();
    this.tick();
    this.timers.push(this.clock.setInterval(() => this.tick(), this.options.tickMs ?? 1000));
    this.timers.push(this.clock.setInterval(() => (this.tokens = KEEPALIVE_TOKENS), 1000));
    try {
      await this.connect();
    } catch (error) {
      for (const timer of this.timers.splice(0)) timer.cancel();
      throw error;
    }
  }

  async stop(): Promise<void> {
    for (const timer of [...this.timers.splice(0), this.expiry, this.heartbeatTimer]) timer?.cancel();
    this.isAlive = false;
    const client = this.client;
    this.client = undefined;
    await client?.endAsync(!client.connected);
  }

  /** A GX reboot: the connection drops, the keepalive is lost, and the plugin announces itself again. */
  async restart(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.reset();
    await client?.endAsync(true);
    await this.connect();
  }

  /** Stops answering reads and keepalives (and writes), as a GX whose plugin hangs. */
  setUnresponsive(unresponsive: boolean): void {
    this.unresponsive = unresponsive;
  }

  /** Writes to this path (e.g. 'settings/0/Settings/CGwacs/Hub4Mode') are silently dropped. */
  ignoreWritesTo(path: string): void {
    this.ignored.add(path);
  }

  value(path: string): GxValue | undefined {
    return this.items.get(path)?.value;
  }

  paths(): string[] {
    return [...this.items.keys()];
  }

  /** The GX itself changes a value (published if alive); setting the SoC moves the battery. */
  set(path: string, value: GxValue): void {
    if (path === SOC && typeof value === 'number') this.soc = value;
    this.update(path, value);
  }

  private async connect(): Promise<void> {
    const { host, port, username, password } = this.options;
    const client = await mqtt.connectAsync({ host, port, username, password, clientId: `gx_${this.portalId}_${randomBytes(3).toString('hex')}`, reconnectPeriod: 1000, ...this.options.mqtt });
    this.client = client;
    // FlashMQ answers at once; Nagle's algorithm would hold a small reply for the peer's delayed ACK.
    const noDelay = () => (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    noDelay();
    client.on('message', (topic, payload) => this.request(topic, payload.toString()));
    client.on('error', () => undefined); // mqtt.js retries on its own; an unheard 'error' would throw
    await client.subscribeAsync([`R/${this.portalId}/#`, `W/${this.portalId}/#`], { qos: 1 });
    // The broker coming back is FlashMQ restarting, with the plugin and its keepalive state.
    client.on('connect', () => (noDelay(), this.reset(), this.announce()));
    this.announce();
  }

  private reset(): void {
    this.unsetKeepalive();
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
    this.tokens = KEEPALIVE_TOKENS;
  }

  private announce(): void {
    this.publishItem('system/0/Serial');
    this.send(`N/${this.portalId}/keepalive`, '1'); // "new keepalive supported" (flashmq-dbus-plugin.cpp init)
  }

  private send(topic: string, payload: string, retain = false): void {
    if (this.client?.connected) this.client.publish(topic, payload, { qos: 0, retain });
  }

  private publishItem(path: string): void {
    const item = this.items.get(path);
    if (!item) return;
    // nlohmann::json sorts keys: max, min, value. Only Serial is retained (types.cpp should_be_retained).
    const body = item.setting && item.range ? { max: item.range[1], min: item.range[0], value: item.value } : { value: item.value };
    this.send(`N/${this.portalId}/${path}`, JSON.stringify(body), path === 'system/0/Serial');
  }

  private update(path: string, value: GxValue): void {
    const item = this.items.get(path);
    if (item?.value === value) return;
    if (item) item.value = value;
    else this.items.set(path, { value });
    if (this.isAlive) this.publishItem(path);
  }

  private num(path: string): number {
    return Number(this.items.get(path)?.value);
  }

  private unixTime(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  private request(topic: string, payload: string): void {
    if (this.unresponsive) return void this.unanswered.push(topic);
    const [action, , ...rest] = topic.split('/');
    const path = rest.join('/');
    if (action === 'W') return this.write(path, payload);
    // flashmq-dbus-plugin.cpp: both topics keep alive, and the legacy one is also a read of Serial.
    if (path === 'keepalive' || path === 'system/0/Serial') this.keepalive(payload);
    if (path !== 'keepalive') this.read(path);
  }

  private keepalive(payload: string): void {
    const suppress = payload.includes('suppress-republish'); // flashmq does not parse for it either
    const republished = !suppress && this.tokens-- > 0;
    const echo = republished ? echoOf(payload) : undefined;
    this.keepalives.push({ at: this.clock.now(), kind: suppress ? 'suppress' : 'full', republished, ...(echo !== undefined && { echo }) });
    if (republished) this.publishAll(echo);
    this.isAlive = true;
    this.expiry?.cancel();
    this.expiry = this.clock.setTimeout(() => this.unsetKeepalive(), this.options.keepaliveTimeoutMs ?? 60_000);
    if (!this.heartbeatTimer) this.heartbeat();
  }

  /** flashmq no longer blanks values on expiry: it just stops publishing them. */
  private unsetKeepalive(): void {
    this.isAlive = false;
    this.expiry?.cancel();
    this.expiry = undefined;
  }

  private heartbeat(): void {
    if (!this.isAlive) return void (this.heartbeatTimer = undefined);
    this.send(`N/${this.portalId}/heartbeat`, JSON.stringify({ value: this.unixTime() }));
    this.heartbeatTimer = this.clock.setTimeout(() => this.heartbeat(), HEARTBEAT_MS);
  }

  private publishAll(echo: string | undefined): void {
    for (const path of this.items.keys()) this.publishItem(path);
    this.fullPublishes++;
    const done = echo === undefined ? { value: this.unixTime() } : { 'full-publish-completed-echo': echo, value: this.unixTime() };
    this.send(`N/${this.portalId}/full_publish_completed`, JSON.stringify(done));
  }

  /** A leaf, or every leaf of a sub-tree; no wildcards (they cannot be published anyway). */
  private read(path: string): void {
    if (this.items.has(path)) return this.publishItem(path);
    for (const leaf of this.items.keys()) if (leaf.startsWith(`${path}/`)) this.publishItem(leaf);
  }

  private write(path: string, payload: string): void {
    const reject = (reason: string) => void this.rejectedWrites.push({ path, payload: payload.slice(0, 200), reason, at: this.clock.now() });
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      return reject('payload is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !('value' in body)) return reject("no 'value' in the JSON");
    const item = this.items.get(path);
    if (!item) return reject('no such path');
    if (!item.writable) return reject('read-only');
    if (this.ignored.has(path)) return reject('ignored');
    const value = body.value;
    const problem = invalid(item, value);
    if (problem) return reject(problem);
    this.writes.push({ path, value: value as GxValue, at: this.clock.now() });
    // schedule.py settings_changed: a new target SoC skips the 5 % hysteresis once.
    if (/\/Schedule\/Charge\/\d\/Soc$/.test(path)) this.hysteresis = false;
    this.update(path, value as GxValue);
  }

  private activeSocLimit(state = this.num(STATE)): number {
    const min = this.num(MIN_SOC);
    if (state >= 9) return min; // without BatteryLife only MinimumSocLimit guards the battery
    return min > 80 ? min : Math.min(80, Math.max(min, this.num(SOC_LIMIT))); // SocSwitchMax = 85 - 5
  }

  /** batterylife.py's state machine (without Sustain, the 24 h force charge, or SocLimit steps). */
  private nextState(state: number): number | undefined {
    const soc = this.soc;
    const limit = this.activeSocLimit(state);
    const min = this.num(MIN_SOC);
    const discharged = () => {
      if (this.dischargedSoc < 0 || this.dischargedSoc > limit) this.dischargedSoc = limit;
      return 5;
    };
    const belowLimit = soc <= limit && soc < 100;
    switch (state) {
      case 0: return 1; // _disabled: with an ESS assistant present, restart
      case 1: return belowLimit ? discharged() : soc >= 95 ? 4 : soc >= 85 ? 3 : 2;
      case 2: return belowLimit ? discharged() : soc >= 95 ? 4 : soc >= 85 ? 3 : undefined;
      case 3: return belowLimit ? discharged() : soc > 95 ? 4 : soc < 82 ? 2 : undefined;
      case 4: return belowLimit ? discharged() : soc < 92 ? 3 : undefined;
      case 5: case 7:
        if (soc > limit + 3 || soc >= 100) return (this.dischargedSoc = -1), 2;
        return soc <= 0 || soc < this.dischargedSoc - 5 ? 8 : undefined;
      case 6: return soc > limit || soc >= 100 ? 5 : undefined;
      case 8: return soc >= Math.min(100, Math.max(this.dischargedSoc, 3)) ? 5 : undefined;
      case 9: return undefined; // keep batteries charged
      case 10: return soc < 100 && soc <= min ? 11 : undefined;
      case 11: return soc >= Math.min(100, min + 3) ? 10 : soc < min - 5 ? 12 : undefined;
      case 12: return soc >= Math.min(100, min) ? 11 : undefined;
      default: return 2;
    }
  }

  /** The first enabled window the local time falls in; a window may run past midnight (and past days). */
  private activeWindow(now: number, today: LocalTime): { soc: number; allowDischarge: boolean } | undefined {
    for (let n = 0; n < 5; n++) {
      const base = `${CGWACS}/BatteryLife/Schedule/Charge/${n}`;
      const day = this.num(`${base}/Day`);
      if (day < 0) continue; // negative = disabled, the day kept (Sunday's disabled form is -10)
      const start = this.num(`${base}/Start`);
      const end = start + this.num(`${base}/Duration`);
      for (let back = 0; back * 86400 < end; back++) {
        const into = today.secondOfDay + back * 86400;
        const weekday = (((today.weekday - back) % 7) + 7) % 7;
        if (into >= start && into < end && dayMatches(day, weekday, () => localTime(now - back * 86_400_000, this.timezone).dayOfMonth)) {
          return { soc: this.num(`${base}/Soc`), allowDischarge: this.num(`${base}/AllowDischarge`) === 1 };
        }
      }
    }
    return undefined;
  }

  private tick(): void {
    const now = this.clock.now();
    const hours = (now - this.lastTick) / 3_600_000;
    this.lastTick = now;
    const local = localTime(now, this.timezone);
    const external = this.num(HUB4_MODE) === 3; // external control: BatteryLife and schedules stand aside
    if (!external) {
      let state = this.num(STATE);
      for (let step = 0; step < 5; step++) { // systemcalc follows up to five transitions per update
        const next = this.nextState(state);
        if (next === undefined || next === state) break;
        state = next;
      }
      this.update(STATE, state);
    }
    const state = this.num(STATE);
    const pv = this.pvW ?? (this.options.pvPeakW ?? 4000) * clearSky(local.secondOfDay / 3600);

    // schedule.py _on_timer: charge from the grid until the target (never "reached" at 100 %), then
    // hold the SoC by limiting discharge to 80–95 % of PV unless AllowDischarge and 1 % above it.
    const window = state === 9 ? undefined : this.activeWindow(now, local);
    let scheduleDischargeLimit = Infinity;
    if (window) {
      const reached = (soc: number) => window.soc < 100 && soc >= window.soc;
      if (reached(this.soc)) this.forceCharge = false;
      else if (!(this.hysteresis && reached(this.soc + 5))) this.forceCharge = true;
      const delta = Math.max(0, this.soc - window.soc);
      if (!this.forceCharge && !(delta > 1 && window.allowDischarge)) scheduleDischargeLimit = Math.max(1, Math.round(pv * (0.8 + Math.min(delta, 1) * 0.15)));
    } else this.forceCharge = false;
    this.hysteresis = true;

    // Positive battery power charges; the ESS holds the grid at its setpoint (positive = import).
    const voltage = 48 + 0.06 * this.soc;
    const unlimited = (path: string) => (this.num(path) >= 0 ? this.num(path) : Infinity);
    const capability = this.options.batteryMaxPowerW ?? 3000;
    const maxCharge = this.soc >= 100 || this.num(`${VEBUS}/Hub4/DisableCharge`) === 1 ? 0 : Math.min(capability, unlimited(`${CGWACS}/MaxChargePower`));
    const setpoint = external ? this.num(`${VEBUS}/Hub4/L1/AcPowerSetpoint`) : this.num(`${CGWACS}/AcPowerSetPoint`);
    let battery = setpoint - this.consumptionW + this.acPvW + pv;
    if (!external && (state === 9 || this.forceCharge)) battery = maxCharge;
    else if (!external && RECHARGE.has(state)) battery = Math.max(battery, 5 * voltage);
    const mayDischarge = this.soc > 0 && (external || (this.soc > this.activeSocLimit(state) && !NO_DISCHARGE.has(state)));
    const maxDischarge = mayDischarge ? Math.min(capability, unlimited(`${CGWACS}/MaxDischargePower`), scheduleDischargeLimit) : 0;
    battery = Math.min(maxCharge, Math.max(-maxDischarge, battery));
    const grid = this.consumptionW - this.acPvW - pv + battery;

    this.soc = Math.min(100, Math.max(0, this.soc + (battery * hours * 100) / (this.options.batteryCapacityWh ?? 10_000)));
    this.energy.forward += (Math.max(0, grid) * hours) / 1000;
    this.energy.reverse += (Math.max(0, -grid) * hours) / 1000;
    this.energy.yield += (pv * hours) / 1000;

    const flow = battery > 5 ? 1 : battery < -5 ? 2 : 0;
    // systemcalc SystemState: ESS states from 0x100 (0x100 discharging, 0x102 recharge, 0x103 scheduled charge), 0xFC external control.
    const systemState = external ? 0xfc : window && flow === 1 ? 0x103 : RECHARGE.has(state) ? 0x102 : flow === 2 ? 0x100 : flow === 1 ? (this.soc >= 95 ? 5 : this.soc >= 85 ? 4 : 3) : 9;
    const values: Array<[string, GxValue]> = [
      [SOC, round(this.soc, 1)], ['system/0/Dc/Battery/Power', round(battery)], ['system/0/Dc/Battery/Voltage', round(voltage, 2)],
      ['system/0/Dc/Battery/Current', round(battery / voltage, 1)], ['system/0/Dc/Battery/State', flow], ['system/0/Dc/Pv/Power', round(pv)],
      ['system/0/Ac/PvOnGrid/L1/Power', round(this.acPvW)], ['system/0/Ac/Grid/L1/Power', round(grid)],
      ['system/0/Ac/Consumption/L1/Power', round(this.consumptionW)], ['system/0/SystemState/State', systemState],
      ['system/0/Control/ScheduledCharge', window ? 1 : 0], ['system/0/Control/ScheduledSoc', window ? window.soc : null],
      ['system/0/Control/ActiveSocLimit', this.activeSocLimit(state)], ['grid/30/Ac/L1/Power', round(grid)], ['grid/30/Ac/Power', round(grid)],
      ['grid/30/Ac/Energy/Forward', round(this.energy.forward, 2)], ['grid/30/Ac/Energy/Reverse', round(this.energy.reverse, 2)],
      ['solarcharger/279/Yield/Power', round(pv)], ['solarcharger/279/Yield/User', round(this.energy.yield, 2)],
    ];
    for (const [path, value] of values) this.update(path, value);
  }
}

/** The echo token of {"keepalive-options":[{"full-publish-completed-echo":"..."}]}, if any. */
function echoOf(payload: string): string | undefined {
  try {
    const options = (JSON.parse(payload) as { 'keepalive-options'?: unknown })['keepalive-options'];
    if (!Array.isArray(options)) return undefined;
    let echo: string | undefined;
    for (const option of options) {
      const token = typeof option === 'object' && option !== null ? (option as Record<string, unknown>)['full-publish-completed-echo'] : undefined;
      if (typeof token === 'string') echo = token;
    }
    return echo;
  } catch {
    return undefined; // state.cpp logs "Failure parsing keepalive options" and republishes anyway
  }
}
