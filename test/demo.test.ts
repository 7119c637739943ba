// `npm run demo` as a newcomer runs it: it prints what to watch, works, and stops on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { freePort } from './helpers/broker.js';
import { Recorder, eventually, sleep } from './helpers/mqtt-client.js';
import { deviceDiscoveryProblems } from '../src/core/ha-acceptance.js';

test('the demo runs an embedded broker with the bridge, and stops cleanly on SIGINT', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await eventually(() => output.includes('Press Ctrl-C to stop.'), 20_000, 'the demo banner');
    assert.ok(output.includes(`mosquitto_sub -h 127.0.0.1 -p ${port}`), 'it prints what to subscribe to');
    const rec = await Recorder.connect(port, ['energy2mqtt/bridge/state', 'homeassistant/device/+/config']);
    await rec.waitFor('energy2mqtt/bridge/state', (p) => p === 'online');
    await rec.waitFor('homeassistant/device/bridge/config');
    // Every device the demo brings up (one per simulated family) passes HA's rules, entity by entity.
    await sleep(2000);
    const configs = rec.messages.filter((m) => m.topic.endsWith('/config') && m.payload !== '');
    for (const m of configs) assert.deepEqual(deviceDiscoveryProblems(m.topic, JSON.parse(m.payload)), [], m.topic);
    const latest = new Map(configs.map((m) => [m.topic, JSON.parse(m.payload) as { cmps: Record<string, { unique_id: string }> }]));
    const ids = [...latest.values()].flatMap((c) => Object.values(c.cmps).map((cmp) => cmp.unique_id));
    assert.equal(new Set(ids).size, ids.length, 'no unique_id is used twice');
    // The automation works on the demo meter: its rule explains itself.
    const reasons = await Recorder.connect(port, ['energy2mqtt/rule_demo_boiler/reason']);
    await reasons.waitFor('energy2mqtt/rule_demo_boiler/reason', (p) => /^(off|waiting|on|switched|holding)/.test(p), 10_000);
    await reasons.close();
    await rec.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, output);
  } finally {
    child.kill('SIGKILL');
  }
});
