// The Victron GX simulator as another client of the GX's broker sees it (dbus-flashmq semantics,
// research victron-tempo.md §1.2–1.6), through a real Mosquitto.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { SimulatedClock } from '../../src/core/clock.js';
import { VictronGxSimulator, type VictronGxOptions } from '../../src/simulators/victron-gx.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { eventually, Recorder, type Received } from '../helpers/mqtt-client.js';

const CG = 'settings/0/Settings/CGwacs';
const STATE = `${CG}/BatteryLife/State`;
const MIN_SOC = `${CG}/BatteryLife/MinimumSocLimit`;
const SOC = 'system/0/Dc/Battery/Soc';
const NAME = 'settings/0/Settings/SystemSetup/SystemName';
const SUPPRESS = JSON.stringify({ 'keepalive-options': ['suppress-republish'] });

let broker: TestBroker;
before(async () => void (broker = await startTestBroker()));
after(async () => broker.stop());

let barriers = 0;

async function gx(t: { after(fn: () => Promise<void>): void }, options: Partial<VictronGxOptions> = {}, clock = new SimulatedClock()) {
  const portalId = `c0619ab${Math.random().toString(16).slice(2, 8)}`;
  const rec = await Recorder.connect(broker.port, [`N/${portalId}/#`]);
  const sim = new VictronGxSimulator({ host: '127.0.0.1', port: broker.port, portalId, clock, ...options });
  await sim.start();
  t.after(async () => (await sim.stop(), await rec.close()));
  await rec.waitFor(`N/${portalId}/keepalive`);
  const n = (path: string) => `N/${portalId}/${path}`;
  const send = (topic: string, payload: string | object = '') => rec.publish(`${topic.replace('<id>', portalId)}`, typeof payload === 'string' ? payload : JSON.stringify(payload));
  /** What the GX published since `since`, up to its answer to a later request: it handles requests
   *  in order, so anything it sent before that answer has arrived by then. The barrier is a write
   *  of a unique name followed by a read of it; its own messages are left out. */
  const settle = async (since: number): Promise<Received[]> => {
    const token = `barrier-${++barriers}`;
    await send(`W/<id>/${NAME}`, { value: token });
    await send(`R/<id>/${NAME}`);
    const answer = await rec.waitFor(n(NAME), (p) => p.includes(token), 5000, since);
    return rec.messages.slice(since, rec.messages.indexOf(answer)).filter((m) => m.topic !== n(NAME));
  };
  /** The value the GX answers to a read request. */
  const read = async (path: string): Promise<unknown> => {
    const mark = rec.mark();
    await send(`R/<id>/${path}`);
    return (JSON.parse((await rec.waitFor(n(path), () => true, 5000, mark)).payload) as { value: unknown }).value;
  };
  const valueOf = (path: string, value: unknown, since = 0) => rec.waitFor(n(path), (p) => (JSON.parse(p) as { value: unknown }).value === value, 5000, since);
  return { sim, rec, clock, portalId, n, send, settle, read, valueOf };
}

test('the retained Serial names the portal id; nothing else is retained, and keepalive 1 is not', async (t) => {
  const { sim, rec, n, send, portalId } = await gx(t);
  assert.equal(rec.last(n('keepalive'))?.payload, '1');
  await send('R/<id>/keepalive');
  await rec.waitFor(n('full_publish_completed'));
  const finder = await Recorder.connect(broker.port, ['N/+/system/0/Serial']);
  const serial = await finder.waitFor(n('system/0/Serial'));
  assert.equal(serial.retain, true);
  assert.deepEqual(JSON.parse(serial.payload), { value: portalId });
  await finder.close();
  const late = await Recorder.connect(broker.port, [`N/${portalId}/#`]);
  await late.publish(`R/${portalId}/${MIN_SOC}`, '');
  await late.waitFor(n(MIN_SOC));
  assert.deepEqual(late.messages.filter((m) => m.retain).map((m) => m.topic), [n('system/0/Serial')]);
  assert.ok(sim.paths().length > 40, 'and there was much else to retain');
  await late.close();
});

