// What a process loads just to read its options: no HTTP client (got and its ~100 modules cost
// about 9 MB of resident memory), since a home without cloud devices never needs one. A family's
// options file must name its defaults without importing its client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from './helpers/app.js';

test('reading the options loads no HTTP client', () => {
  const dir = tempDir('e2m-imports-');
  const log = join(dir, 'modules.txt');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  writeFileSync(log, '');
  const run = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), '--import', 'tsx', '-e', "await import('./src/options.ts').then((m) => m.parseOptions({}))"], {
    encoding: 'utf8',
    input: '',
  });
  assert.equal(run.status, 0, run.stderr);
  const loaded = readFileSync(log, 'utf8').split('\n');
  assert.ok(loaded.some((url) => url.endsWith('/src/options.ts')), 'the options were loaded (the hook works)');
  const http = loaded.filter((url) => /\/node_modules\/(got|undici)\//.test(url) || url.endsWith('/src/io/http.ts'));
  assert.deepEqual(http, [], 'no HTTP client is loaded with the options');
});
