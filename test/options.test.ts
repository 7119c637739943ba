import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
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
