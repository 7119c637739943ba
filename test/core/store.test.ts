import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Store } from '../../src/core/store.js';
import { tempDir } from '../helpers/app.js';

const shape = z.object({ n: z.number().int().positive(), items: z.array(z.object({ i: z.number(), text: z.string() })) });

test('a writer killed with SIGKILL mid-write never leaves a torn or empty file (60 kills)', async () => {
  const dir = tempDir();
  let lastSeen = 0;
  for (let round = 0; round < 60; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/store-writer.ts', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 40));
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    const text = readFileSync(join(dir, 'state.json'), 'utf8');
    assert.ok(text.length > 0, `round ${round}: the file is not empty`);
    const value = shape.parse(JSON.parse(text)); // throws on a torn file
    assert.ok(value.n >= 1);
    lastSeen = value.n;
  }
  assert.ok(lastSeen > 0);
  // Temporary files a killed writer left behind are cleared when the store opens.
  new Store(dir).open();
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('reads validate; a damaged file is set aside and the fallback used', async () => {
  const dir = tempDir();
  const store = new Store(dir);
  store.open();
  assert.deepEqual(await store.read('settings', z.object({ a: z.number() }), { a: 1 }), { a: 1 }, 'missing file');
  await store.write('settings', { a: 5 });
  assert.deepEqual(await store.read('settings', z.object({ a: z.number() }), { a: 1 }), { a: 5 });
  writeFileSync(join(dir, 'settings.json'), '{"a": 5');
  assert.deepEqual(await store.read('settings', z.object({ a: z.number() }), { a: 1 }), { a: 1 });
  assert.ok(existsSync(join(dir, 'settings.json.damaged')), 'the damaged file is kept for inspection');
});

test('a burst of writes lands the last value', async () => {
  const store = new Store(tempDir());
  store.open();
  const writes = Array.from({ length: 50 }, (_, i) => store.write('burst', { i }));
  await Promise.all(writes);
  await store.flush();
  assert.deepEqual(JSON.parse(readFileSync(store.path('burst'), 'utf8')), { i: 49 });
});
