// Trouble codes and Ambisense rooms through the simulated cloud to MQTT, and a failed login logged
// once, in words that say what failed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { loadScenario, shortOf, vaillantWith } from '../../helpers/vaillant.js';
import { Recorder, eventually } from '../../helpers/mqtt-client.js';
import { startApp } from '../../helpers/app.js';
import { SimulatedClock } from '../../../src/core/clock.js';
import { parseRooms, parseTroubleCodes, troubleSummary } from '../../../src/adapters/vaillant/diagnostics.js';
import { failureReason } from '../../../src/adapters/vaillant/auth.js';
import type { VaillantAdapter } from '../../../src/adapters/vaillant/adapter.js';

const SYSTEM = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';
const S = shortOf(SYSTEM);
const ROOMS = JSON.parse(readFileSync('test/fixtures/vaillant/ambisense/fc9ac9ea562b2a82a48708045a7c628e33c0de4b/rooms.json', 'utf8')) as unknown[];

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

test('trouble codes and rooms are read leniently', () => {
  const codes = parseTroubleCodes([
    { serialNumber: 'a1', articleNumber: 'x', codes: [] },
    { serialNumber: 'b2', codes: [{ code: 'F.022', type: 'ERROR', title: 'Water pressure too low', description: '…' }, { code: 'M.32', title: 'Service due' }] },
  ]);
  assert.deepEqual(codes.map((c) => [c.code, c.serialNumber]), [['F.022', 'b2'], ['M.32', 'b2']]);
  assert.equal(troubleSummary(codes), 'F.022: Water pressure too low (+1 more)');
  assert.equal(troubleSummary([]), 'none');
  for (const junk of [null, 'x', 1, [null, 2, { codes: 'no' }]]) assert.deepEqual(parseTroubleCodes(junk), []);
  const rooms = parseRooms(ROOMS);
  assert.deepEqual(rooms.map((r) => [r.index, r.name, r.temperature, r.setpoint, r.humidity, r.windowOpen, r.lowBattery]), [
    [3, 'Chambre Jules', 19.3, 17, undefined, false, false],
    [0, 'Chambre parentale', 20.2, 4.5, undefined, false, false],
    [2, 'Chambre Lucie', 19.4, 17, undefined, false, false],
    [1, 'Salle de bain', 23.8, 22, undefined, false, false],
  ]);
  assert.deepEqual(parseRooms({ errorCode: 'NO_FACILITY_FOR_SYSTEM_ID' }), []);
});

test('trouble codes are shown with a problem sensor, refreshed with the energy; Ambisense rooms as devices', async () => {
  const clock = new SimulatedClock(Date.UTC(2026, 10, 23, 9, 30));
  const s = await vaillantWith(broker.port, { ...loadScenario('current_power'), clock, rooms: { [SYSTEM]: ROOMS }, tokenLifetimeS: 3600, refreshLifetimeS: 86_400 }, { clock });
  try {
    // Rooms at the first poll, one device each.
    assert.equal((await s.rec.waitFor(`energy2mqtt/${S}_room_3/room_temperature`, (p) => p === '19.3')).payload, '19.3');
    assert.equal((await s.rec.waitFor(`energy2mqtt/${S}_room_1/setpoint`, (p) => p === '22')).payload, '22');
    assert.equal((await s.rec.waitFor(`energy2mqtt/${S}_room_0/window`, (p) => p === 'OFF')).payload, 'OFF');
    clock.advance(1000); // discovery is published after a debounce on the (simulated) clock
    const config = JSON.parse((await s.rec.waitFor(`homeassistant/device/${S}_room_3/config`, (p) => p !== '')).payload);
    assert.equal(config.dev.name, 'Vaillant Chambre Jules');
    assert.ok(!('humidity' in config.cmps), 'no humidity entity where the room has none');
    await s.rec.waitFor(`energy2mqtt/${S}/trouble_codes`, (p) => p === 'none');
    await s.rec.waitFor(`energy2mqtt/${S}/problem`, (p) => p === 'OFF');

    s.sim.addTroubleCode(SYSTEM, '88ac56a2bb491e3404d839fe99bd148ef1e885f2', { code: 'F.022', type: 'ERROR', title: 'Water pressure too low', description: 'Top up the heating water' });
    const dtc = () => s.calls().filter((c) => c.path.endsWith('/diagnostic-trouble-codes')).length;
    const before = dtc();
    for (let i = 0; i < 10; i++) {
      clock.advance(120_000);
      await s.adapter.poll();
    }
    assert.equal(dtc(), before, 'not asked on every poll');
    for (let i = 0; i < 30 && dtc() === before; i++) {
      clock.advance(120_000);
      await s.adapter.poll();
    }
    assert.equal(dtc(), before + 1, 'asked again with the energy, about an hour later');
    await s.rec.waitFor(`energy2mqtt/${S}/trouble_codes`, (p) => p === 'F.022: Water pressure too low');
    await s.rec.waitFor(`energy2mqtt/${S}/problem`, (p) => p === 'ON');
    const sysConfig = JSON.parse((await s.rec.waitFor(`homeassistant/device/${S}/config`, (p) => p.includes('trouble_codes'))).payload);
    assert.equal(sysConfig.cmps.problem.device_class, 'problem');
    // Rooms are refreshed with the energy as well, not on every poll.
    const rooms = s.calls().filter((c) => c.path.includes('/ambisense/')).length;
    assert.ok(rooms >= 2 && rooms <= 3, `rooms read ${rooms} times in ~1.3 h`);
  } finally {
    await s.stop();
  }
});

