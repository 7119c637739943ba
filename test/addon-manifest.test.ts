// The add-on as the Supervisor and the store read it. The manifest rules are written from the
// Supervisor's schema (supervisor/apps/validate.py); the linter's JSON schema (a verbatim copy in
// test/fixtures/addon) gives the known keys and their defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';

const config = parseYaml(readFileSync('config.yaml', 'utf8')) as Record<string, unknown>;
const linter = JSON.parse(readFileSync('test/fixtures/addon/addon-config.schema.json', 'utf8')) as { properties: Record<string, { default?: unknown }> };
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
const tracked = execFileSync('git', ['ls-files'], { encoding: 'utf8' }).split('\n').filter(Boolean);

const OPTION_TYPE = /^(str|password)(\(\d*,\d*\))?\??$|^(int|float)(\([-\d.]*,[-\d.]*\))?\??$|^(bool|email|url|port|device(\(.*\))?)\??$|^match\(.+\)\??$|^list\([^|()]+(\|[^|()]+)*\)\??$/;
const schemaValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string().regex(OPTION_TYPE, 'not a Supervisor option type'), z.array(z.union([z.string().regex(OPTION_TYPE), z.record(z.string(), schemaValue)])).length(1), z.record(z.string(), schemaValue)]),
);

const manifestSchema = z.object({
  name: z.string().min(1),
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  slug: z.string().regex(/^[-_.A-Za-z0-9]+$/),
  description: z.string().min(1),
  arch: z.array(z.enum(['aarch64', 'amd64'])).min(1),
  url: z.url(),
  startup: z.enum(['initialize', 'system', 'services', 'application', 'once']).optional(),
  boot: z.enum(['auto', 'manual', 'manual_only']).optional(),
  init: z.boolean().optional(),
  services: z.array(z.string().regex(/^(mqtt|mysql):(provide|want|need)$/)).optional(),
  homeassistant_api: z.boolean().optional(),
  hassio_api: z.boolean().optional(),
  image: z.string().optional(),
  uart: z.boolean().optional(),
  // A null host port: reachable on the internal network only, until the user enters a port.
  ports: z.record(z.string().regex(/^\d{1,5}\/(tcp|udp)$/), z.number().int().min(1).max(65535).nullable()).optional(),
  ports_description: z.record(z.string(), z.string().min(1)).optional(),
  options: z.record(z.string(), z.unknown()),
  schema: z.record(z.string(), schemaValue),
});

test('config.yaml is valid for the Supervisor', () => {
  const result = manifestSchema.safeParse(config);
  assert.ok(result.success, result.success ? '' : JSON.stringify(result.error.issues));
  assert.equal(config.version, pkg.version, 'the add-on version is the package version');
  assert.deepEqual(config.arch, ['aarch64', 'amd64']);
  assert.ok((config.services as string[]).includes('mqtt:need'));
  assert.equal(config.homeassistant_api, true);
  assert.equal(config.init, false, 'the HA base image runs s6-overlay, which must be PID 1');
});

test('config.yaml sets no key the linter knows to its default, and no unknown key', () => {
  for (const [key, value] of Object.entries(config)) {
    assert.ok(key in linter.properties, `unknown key ${key}`);
    const fallback = linter.properties[key]!.default;
    if (fallback !== undefined && key !== 'options' && key !== 'schema') {
      assert.notDeepEqual(value, fallback, `${key} is set to its default value`);
    }
  }
});

test('optional options carry no default in `options` (the Supervisor would require them)', () => {
  const options = config.options as Record<string, unknown>;
  const schema = config.schema as Record<string, unknown>;
  for (const [key, type] of Object.entries(schema)) {
    if (typeof type === 'string' && type.endsWith('?')) assert.ok(!(key in options), `${key} is optional but has a default`);
    if (typeof type === 'string' && !type.endsWith('?')) assert.ok(key in options, `${key} is required but has no default`);
  }
});

test('only the root config.yaml is a file the Supervisor would read as an add-on', () => {
  const extra = tracked.filter((f) => /(^|\/)config\.(ya?ml|json)$/.test(f) && f !== 'config.yaml');
  assert.deepEqual(extra, []);
});

test('the store files are there: repository.yaml, DOCS, CHANGELOG, square icon, logo, AppArmor profile', () => {
  const repo = parseYaml(readFileSync('repository.yaml', 'utf8')) as Record<string, unknown>;
  assert.ok(typeof repo.name === 'string' && repo.name.length > 0);
  assert.doesNotThrow(() => new URL(String(repo.url)));
  const png = (file: string) => {
    const bytes = readFileSync(file);
    assert.equal(bytes.subarray(1, 4).toString(), 'PNG', `${file} is a PNG`);
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  };
  const icon = png('icon.png');
  assert.equal(icon.width, icon.height, 'icon.png is square');
  png('logo.png');
  assert.match(readFileSync('apparmor.txt', 'utf8'), new RegExp(`^profile ${String(config.slug)} `, 'm'), 'the profile is named after the slug');
  const changelog = readFileSync('CHANGELOG.md', 'utf8');
  assert.match(changelog, /Keep a Changelog/);
  assert.match(changelog, new RegExp(`^## \\[${pkg.version.replace(/\./g, '\\.')}\\]`, 'm'), 'the current version has a changelog section');
  const docs = readFileSync('DOCS.md', 'utf8');
  for (const key of Object.keys(config.schema as object)) assert.ok(docs.includes(`\`${key}\``), `DOCS.md explains ${key}`);
});

