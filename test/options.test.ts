import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseOptions, optionsSchema } from '../src/options.js';
import { addonSchema } from '../scripts/addon-schema.js';
import { tempDir } from './helpers/app.js';

const manifest = parseYaml(readFileSync('config.yaml', 'utf8')) as { options: Record<string, unknown>; schema: Record<string, unknown> };

test('defaults: an empty options file is valid', () => {
  const o = parseOptions({});
  assert.equal(o.base_topic, 'energy2mqtt');
  assert.equal(o.discovery_prefix, 'homeassistant');
  assert.equal(o.log_level, 'info');
  assert.equal(o.mqtt.tls, false);
  assert.equal(o.mqtt.reject_unauthorized, true);
});

test("config.yaml's options and schema are exactly what the zod schema gives (both ways)", () => {
  const expected = addonSchema();
  assert.deepEqual(manifest.schema, expected.schema);
  assert.deepEqual(manifest.options, expected.options);
  // What a fresh install stores in /data/options.json passes the zod schema as it is.
  assert.doesNotThrow(() => parseOptions(manifest.options));
  // An option config.yaml declares but zod does not know would be refused at start.
  for (const key of Object.keys(manifest.schema)) assert.doesNotThrow(() => optionsSchema.parse({ ...manifest.options }), key);
});

function keysOf(schema: Record<string, unknown>): string[] {
  return Object.entries(schema).flatMap(([key, value]) => {
    const inner = Array.isArray(value) ? value[0] : value;
    return inner && typeof inner === 'object' ? [key, ...keysOf(inner as Record<string, unknown>).map((k) => `${key}.${k}`)] : [key];
  });
}

function translatedKeys(config: Record<string, any>): string[] {
  return Object.entries(config).flatMap(([key, entry]) => [key, ...(entry.fields ? translatedKeys(entry.fields).map((k) => `${key}.${k}`) : [])]);
}

test('every translation names every option, and nothing else', () => {
  const files = readdirSync('translations');
  assert.deepEqual(files.sort(), ['de.yaml', 'en.yaml', 'fr.yaml']);
  const expected = keysOf(manifest.schema).sort();
  for (const file of files) {
    const t = parseYaml(readFileSync(join('translations', file), 'utf8')) as { configuration: Record<string, any> };
    assert.deepEqual(Object.keys(t).filter((k) => k !== 'configuration' && k !== 'network'), [], `${file}: only configuration and network`);
    assert.deepEqual(translatedKeys(t.configuration).sort(), expected, file);
    const walk = (entries: Record<string, any>, at: string) => {
      for (const [key, entry] of Object.entries(entries)) {
        assert.ok(typeof entry.name === 'string' && entry.name.length > 0, `${file}: ${at}${key} needs a name`);
        if (entry.fields) walk(entry.fields, `${at}${key}.`);
      }
    };
    walk(t.configuration, '');
  }
});

test('invalid options are one sentence naming the option and the reason', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ mqtt: { port: 70000 } }, /^Invalid option mqtt\.port: must be at most 65535\.$/],
    [{ log_level: 'verbose' }, /^Invalid option log_level: .*\.$/],
    [{ mqt: {} }, /^Invalid option mqt: this option does not exist\.$/],
    [{ mqtt: { hots: 'x' } }, /^Invalid option mqtt\.hots: this option does not exist\.$/],
    [{ base_topic: 'a b' }, /^Invalid option base_topic: use letters, digits, _ or - separated by \/\.$/],
    [{ base_topic: 'homeassistant' }, /^Invalid option base_topic: must differ from discovery_prefix\.$/],
    [{ state_refresh_interval: 'often' }, /^Invalid option state_refresh_interval: expected a number\.$/],
    [{ state_refresh_interval: 5 }, /^Invalid option state_refresh_interval: must be at least 10\.$/],
    [{ mqtt: { host: '' } }, /^Invalid option mqtt\.host: must not be empty\.$/],
    [{ mqtt: { host: 'x', password: 'p4ss' } }, /^Invalid option mqtt\.password: needs mqtt\.username as well\.$/],
    [{ log_level: 'loud' }, /^Invalid option log_level: must be one of trace, debug, info, warning, error\.$/],
  ];
  for (const [raw, expected] of cases) {
    assert.throws(() => parseOptions(raw), (err: Error) => {
      assert.match(err.message, expected);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  }
});

test('the production entry stops on invalid options with that sentence and no stack trace', () => {
  const dir = tempDir();
  const file = join(dir, 'options.json');
  writeFileSync(file, JSON.stringify({ mqtt: { host: 'localhost', port: 0 } }));
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--options', file, '--data', dir], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.status, 1);
  assert.equal(run.stderr.trim(), 'Invalid option mqtt.port: must be at least 1.');
  assert.ok(!/\bat .*\.ts:\d+/.test(run.stderr), 'no stack trace');

  writeFileSync(file, '{ not json');
  const broken = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--options', file, '--data', dir], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(broken.status, 1);
  assert.match(broken.stderr.trim(), /^The options file .* is not valid JSON: .*\.$/);
});