test('a system without Ambisense (409 NO_FACILITY_FOR_SYSTEM_ID) is asked once, not on every poll', async () => {
  const clock = new SimulatedClock(Date.UTC(2026, 10, 23, 9, 30));
  const s = await vaillantWith(broker.port, { ...loadScenario('current_power'), clock, tokenLifetimeS: 3600, refreshLifetimeS: 86_400 }, { clock });
  try {
    await s.rec.waitFor(`energy2mqtt/${S}/outdoor_temperature`);
    for (let i = 0; i < 45; i++) {
      clock.advance(120_000);
      await s.adapter.poll();
    }
    assert.equal(s.calls().filter((c) => c.path.includes('/ambisense/')).length, 1);
    assert.equal(s.adapter.systems.get(SYSTEM)!.roomEntities.size, 0, 'no room devices');
    assert.ok(!s.t.logs.some((l) => / (WARN|ERROR) /.test(l)), s.t.logs.filter((l) => / (WARN|ERROR) /.test(l)).join(''));
  } finally {
    await s.stop();
  }
});

test('the reason of a failed request in words', () => {
  const url = 'https://identity.vaillant-group.com/auth/realms/x';
  assert.equal(failureReason({ code: 'ENOTFOUND', url, message: 'x' }), 'the name identity.vaillant-group.com was not found (DNS)');
  assert.match(failureReason({ code: 'EAI_AGAIN', url }), /could not be looked up \(DNS/);
  assert.equal(failureReason({ code: 'ECONNREFUSED', url }), 'identity.vaillant-group.com refused the connection');
  assert.match(failureReason({ code: 'EHOSTUNREACH', url }), /is unreachable/);
  assert.match(failureReason({ code: 'ETIMEDOUT', url }), /did not answer in time \(timeout\)/);
  assert.match(failureReason({ name: 'TimeoutError', url }), /timeout/);
  assert.match(failureReason({ code: 'CERT_HAS_EXPIRED', url }), /certificate/);
  assert.equal(failureReason(new Error('something else')), 'something else');
});

for (const [what, identityUrl, reason] of [
  ['host refusing connections', 'http://127.0.0.1:1', /the myVaillant login failed: 127\.0\.0\.1:1 refused the connection/],
  ['unknown host name', 'http://no-such-host.invalid', /the myVaillant login failed: the name no-such-host\.invalid (was not found|could not be looked up) \(DNS/],
] as const) {
  test(`a failed login (${what}) is logged once, with its reason, and shown in api_status`, async () => {
    const rec = await Recorder.connect(broker.port, ['energy2mqtt/#']);
    const t = await startApp(broker.port, { vaillant: [{ username: 'bob@example.com', password: 'pw-987654', identity_url: identityUrl, api_url: 'http://127.0.0.1:1/service-connected-control/end-user-app-api/v1' }] });
    try {
      await eventually(() => rec.messages.some((m) => m.topic.endsWith('/api_status') && reason.test(m.payload)), 30_000, 'the reason in api_status');
      const adapter = t.app.adapters.find((a) => a.id === 'vaillant/bob@example.com') as VaillantAdapter;
      await adapter.poll(); // within the login back-off: no new attempt, nothing logged again
      const loud = t.logs.filter((l) => / (WARN|ERROR) /.test(l));
      assert.equal(loud.length, 1, loud.join(''));
      assert.match(loud[0]!, / ERROR /);
      assert.match(loud[0]!, reason);
      assert.ok(!t.logs.join('').includes('fetch failed'));
    } finally {
      await t.stop();
      await rec.close();
    }
  });
}

test('trouble codes and rooms keep the command reserve: with only the reserve left they wait', async () => {
  const clock = new SimulatedClock(Date.UTC(2026, 10, 23, 9, 30));
  const s = await vaillantWith(broker.port, { ...loadScenario('current_power'), clock, rooms: { [SYSTEM]: ROOMS } }, { clock, account: { request_budget_per_hour: 20 } });
  try {
    const system = s.adapter.systems.get(SYSTEM)!;
    assert.ok(system.rooms?.length, 'rooms read at start');
    const api = s.adapter.api;
    // A command (here: plain requests) spends the budget down to the reserve of 4.
    while (api.fits(1, 4)) await api.request('GET', '/homes');
    const asked = () => s.calls().filter((c) => c.path.endsWith('/diagnostic-trouble-codes') || c.path.includes('/ambisense/')).length;
    const before = asked();
    clock.advance(3_600_000 - 60_000); // the rooms are due again, the requests above still count
    while (api.fits(1, 4)) await api.request('GET', '/homes');
    const used = api.usedThisHour;
    await (s.adapter as unknown as { fetchDiagnostics(x: unknown): Promise<void> }).fetchDiagnostics(system);
    assert.equal(asked(), before, 'nothing taken from the reserve');
    assert.equal(api.usedThisHour, used);
    assert.ok(api.fits(4), 'the reserve is whole for commands');
  } finally {
    await s.stop();
  }
});