test('nothing but Serial and keepalive is published before a keepalive', async (t) => {
  const { sim, clock, settle, n } = await gx(t);
  sim.set(SOC, 42);
  clock.advance(5000);
  assert.notEqual(sim.value(SOC), 50, 'values did change');
  const topics = (await settle(0)).map((m) => m.topic);
  assert.deepEqual([...new Set(topics)].sort(), [n('keepalive'), n('system/0/Serial')].sort());
});

test('a full keepalive republishes every value and ends with full_publish_completed, with the echo', async (t) => {
  const { sim, rec, clock, n, send } = await gx(t);
  const mark = rec.mark();
  await send('R/<id>/keepalive', { 'keepalive-options': [{ 'full-publish-completed-echo': 'B9FMlGWoCcfMKc' }] });
  const done = await rec.waitFor(n('full_publish_completed'), () => true, 5000, mark);
  const now = Math.floor(clock.now() / 1000);
  assert.equal(done.payload, `{"full-publish-completed-echo":"B9FMlGWoCcfMKc","value":${now}}`);
  const republished = new Map(rec.messages.slice(mark, rec.messages.indexOf(done)).map((m) => [m.topic, m.payload]));
  for (const path of sim.paths()) assert.ok(republished.has(n(path)), `${path} republished before completion`);
  assert.equal(republished.get(n(MIN_SOC)), '{"max":100,"min":0,"value":10}');
  assert.equal(republished.get(n(`${CG}/BatteryLife/Schedule/Charge/0/Start`)), '{"max":86399,"min":0,"value":79200}');
  assert.equal(republished.get(n('system/0/Ac/Grid/L2/Power')), '{"value":null}');
  assert.equal(republished.get(n('system/0/Ac/Grid/NumberOfPhases')), '{"value":1}');
  assert.match(republished.get(n(SOC)) ?? '', /^\{"value":[\d.]+\}$/);
  const second = rec.mark();
  await send('R/<id>/keepalive');
  assert.equal((await rec.waitFor(n('full_publish_completed'), () => true, 5000, second)).payload, `{"value":${now}}`);
  assert.equal(sim.fullPublishes, 2);
  assert.ok(sim.alive);
});

test('suppress-republish only keeps the GX alive; changes are then published as they happen', async (t) => {
  const { sim, rec, send, settle, valueOf, n } = await gx(t);
  const mark = rec.mark();
  await send('R/<id>/keepalive', SUPPRESS);
  await eventually(() => sim.alive, 5000, 'alive');
  const topics = (await settle(mark)).map((m) => m.topic);
  assert.deepEqual([...new Set(topics)], [n('heartbeat')]);
  assert.equal(sim.fullPublishes, 0);
  assert.deepEqual(sim.keepalives.map((k) => [k.kind, k.republished]), [['suppress', false]]);
  sim.set(SOC, 33);
  await valueOf(SOC, 33);
});

test('at most three full republishes per second; the others only keep alive', async (t) => {
  const { sim, rec, clock, send, settle, n } = await gx(t);
  const mark = rec.mark();
  for (let i = 0; i < 5; i++) await send('R/<id>/keepalive');
  await eventually(() => sim.keepalives.length === 5, 5000, 'five keepalives');
  const completions = () => rec.messages.slice(mark).filter((m) => m.topic === n('full_publish_completed')).length;
  await settle(mark);
  assert.equal(completions(), 3);
  assert.deepEqual(sim.keepalives.map((k) => k.republished), [true, true, true, false, false]);
  clock.advance(1000);
  await send('R/<id>/keepalive');
  await eventually(() => completions() === 4, 5000, 'a fourth republish after the refill');
});

test('a heartbeat every 3 s while alive; once the keepalive expires nothing more is published', async (t) => {
  const { sim, rec, clock, send, settle, n } = await gx(t);
  await send('R/<id>/keepalive', SUPPRESS);
  const first = await rec.waitFor(n('heartbeat'));
  const start = Math.floor(clock.now() / 1000);
  assert.equal(first.payload, `{"value":${start}}`);
  const mark = rec.mark();
  clock.advance(3000);
  assert.equal((await rec.waitFor(n('heartbeat'), () => true, 5000, mark)).payload, `{"value":${start + 3}}`);
  clock.advance(56_999);
  assert.ok(sim.alive, 'still alive just before 60 s');
  clock.advance(1);
  assert.equal(sim.alive, false);
  await settle(rec.mark()); // what was sent while alive has arrived
  const quiet = rec.mark();
  sim.set(SOC, 12);
  sim.consumptionW = 2500;
  clock.advance(10_000);
  assert.deepEqual((await settle(quiet)).map((m) => m.topic), []);
  assert.equal(sim.value('system/0/Ac/Consumption/L1/Power'), 2500, 'there were changes to publish');
});