test('nothing that passes validation can fail later: time zones, cron expressions, files, bounds, duplicates', () => {
  const rule = { type: 'surplus_switch', name: 'Pool', power_w: 1000, target: { mqtt: { command_topic: 'pool/set' } } };
  const automation = (extra: Record<string, unknown>) => ({ automation: { sources: [{ name: 'grid', mqtt: { topic: 'g' } }], surplus: { grid: 'grid' }, ...extra } });
  const cases: Array<[unknown, RegExp]> = [
    [automation({ timezone: 'Mars/Olympus_Mons' }), /^Invalid option automation\.timezone: is not a time zone; use a name like Europe\/Paris\.$/],
    [automation({ rules: [{ ...rule, schedule_start: '0 99 * * *', schedule_end: '0 18 * * *' }] }), /^Invalid option automation\.rules\.0\.schedule_start: is not a valid cron expression/],
    [automation({ rules: [{ ...rule, schedule_start: '0 9 * * *', schedule_end: 'every evening' }] }), /^Invalid option automation\.rules\.0\.schedule_end: is not a valid cron expression/],
    [{ mqtt: { host: 'x', tls: true, ca: '/ssl/no-such-ca.pem' } }, /^Invalid option mqtt\.ca: cannot read \/ssl\/no-such-ca\.pem \(no such file\)/],
    [{ mqtt: { host: 'x', tls: true, cert: '/tmp' } }, /^Invalid option mqtt\.cert: cannot read \/tmp \(not a file\)/],
    [{ mqtt: { host: 'x', tls: true, key: '/ssl/key.pem' } }, /^Invalid option mqtt\.key: cannot read \/ssl\/key\.pem/],
    [{ state_refresh_interval: 1e308 }, /^Invalid option state_refresh_interval: must be at most 86400\.$/],
    [{ givenergy: [{ hots: '192.168.1.50' }] }, /^Invalid option givenergy\.0\.hots: this option does not exist\.$/],
    [{ givenergy: [{ host: '192.168.1.50' }, { host: '192.168.1.50', port: 8899 }] }, /^Invalid option givenergy\.1\.host: the same dongle \(host and port\) as givenergy\.0; list each device once\.$/],
    [{ vaillant: [{ username: 'me@example.com', password: 'p' }, { username: 'Me@Example.com', password: 'p' }] }, /^Invalid option vaillant\.1\.username: the same account as vaillant\.0; list each device once\.$/],
    [
      { vaillant: [{ username: 'anna@example.com', password: 'p' }], ...automation({ rules: [{ type: 'vaillant_pv', name: 'Heat pump', account: 'bob@example.com' }] }) },
      /^Invalid option automation\.rules\.0\.account: names the account 'bob@example\.com', which is not in vaillant \(the vaillant accounts are 'anna@example\.com'\)\.$/,
    ],
    [{ mqtt: 5 }, /^Invalid option mqtt: expected an object\.$/],
    [{ givenergy: {} }, /^Invalid option givenergy: expected an array\.$/],
  ];
  for (const [raw, expected] of cases) {
    assert.throws(() => parseOptions(raw), (err: Error) => {
      assert.match(err.message, expected, JSON.stringify(raw));
      return true;
    });
  }
  assert.doesNotThrow(() => parseOptions({ vaillant: [{ username: 'Anna@example.com', password: 'p' }], ...automation({ rules: [{ type: 'vaillant_pv', name: 'Heat pump', account: 'anna@example.com' }] }) }), 'usernames compare without case');
  // Two inverters on one dongle host but different ports are two devices.
  assert.doesNotThrow(() => parseOptions({ givenergy: [{ host: 'a' }, { host: 'a', port: 8900 }] }));
  assert.doesNotThrow(() => parseOptions(automation({ timezone: 'Europe/Paris', rules: [{ ...rule, schedule_start: '0 9 * * 1-5', schedule_end: '30 17 * * *' }] })));
});

