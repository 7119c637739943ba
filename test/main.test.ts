// The production entry as a process: options file in, bridge up, SIGTERM leaves it offline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBroker } from './helpers/broker.js';
import { Recorder, sleep } from './helpers/mqtt-client.js';
import { MqttRelaySimulator } from '../src/simulators/mqtt-relay.js';
import { tempDir } from './helpers/app.js';
import { spawnAddOn } from './helpers/main-process.js';

test('main: starts from an options file, shows up in discovery, stops cleanly on SIGTERM', async () => {
  const broker = await startTestBroker();
  const dir = tempDir();
  const options = join(dir, 'options.json');
  writeFileSync(options, JSON.stringify({ mqtt: { host: '127.0.0.1', port: broker.port }, base_topic: 'e2m_main' }));
  const rec = await Recorder.connect(broker.port, ['e2m_main/bridge/state', 'homeassistant/device/bridge/config']);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--options', options, '--data', join(dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await rec.waitFor('e2m_main/bridge/state', (p) => p === 'online', 15_000);
    const config = JSON.parse((await rec.waitFor('homeassistant/device/bridge/config', (p) => p.includes('e2m_main'))).payload);
    assert.equal(config.cmps.log_level.command_topic, 'e2m_main/bridge/log_level/set');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    await rec.waitFor('e2m_main/bridge/state', (p) => p === 'offline');
    assert.match(output, /SIGTERM received, stopping/);
    assert.ok(existsSync(join(dir, 'data', 'discovery.json')), 'what was published is remembered in the data directory');
  } finally {
    child.kill('SIGKILL');
    await rec.close();
    await broker.stop();
  }
});

test('fail-safe: a crash, an unhandled rejection or a signal at a random moment leaves the relay the rules switched on off', async () => {
  const broker = await startTestBroker();
  const relay = new MqttRelaySimulator('boiler');
  await relay.start(broker.port);
  const meter = await Recorder.connect(broker.port);
  const dir = tempDir();
  const options = join(dir, 'options.json');
  writeFileSync(options, JSON.stringify({
    mqtt: { host: '127.0.0.1', port: broker.port },
    automation: {
      sources: [{ name: 'grid', mqtt: { topic: 'home/grid_power' } }],
      surplus: { grid: 'grid' },
      rules: [{ type: 'surplus_switch', name: 'Boiler', power_w: 1000, enable_delay: 0, target: { mqtt: { command_topic: relay.commandTopic, state_topic: relay.stateTopic } } }],
    },
  }));
  // 3 kW of export, every 100 ms: the rule wants the boiler on all the time.
  const sunny = setInterval(() => void meter.publish('home/grid_power', '-3000').catch(() => undefined), 100);
  const ways: Array<[kind: 'exception' | 'rejection', signal: NodeJS.Signals, exitCode: number]> = [
    ['exception', 'SIGUSR2', 1], ['rejection', 'SIGUSR2', 1], ['exception', 'SIGTERM', 0], ['rejection', 'SIGUSR2', 1], ['exception', 'SIGUSR2', 1], ['exception', 'SIGINT', 0],
  ];
  try {
    for (const [kind, signal, exitCode] of ways) {
      const { child, output, exited } = spawnAddOn(options, join(dir, 'data'), kind);
      const label = `${kind} via ${signal}`;
      await relay.waitFor(true, 20_000);
      await sleep(Math.random() * 500); // a random moment while the boiler runs
      child.kill(signal);
      assert.equal(await exited, exitCode, `${label}: ${output()}`);
      await relay.waitFor(false, 3000).catch((err: Error) => assert.fail(`${label}: ${err.message}\n${output()}`));
      assert.match(output(), /fail-safe \((unexpected error|unhandled promise rejection|SIGTERM|SIGINT)\)/, label);
      if (exitCode === 1) assert.match(output(), /FATAL [^\n]*\n\s+Error: injected (crash|rejection)/, label);
    }
    assert.deepEqual(relay.history, ways.flatMap(() => [true, false]), 'on while running, off after every failure');
  } finally {
    clearInterval(sunny);
    await meter.close();
    await relay.stop();
    await broker.stop();
  }
});
