// `npm run demo` as a newcomer runs it: it prints what to watch, works, and stops on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { freePort } from './helpers/broker.js';
import { Recorder, eventually, sleep } from './helpers/mqtt-client.js';
import { deviceDiscoveryProblems } from '../src/core/ha-acceptance.js';
import { DEMO_GX_PORTAL_ID, DEMO_HEAT_PUMP_METER, DEMO_HEAT_PUMP_TOPIC, DEMO_EV_CHARGER_SERIAL, DEMO_TEMPO_RULE, DEMO_WATER_HEATER_DEVICE, demoTempoCalendar, describeTempoCalendar } from '../src/simulators/index.js';
import { meterDeviceId } from '../src/adapters/viessmann-meter/options.js';
import { victronDeviceId } from '../src/adapters/victron/ids.js';
import { slugOf } from '../src/automation/options.js';
import type { HeaterState } from '../src/adapters/water-heater/controller.js';
import { calendarProblem, nextDate, parisParts, tempoDayAt } from '../src/adapters/tempo/calendar.js';

const GX = victronDeviceId(DEMO_GX_PORTAL_ID);
const TEMPO_RULE = `rule_${slugOf(DEMO_TEMPO_RULE)}`;
const HEAT_PUMP_METER = meterDeviceId(DEMO_HEAT_PUMP_METER);
/** Every state the water heater's controller reports (the compiler checks each one). */
const HEATER_STATES: HeaterState[] = ['off', 'gated', 'waiting', 'heating', 'probing', 'tank_hot', 'stale'];
/** The colour the demo gives a Tempo day (the calendar is built around the day the demo starts). */
const demoColour = (startedAt: number, date: string) => demoTempoCalendar(tempoDayAt(startedAt))[date] ?? 'blue';