test('a read answers one leaf or every leaf of a sub-tree, alive or not', async (t) => {
  const { sim, rec, send, settle, read, n } = await gx(t);
  assert.equal(await read(SOC), sim.value(SOC));
  const mark = rec.mark();
  await send(`R/<id>/${CG}`);
  const expected = sim.paths().filter((p) => p.startsWith(`${CG}/`));
  assert.ok(expected.length >= 33);
  const got = (await settle(mark)).map((m) => m.topic);
  assert.deepEqual(got.sort(), expected.map(n).sort());
  assert.equal(sim.alive, false);
});

test('a write changes the value and is echoed while alive; strings go to string settings', async (t) => {
  const { sim, clock, send, valueOf, rec, n } = await gx(t);
  await send('R/<id>/keepalive', SUPPRESS);
  await eventually(() => sim.alive, 5000, 'alive');
  await send(`W/<id>/${MIN_SOC}`, { value: 25 });
  const echo = await valueOf(MIN_SOC, 25);
  assert.equal(echo.payload, '{"max":100,"min":0,"value":25}');
  assert.equal(echo.retain, false);
  assert.deepEqual(sim.writes.map((w) => [w.path, w.value]), [[MIN_SOC, 25]]);
  const mark = rec.mark();
  clock.advance(1000);
  await valueOf('system/0/Control/ActiveSocLimit', 25, mark);
  await send(`W/<id>/${NAME}`, { value: 'Maison' });
  assert.equal((await valueOf(NAME, 'Maison')).payload, '{"value":"Maison"}');
  assert.ok(rec.on(n(MIN_SOC)).length === 1);
});

test('malformed, out-of-range, string-number and read-only writes fail silently', async (t) => {
  const { sim, send, settle, rec, n } = await gx(t);
  await send('R/<id>/keepalive', SUPPRESS);
  await eventually(() => sim.alive, 5000, 'alive');
  const mark = rec.mark();
  await send(`W/<id>/${MIN_SOC}`, { value: 150 });
  await send(`W/<id>/${MIN_SOC}`, { value: '30' });
  await send(`W/<id>/${MIN_SOC}`, 'thirty');
  await send(`W/<id>/${MIN_SOC}`, { val: 30 });
  await send(`W/<id>/${CG}/BatteryLife/SocLimit`, { value: 20 });
  await send(`W/<id>/${SOC}`, { value: 99 });
  await send(`W/<id>/${CG}/Hub4Mode`, { value: 1.5 });
  await send(`W/<id>/${NAME}`, { value: 7 });
  const published = (await settle(mark)).map((m) => m.topic).filter((topic) => topic !== n('heartbeat'));
  assert.deepEqual(published, []);
  assert.deepEqual(sim.rejectedWrites.map((w) => w.reason), ['out of range', 'not a number', 'payload is not JSON', "no 'value' in the JSON", 'read-only', 'read-only', 'not an integer', 'not a string']);
  assert.equal(sim.value(MIN_SOC), 10);
  assert.equal(sim.value(`${CG}/Hub4Mode`), 1);
  assert.deepEqual(sim.writes.filter((w) => w.path !== NAME), []);
});

test('ignoreWritesTo: the GX drops that write without a word, and takes the others', async (t) => {
  const { sim, send, settle, rec, valueOf, n } = await gx(t);
  sim.ignoreWritesTo(`${CG}/Hub4Mode`);
  await send('R/<id>/keepalive', SUPPRESS);
  await eventually(() => sim.alive, 5000, 'alive');
  const mark = rec.mark();
  await send(`W/<id>/${CG}/Hub4Mode`, { value: 3 });
  await send(`W/<id>/${CG}/MaxChargePower`, { value: 2000 });
  await valueOf(`${CG}/MaxChargePower`, 2000, mark);
  assert.equal((await settle(mark)).filter((m) => m.topic === n(`${CG}/Hub4Mode`)).length, 0);
  assert.equal(sim.value(`${CG}/Hub4Mode`), 1);
  assert.deepEqual(sim.rejectedWrites.map((w) => [w.path, w.reason]), [[`${CG}/Hub4Mode`, 'ignored']]);
});

