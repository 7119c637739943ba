import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { commandSchema, formatState, parseCommand, specProblems, discoveryComponent, type EntitySpec } from '../../src/core/entity.js';

const number: EntitySpec = { component: 'number', key: 'rate', name: 'Charge rate', min: 0, max: 3600, step: 50, unit: 'W', deviceClass: 'power' };
const select: EntitySpec = { component: 'select', key: 'mode', name: 'Mode', options: ['Eco', 'Timed Demand'] };
const sw: EntitySpec = { component: 'switch', key: 'eco', name: 'Eco' };
const time: EntitySpec = { component: 'time', key: 'start', name: 'Start' };
const text: EntitySpec = { component: 'text', key: 'label', name: 'Label', max: 5, pattern: '[a-z]*' };
const button: EntitySpec = { component: 'button', key: 'go', name: 'Go' };
const sensor: EntitySpec = { component: 'sensor', key: 'pv', name: 'PV power', deviceClass: 'power', unit: 'W', stateClass: 'measurement' };

const parse = (spec: EntitySpec, payload: string | Buffer) => parseCommand(spec, commandSchema(spec), payload);

test('number commands accept values on the step inside the range and name the reason otherwise', () => {
  assert.deepEqual(parse(number, '1500'), { ok: true, value: 1500 });
  assert.deepEqual(parse(number, ' 0 '), { ok: true, value: 0 });
  assert.deepEqual(parse(number, '3650'), { ok: false, reason: 'must be at most 3600' });
  assert.deepEqual(parse(number, '-50'), { ok: false, reason: 'must be at least 0' });
  assert.deepEqual(parse(number, '1510'), { ok: false, reason: 'must be a multiple of 50' });
  for (const bad of ['', 'NaN', 'Infinity', '1e3', '0x10', '12abc', '{"v":1}']) {
    const r = parse(number, bad);
    assert.equal(r.ok, false, `'${bad}' must be rejected`);
  }
});

test('switch, select, time, text and button commands', () => {
  assert.deepEqual(parse(sw, 'ON'), { ok: true, value: true });
  assert.deepEqual(parse(sw, 'off'), { ok: true, value: false });
  assert.equal(parse(sw, 'maybe').ok, false);
  assert.deepEqual(parse(select, 'Timed Demand'), { ok: true, value: 'Timed Demand' });
  assert.equal(parse(select, 'timed demand').ok, false);
  assert.deepEqual(parse(time, '05:30'), { ok: true, value: '05:30:00' });
  assert.deepEqual(parse(time, '23:59:59'), { ok: true, value: '23:59:59' });
  assert.equal(parse(time, '24:00').ok, false);
  assert.equal(parse(time, '7:5').ok, false);
  assert.deepEqual(parse(text, 'abc'), { ok: true, value: 'abc' });
  assert.equal(parse(text, 'abcdef').ok, false);
  assert.equal(parse(text, 'ABC').ok, false);
  assert.deepEqual(parse(button, 'PRESS'), { ok: true, value: 'PRESS' });
  assert.equal(parse(button, 'press me').ok, false);
  assert.deepEqual(parse(sensor, '5'), { ok: false, reason: 'a sensor takes no commands' });
});

test('oversized and non-UTF-8 payloads are refused before parsing', () => {
  assert.match((parse(select, 'x'.repeat(5000)) as { reason: string }).reason, /longer than 1024/);
  assert.deepEqual(parse(select, Buffer.from([0xff, 0xfe, 0x00])), { ok: false, reason: 'payload is not valid UTF-8 text' });
});

test('parsing never throws on random input (fuzz)', () => {
  const specs = [number, select, sw, time, text, button, sensor];
  const schemas = specs.map(commandSchema);
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    const payload = i % 2 ? randomBytes(i % 64) : String(Math.random() * 1e6 - 5e5);
    specs.forEach((spec, k) => {
      const r = parseCommand(spec, schemas[k]!, payload);
      if (r.ok) accepted++;
      else assert.ok(r.reason.length > 0);
    });
  }
  assert.ok(accepted < 5000 * specs.length, 'most random input is rejected');
});

test('state payloads: precision per unit, None for unknown, ON/OFF for booleans', () => {
  assert.equal(formatState(sensor, 1234.567), '1235');
  assert.equal(formatState({ ...sensor, unit: 'kWh', deviceClass: 'energy', stateClass: 'total_increasing' }, 12.3456), '12.35');
  assert.equal(formatState({ ...sensor, unit: 'V', deviceClass: 'voltage' }, 239.96), '240');
  assert.equal(formatState({ ...sensor, unit: 'V', deviceClass: 'voltage' }, 239.94), '239.9');
  assert.equal(formatState(sensor, null), 'None');
  assert.equal(formatState(sensor, Number.NaN), 'None');
  assert.equal(formatState(sw, true), 'ON');
  assert.equal(formatState(number, 1550), '1550');
  assert.equal(formatState({ ...number, step: 0.5 }, 2.25), '2.3');
});

test('declarations HA would drop are refused with the reason', () => {
  assert.deepEqual(specProblems(sensor), []);
  assert.match(specProblems({ ...sensor, unit: 'kWh' }).join(), /unit 'kWh' is not valid together with device class 'power'/);
  assert.match(specProblems({ ...sensor, deviceClass: 'energy', unit: 'kWh', stateClass: 'measurement' }).join(), /impossible for device class 'energy'/);
  assert.match(specProblems({ ...sensor, key: 'PV Power' }).join(), /key 'PV Power'/);
  assert.match(specProblems({ ...sensor, category: 'config' }).join(), /config category/);
  assert.match(specProblems({ ...number, min: 10, max: 10 }).join(), /min must be below max/);
  assert.match(specProblems({ ...sensor, icon: 'flash' }).join(), /mdi:/);
});

test('discovery components carry what HA needs per platform', () => {
  assert.deepEqual(discoveryComponent(number), { p: 'number', name: 'Charge rate', min: 0, max: 3600, step: 50, mode: 'box', unit_of_measurement: 'W', device_class: 'power' });
  assert.deepEqual(discoveryComponent(select), { p: 'select', name: 'Mode', options: ['Eco', 'Timed Demand'] });
  assert.equal(discoveryComponent(sensor).suggested_display_precision, 0);
});