test('every number option has real bounds, and config.yaml maps /ssl for the certificates', () => {
  const json = z.toJSONSchema(optionsSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const numbers: string[] = [];
  const walk = (s: any, path: string): void => {
    if (!s || typeof s !== 'object') return;
    if (s.type === 'number' || s.type === 'integer') {
      numbers.push(path);
      assert.ok(Number.isFinite(s.minimum) && Number.isFinite(s.maximum) && Math.abs(s.maximum) <= 1e7 && Math.abs(s.minimum) <= 1e7, `${path} needs real bounds`);
    }
    for (const [key, value] of Object.entries(s.properties ?? {})) walk(value, `${path}.${key}`);
    if (s.items) walk(s.items, `${path}[]`);
    for (const variant of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) walk(variant, path);
  };
  walk(json, '');
  assert.ok(numbers.length > 20, 'the walk reached the numbers');
  const map = (parseYaml(readFileSync('config.yaml', 'utf8')) as { map?: Array<string | { type: string }> }).map ?? [];
  assert.ok(map.some((m) => (typeof m === 'string' ? m.split(':')[0] : m.type) === 'ssl'), 'map: ssl');
});

test('the production entry refuses a bogus time zone, cron expression or certificate path before connecting', () => {
  const dir = tempDir();
  const file = join(dir, 'options.json');
  const rule = { type: 'surplus_switch', name: 'Pool', power_w: 1000, target: { mqtt: { command_topic: 'pool/set' } } };
  const base = { mqtt: { host: '127.0.0.1', port: 1 }, automation: { sources: [{ name: 'grid', mqtt: { topic: 'g' } }], surplus: { grid: 'grid' } } };
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...base, automation: { ...base.automation, timezone: 'Europe/Pariss' } }, /^Invalid option automation\.timezone: is not a time zone; use a name like Europe\/Paris\.$/],
    [{ ...base, automation: { ...base.automation, rules: [{ ...rule, schedule_start: '61 * * * *', schedule_end: '0 18 * * *' }] } }, /^Invalid option automation\.rules\.0\.schedule_start: is not a valid cron expression .*\.$/],
    [{ ...base, mqtt: { host: '127.0.0.1', tls: true, ca: '/ssl/ca.pem' } }, /^Invalid option mqtt\.ca: cannot read \/ssl\/ca\.pem \(no such file\); .*\.$/],
  ];
  for (const [options, expected] of cases) {
    writeFileSync(file, JSON.stringify(options));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--options', file, '--data', dir], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr.trim(), expected);
    assert.ok(!run.stdout.includes('connecting'), 'stopped before connecting');
  }
});

test('certificates must be what TLS takes, checked only with tls on; the REST token rules apply only when the API is on', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const dir = tempDir();
  const garbage = join(dir, 'ca.pem');
  writeFileSync(garbage, 'this is not a certificate\n');
  const keyFile = join(dir, 'client.key');
  writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const fails = (raw: unknown, expected: RegExp) => assert.throws(() => parseOptions(raw), (err: Error) => (assert.match(err.message, expected), true));
  fails({ mqtt: { host: 'x', tls: true, ca: garbage } }, new RegExp(`^Invalid option mqtt\\.ca: ${garbage.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a usable certificate \\(not PEM\\)\\.$`));
  fails({ mqtt: { host: 'x', tls: true, cert: keyFile } }, /^Invalid option mqtt\.cert: .* is not a usable certificate/);
  assert.doesNotThrow(() => parseOptions({ mqtt: { host: 'x', tls: true, key: keyFile } }), 'a real key');
  assert.doesNotThrow(() => parseOptions({ mqtt: { host: 'x', tls: false, ca: garbage } }), 'not read without TLS');
  // An old 8-character token of an API that is now off must not stop the add-on.
  assert.doesNotThrow(() => parseOptions({ givenergy_rest: { token: 'short-12' } }));
  fails({ givenergy_rest: { enabled: true, token: 'short-12' } }, /^Invalid option givenergy_rest\.token: use at least 16 characters\.$/);
  fails({ givenergy_rest: { enabled: true, token: 'a token with spaces in it' } }, /^Invalid option givenergy_rest\.token: use letters, digits and punctuation only/);
  fails(automationWithSchedule('30 9 * * * *'), /^Invalid option automation\.rules\.0\.schedule_start: is not a valid cron expression/);
});

function automationWithSchedule(start: string) {
  const rule = { type: 'surplus_switch', name: 'Pool', power_w: 1000, target: { mqtt: { command_topic: 'pool/set' } }, schedule_start: start, schedule_end: '0 18 * * *' };
  return { automation: { sources: [{ name: 'grid', mqtt: { topic: 'g' } }], surplus: { grid: 'grid' }, rules: [rule] } };
}