test('BatteryLife: 1 restarts to 2 or 5, 10 stays 10 or guards to 11, 9 stays 9 and charges', async (t) => {
  const { sim, rec, clock, send, valueOf, read } = await gx(t);
  sim.pvW = 0;
  await send('R/<id>/keepalive', SUPPRESS);
  await eventually(() => sim.alive, 5000, 'alive');
  const writeState = async (state: number) => {
    const mark = rec.mark();
    await send(`W/<id>/${STATE}`, { value: state });
    await valueOf(STATE, state, mark);
    const next = rec.mark();
    clock.advance(1000);
    return next;
  };
  await valueOf(STATE, 2, await writeState(1));
  assert.equal(await read('system/0/Control/ActiveSocLimit'), 10);
  assert.ok((await read('system/0/Dc/Battery/Power')) as number < 0, 'self-consumption discharges');

  await writeState(10);
  clock.advance(2000);
  assert.equal(await read(STATE), 10, 'optimized without BatteryLife above MinimumSocLimit');

  sim.set(SOC, 8);
  await valueOf(STATE, 5, await writeState(1));
  assert.equal(await read('system/0/Dc/Battery/Power'), 0, 'discharge disabled at the limit');
  sim.set(SOC, 12);
  clock.advance(1000);
  assert.equal(await read(STATE), 5, 'until 3 % above the limit');
  assert.equal(await read('system/0/Dc/Battery/Power'), 0);
  sim.set(SOC, 13.5);
  const back = rec.mark();
  clock.advance(1000);
  await valueOf(STATE, 2, back);
  sim.set(SOC, 8);

  await valueOf(STATE, 11, await writeState(10));
  assert.equal(await read('system/0/Dc/Battery/Power'), 0, 'and below MinimumSocLimit');

  await writeState(9);
  clock.advance(3000);
  assert.equal(await read(STATE), 9);
  assert.ok((await read('system/0/Dc/Battery/Power')) as number > 1000, 'keep charged charges from the grid');
  assert.ok((await read('system/0/Ac/Grid/L1/Power')) as number > 1000);
});

