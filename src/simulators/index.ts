import { DemoMeter } from './demo-meter.js';
import { GivEnergyDongleSimulator } from './givenergy-dongle.js';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { MyVaillantSimulator } from './myvaillant.js';
import { VictronGxSimulator } from './victron-gx.js';
import { GivEvcSimulator } from './givevc.js';
import { TempoServer } from './tempo-server.js';
import { ProwlSimulator } from './prowl.js';
import { systemClock } from '../core/clock.js';
import { createServer } from 'node:net';
import { socatAvailable, socatPair } from './serial-pair.js';
import { VitocalSimulator, type VitocalTransport } from './vitocal.js';
import { PigpiodSimulator, attachPigpiod } from './pigpiod.js';
import { WaterHeaterPhysics } from './water-heater-physics.js';
import { heaterDeviceId } from '../adapters/water-heater/options.js';
import { addDays, calendarProblem, tempoDayAt, weekday, type TempoColour } from '../adapters/tempo/calendar.js';

// The demo starts one simulator per device family and points the add-on's options at them.
// Each family adds its simulator here when it lands.

/** The demo GX's VRM portal id: the add-on finds it from the GX's retained Serial. */
export const DEMO_GX_PORTAL_ID = 'c0ffee0de300';
/** The demo's tempo_ess rule (device rule_tempo_ess). */
export const DEMO_TEMPO_RULE = 'Tempo ESS';
/** The emulated Viessmann meter the demo heat pump polls (device viessmann_meter_heat_pump_meter). */
export const DEMO_HEAT_PUMP_METER = 'Heat pump meter';
export const DEMO_HEAT_PUMP_TOPIC = 'demo/heat_pump/power';
/** The demo's PV water heater on the pigpiod simulator (device water_heater_water_heater). */
export const DEMO_WATER_HEATER = 'Water heater';
export const DEMO_WATER_HEATER_DEVICE = heaterDeviceId(DEMO_WATER_HEATER);
const WATER_HEATER_RELAY_GPIO = 17;
const WATER_HEATER_SERVO_GPIO = 21;

export interface DemoSimulators {
  names: string[];
  /** Options entries that connect the adapters to the simulators (e.g. { givenergy: [...] }). */
  options: Record<string, unknown>;
  /** The Tempo days that are not blue, date -> colour. */
  tempoCalendar: Record<string, TempoColour>;
  /** Where the add-on's notifications arrive. */
  prowl: ProwlSimulator;
  /** Starts what polls the add-on (the heat pump): call it once the add-on is up and its meter listens. */
  startPollers(): Promise<void>;
  stop(): Promise<void>;
}

// Two days back to three ahead of the Tempo day in force, as wished; a colour the calendar does
// not allow on that date falls back to white, then blue.
const WISHED: Array<[offset: number, colour: TempoColour]> = [[-2, 'white'], [-1, 'red'], [0, 'white'], [1, 'red'], [2, 'red'], [3, 'white']];

/**
 * The demo's white and red days around `today` (a Tempo day, YYYY-MM-DD): red only on weekdays
 * from November to March and never on a public holiday, Sundays blue (calendarProblem decides).
 */