test('the demo runs an embedded broker with the bridge, and stops cleanly on SIGINT', async () => {
  const port = await freePort();
  const startedAt = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await eventually(() => output.includes('Press Ctrl-C to stop.'), 20_000, 'the demo banner');
    assert.ok(output.includes(`mosquitto_sub -h 127.0.0.1 -p ${port}`), 'it prints what to subscribe to');
    // The banner names the new simulators, with the Tempo days the demo made white or red.
    assert.ok(output.includes(`Victron GX (ESS, portal id ${DEMO_GX_PORTAL_ID})`), 'it names the GX');
    assert.ok(output.includes(describeTempoCalendar(demoTempoCalendar(tempoDayAt(startedAt)))), 'it prints the Tempo calendar');
    assert.match(output, /Prowl \(notifications\) on http:\/\/127\.0\.0\.1:\d+\/publicapi/);
    assert.match(output, /Viessmann Vitocal heat pump polling the emulated ALE3 meter on /, 'it names the heat pump');
    assert.ok(output.includes(`-t 'energy2mqtt/${HEAT_PUMP_METER}/#'`), "it says where to watch the meter the heat pump polls");
    const rec = await Recorder.connect(port, ['energy2mqtt/bridge/state', 'homeassistant/device/+/config']);
    await rec.waitFor('energy2mqtt/bridge/state', (p) => p === 'online');
    await rec.waitFor('homeassistant/device/bridge/config');
    // Every device the demo brings up (one per simulated family) passes HA's rules, entity by entity.
    await sleep(2000);
    const configs = rec.messages.filter((m) => m.topic.endsWith('/config') && m.payload !== '');
    for (const m of configs) assert.deepEqual(deviceDiscoveryProblems(m.topic, JSON.parse(m.payload)), [], m.topic);
    const latest = new Map(configs.map((m) => [m.topic, JSON.parse(m.payload) as { cmps: Record<string, { unique_id: string }> }]));
    const ids = [...latest.values()].flatMap((c) => Object.values(c.cmps).map((cmp) => cmp.unique_id));
    assert.equal(new Set(ids).size, ids.length, 'no unique_id is used twice');
    // The automation works on the demo meter: its rule explains itself.
    const reasons = await Recorder.connect(port, ['energy2mqtt/rule_demo_boiler/reason']);
    await reasons.waitFor('energy2mqtt/rule_demo_boiler/reason', (p) => /^(off|waiting|on|switched|holding)/.test(p), 10_000);
    await reasons.close();

    // The Victron GX on the demo broker: found, declared, and its battery SoC reaches HA.
    assert.ok(rec.last(`homeassistant/device/${GX}/config`)?.payload, 'the GX device is discovered');
    const gx = await Recorder.connect(port, [`energy2mqtt/${GX}/battery_soc`, 'energy2mqtt/tempo/today_colour', `energy2mqtt/${TEMPO_RULE}/+`]);
    const soc = Number((await gx.waitFor(`energy2mqtt/${GX}/battery_soc`, (p) => p !== '', 10_000)).payload);
    assert.ok(soc >= 0 && soc <= 100, `battery SoC ${soc}`);
    // The Tempo device shows today's colour of the demo calendar (white or red around today).
    assert.ok(rec.last('homeassistant/device/tempo/config')?.payload, 'the Tempo device is discovered');
    const today = await gx.waitFor('energy2mqtt/tempo/today_colour', (p) => p !== 'unknown', 10_000);
    const expected = new Set<string>([demoColour(startedAt, tempoDayAt(startedAt)), demoColour(startedAt, tempoDayAt(Date.now()))]);
    assert.ok(expected.has(today.payload), `today's colour ${today.payload}, expected ${[...expected].join(' or ')}`);
    // The Tempo ESS rule has found the GX and says what it does with the coming night's colour
    // (before 10:30 Paris, tomorrow's colour is not published yet).
    assert.ok(rec.last(`homeassistant/device/${TEMPO_RULE}/config`)?.payload, 'the Tempo ESS rule is discovered');
    const coming = () => {
      const now = parisParts(Date.now());
      return now.hour < 6 ? now.date : nextDate(now.date);
    };
    const explains = (reason: string) =>
      (reason.includes(`${demoColour(startedAt, coming())} `) && reason.includes(`(${coming()})`)) || reason.includes(`colour of ${coming()} is not known yet`);
    const reason = (await gx.waitFor(`energy2mqtt/${TEMPO_RULE}/reason`, explains, 10_000)).payload;
    await gx.waitFor(`energy2mqtt/${TEMPO_RULE}/state`, (p) => p === 'waiting' || p === 'on', 10_000);
    assert.doesNotMatch(reason, /waiting for the GX|not answering|Dynamic ESS/);
    await gx.close();

    // The emulated Viessmann meter: discovered, and polled by the simulated Vitocal.
    assert.ok(rec.last(`homeassistant/device/${HEAT_PUMP_METER}/config`)?.payload, 'the Viessmann meter is discovered');
    const meter = await Recorder.connect(port, [`energy2mqtt/${HEAT_PUMP_METER}/polls_per_minute`, DEMO_HEAT_PUMP_TOPIC]);
    await meter.waitFor(`energy2mqtt/${HEAT_PUMP_METER}/polls_per_minute`, (p) => Number(p) > 0, 30_000);
    // The heat pump reports its draw after every poll: the add-on's heat_pump source.
    await meter.waitFor(DEMO_HEAT_PUMP_TOPIC, (p) => Number(p) > 0, 10_000);
    await meter.close();

    // The PV water heater on the simulated pigpiod: discovered (its config passed HA's rules in
    // the loop above), connected to pigpiod, and its state one of the controller's.
    // The EV charger: found over Modbus TCP and declared under its serial; its rule explains itself.
    assert.match(output, /GivEnergy EV charger \(GivEVC WF2306G001/);
    const ev = await Recorder.connect(port, [`energy2mqtt/givenergy_evc_${DEMO_EV_CHARGER_SERIAL.toLowerCase()}/plug_status`, 'energy2mqtt/rule_ev/reason']);
    await ev.waitFor(`energy2mqtt/givenergy_evc_${DEMO_EV_CHARGER_SERIAL.toLowerCase()}/plug_status`, (p) => p === 'connected', 15_000);
    await ev.waitFor('energy2mqtt/rule_ev/reason', (p) => p.length > 0, 15_000);
    await ev.close();
    assert.equal(DEMO_WATER_HEATER_DEVICE, 'water_heater_water_heater');
    assert.ok(rec.last(`homeassistant/device/${DEMO_WATER_HEATER_DEVICE}/config`)?.payload, 'the water heater is discovered');
    assert.match(output, /pigpiod \(water heater: relay on GPIO 17, servo on GPIO 21.*\) on 127\.0\.0\.1:\d+/, 'it names the pigpiod simulator');
    assert.ok(output.includes(`-t 'energy2mqtt/${DEMO_WATER_HEATER_DEVICE}/#'`), 'it says where to watch the water heater');
    const heater = await Recorder.connect(port, [`energy2mqtt/${DEMO_WATER_HEATER_DEVICE}/+`]);
    await heater.waitFor(`energy2mqtt/${DEMO_WATER_HEATER_DEVICE}/backend_connected`, (p) => p === 'ON', 10_000);
    await heater.waitFor(`energy2mqtt/${DEMO_WATER_HEATER_DEVICE}/state`, (p) => (HEATER_STATES as string[]).includes(p), 10_000);
    await heater.close();
    await rec.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, output);
  } finally {
    child.kill('SIGKILL');
  }
});

test("the demo's Tempo calendar keeps the calendar rules whatever day it starts on", () => {
  let date = '2026-09-01';
  for (let i = 0; i < 365; i++, date = nextDate(date)) {
    const calendar = demoTempoCalendar(date);
    for (const [day, colour] of Object.entries(calendar)) assert.equal(calendarProblem(day, colour), undefined, `${day} ${colour} (demo started on ${date})`);
    // Something to see around today: at least two white or red days, and red ones in winter.
    assert.ok(Object.keys(calendar).length >= 2, date);
    const month = Number(date.slice(5, 7));
    if (month === 12 || month === 1 || month === 2) assert.ok(Object.values(calendar).includes('red'), `no red day around ${date}`);
  }
  // Christmas Day is a Friday in 2026: white at most, never red.
  assert.notEqual(demoTempoCalendar('2026-12-24')['2026-12-25'], 'red');
  assert.equal(demoTempoCalendar('2026-12-05')['2026-12-06'], undefined, 'a Sunday is blue');
});