test('a scheduled charge window charges from the grid to its Soc across midnight; Day codes select the days', async (t) => {
  const clock = new SimulatedClock(Date.UTC(2026, 0, 15, 20, 0, 0)); // Thursday 21:00 in Paris
  const { sim, send, read } = await gx(t, { initialSoc: 30 }, clock);
  const at = (hh: number, mm: number) => clock.advance(Date.UTC(2026, 0, hh < 12 ? 16 : 15, hh - 1, mm) - clock.now());
  /** Sets a slot's Day code and says whether a scheduled charge is on a moment later. */
  const day = async (slot: string, value: number) => {
    await send(`W/<id>/${slot}/Day`, { value });
    await eventually(() => sim.value(`${slot}/Day`) === value, 5000, `Day ${value} written`);
    clock.advance(2000);
    return read('system/0/Control/ScheduledCharge');
  };
  at(21, 59);
  assert.equal(await read('system/0/Control/ScheduledCharge'), 0);
  assert.equal(await read('system/0/Control/ScheduledSoc'), null);
  assert.ok((await read(SOC)) as number < 30, 'discharging before the window');
  at(22, 1);
  assert.equal(await read('system/0/Control/ScheduledCharge'), 1);
  assert.equal(await read('system/0/Control/ScheduledSoc'), 80);
  assert.equal(await read('system/0/Dc/Battery/Power'), 3000);
  assert.ok((await read('system/0/Ac/Grid/L1/Power')) as number > 3000);
  assert.equal(await read('system/0/SystemState/State'), 0x103);
  at(5, 59);
  assert.equal(await read('system/0/Control/ScheduledCharge'), 1, 'still in the window after midnight');
  const held = (await read(SOC)) as number;
  assert.ok(held >= 79.5 && held <= 80.5, `held at the target: ${held}`);
  assert.ok((await read('system/0/Dc/Battery/Power')) as number >= -1);
  // A window belongs to the day it starts on: Thursday's runs into Friday morning, Friday's starts at 22:00.
  assert.equal(await day(`${CG}/BatteryLife/Schedule/Charge/0`, 5), 0, 'Friday 05:59 is not in a Friday window');
  assert.equal(await day(`${CG}/BatteryLife/Schedule/Charge/0`, 4), 1, 'but in the Thursday one');
  at(6, 1);
  assert.equal(await read('system/0/Control/ScheduledCharge'), 0);
  assert.ok((await read('system/0/Dc/Battery/Power')) as number < 0, 'discharging again after the window');

  // Friday 06:01: a one-hour window starting now, first for weekends only, then for Fridays.
  const slot = `${CG}/BatteryLife/Schedule/Charge/1`;
  await send(`W/<id>/${slot}/Start`, { value: 6 * 3600 });
  await send(`W/<id>/${slot}/Duration`, { value: 3600 });
  assert.equal(await day(slot, 9), 0, 'weekends: not on a Friday');
  assert.equal(await day(slot, 4), 0, 'Thursdays: not on a Friday');
  assert.equal(await day(slot, 5), 1, 'Fridays');
  assert.equal(await read('system/0/Control/ScheduledSoc'), 100);
  assert.equal(await day(slot, 8), 1, 'weekdays');
  assert.equal(await day(slot, -5), 0, 'disabled by the sign');
});

test('restart: the GX comes back with Serial and keepalive 1, and must be kept alive again', async (t) => {
  const { sim, rec, send, settle, n } = await gx(t);
  await send('R/<id>/keepalive', SUPPRESS);
  await eventually(() => sim.alive, 5000, 'alive');
  const mark = rec.mark();
  await sim.restart();
  assert.equal(sim.alive, false);
  await rec.waitFor(n('system/0/Serial'), () => true, 5000, mark);
  assert.equal((await rec.waitFor(n('keepalive'), () => true, 5000, mark)).payload, '1');
  const quiet = rec.mark();
  sim.set(SOC, 77);
  assert.deepEqual((await settle(quiet)).map((m) => m.topic), []);
  await send('R/<id>/keepalive', SUPPRESS);
  await eventually(() => sim.alive, 5000, 'alive again');
});

test('unresponsive: reads and keepalives go unanswered', async (t) => {
  const { sim, rec, send, settle } = await gx(t);
  sim.setUnresponsive(true);
  const mark = rec.mark();
  await send('R/<id>/keepalive');
  await send(`R/<id>/${SOC}`);
  await eventually(() => sim.unanswered.length === 2, 5000, 'both requests arrived');
  assert.equal(sim.alive, false);
  sim.setUnresponsive(false);
  assert.deepEqual((await settle(mark)).map((m) => m.topic), []);
});

test('credentials: the GX broker refuses a wrong password and serves the right one', async () => {
  const credentials = { username: 'gx', password: 'vnc-secret' };
  const secured = await startTestBroker({ credentials });
  try {
    const wrong = new VictronGxSimulator({ host: '127.0.0.1', port: secured.port, portalId: 'c0619ab00001', username: 'gx', password: 'nope', clock: new SimulatedClock() });
    await assert.rejects(wrong.start(), /Not authorized|Bad username/i);
    await wrong.stop();
    const sim = new VictronGxSimulator({ host: '127.0.0.1', port: secured.port, portalId: 'c0619ab00002', ...credentials, clock: new SimulatedClock() });
    await sim.start();
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: secured.port, ...credentials, reconnectPeriod: 0 });
    const serial = new Promise<string>((resolve) => client.on('message', (_topic, payload) => resolve(payload.toString())));
    await client.subscribeAsync('N/+/system/0/Serial');
    assert.equal(await serial, '{"value":"c0619ab00002"}');
    await client.endAsync();
    await sim.stop();
  } finally {
    await secured.stop();
  }
});
