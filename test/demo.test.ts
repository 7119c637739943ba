// `npm run demo` as a newcomer runs it: it prints what to watch, works, and stops on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { freePort } from './helpers/broker.js';
import { Recorder, eventually } from './helpers/mqtt-client.js';

test('the demo runs an embedded broker with the bridge, and stops cleanly on SIGINT', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await eventually(() => output.includes('Press Ctrl-C to stop.'), 20_000, 'the demo banner');
    assert.ok(output.includes(`mosquitto_sub -h 127.0.0.1 -p ${port}`), 'it prints what to subscribe to');
    const rec = await Recorder.connect(port, ['energy2mqtt/bridge/state', 'homeassistant/device/bridge/config']);
    await rec.waitFor('energy2mqtt/bridge/state', (p) => p === 'online');
    await rec.waitFor('homeassistant/device/bridge/config');
    await rec.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, output);
  } finally {
    child.kill('SIGKILL');
  }
});