describe('viessmann_meter', () => {
  const sources = ['grid', 'hp', 'rest', 'l1', 'l2', 'l3'].map((name) => ({ name, mqtt: { topic: `home/${name}` } }));
  const withMeters = (...meters: Array<Record<string, unknown>>) => ({ automation: { sources }, viessmann_meter: meters });
  const meter = (extra: Record<string, unknown> = {}) => ({ serial: { port: '/dev/ttyUSB0' }, grid: 'grid', heat_pump: 'hp', ...extra });
  /** The one sentence, exactly; the option path it names is the first thing a user reads. */
  const refused = (raw: unknown, sentence: string) =>
    assert.throws(() => parseOptions(raw), (err: Error) => (assert.equal(err.message, sentence), true));

  test('defaults: an ALE3 on 19200 8E1, unit 1, export positive, split evenly, stale after 30 s; no TCP server', () => {
    const [m] = parseOptions(withMeters(meter())).viessmann_meter;
    assert.deepEqual(m, {
      name: 'Heat pump meter',
      profile: 'ale3',
      serial: { port: '/dev/ttyUSB0', baud: 19200, parity: 'even', stop_bits: 1, data_bits: 8 },
      unit_id: 1,
      sign: 'export_positive',
      phase_split: 'even',
      stale_after: 30,
      grid: 'grid',
      heat_pump: 'hp',
    });
    assert.deepEqual(parseOptions({}).viessmann_meter, [], 'no meter unless one is listed');
  });

  test("what the Supervisor stores (every nested block present, empty when unused) is accepted: the 262-A's line, TCP only, per-phase grid", () => {
    const vitocal262 = meter({ name: '262-A', serial: { port: '/dev/ttyUSB1', baud: 38400, parity: 'none', stop_bits: 1, data_bits: 8 }, tcp: {}, sign: 'import_positive', phase_split: 'l1' });
    const tcpOnly = { name: 'Gateway', serial: {}, tcp: { port: 502 }, rest_power: 'rest' };
    const perPhase = { name: 'Phases', serial: { port: '/dev/ttyUSB2' }, tcp: { port: 1502, host: '127.0.0.1' }, grid_l1: 'l1', grid_l2: 'l2', grid_l3: 'l3', phase_split: 'measured' };
    const parsed = parseOptions(withMeters(vitocal262, tcpOnly, perPhase)).viessmann_meter;
    assert.deepEqual(parsed[0]!.serial, { port: '/dev/ttyUSB1', baud: 38400, parity: 'none', stop_bits: 1, data_bits: 8 });
    assert.deepEqual(parsed[1]!.tcp, { port: 502, host: '0.0.0.0' });
    assert.equal(parsed[1]!.serial?.port, undefined, 'serial: {} means no serial line');
    assert.equal(parsed[2]!.phase_split, 'measured');
    // Two meters without a TCP server (or without a serial line) do not share one.
    assert.doesNotThrow(() => parseOptions(withMeters(meter({ name: 'A', tcp: {} }), meter({ name: 'B', serial: { port: '/dev/ttyUSB1' }, tcp: {} }))));
  });

  test('the surplus needs exactly one source mode', () => {
    const oneOf = 'give exactly one surplus source: rest_power, or grid (with heat_pump), or grid_l1, grid_l2 and grid_l3.';
    refused(withMeters({ serial: { port: '/dev/ttyUSB0' } }), `Invalid option viessmann_meter.0.rest_power: ${oneOf}`);
    refused(withMeters(meter({ rest_power: 'rest', heat_pump: undefined })), `Invalid option viessmann_meter.0.rest_power: ${oneOf}`);
    refused(withMeters(meter({ grid_l1: 'l1', grid_l2: 'l2', grid_l3: 'l3' })), `Invalid option viessmann_meter.0.rest_power: ${oneOf}`);
    refused(withMeters({ serial: { port: '/dev/ttyUSB0' }, heat_pump: 'hp' }), `Invalid option viessmann_meter.0.rest_power: ${oneOf}`);
  });

  test('per-phase grid power takes all three phases, and the missing one is named', () => {
    const phases = (given: Record<string, string>) => withMeters({ serial: { port: '/dev/ttyUSB0' }, ...given });
    const tail = 'is needed too: per-phase grid power takes all three phases.';
    refused(phases({ grid_l1: 'l1', grid_l2: 'l2' }), `Invalid option viessmann_meter.0.grid_l3: ${tail}`);
    refused(phases({ grid_l1: 'l1', grid_l3: 'l3' }), `Invalid option viessmann_meter.0.grid_l2: ${tail}`);
    refused(phases({ grid_l2: 'l2', grid_l3: 'l3' }), `Invalid option viessmann_meter.0.grid_l1: ${tail}`);
    refused(phases({ grid_l2: 'l2' }), `Invalid option viessmann_meter.0.grid_l1: ${tail}`);
  });

  test('a measured phase split needs the per-phase sources; rest_power does not take heat_pump', () => {
    refused(withMeters(meter({ phase_split: 'measured' })), 'Invalid option viessmann_meter.0.phase_split: measured needs grid_l1, grid_l2 and grid_l3.');
    refused(
      withMeters({ serial: { port: '/dev/ttyUSB0' }, rest_power: 'rest', heat_pump: 'hp' }),
      'Invalid option viessmann_meter.0.heat_pump: is not used with rest_power (the rest power already holds it); leave one of them out.',
    );
  });

  test('a meter needs a serial port or a TCP port', () => {
    const sentence = 'Invalid option viessmann_meter.0.serial.port: is needed, or tcp.port: the meter needs a serial port or a TCP port to be polled on.';
    refused(withMeters(meter({ serial: undefined })), sentence);
    refused(withMeters(meter({ serial: {}, tcp: {} })), sentence);
    refused(withMeters(meter({ serial: { baud: 38400 }, tcp: { host: '0.0.0.0' } })), sentence);
  });

  test('every source is a name in automation.sources', () => {
    refused(withMeters(meter({ grid: 'grid_power' })), "Invalid option viessmann_meter.0.grid: names the source 'grid_power', which is not in automation.sources.");
    refused(withMeters(meter({ heat_pump: 'vitocal' })), "Invalid option viessmann_meter.0.heat_pump: names the source 'vitocal', which is not in automation.sources.");
    refused(withMeters(meter(), meter({ name: 'Second', serial: { port: '/dev/ttyUSB1' }, grid: undefined, heat_pump: undefined, rest_power: 'restpower' })), "Invalid option viessmann_meter.1.rest_power: names the source 'restpower', which is not in automation.sources.");
    refused({ viessmann_meter: [meter()] }, "Invalid option viessmann_meter.0.grid: names the source 'grid', which is not in automation.sources.");
    refused(withMeters(meter({ grid: 'Grid' })), 'Invalid option viessmann_meter.0.grid: use the name of a source in automation.sources.');
  });

  test('the baud rate is one the ALE3 knows; the other line settings are bounded', () => {
    refused(withMeters(meter({ serial: { port: '/dev/ttyUSB0', baud: 14400 } })), 'Invalid option viessmann_meter.0.serial.baud: use one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200.');
    refused(withMeters(meter({ serial: { port: '/dev/ttyUSB0', baud: 230400 } })), 'Invalid option viessmann_meter.0.serial.baud: must be at most 115200.');
    refused(withMeters(meter({ serial: { port: '/dev/ttyUSB0', parity: 'mark' } })), 'Invalid option viessmann_meter.0.serial.parity: must be one of even, odd, none.');
    refused(withMeters(meter({ serial: { port: '/dev/ttyUSB0', stop_bits: 3 } })), 'Invalid option viessmann_meter.0.serial.stop_bits: must be at most 2.');
    refused(withMeters(meter({ unit_id: 248 })), 'Invalid option viessmann_meter.0.unit_id: must be at most 247.');
    refused(withMeters(meter({ stale_after: 0 })), 'Invalid option viessmann_meter.0.stale_after: must be at least 1.');
    refused(withMeters(meter({ sign: 'inverted' })), 'Invalid option viessmann_meter.0.sign: must be one of export_positive, import_positive.');
    refused(withMeters(meter({ tcp: { port: 70000 } })), 'Invalid option viessmann_meter.0.tcp.port: must be at most 65535.');
    refused(withMeters(meter({ serial: { port: '/dev/ttyUSB0', speed: 9600 } })), 'Invalid option viessmann_meter.0.serial.speed: this option does not exist.');
  });

  test('two meters with the same name, serial port or TCP port are refused, naming the second', () => {
    refused(
      withMeters(meter(), meter({ name: 'Heat-pump meter', serial: { port: '/dev/ttyUSB1' } })),
      'Invalid option viessmann_meter.1.name: the same name (so the same HA device) as viessmann_meter.0; list each device once.',
    );
    refused(
      withMeters(meter({ name: 'A' }), meter({ name: 'B' })),
      'Invalid option viessmann_meter.1.serial.port: the same serial port as viessmann_meter.0; list each device once.',
    );
    refused(
      withMeters(meter({ name: 'A', serial: {}, tcp: { port: 502 } }), meter({ name: 'B', serial: {}, tcp: { port: 502, host: '127.0.0.1' } })),
      'Invalid option viessmann_meter.1.tcp.port: the same TCP port as viessmann_meter.0; list each device once.',
    );
  });
});

