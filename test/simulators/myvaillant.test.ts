// The myVaillant cloud simulator as another client (myPyllant) sees it: every endpoint over real HTTP,
// with a token from the simulated Keycloak login (PKCE + ALTCHA).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MyVaillantSimulator, type VaillantSimOptions } from '../../src/simulators/myvaillant.js';

const FIX = 'test/fixtures/vaillant';
const TLI = '4f5dff076e0dd0245aa0993a3d6f0e38754dd926';
const VRC = '4d6354e40143a24b8caa0666a79f705b3df9e59e';
const E763 = 'e763593de7370e8d6f90fea50daacd9883e2e532';
const read = (p: string) => JSON.parse(readFileSync(`${FIX}/${p}`, 'utf8')) as Record<string, unknown>;
const KEY = { 'ocp-apim-subscription-key': '1e0a2f3511fb4c5bbb1c7f9fedd20b1c' };
const T0 = Date.UTC(2026, 5, 21, 0, 0, 0);

async function cloud(extra: Partial<VaillantSimOptions> = {}) {
  const clock = { t: T0, now() { return this.t; } };
  const rooms = JSON.parse(readFileSync(`${FIX}/ambisense/fc9ac9ea562b2a82a48708045a7c628e33c0de4b/rooms.json`, 'utf8')) as unknown[];
  const sim = new MyVaillantSimulator({
    users: [{ username: 'anna@example.com', password: 'pw' }],
    homes: [{ systemId: TLI }, { systemId: VRC }, { systemId: E763 }],
    systems: { [TLI]: read(`current_power/${TLI}/system.json`), [VRC]: read(`vrc700_flexotherm/${VRC}/system.json`), [E763]: read(`two_systems/${E763}/system.json`) },
    altchaCost: 1, tokenLifetimeS: 30 * 86_400, lagMs: 60_000, clock, rooms: { [VRC]: rooms },
    ...extra,
  });
  await sim.listen();
  const token = await login(sim);
  const base = `http://127.0.0.1:${sim.port}/service-connected-control`;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = { ...KEY, authorization: `Bearer ${token}` }) => {
    const res = await fetch(`${base}${path}`, { method, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as any };
  };
  const get = (path: string) => call('GET', `/end-user-app-api/v1${path}`);
  return { sim, clock, call, get, rooms, [Symbol.asyncDispose]: () => sim.close() };
}

