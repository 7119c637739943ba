// The Victron adapter end to end: a simulated GX on a second Mosquitto (its own broker) ->
// adapter -> the add-on's Mosquitto, and every control as the W/ message it must send, confirmed
// by an R/ read-back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { eventually } from '../../helpers/mqtt-client.js';
import { GX, PORTAL, victronSetup } from '../../helpers/victron.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';
import { SETTINGS } from '../../../src/adapters/victron/entities.js';
import { SimulatedClock } from '../../../src/core/clock.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

test('the portal id is found from the retained Serial; telemetry arrives with its units, and HA accepts the discovery', async () => {
  const s = await victronSetup(broker.port);
  try {
    assert.equal((await s.rec.waitFor(`energy2mqtt/victron_link_127_0_0_1_${s.gxBroker.port}/portal_id`, (p) => p !== 'None')).payload, PORTAL);
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    const soc = Number(await s.state('battery_soc'));
    assert.ok(Math.abs(soc - Number(s.gx.value('system/0/Dc/Battery/Soc'))) <= 1, `SoC ${soc} as the GX has it`);
    assert.match(await s.state('battery_state'), /^(idle|charging|discharging)$/);
    assert.equal(await s.state('ess_state'), 'Self-consumption');
    assert.equal(await s.state('ess_mode'), 'Optimized with BatteryLife');
    assert.equal(await s.state('min_soc'), String(s.gx.value(SETTINGS.minSoc)));
    assert.equal(await s.state('dynamic_ess'), 'off');
    assert.equal(await s.state('schedule_1_start'), '22:00:00');
    assert.equal(await s.state('schedule_1_duration'), '08:00:00');
    assert.equal(await s.state('schedule_1_day'), 'Every day');
    assert.equal(await s.state('schedule_1_enabled'), 'ON');
    assert.equal(await s.state('schedule_2_enabled'), 'OFF');
    assert.ok(Number.isFinite(Number(await s.state('grid_power'))));
    assert.ok(Number(await s.state('grid_import_energy')) >= 0, 'the grid meter counter for the Energy dashboard');

    const discovery = await s.rec.waitFor(`homeassistant/device/${GX}/config`, (p) => p.includes('grid_import_energy'));
    const payload = JSON.parse(discovery.payload) as { cmps: Record<string, Record<string, unknown>> };
    assert.deepEqual(deviceDiscoveryProblems(discovery.topic, payload), []);
    const cmp = (key: string) => Object.values(payload.cmps).find((c) => String(c.unique_id).endsWith(`_${key}`))!;
    assert.equal(cmp('battery_soc').unit_of_measurement, '%');
    assert.equal(cmp('battery_soc').device_class, 'battery');
    assert.equal(cmp('grid_power').unit_of_measurement, 'W');
    assert.equal(cmp('grid_import_energy').state_class, 'total_increasing');
    assert.equal(cmp('ess_mode').p, 'select');
    assert.deepEqual(cmp('ess_mode').options, ['Optimized with BatteryLife', 'Optimized without BatteryLife', 'Keep batteries charged', 'External control']);
    assert.equal(cmp('grid_power_l2'), undefined, 'a single-phase GX gets no L2 entity');
  } finally {
    await s.stop();
  }
});