export function demoTempoCalendar(today: string): Record<string, TempoColour> {
  const calendar: Record<string, TempoColour> = {};
  for (const [offset, wished] of WISHED) {
    const date = addDays(today, offset);
    const colour = ([wished, 'white'] as const).find((c) => calendarProblem(date, c) === undefined);
    if (colour) calendar[date] = colour;
  }
  return calendar;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
/** "white Tue 01-12, red Wed 02-12, ..." */
export function describeTempoCalendar(calendar: Record<string, TempoColour>): string {
  const days = Object.entries(calendar).sort(([a], [b]) => a.localeCompare(b));
  if (!days.length) return 'every day blue';
  return `${days.map(([date, colour]) => `${colour} ${WEEKDAYS[weekday(date)]} ${date}`).join(', ')}, the other days blue`;
}

/** The demo's EV charger and its rule (device givenergy_evc_<serial>, rule_ev). */
export const DEMO_EV_CHARGER_SERIAL = 'WF2306G001';
export const DEMO_EV_RULE = 'EV';

export async function startDemoSimulators(brokerPort: number): Promise<DemoSimulators> {
  const running: Array<{ name: string; stop(): Promise<void> }> = [];
  try {
    return await startAll(brokerPort, running);
  } catch (err) {
    for (const sim of running.reverse()) await sim.stop().catch(() => undefined);
    throw err;
  }
}

async function startAll(brokerPort: number, running: Array<{ name: string; stop(): Promise<void> }>): Promise<DemoSimulators> {
  const meter = new DemoMeter();
  await meter.start(brokerPort);
  running.push({ name: 'house meter (demo/meter/grid_power) with a 2 kW boiler (demo/boiler/set)', stop: () => meter.stop() });
  const heatPump = await demoHeatPump(brokerPort, running);
  meter.addLoad(() => heatPump.simulator.powerW);
  const waterHeater = await demoWaterHeater(running);
  meter.addLoad(() => waterHeater.physics.heaterW);
  // An EV charger with a car plugged in: the ev_charge rule charges it on surplus (one phase, from 1.4 kW).
  const charger = new GivEvcSimulator({ serial: DEMO_EV_CHARGER_SERIAL, phases: 1 });
  const chargerPort = await charger.listen();
  charger.plugIn();
  running.push({ name: `GivEnergy EV charger (GivEVC ${charger.serial}, one phase, a car plugged in) on Modbus TCP 127.0.0.1:${chargerPort}`, stop: () => charger.close() });
  meter.addLoad(() => charger.power);
  const dongle = new GivEnergyDongleSimulator({ live: true, armFirmware: 312, heartbeatMs: 60_000 });
  const donglePort = await dongle.listen();
  running.push({ name: `GivEnergy dongle (Gen3 hybrid ${dongle.inverterSerial}, one battery) on 127.0.0.1:${donglePort}`, stop: () => dongle.close() });
  const data = (name: string) => JSON.parse(readFileSync(new URL(`./data/${name}`, import.meta.url), 'utf8')) as unknown;
  const homes = data('vaillant-homes.json') as Array<{ systemId: string }>;
  const vaillant = new MyVaillantSimulator({
    users: [{ username: 'demo@example.com', password: 'demo-password' }],
    homes,
    systems: { [homes[0]!.systemId]: data('vaillant-system.json') as Record<string, unknown> },
    lagMs: 20_000,
  });
  await vaillant.listen();
  running.push({ name: `myVaillant cloud (login with ALTCHA, one heat pump) on ${vaillant.identityUrl}`, stop: () => vaillant.close() });

  // The GX plays dbus-flashmq's N/ R/ W/ topics on the demo's own broker: they do not collide
  // with energy2mqtt/… or homeassistant/…, so the add-on's victron connection goes there too.
  const gx = new VictronGxSimulator({ host: '127.0.0.1', port: brokerPort, portalId: DEMO_GX_PORTAL_ID, initialSoc: 62 });
  await gx.start();
  running.push({ name: `Victron GX (ESS, portal id ${gx.portalId}) on the demo broker (N/${gx.portalId}/#)`, stop: () => gx.stop() });

  const tempoCalendar = demoTempoCalendar(tempoDayAt(systemClock.now()));
  const rte = { clientId: 'energy2mqtt-demo', clientSecret: randomBytes(12).toString('base64url') };
  const tempo = new TempoServer({ clock: systemClock, calendar: tempoCalendar, rte });
  await tempo.listen();
  running.push({ name: `EDF Tempo (RTE, api-couleur-tempo, EDF, EcoDevice) on http://127.0.0.1:${tempo.port}: ${describeTempoCalendar(tempoCalendar)}`, stop: () => tempo.close() });

  const prowlKey = randomBytes(20).toString('hex');
  const prowl = new ProwlSimulator({ keys: [prowlKey] });
  await prowl.listen();
  running.push({ name: `Prowl (notifications) on ${prowl.url}`, stop: () => prowl.close() });

  const automation = DemoMeter.options() as { sources?: unknown[]; rules?: unknown[] };
  return {
    names: running.map((s) => s.name),
    tempoCalendar,
    prowl,
    options: {
      vaillant: [{ username: 'demo@example.com', password: 'demo-password', identity_url: vaillant.identityUrl, api_url: vaillant.apiUrl }],
      // The demo boiler's rule, and the Tempo ESS rule steering the GX from the colours.
      automation: {
        ...automation,
        sources: [...(automation.sources ?? []), { name: 'heat_pump', mqtt: { topic: DEMO_HEAT_PUMP_TOPIC, unit: 'W' }, stale_after: 30 }],
        rules: [...(automation.rules ?? []), { type: 'tempo_ess', name: DEMO_TEMPO_RULE }, { type: 'ev_charge', name: DEMO_EV_RULE, mode: 'solar', phases: 1 }],
      },
      viessmann_meter: [{ name: DEMO_HEAT_PUMP_METER, ...heatPump.meterOptions, grid: 'grid', heat_pump: 'heat_pump' }],
      givenergy_evc: [{ host: '127.0.0.1', port: chargerPort, poll_interval: 5 }],
      givenergy: [{ host: '127.0.0.1', port: donglePort, poll_interval: 5, full_refresh_interval: 30 }],
      // The REST API as a user would turn it on: with a token (a new one every run).
      givenergy_rest: { enabled: true, port: 6345, token: randomBytes(18).toString('base64url') },
      victron: [{ host: '127.0.0.1', port: brokerPort }],
      tempo: { enabled: true, sources: ['rte', 'api_couleur_tempo', 'edf', 'ecodevice'], ...tempo.urls, rte_client_id: rte.clientId, rte_client_secret: rte.clientSecret },
      // The water heater steers on the same grid source as the rules: it holds 100 W of export.
      water_heater: [{
        name: DEMO_WATER_HEATER,
        backend: 'pigpiod',
        pigpiod: { host: '127.0.0.1', port: waterHeater.port },
        relay: { gpio: WATER_HEATER_RELAY_GPIO },
        servo: { gpio: WATER_HEATER_SERVO_GPIO },
        grid: 'grid',
        max_power_w: 3000,
        min_power_w: 300,
      }],
      notifications: { prowl_api_key: prowlKey, prowl_url: prowl.url, language: 'en' },
    },
    startPollers: () => heatPump.simulator.start(),
    stop: async () => {
      for (const sim of running.reverse()) await sim.stop();
    },
  };
}

/**
 * The water heater's hardware: a pigpiod simulator whose relay and servo pins drive the physics
 * (relay, servo, phase-angle regulator, 120 l tank with its thermostat), advanced in real time.
 * The physics' own PV and load are zero: the demo meter's day has the sun and the house, and it
 * adds the heater's draw, so the loop closes through the grid power the add-on reads.
 */
async function demoWaterHeater(running: Array<{ name: string; stop(): Promise<void> }>) {
  const noHouse = { durationS: 86_400, pvW: () => 0, loadW: () => 0, describe: 'the demo meter has the house' };
  const physics = new WaterHeaterPhysics({ day: noHouse, heaterW: 3000 });
  const sim = new PigpiodSimulator();
  const port = await sim.listen(0, '127.0.0.1');
  const detach = attachPigpiod(sim, physics, { relayGpio: WATER_HEATER_RELAY_GPIO, servoGpio: WATER_HEATER_SERVO_GPIO });
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    physics.advance(now - last);
    last = now;
  }, 100);
  running.push({
    name: `pigpiod (water heater: relay on GPIO ${WATER_HEATER_RELAY_GPIO}, servo on GPIO ${WATER_HEATER_SERVO_GPIO} turning a 3 kW regulator, 120 l tank) on 127.0.0.1:${port}`,
    stop: async () => {
      clearInterval(timer);
      detach();
      await sim.close();
    },
  });
  return { physics, port };
}

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A Vitocal on the emulated meter's bus: a socat serial pair at the 200-S's 19200 8E1 when socat
 * is installed, else Modbus TCP. It polls only once startPollers() runs, so it never talks to a
 * port nobody has opened yet.
 */
