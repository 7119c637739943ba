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
    [{ mqtt: 5 }, /^Invalid option mqtt: expected an object\.$/],
    [{ givenergy: {} }, /^Invalid option givenergy: expected an array\.$/],
  ];
  for (const [raw, expected] of cases) {
    assert.throws(() => parseOptions(raw), (err: Error) => {
      assert.match(err.message, expected, JSON.stringify(raw));
      return true;
    });
  }
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
