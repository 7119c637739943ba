// config.yaml's `homeassistant:` is the lowest HA release that accepts every platform and key we
// publish: derived from the tables in src/core/ha-versions.ts (each platform's row comes from its
// module in src/core/discovery/platforms/), and checked against what the add-on really publishes
// with the simulator of every device family (the demo's set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FEATURE_SINCE, PLATFORM_SINCE, compareVersions, minimumHaVersion } from '../../src/core/ha-versions.js';
import type { Component } from '../../src/core/entity.js';
import { ALL_PLATFORMS as REGISTERED_PLATFORMS } from '../../src/core/discovery/registry.js';
import { startDemoSimulators } from '../../src/simulators/index.js';
import { freePort, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp } from '../helpers/app.js';

const declared = (parseYaml(readFileSync('config.yaml', 'utf8')) as { homeassistant?: unknown }).homeassistant;
const ALL_PLATFORMS = Object.keys(PLATFORM_SINCE) as Component[];

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

test('release numbers compare as numbers, part by part', () => {
  assert.equal(compareVersions('2026.10.0', '2026.5.0'), 1);
  assert.equal(compareVersions('2026.5.0', '2026.10.0'), -1);
  assert.equal(compareVersions('2025.1.0', '2024.12.0'), 1);
  assert.equal(compareVersions('2024.11.1', '2024.11.0'), 1);
  assert.equal(compareVersions('2026.5', '2026.5.0'), 0);
  assert.equal(compareVersions('0.55.0', '2021.2.0'), -1);
  assert.throws(() => compareVersions('2026.5.0b1', '2026.5.0'), /not a release number/);
});

test('the minimum is the newest of the given platforms and of every feature', () => {
  const newestFeature = Object.values(FEATURE_SINCE).map((f) => f.since).sort(compareVersions).at(-1)!;
  assert.equal(minimumHaVersion([]), newestFeature);
  assert.equal(minimumHaVersion(['binary_sensor']), newestFeature, 'an old platform does not lower it');
  assert.equal(minimumHaVersion(['binary_sensor', 'time']), PLATFORM_SINCE.time.since);
});

test('every row names a release and where that fact comes from', () => {
  for (const [name, row] of Object.entries({ ...PLATFORM_SINCE, ...FEATURE_SINCE })) {
    assert.match(row.since, /^\d+\.\d+\.\d+$/, name);
    assert.ok(row.source.length > 10, `${name} needs a source`);
  }
});

test('each platform states its own first release, and the table has a row for every registered platform', () => {
  assert.deepEqual(Object.keys(PLATFORM_SINCE), REGISTERED_PLATFORMS.map((p) => p.component));
  for (const platform of REGISTERED_PLATFORMS) assert.equal(PLATFORM_SINCE[platform.component], platform.since, platform.component);
});

test("config.yaml's homeassistant: is the minimum that every platform of the table needs", () => {
  assert.equal(typeof declared, 'string', 'config.yaml states homeassistant: "<version>"');
  // A platform (or feature) newer than config.yaml's value makes this fail: raise config.yaml with it.
  assert.equal(declared, minimumHaVersion(ALL_PLATFORMS));
});

test('every platform the add-on publishes has a row, and HA at config.yaml\'s version accepts them all', async () => {
  const rec = await Recorder.connect(broker.port, ['homeassistant/device/+/config']);
  const sims = await startDemoSimulators(broker.port);
  // Another REST port than the demo's fixed one, so a running demo cannot collide.
  const rest = { ...(sims.options.givenergy_rest as Record<string, unknown>), port: await freePort() };
  const t = await startApp(broker.port, { ...sims.options, givenergy_rest: rest });
  try {
    // Adapters declare their devices before start() resolves (after the first poll), so the
    // bridge knows them all now; wait until the discovery of each carries every entity.
    const devices = t.app.bridge.allDevices();
    const latest = (id: string) => {
      const m = rec.last(`homeassistant/device/${id}/config`);
      return m?.payload ? (JSON.parse(m.payload) as { cmps: Record<string, { p: string }> }) : undefined;
    };
    await eventually(() => devices.every((d) => [...d.entities.keys()].every((key) => key in (latest(d.id)?.cmps ?? {}))), 20_000, 'the discovery of every declared device');

    const configs = rec.messages.filter((m) => m.payload !== '').map((m) => JSON.parse(m.payload) as { cmps: Record<string, { p: string }> });
    const published = new Set(configs.flatMap((c) => Object.values(c.cmps).map((cmp) => cmp.p)));
    for (const platform of published) assert.ok(platform in PLATFORM_SINCE, `'${platform}' is published but has no row in PLATFORM_SINCE`);
    const needed = minimumHaVersion(published as Set<Component>);
    assert.ok(compareVersions(needed, String(declared)) <= 0, `what the add-on publishes needs HA ${needed}, config.yaml says ${String(declared)}`);
    // And the platform that sets the minimum is really in use: config.yaml asks no more than needed.
    assert.equal(needed, declared, `published: ${[...published].sort().join(', ')}`);
  } finally {
    await t.stop();
    await sims.stop();
    await rec.close();
  }
});