describe('water_heater', () => {
  const sources = ['grid', 'battery', 'soc', 'heater', 'pv', 'forecast', 'mppt'].map((name) => ({ name, mqtt: { topic: `home/${name}` } }));
  const withHeaters = (...heaters: Array<Record<string, unknown>>) => ({ automation: { sources }, water_heater: heaters });
  const heater = (extra: Record<string, unknown> = {}) => ({ pigpiod: { host: 'pigpio' }, relay: { gpio: 17 }, servo: { gpio: 21 }, grid: 'grid', ...extra });
  const haHeater = (extra: Record<string, unknown> = {}) => ({ backend: 'ha', relay_entity: 'switch.heater', regulator_entity: 'light.dimmer', grid: 'grid', ...extra });
  const mqttHeater = (extra: Record<string, unknown> = {}) => ({ backend: 'mqtt', relay_mqtt: { command_topic: 'heater/relay/set' }, regulator_mqtt: { command_topic: 'heater/level/set' }, grid: 'grid', ...extra });
  /** The one sentence, exactly; the option path it names is the first thing a user reads. */
  const refused = (raw: unknown, sentence: string) =>
    assert.throws(() => parseOptions(raw), (err: Error) => (assert.equal(err.message, sentence), true));

  test('defaults: pigpiod on 8888, relay active high and off as low, an SG90 on 500–2500 µs released after 600 ms, 3 kW, 100 W of export, stale after 30 s', () => {
    const [h] = parseOptions(withHeaters(heater())).water_heater;
    assert.deepEqual(h, {
      name: 'Water heater',
      backend: 'pigpiod',
      pigpiod: { host: 'pigpio', port: 8888 },
      relay: { gpio: 17, active_low: false, off_mode: 'low' },
      servo: { gpio: 21, min_us: 500, max_us: 2500, range_deg: 180, reverse: false, release_after_ms: 600, backlash_percent: 3, calibration: [] },
      regulator_max: 100,
      max_power_w: 3000,
      min_power_w: 300,
      grid: 'grid',
      target_export_w: 100,
      zero_export: false,
      min_on_s: 60,
      min_off_s: 60,
      stale_after: 30,
    });
    assert.deepEqual(parseOptions({}).water_heater, [], 'no heater unless one is listed');
  });

  test('what the Supervisor stores (every nested block present, empty when unused) is accepted, for each backend', () => {
    const empty = { pigpiod: {}, relay: {}, servo: { calibration: [] }, relay_mqtt: {}, regulator_mqtt: {}, gates: {} };
    const parsed = parseOptions({
      automation: { sources },
      water_heater: [
        { ...empty, ...heater({ name: 'GPIO', relay_mqtt: {}, regulator_mqtt: {}, gates: {} }) },
        { ...empty, ...haHeater({ name: 'Shelly' }) },
        { ...empty, ...mqttHeater({ name: 'ESPHome' }) },
        { ...empty, ...heater({ name: 'Native', backend: 'pigpio', pigpiod: {} }) },
      ],
    }).water_heater;
    assert.deepEqual(parsed.map((h) => h.backend), ['pigpiod', 'ha', 'mqtt', 'pigpio']);
    assert.equal(parsed[1]!.relay?.gpio, undefined, 'relay: {} means no GPIO relay');
    assert.deepEqual(parsed[2]!.relay_mqtt, { command_topic: 'heater/relay/set', payload_on: 'ON', payload_off: 'OFF' });
    assert.equal(parsed[3]!.pigpiod?.host, undefined, 'the native backend needs no pigpiod');
  });

  test('a gate needs the measurement it checks, and a power is not a percentage', () => {
    refused(withHeaters(heater({ gates: { min_soc: 90 } })), 'Invalid option water_heater.0.gates.min_soc: needs battery_soc (the measurement it checks).');
    refused(withHeaters(heater({ gates: { max_battery_discharge_w: 100 } })), 'Invalid option water_heater.0.gates.max_battery_discharge_w: needs battery_power (the measurement it checks).');
    refused({ automation: { sources: [{ name: 'battery', mqtt: { topic: 'home/battery' } }] }, water_heater: [heater({ grid: undefined, zero_export: true, battery_power: 'battery', gates: { max_grid_import_w: 50 } })] }, 'Invalid option water_heater.0.gates.max_grid_import_w: needs grid (the measurement it checks).');
    assert.doesNotThrow(() => parseOptions(withHeaters(heater({ battery_soc: 'soc', gates: { min_soc: 90 } }))));
    const percent = { automation: { sources: [{ name: 'grid', mqtt: { topic: 'home/grid', unit: '%' } }] }, water_heater: [heater()] };
    refused(percent, "Invalid option water_heater.0.grid: names the source 'grid', which is in %; this needs a power (W or kW).");
  });

  test("each backend's required fields are named, with the backend", () => {
    refused(withHeaters(heater({ pigpiod: {} })), 'Invalid option water_heater.0.pigpiod.host: is needed with backend pigpiod (where pigpiod listens: another add-on or the host).');
    refused(withHeaters(heater({ pigpiod: undefined })), 'Invalid option water_heater.0.pigpiod.host: is needed with backend pigpiod (where pigpiod listens: another add-on or the host).');
    refused(withHeaters(heater({ relay: {} })), 'Invalid option water_heater.0.relay.gpio: is needed with backend pigpiod.');
    refused(withHeaters(heater({ servo: {} })), 'Invalid option water_heater.0.servo.gpio: is needed with backend pigpiod.');
    refused(withHeaters(heater({ backend: 'pigpio', relay: { active_low: true } })), 'Invalid option water_heater.0.relay.gpio: is needed with backend pigpio.');
    refused(withHeaters(heater({ backend: 'pigpio', servo: undefined })), 'Invalid option water_heater.0.servo.gpio: is needed with backend pigpio.');
    refused(withHeaters(haHeater({ relay_entity: undefined })), 'Invalid option water_heater.0.relay_entity: is needed with backend ha (the switch that feeds the heater).');
    refused(withHeaters(haHeater({ regulator_entity: undefined })), 'Invalid option water_heater.0.regulator_entity: is needed with backend ha (the number or light that sets the regulator).');
    refused(withHeaters(mqttHeater({ relay_mqtt: {} })), 'Invalid option water_heater.0.relay_mqtt.command_topic: is needed with backend mqtt.');
    refused(withHeaters(mqttHeater({ regulator_mqtt: undefined })), 'Invalid option water_heater.0.regulator_mqtt.command_topic: is needed with backend mqtt.');
    // The other backends' blocks are not needed.
    assert.doesNotThrow(() => parseOptions(withHeaters(haHeater(), mqttHeater({ name: 'Second' }))));
    refused(withHeaters(heater({ backend: 'gpiozero' })), 'Invalid option water_heater.0.backend: must be one of pigpiod, pigpio, ha, mqtt.');
  });

  test('entities and topics are of a kind that can be commanded', () => {
    refused(withHeaters(haHeater({ relay_entity: 'sensor.heater' })), 'Invalid option water_heater.0.relay_entity: use a switch, input_boolean, light or fan entity id.');
    refused(withHeaters(haHeater({ regulator_entity: 'switch.dimmer' })), 'Invalid option water_heater.0.regulator_entity: use a number, input_number or light entity id.');
    refused(withHeaters(mqttHeater({ relay_mqtt: { command_topic: 'heater/+/set' } })), 'Invalid option water_heater.0.relay_mqtt.command_topic: is not a topic to publish on (no # or +).');
    refused(withHeaters(mqttHeater({ regulator_mqtt: { command_topic: 'heater/#' } })), 'Invalid option water_heater.0.regulator_mqtt.command_topic: is not a topic to publish on (no # or +).');
  });

  test('pins and the servo: two GPIOs, BCM bounds, min_us below max_us, a calibration that rises', () => {
    refused(withHeaters(heater({ servo: { gpio: 17 } })), "Invalid option water_heater.0.servo.gpio: is the relay's GPIO too; use two pins.");
    refused(withHeaters(heater({ relay: { gpio: 54 } })), 'Invalid option water_heater.0.relay.gpio: must be at most 53.');
    refused(withHeaters(heater({ servo: { gpio: 21, min_us: 2000, max_us: 2000 } })), 'Invalid option water_heater.0.servo.max_us: must be above servo.min_us.');
    refused(withHeaters(heater({ servo: { gpio: 21, min_us: 2400, max_us: 600 } })), 'Invalid option water_heater.0.servo.max_us: must be above servo.min_us.');
    refused(withHeaters(heater({ servo: { gpio: 21, min_us: 400 } })), 'Invalid option water_heater.0.servo.min_us: must be at least 500.');
    refused(withHeaters(heater({ relay: { gpio: 17, off_mode: 'floating' } })), 'Invalid option water_heater.0.relay.off_mode: must be one of low, released.');
    const calibration = (points: Array<[number, number]>) => heater({ servo: { gpio: 21, calibration: points.map(([position, power_w]) => ({ position, power_w })) } });
    const notRising = 'must come after the one before: position rising, power not falling.';
    refused(withHeaters(calibration([[20, 500], [10, 800]])), `Invalid option water_heater.0.servo.calibration.1: ${notRising}`);
    refused(withHeaters(calibration([[20, 500], [20, 800]])), `Invalid option water_heater.0.servo.calibration.1: ${notRising}`);
    refused(withHeaters(calibration([[10, 0], [30, 900], [40, 800]])), `Invalid option water_heater.0.servo.calibration.2: ${notRising}`);
    refused(withHeaters(calibration([[10, 0], [101, 900]])), 'Invalid option water_heater.0.servo.calibration.1.position: must be at most 100.');
    // A dead zone (flat power at the start) is a calibration too.
    assert.doesNotThrow(() => parseOptions(withHeaters(calibration([[12, 0], [25, 600], [50, 2100], [100, 4000]]))));
  });

  test('powers and limits: min_power_w below max_power_w, the gate window both ends, bounded times', () => {
    refused(withHeaters(heater({ min_power_w: 3000 })), 'Invalid option water_heater.0.min_power_w: must be below max_power_w.');
    refused(withHeaters(heater({ max_power_w: 2000, min_power_w: 2500 })), 'Invalid option water_heater.0.min_power_w: must be below max_power_w.');
    refused(withHeaters(heater({ gates: { from: '09:00' } })), 'Invalid option water_heater.0.gates.to: is needed too: the window has a start and an end.');
    refused(withHeaters(heater({ gates: { to: '18:00', min_soc: 90 } })), 'Invalid option water_heater.0.gates.from: is needed too: the window has a start and an end.');
    refused(withHeaters(heater({ gates: { from: '9:00', to: '18:00' } })), 'Invalid option water_heater.0.gates.from: use HH:MM.');
    refused(withHeaters(heater({ gates: { from: '09:00', to: '24:00' } })), 'Invalid option water_heater.0.gates.to: use HH:MM.');
    refused(withHeaters(heater({ timezone: 'Mars/Olympus_Mons' })), 'Invalid option water_heater.0.timezone: is not a time zone; use a name like Europe/Paris.');
    refused(withHeaters(heater({ stale_after: 1 })), 'Invalid option water_heater.0.stale_after: must be at least 2.');
    refused(withHeaters(heater({ target_export_w: -2000 })), 'Invalid option water_heater.0.target_export_w: must be at least -1000.');
    refused(withHeaters(heater({ gates: { speed: 1 } })), 'Invalid option water_heater.0.gates.speed: this option does not exist.');
    // A window across midnight, and every gate at once.
    const [h] = parseOptions(withHeaters(heater({ battery_power: 'battery', battery_soc: 'soc', timezone: 'Europe/Paris', gates: { from: '22:00', to: '06:00', min_soc: 95, max_grid_import_w: 80, max_battery_discharge_w: 100 } }))).water_heater;
    assert.deepEqual(h!.gates, { from: '22:00', to: '06:00', min_soc: 95, max_grid_import_w: 80, max_battery_discharge_w: 100 });
  });

  test('the grid source is needed, except off-grid: zero_export with battery_power', () => {
    refused(withHeaters(heater({ grid: undefined })), 'Invalid option water_heater.0.grid: is needed (the grid power source); off-grid, zero_export with battery_power will do.');
    refused(withHeaters(heater({ grid: undefined, zero_export: true })), 'Invalid option water_heater.0.grid: is needed (the grid power source); off-grid, zero_export with battery_power will do.');
    refused(withHeaters(heater({ grid: undefined, battery_power: 'battery' })), 'Invalid option water_heater.0.grid: is needed (the grid power source); off-grid, zero_export with battery_power will do.');
    refused(withHeaters(heater({ zero_export: true })), 'Invalid option water_heater.0.battery_power: is needed with zero_export (the controller backs off when the battery discharges).');
    const [offGrid] = parseOptions(withHeaters(heater({ grid: undefined, zero_export: true, battery_power: 'battery' }))).water_heater;
    assert.equal(offGrid!.grid, undefined);
    assert.equal(offGrid!.zero_export, true);
    // The forecast gap takes both of its sources.
    refused(withHeaters(heater({ zero_export: true, battery_power: 'battery', pv_power: 'pv' })), 'Invalid option water_heater.0.pv_forecast: is needed too: the forecast gap is pv_forecast − pv_power.');
    refused(withHeaters(heater({ zero_export: true, battery_power: 'battery', pv_forecast: 'forecast' })), 'Invalid option water_heater.0.pv_power: is needed too: the forecast gap is pv_forecast − pv_power.');
    assert.doesNotThrow(() => parseOptions(withHeaters(heater({ zero_export: true, battery_power: 'battery', pv_power: 'pv', pv_forecast: 'forecast', mppt_mode: 'mppt', heater_power: 'heater' }))));
  });

  test('every source is a name in automation.sources', () => {
    refused(withHeaters(heater({ grid: 'grid_power' })), "Invalid option water_heater.0.grid: names the source 'grid_power', which is not in automation.sources.");
    refused(withHeaters(heater({ battery_soc: 'bms_soc' })), "Invalid option water_heater.0.battery_soc: names the source 'bms_soc', which is not in automation.sources.");
    refused(withHeaters(heater(), heater({ name: 'Second', relay: { gpio: 5 }, servo: { gpio: 6 }, heater_power: 'boiler' })), "Invalid option water_heater.1.heater_power: names the source 'boiler', which is not in automation.sources.");
    refused(withHeaters(heater({ zero_export: true, battery_power: 'battery', mppt_mode: 'mppt_state' })), "Invalid option water_heater.0.mppt_mode: names the source 'mppt_state', which is not in automation.sources.");
    refused({ water_heater: [heater()] }, "Invalid option water_heater.0.grid: names the source 'grid', which is not in automation.sources.");
    refused(withHeaters(heater({ grid: 'Grid' })), 'Invalid option water_heater.0.grid: use the name of a source in automation.sources.');
  });

  test('two heaters with the same name (so the same HA device) are refused, naming the second', () => {
    refused(
      withHeaters(heater(), heater({ name: 'Water-heater', relay: { gpio: 5 }, servo: { gpio: 6 } })),
      'Invalid option water_heater.1.name: the same name (so the same HA device) as water_heater.0; list each device once.',
    );
    assert.doesNotThrow(() => parseOptions(withHeaters(heater({ name: 'Upstairs' }), heater({ name: 'Downstairs', relay: { gpio: 5 }, servo: { gpio: 6 } }))));
  });

  test('backend ha needs the automation block (Home Assistant\'s API)', () => {
    // Without automation its sources cannot exist either; the backend's need is the sentence a
    // user sees first (it says what to add), the missing sources are reported with it.
    const raw = { water_heater: [haHeater()] };
    refused(raw, "Invalid option water_heater.0.backend: ha needs Home Assistant's API: add automation (its sources name the measurements anyway).");
    const result = optionsSchema.safeParse(raw);
    assert.ok(!result.success);
    assert.ok(
      result.error.issues.some((i) => i.path.join('.') === 'water_heater.0.grid' && i.message === "names the source 'grid', which is not in automation.sources"),
      JSON.stringify(result.error.issues),
    );
    assert.doesNotThrow(() => parseOptions(withHeaters(haHeater())));
    // pigpiod and mqtt do not need Home Assistant; only their sources need automation.sources.
    const other = optionsSchema.safeParse({ water_heater: [heater()] });
    assert.ok(!other.success && !other.error.issues.some((i) => i.path.at(-1) === 'backend'));
  });
});