test('the Dockerfile builds on a pinned HA base image with Node, production dependencies and labels', () => {
  const docker = readFileSync('Dockerfile', 'utf8');
  assert.match(docker, /^ARG BUILD_FROM=ghcr\.io\/home-assistant\/base:\d+\.\d+$/m);
  assert.match(docker, /^FROM \$\{BUILD_FROM\}$/m);
  assert.match(docker, /apk add --no-cache nodejs/);
  assert.match(docker, /npm ci --omit=dev/);
  for (const label of ['io.hass.version', 'io.hass.type="app"', 'io.hass.arch']) assert.ok(docker.includes(label), label);
  assert.match(docker, /COPY addon\/rootfs \//);
  for (const file of ['package-lock.json', 'tsconfig.build.json']) assert.ok(existsSync(file), file);
});

test('the s6 service scripts are executable in git and start the compiled program', () => {
  const modes = execFileSync('git', ['ls-files', '-s', 'addon/rootfs'], { encoding: 'utf8' });
  for (const script of ['run', 'finish']) {
    assert.match(modes, new RegExp(`^100755 \\S+ \\d\\taddon/rootfs/etc/services.d/energy2mqtt/${script}$`, 'm'), `${script} is executable`);
  }
  const run = readFileSync('addon/rootfs/etc/services.d/energy2mqtt/run', 'utf8');
  assert.match(run, /^#!\/usr\/bin\/with-contenv bashio/);
  assert.match(run, /exec node (--\S+ )*\/app\/dist\/main\.js --options \/data\/options\.json --data \/data/);
});

test("the store's description names only the device families that are there", () => {
  const planned: Record<string, RegExp> = { victron: /victron/i, tempo: /tempo/i, 'viessmann-meter': /viessmann/i, 'water-heater': /water heater/i };
  const present = new Set(readdirSync('src/adapters', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name));
  for (const [family, name] of Object.entries(planned)) {
    if (!present.has(family)) assert.doesNotMatch(String(config.description), name, `${family} is not there yet`);
  }
  for (const family of ['givenergy', 'vaillant']) assert.ok(present.has(family) && new RegExp(family, 'i').test(String(config.description)), family);
});

test("the meter's serial port is picked from the host's serial devices, and its Modbus TCP port is not published", () => {
  const schema = config.schema as { viessmann_meter: Array<{ serial: Record<string, string>; tcp: Record<string, string> }> };
  // The Supervisor offers the host's tty devices in a drop-down and maps the chosen one.
  assert.equal(schema.viessmann_meter[0]!.serial.port, 'device(subsystem=tty)?');
  assert.equal(schema.viessmann_meter[0]!.tcp.port, 'port?');
  assert.equal(config.uart, true, 'uart: the host serial devices are mapped');
  // The linter refuses full_access next to uart/usb/gpio/devices, and auto_uart altogether.
  assert.ok(!('full_access' in config), 'no full_access');
  assert.ok(!('auto_uart' in config), 'no auto_uart (use uart)');
  const ports = config.ports as Record<string, number | null>;
  const descriptions = config.ports_description as Record<string, string>;
  assert.ok('502/tcp' in ports, 'the Modbus TCP port is declared');
  assert.equal(ports['502/tcp'], null, 'not published on the host by default');
  assert.equal(ports['6345/tcp'], null, 'the REST API is not published by default either');
  assert.deepEqual(Object.keys(descriptions).sort(), Object.keys(ports).sort(), 'every port is described');
  assert.match(descriptions['502/tcp']!, /viessmann_meter\.tcp\.port/);
  // The add-on's Network section shows each port with its translated name.
  for (const file of readdirSync('translations')) {
    const network = (parseYaml(readFileSync(`translations/${file}`, 'utf8')) as { network?: Record<string, string> }).network ?? {};
    assert.deepEqual(Object.keys(network).sort(), Object.keys(ports).sort(), `${file}: network names every port`);
  }
});

test('the water heater needs no hardware access: no gpio, devices, privileges or full access are granted', () => {
  // Backend pigpiod (the default) drives the pins through another add-on's or the host's pigpiod
  // over TCP; ha and mqtt need no Pi. Only the native backend would need these, and they would
  // lower every user's security rating (config.yaml says what it would take, in a comment).
  for (const key of ['gpio', 'devices', 'privileged', 'full_access', 'devicetree', 'host_network', 'docker_api']) {
    assert.ok(!(key in config), `${key} is not granted`);
  }
  assert.ok(!('apparmor' in config) || config.apparmor !== false, 'AppArmor stays on');
  const manifest = readFileSync('config.yaml', 'utf8');
  for (const need of ['gpio: true', '/dev/mem', '/dev/vcio', 'SYS_RAWIO', 'AppArmor', 'Pi 5', 'pigpiod']) {
    assert.ok(manifest.includes(need), `config.yaml explains what backend pigpio would need: ${need}`);
  }
  const ports = config.ports as Record<string, number | null>;
  assert.ok(!('8888/tcp' in ports), 'pigpiod is a client connection: no port of its own');
});