async function demoHeatPump(brokerPort: number, running: Array<{ name: string; stop(): Promise<void> }>) {
  let transport: VitocalTransport;
  let meterOptions: Record<string, unknown>;
  let where: string;
  if (socatAvailable()) {
    const pair = await socatPair();
    running.push({ name: `socat serial pair ${pair.slave} <-> ${pair.master}`, stop: () => pair.close() });
    transport = { serial: { path: pair.master, baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1 } };
    meterOptions = { serial: { port: pair.slave, baud: 19200, parity: 'even' } };
    where = `${pair.master} (the meter on ${pair.slave}, 19200 8E1, unit 1)`;
  } else {
    const port = await freeTcpPort();
    transport = { tcp: { host: '127.0.0.1', port } };
    meterOptions = { serial: {}, tcp: { port, host: '127.0.0.1' } };
    where = `Modbus TCP 127.0.0.1:${port} (unit 1; install socat for a serial line)`;
  }
  const simulator = new VitocalSimulator({
    transport,
    unitId: 1,
    profile: 'ale3',
    sign: 'export_positive',
    pollIntervalMs: 5000,
    startThresholdW: 800,
    stopThresholdW: 300,
    compressorW: 900,
    // Short for a 4-minute day; a real compressor keeps several minutes.
    minRunMs: 40_000,
    minPauseMs: 40_000,
    mqtt: { host: '127.0.0.1', port: brokerPort, powerTopic: DEMO_HEAT_PUMP_TOPIC },
  });
  running.push({
    name: `Viessmann Vitocal heat pump polling the emulated ALE3 meter on ${where}: starts at 800 W surplus, draws 900 W (${DEMO_HEAT_PUMP_TOPIC})`,
    stop: () => simulator.stop(),
  });
  return { simulator, meterOptions };
}