// The Keycloak flow a client runs: authorize page, ALTCHA challenge, form POST, code exchange.
async function login(sim: MyVaillantSimulator): Promise<string> {
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const page = await fetch(`${sim.identityUrl}/auth/realms/vaillant-germany-b2c/protocol/openid-connect/auth?response_type=code&client_id=myvaillant&code_challenge_method=S256&code_challenge=${challenge}`);
  const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const action = /action="([^"]+)"/.exec(await page.text())![1]!.replaceAll('&amp;', '&');
  const ch = (await (await fetch(`${sim.identityUrl}/api/altcha/challenge`)).json()) as { parameters: Record<string, any>; signature: string };
  const p = ch.parameters;
  let counter = 0;
  let key: string;
  for (;; counter++) {
    const pw = Buffer.concat([Buffer.from(p.nonce, 'hex'), Buffer.alloc(4)]);
    pw.writeUInt32BE(counter, pw.length - 4);
    key = pbkdf2Sync(pw, Buffer.from(p.salt, 'hex'), p.cost, p.keyLength, 'sha256').toString('hex');
    if (key.startsWith(p.keyPrefix)) break;
  }
  const altcha = Buffer.from(JSON.stringify({ challenge: ch, solution: { counter, derivedKey: key, time: 0 } })).toString('base64');
  const form = await fetch(action, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: 'anna@example.com', password: 'pw', credentialId: '', altcha }) });
  const code = new URL(form.headers.get('location')!.replace(/^[^:]+:\/\//, 'http://x/')).searchParams.get('code')!;
  const tok = await fetch(`${sim.identityUrl}/auth/realms/vaillant-germany-b2c/protocol/openid-connect/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'myvaillant', code, code_verifier: verifier, redirect_uri: 'enduservaillant.page.link://login' }) });
  return ((await tok.json()) as { access_token: string }).access_token;
}

test('meta-info: control identifier per system (from the report, or the option), time zone, connection status', async () => {
  await using c = await cloud({ timeZones: { [E763]: 'Europe/Paris' }, connected: { [E763]: false } });
  assert.deepEqual((await c.get(`/systems/${TLI}/meta-info/control-identifier`)).json, { controlIdentifier: 'tli' });
  assert.deepEqual((await c.get(`/systems/${VRC}/meta-info/control-identifier`)).json, { controlIdentifier: 'vrc700' });
  assert.deepEqual((await c.get(`/systems/${TLI}/meta-info/time-zone`)).json, { timeZone: 'Europe/Berlin' });
  assert.deepEqual((await c.get(`/systems/${E763}/meta-info/time-zone`)).json, { timeZone: 'Europe/Paris' });
  assert.deepEqual((await c.get(`/systems/${TLI}/meta-info/connection-status`)).json, { connected: true });
  assert.deepEqual((await c.get(`/systems/${E763}/meta-info/connection-status`)).json, { connected: false });
  assert.equal((await c.get(`/systems/nope/meta-info/control-identifier`)).status, 404);
  await using o = await cloud({ controllers: { [TLI]: 'vrc700' } });
  assert.deepEqual((await o.get(`/systems/${TLI}/meta-info/control-identifier`)).json, { controlIdentifier: 'vrc700' });
  assert.equal((await o.get(`/systems/${TLI}/tli`)).status, 404);
});

test('the report: TLI at …/systems/{id}/tli, VRC700 at vrc700/v1/systems/{id}, each 404 at the other', async () => {
  await using c = await cloud();
  const tli = await c.get(`/systems/${TLI}/tli`);
  assert.equal(tli.status, 200);
  assert.equal(tli.json.state.dhw[0].index, 255);
  const vrc = await c.call('GET', `/vrc700/v1/systems/${VRC}`);
  assert.equal(vrc.status, 200);
  assert.equal(vrc.json.properties.system.controllerType, 'VRC700');
  assert.equal(vrc.json.configuration.domesticHotWater[0].tappingSetpoint, 47);
  assert.equal(vrc.json.state.zones[0].index, 1);
  assert.equal((await c.get(`/systems/${VRC}/tli`)).status, 404);
  assert.equal((await c.call('GET', `/vrc700/v1/systems/${TLI}`)).status, 404);
  assert.equal((await c.call('PATCH', `/system-control/v1/systems/${TLI}/domestic-hot-water/255/tapping-setpoint`, { setpoint: 50 })).status, 404);
  assert.equal((await c.call('POST', `/end-user-app-api/v1/systems/${VRC}/tli/domestic-hot-water/255/boost`, {})).status, 404);
});

test('VRC700 writes land in the VRC700 report after the lag, and are recorded', async () => {
  await using c = await cloud();
  const report = async () => (await c.call('GET', `/vrc700/v1/systems/${VRC}`)).json;
  const ok = async (method: string, path: string, body?: unknown) => assert.equal((await c.call(method, path, body)).status, 200, `${method} ${path}`);
  await ok('POST', `/vrc700/v1/systems/${VRC}/zone/1/heating/quick-veto`, { desiredRoomTemperatureSetpoint: 22.5, duration: 3 });
  await ok('PATCH', `/system-control/v1/systems/${VRC}/zones/1/heating-operation-mode`, { operationMode: 'SET_BACK' });
  await ok('PATCH', `/system-control/v1/systems/${VRC}/domestic-hot-water/255/tapping-setpoint`, { setpoint: 52.5 });
  await ok('POST', `/vrc700/v1/systems/${VRC}/domestic-hot-water/255/boost`, {});
  await ok('PATCH', `/vrc700/v1/systems/${VRC}/domestic-hot-water/255/operation-mode`, { operationMode: 'DAY' });
  await ok('PATCH', `/vrc700/v1/systems/${VRC}/zone/1/heating/comfort-room-temperature`, { comfortRoomTemperature: 21 });
  let r = await report();
  assert.equal(r.state.zones[0].currentSpecialFunction, 'NONE');
  assert.equal(r.configuration.zones[0].heating.operationModeHeating, 'AUTO');
  assert.equal(r.configuration.domesticHotWater[0].tappingSetpoint, 47);
  c.clock.t += 60_000;
  r = await report();
  assert.equal(r.state.zones[0].currentSpecialFunction, 'QUICK_VETO');
  assert.equal(r.state.zones[0].desiredRoomTemperatureSetpoint, 22.5);
  assert.equal(Date.parse(r.state.zones[0].quickVetoEndDateTime) - Date.parse(r.state.zones[0].quickVetoStartDateTime), 3 * 3_600_000);
  assert.equal(r.configuration.zones[0].heating.operationModeHeating, 'SET_BACK');
  assert.equal(r.configuration.zones[0].heating.dayTemperatureHeating, 21);
  assert.equal(r.configuration.domesticHotWater[0].tappingSetpoint, 52.5);
  assert.equal(r.state.domesticHotWater[0].currentSpecialFunction, 'CYLINDER_BOOST');
  assert.equal(r.configuration.domesticHotWater[0].operationModeDomesticHotWater, 'DAY');
  assert.equal(JSON.stringify(r).includes('__'), false, 'no simulator bookkeeping in the served report');
  await ok('DELETE', `/vrc700/v1/systems/${VRC}/zone/1/heating/quick-veto`);
  await ok('DELETE', `/vrc700/v1/systems/${VRC}/domestic-hot-water/255/boost`);
  c.clock.t += 60_000;
  r = await report();
  assert.equal(r.state.zones[0].currentSpecialFunction, 'NONE');
  assert.equal(r.state.zones[0].desiredRoomTemperatureSetpoint, 19);
  assert.equal(r.state.domesticHotWater[0].currentSpecialFunction, 'NONE');
  // What the VRC700 cloud refuses: TLI modes, setpoints off the 0.5 °C grid or outside the limits, unknown indexes.
  assert.equal((await c.call('PATCH', `/system-control/v1/systems/${VRC}/zones/1/heating-operation-mode`, { operationMode: 'TIME_CONTROLLED' })).status, 400);
  assert.equal((await c.call('PATCH', `/system-control/v1/systems/${VRC}/domestic-hot-water/255/tapping-setpoint`, { setpoint: 50.3 })).status, 400);
  assert.equal((await c.call('PATCH', `/system-control/v1/systems/${VRC}/domestic-hot-water/255/tapping-setpoint`, { setpoint: 80 })).status, 400);
  assert.equal((await c.call('PATCH', `/vrc700/v1/systems/${VRC}/domestic-hot-water/255/operation-mode`, { operationMode: 'MANUAL' })).status, 400);
  assert.equal((await c.call('POST', `/vrc700/v1/systems/${VRC}/zone/0/heating/quick-veto`, { desiredRoomTemperatureSetpoint: 21, duration: 1 })).status, 404);
  assert.equal((await c.call('POST', `/vrc700/v1/systems/${VRC}/zones/1/quick-veto`, { desiredRoomTemperatureSetpoint: 21, duration: 1 })).status, 404);
  const writes = c.sim.requests.filter((q) => q.method !== 'GET' && q.path.startsWith('/service-connected-control'));
  assert.deepEqual(writes[0], { method: 'POST', path: `/service-connected-control/vrc700/v1/systems/${VRC}/zone/1/heating/quick-veto`, body: { desiredRoomTemperatureSetpoint: 22.5, duration: 3 } });
  assert.deepEqual(writes[2], { method: 'PATCH', path: `/service-connected-control/system-control/v1/systems/${VRC}/domestic-hot-water/255/tapping-setpoint`, body: { setpoint: 52.5 } });
});

test('emf/v2 currentSystem: the current_system.json shape, own devices per system', async () => {
  await using c = await cloud();
  const fixture = read(`current_power/${TLI}/current_system.json`) as any;
  const cs = (await c.get(`/emf/v2/${TLI}/currentSystem`)).json;
  assert.equal(cs.system_type, 'HEATPUMP');
  assert.equal(cs.primary_heat_generator.device_uuid, fixture.primary_heat_generator.device_uuid);
  assert.equal(cs.primary_heat_generator.product_name, 'aroTHERM plus');
  assert.deepEqual(cs.primary_heat_generator.data.map((d: any) => `${d.operation_mode}/${d.value_type}`), fixture.primary_heat_generator.data.map((d: any) => `${d.operation_mode}/${d.value_type}`));
  assert.equal(cs.primary_heat_generator.data[0].to, '2026-06-21T00:00:00Z');
  assert.equal(cs.electric_backup_heater.device_type, 'ELECTRIC_AUXILIARY_HEATER');
  const other = (await c.get(`/emf/v2/${E763}/currentSystem`)).json;
  assert.match(other.primary_heat_generator.device_uuid, /^[0-9a-f]{40}$/);
  assert.notEqual(other.primary_heat_generator.device_uuid, cs.primary_heat_generator.device_uuid);
  await using given = await cloud({ currentSystems: { [TLI]: { system_type: 'BOILER', primary_heat_generator: null, secondary_heat_generators: [] } } });
  assert.equal((await given.get(`/emf/v2/${TLI}/currentSystem`)).json.system_type, 'BOILER');
  assert.equal((await c.get(`/emf/v2/nope/currentSystem`)).status, 404);
});

test('emf/v2 buckets: Wh per bucket that grow with the clock; 400 for a bad query', async () => {
  await using c = await cloud();
  const hp = (await c.get(`/emf/v2/${TLI}/currentSystem`)).json.primary_heat_generator.device_uuid as string;
  const q = (o: Record<string, string>) => `/emf/v2/${TLI}/devices/${hp}/buckets?${new URLSearchParams({ resolution: 'HOUR', operationMode: 'HEATING', energyType: 'CONSUMED_ELECTRICAL_ENERGY', startDate: '2026-06-21T00:00:00.000+00:00', endDate: '2026-06-22T00:00:00.000+00:00', ...o })}`;
  let day = (await c.get(q({}))).json;
  assert.deepEqual({ ...day, data: undefined }, { startDate: '2026-06-21T00:00:00Z', endDate: '2026-06-22T00:00:00Z', resolution: 'HOUR', operationMode: 'HEATING', energyType: 'CONSUMED_ELECTRICAL_ENERGY', totalConsumption: 0, data: undefined });
  assert.equal(day.data.length, 24);
  assert.deepEqual(day.data[1], { startDate: '2026-06-21T01:00:00Z', endDate: '2026-06-21T02:00:00Z', value: 0 });
  c.clock.t += 6.5 * 3_600_000;
  day = (await c.get(q({}))).json;
  const values = day.data.map((b: { value: number }) => b.value) as number[];
  assert.ok(values.slice(0, 6).every((v) => v >= 100 && v <= 1000), `a few hundred Wh per hour: ${values.slice(0, 7)}`);
  assert.ok(values[6]! > 0 && values[6]! < values[5]!, 'the running hour counts half');
  assert.ok(values.slice(7).every((v) => v === 0), 'nothing in the future');
  assert.ok(Math.abs(day.totalConsumption - values.reduce((a, b) => a + b, 0)) < 1e-9, 'total = sum of buckets');
  const morning = day.totalConsumption as number;
  c.clock.t += 12 * 3_600_000;
  assert.ok((await c.get(q({}))).json.totalConsumption > morning + 1000, 'the evening adds energy');
  const earned = (await c.get(q({ energyType: 'EARNED_ENVIRONMENT_ENERGY' }))).json.totalConsumption as number;
  assert.ok(earned > 0, 'earned environment energy');
  const dhw = (await c.get(q({ operationMode: 'DOMESTIC_HOT_WATER' }))).json.totalConsumption as number;
  assert.ok(dhw > 0, 'hot water energy');
  const days = (await c.get(q({ resolution: 'DAY', startDate: '2026-06-20T00:00:00Z', endDate: '2026-06-23T00:00:00Z' }))).json;
  assert.equal(days.data.length, 3);
  assert.ok(days.data[0].value > 5000, 'the day before: history');
  assert.equal(days.data[2].value, 0, 'tomorrow: nothing yet');
  assert.equal(days.data[1].startDate, '2026-06-21T00:00:00Z');
  assert.ok(Math.abs(days.data[1].value - (await c.get(q({}))).json.totalConsumption) < 1e-6, 'a day bucket is the sum of its hours');
  const months = (await c.get(q({ resolution: 'MONTH', startDate: '2026-01-01T00:00:00Z', endDate: '2027-01-01T00:00:00Z' }))).json;
  assert.equal(months.data.length, 12);
  for (const bad of <Array<Record<string, string>>>[{ resolution: 'WEEK' }, { operationMode: 'SAUNA' }, { energyType: 'WATTS' }, { startDate: 'yesterday' }, { endDate: '2026-06-20T00:00:00Z' }]) {
    assert.equal((await c.get(q(bad))).status, 400, JSON.stringify(bad));
  }
  assert.equal((await c.get(`/emf/v2/${TLI}/devices/${hp}/buckets`)).status, 400);
  assert.equal((await c.get(`/emf/v2/${TLI}/devices/0000/buckets?resolution=HOUR`)).status, 404);
  // A model of one's own.
  await using flat = await cloud({ energyModel: () => 250 });
  flat.clock.t += 4 * 3_600_000;
  assert.equal((await flat.get(q({}))).json.totalConsumption, 1000);
});

test('diagnostic trouble codes per serial number (empty, then one added); rts statistics per device', async () => {
  await using c = await cloud();
  const cs = (await c.get(`/emf/v2/${TLI}/currentSystem`)).json;
  let dtc = (await c.get(`/systems/${TLI}/diagnostic-trouble-codes`)).json as Array<{ serialNumber: string; articleNumber: string; codes: unknown[] }>;
  assert.ok(dtc.length >= 2, 'one entry per device');
  assert.ok(dtc.some((d) => d.serialNumber === cs.primary_heat_generator.device_serial_number && d.articleNumber === '0010021117'), 'the heat pump by serial and article number');
  assert.ok(dtc.every((d) => d.codes.length === 0), 'no codes by default');
  c.sim.addTroubleCode(TLI, cs.primary_heat_generator.device_serial_number, { code: '3', type: 'MAINTENANCE', title: 'Maintenance required', description: 'The maintenance time has been reached.' });
  dtc = (await c.get(`/systems/${TLI}/diagnostic-trouble-codes`)).json;
  assert.deepEqual(dtc.find((d) => d.serialNumber === cs.primary_heat_generator.device_serial_number)!.codes, [{ occurrenceTimestamp: '2026-06-21T00:00:00Z', code: '3', type: 'MAINTENANCE', title: 'Maintenance required', description: 'The maintenance time has been reached.' }]);
  assert.ok((await c.get(`/systems/${E763}/diagnostic-trouble-codes`)).json.every((d: { codes: unknown[] }) => d.codes.length === 0), 'per system');
  const rts = (await c.get(`/rts/${TLI}/devices`)).json;
  const hp = rts.statistics.find((s: { deviceId: string }) => s.deviceId === cs.primary_heat_generator.device_uuid);
  assert.deepEqual(Object.keys(hp).sort(), ['currentPowerConsumption', 'deviceId', 'onOffCycles', 'operationTime']);
  assert.ok(hp.currentPowerConsumption > 0 && hp.operationTime > 0, 'the heat pump runs');
  assert.equal(rts.statistics.find((s: { deviceId: string }) => s.deviceId === cs.electric_backup_heater.device_uuid).currentPowerConsumption, 0);
});

test('Ambisense: rooms and capability for a system with rooms, 409 NO_FACILITY_FOR_SYSTEM_ID without', async () => {
  await using c = await cloud();
  const rooms = await c.get(`/api/v1/ambisense/facilities/${VRC}/rooms`);
  assert.equal(rooms.status, 200);
  assert.equal(rooms.json[0].roomConfiguration.name, 'Chambre Jules');
  assert.deepEqual(rooms.json, c.rooms);
  assert.deepEqual((await c.get(`/api/v1/ambisense/facilities/${VRC}/capability`)).json, { rbrCapable: true });
  for (const what of ['rooms', 'capability']) {
    const r = await c.get(`/api/v1/ambisense/facilities/${TLI}/${what}`);
    assert.equal(r.status, 409);
    assert.equal(r.json.errorCode, 'NO_FACILITY_FOR_SYSTEM_ID');
  }
});

test('unknown paths are 404; the new endpoints need the token and obey the quota', async () => {
  await using c = await cloud();
  for (const p of ['/end-user-app-api/v1/nothing', `/end-user-app-api/v1/systems/${TLI}`, `/end-user-app-api/v1/systems/${TLI}/meta-info/colour`, `/end-user-app-api/v1/systems/${TLI}/tli/zones/0/bogus`,
    `/end-user-app-api/v1/emf/v2/${TLI}/report`, `/vrc700/v1/homes`, `/system-control/v1/systems/${VRC}`, '/scf/v1/homes', `/end-user-app-api/v1/systems/nope/tli`]) {
    const r = await c.call('GET', p);
    assert.equal(r.status, 404, p);
    assert.equal(r.json.controlIdentifier, undefined);
  }
  assert.equal((await c.call('GET', `/end-user-app-api/v1/systems/${TLI}/tli/domestic-hot-water/255/boost`)).status, 404, 'no GET on a write path');
  assert.equal((await c.call('GET', `/end-user-app-api/v1/systems/${TLI}/meta-info/time-zone`, undefined, KEY)).status, 401);
  assert.equal((await c.call('GET', `/vrc700/v1/systems/${VRC}`, undefined, KEY)).status, 401);
  c.sim.exhaustQuota(600);
  const q = await c.get(`/emf/v2/${TLI}/currentSystem`);
  assert.equal(q.status, 403);
  assert.match(q.json.message, /Out of call volume quota/);
  assert.equal((await c.call('GET', `/vrc700/v1/systems/${VRC}`)).status, 403);
  c.clock.t += 601_000;
  assert.equal((await c.get(`/emf/v2/${TLI}/currentSystem`)).status, 200, 'the quota follows the simulator clock');
});

test('TLI reports no longer carry the simulator bookkeeping after a quick veto', async () => {
  await using c = await cloud({ lagMs: 0 });
  assert.equal((await c.call('POST', `/end-user-app-api/v1/systems/${TLI}/tli/zones/0/quick-veto`, { desiredRoomTemperatureSetpoint: 22, duration: 3 })).status, 200);
  const r = (await c.get(`/systems/${TLI}/tli`)).json;
  assert.equal(r.state.zones[0].currentSpecialFunction, 'QUICK_VETO');
  assert.equal(JSON.stringify(r).includes('__beforeVeto'), false);
  assert.equal(c.sim.report(TLI)!.state.zones[0].__beforeVeto, 20);
});