test('each control is written with W/, confirmed by an R/ read-back, and not written again when the GX holds the value', async () => {
  const s = await victronSetup(broker.port);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    await s.state('schedule_1_soc');
    const cases: Array<[string, string, string, number, string]> = [
      ['min_soc', '35', SETTINGS.minSoc, 35, '35'],
      ['grid_setpoint', '-200', SETTINGS.gridSetpoint, -200, '-200'],
      ['max_charge_power', '2500', SETTINGS.maxChargePower, 2500, '2500'],
      ['max_discharge_power', '3000', SETTINGS.maxDischargePower, 3000, '3000'],
      ['max_discharge_power', '-1', SETTINGS.maxDischargePower, -1, '-1'],
      ['schedule_1_soc', '95', SETTINGS.schedule(0, 'Soc'), 95, '95'],
      ['schedule_2_start', '23:30', SETTINGS.schedule(1, 'Start'), 84_600, '23:30:00'],
      ['schedule_2_duration', '06:30:00', SETTINGS.schedule(1, 'Duration'), 23_400, '06:30:00'],
      ['schedule_2_day', 'Weekdays', SETTINGS.schedule(1, 'Day'), 8, 'Weekdays'],
      ['schedule_2_enabled', 'OFF', SETTINGS.schedule(1, 'Day'), -8, 'OFF'],
      ['schedule_2_allow_discharge', 'ON', SETTINGS.schedule(1, 'AllowDischarge'), 1, 'ON'],
      ['schedule_3_day', 'Disabled (sunday)', SETTINGS.schedule(2, 'Day'), -10, 'Disabled (sunday)'],
      ['schedule_3_enabled', 'ON', SETTINGS.schedule(2, 'Day'), 0, 'ON'],
    ];
    for (const [key, payload, path, value, shown] of cases) {
      const before = s.gx.writes.length;
      const mark = s.rec.mark();
      await s.command(key, payload);
      await eventually(() => s.gx.writes.length > before, 5000, `${key} written`);
      assert.deepEqual(s.gx.writes.slice(before).map((w) => [w.path, w.value]), [[path, value]], key);
      await s.rec.waitFor(`energy2mqtt/${GX}/${key}`, (p) => p === shown, 5000, mark);
      // The same value again: the GX holds it, nothing is written.
      await s.command(key, payload);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(s.gx.writes.length, before + 1, `${key} not written again`);
    }
    assert.deepEqual(s.gx.rejectedWrites, [], 'numbers went out as JSON numbers, in range');
    assert.ok(s.gx.writes.every((w) => typeof w.value === 'number'));
  } finally {
    await s.stop();
  }
});

test('ESS mode follows the GUI: no State 1 while already in 1..8, no 10 while in 10..12, external control through Hub4Mode', async () => {
  const s = await victronSetup(broker.port);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    assert.equal(await s.state('ess_mode'), 'Optimized with BatteryLife');
    const written = () => s.gx.writes.map((w) => `${w.path.replace('settings/0/Settings/CGwacs/', '')}=${w.value}`);

    await s.command('ess_mode', 'Optimized with BatteryLife');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(written(), [], 'already in 1..8: State 1 would restart the state machine');

    await s.command('ess_mode', 'Optimized without BatteryLife');
    await eventually(() => written().length === 1, 5000, 'state 10 written');
    assert.deepEqual(written(), ['BatteryLife/State=10']);
    await s.state('ess_mode', (p) => p === 'Optimized without BatteryLife');
    await s.command('ess_mode', 'Optimized without BatteryLife');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(written().length, 1, 'already in 10..12: not written again');

    await s.command('ess_mode', 'External control');
    await eventually(() => written().length === 3, 5000, 'external control written');
    assert.deepEqual(written().slice(1), ['Hub4Mode=3', 'BatteryLife/State=0']);
    await s.state('ess_mode', (p) => p === 'External control');

    await s.command('ess_mode', 'Optimized with BatteryLife');
    await eventually(() => written().length === 5, 5000, 'back to BatteryLife');
    assert.deepEqual(written().slice(3), ['Hub4Mode=1', 'BatteryLife/State=1']);
    // The GX moves on from 1 by itself; the write still counts as confirmed.
    await s.state('ess_state', (p) => p !== 'Restarting' && !p.includes('without'));
    await s.state('ess_mode', (p) => p === 'Optimized with BatteryLife');
    const failed = s.rec.on('energy2mqtt/bridge/event').filter((m) => m.payload.includes('command_failed'));
    assert.deepEqual(failed, []);
  } finally {
    await s.stop();
  }
});

test('a write the GX ignores is reported as unconfirmed, and the entity keeps what the GX holds', async () => {
  const s = await victronSetup(broker.port);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    const before = await s.state('min_soc');
    s.gx.ignoreWritesTo(SETTINGS.minSoc);
    await s.command('min_soc', '40');
    const event = await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_failed') && p.includes('min_soc'), 15_000);
    assert.match(JSON.parse(event.payload).reason, /did not confirm CGwacs\/BatteryLife\/MinimumSocLimit: wrote 40, it reports \d+/);
    assert.equal(s.adapter.values.get(SETTINGS.minSoc), Number(before));
    // Out of range: refused before anything is sent.
    const writes = s.gx.writes.length;
    await s.command('min_soc', '140');
    await s.rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected') && p.includes('140'));
    assert.equal(s.gx.writes.length, writes);
  } finally {
    await s.stop();
  }
});

