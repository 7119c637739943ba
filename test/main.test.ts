// The production entry as a process: options file in, bridge up, SIGTERM leaves it offline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBroker } from './helpers/broker.js';
import { Recorder } from './helpers/mqtt-client.js';
import { tempDir } from './helpers/app.js';

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