test('keepalives: one full refresh, then suppress-republish every 30 s; the GX stays alive and never expires', async () => {
  const clock = new SimulatedClock(Date.UTC(2026, 0, 15, 12, 0, 0));
  const s = await victronSetup(broker.port, { clock });
  try {
    await eventually(() => s.gx.keepalives.length >= 1, 5000, 'the first keepalive');
    for (let i = 0; i < 20; i++) {
      clock.advance(15_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    await eventually(() => s.gx.keepalives.length >= 11, 3000, 'ten more keepalives');
    const kinds = s.gx.keepalives.map((k) => k.kind);
    assert.equal(kinds[0], 'full', 'the first asks for everything');
    assert.equal(kinds.filter((k) => k === 'full').length, 1, `no other full refresh: ${kinds.join(',')}`);
    const gaps = s.gx.keepalives.slice(1).map((k, i) => k.at - s.gx.keepalives[i]!.at).slice(1);
    assert.ok(gaps.every((g) => g === 30_000), `every 30 s: ${gaps.join(', ')}`);
    assert.ok(s.gx.alive, 'the GX is still publishing after 5 minutes');
  } finally {
    await s.stop();
  }
});

test('a GX restart brings a full refresh; a GX that stops answering is shown unavailable, and back when it answers', async () => {
  const s = await victronSetup(broker.port, { victron: { keepalive_interval: 5 }, gx: { keepaliveTimeoutMs: 3000 } });
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    const fulls = () => s.gx.keepalives.filter((k) => k.kind === 'full').length;
    const before = fulls();
    await s.gx.restart();
    await eventually(() => fulls() > before, 5000, 'a full keepalive after the restart');

    const mark = s.rec.mark();
    s.gx.setUnresponsive(true);
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'offline', 20_000, mark);
    const reason = await s.rec.waitFor(`energy2mqtt/victron_link_127_0_0_1_${s.gxBroker.port}/last_error`, (p) => p.includes('sent nothing'), 1000);
    assert.match(reason.payload, /the GX has sent nothing for \d+ s/);
    s.gx.setUnresponsive(false);
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online', 15_000, s.rec.mark() - 1);
  } finally {
    await s.stop();
  }
});

test('garbage on the GX broker crashes nothing and writes nothing', async () => {
  const s = await victronSetup(broker.port);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    const { default: mqtt } = await import('mqtt');
    const evil = await mqtt.connectAsync({ host: '127.0.0.1', port: s.gxBroker.port });
    for (const payload of ['', 'not json', '{"val":1}', '[1,2]', '{"value":{"deep":[1]}}', '\u0000\u00ff', 'x'.repeat(100_000)]) {
      await evil.publishAsync(`N/${PORTAL}/system/0/Dc/Battery/Soc`, payload);
      await evil.publishAsync(`N/${PORTAL}/settings/0/Settings/CGwacs/BatteryLife/State`, payload);
    }
    await evil.publishAsync('N/../../system/0/Serial', '{"value":"x"}');
    await evil.endAsync();
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(s.gx.writes, []);
    // Still running: a command goes through.
    await s.command('min_soc', '22');
    await eventually(() => s.gx.writes.length === 1, 5000, 'a write after the garbage');
    await s.state('min_soc', (p) => p === '22');
  } finally {
    await s.stop();
  }
});

test('stopping while a read-back is under way ends it at once, reported as unconfirmed', async () => {
  const s = await victronSetup(broker.port);
  try {
    await s.rec.waitFor(`energy2mqtt/${GX}/availability`, (p) => p === 'online');
    s.gx.setUnresponsive(true); // takes no write and answers no read
    const command = s.t.app.bridge.command(GX, 'min_soc', '44', 'mqtt');
    await eventually(() => s.gx.unanswered.some((topic) => topic.startsWith('W/')), 3000, 'the write sent');
    const started = Date.now();
    await s.adapter.stop();
    const result = await command;
    assert.ok(Date.now() - started < 2000, `stop() took ${Date.now() - started} ms`);
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /did not confirm|not confirmed/);
  } finally {
    await s.stop();
  }
});
