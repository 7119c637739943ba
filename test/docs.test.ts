// DOCS.md is what a user reads in the add-on's Documentation tab: it must describe every option
// there is, and no option that is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { optionPaths } from '../scripts/addon-schema.js';

const docs = readFileSync('DOCS.md', 'utf8');

/** The rows of the "All options" reference: the option in backticks in the first cell (digits too: `grid_l1`). */
function referenceRows(): string[] {
  const section = docs.slice(docs.indexOf('## All options'));
  assert.ok(docs.includes('## All options'), 'DOCS.md has an "All options" section');
  const end = section.indexOf('\n## ', 3);
  return [...(end > 0 ? section.slice(0, end) : section).matchAll(/^\| `([a-z0-9_.]+)` \|/gm)].map((m) => m[1]!);
}

test('DOCS.md describes every option of the schema, and only those', () => {
  const paths = optionPaths();
  assert.ok(paths.length > 80, `the walk found ${paths.length} options`);
  const rows = referenceRows();
  const missing = paths.filter((p) => !rows.includes(p));
  assert.deepEqual(missing, [], 'options missing from "All options" in DOCS.md');
  const stale = rows.filter((r) => !paths.includes(r));
  assert.deepEqual(stale, [], 'rows in DOCS.md for options that do not exist');
  assert.equal(new Set(rows).size, rows.length, 'each option once');
});

test('DOCS.md names every GivTCP command and every command topic form', async () => {
  const { COMMANDS } = await import('../src/adapters/givenergy/controls.js');
  for (const command of Object.keys(COMMANDS)) assert.match(docs, new RegExp(`\\b${command}\\b`), command);
  for (const part of ['set/mode', 'set/temperature', 'set/preset']) assert.ok(docs.includes(part), part);
});

test("DOCS.md's overview table under Configuration lists every top-level option", () => {
  const start = docs.indexOf('## Configuration');
  const overview = docs.slice(start, docs.indexOf('\n#', start + 3));
  const rows = [...overview.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]!);
  const topLevel = optionPaths().filter((p) => !p.includes('.'));
  assert.deepEqual(rows.slice().sort(), topLevel.slice().sort());
});

test("the PV water heater's examples in DOCS.md are valid options", async () => {
  const { parse } = await import('yaml');
  const { parseOptions } = await import('../src/options.js');
  const start = docs.indexOf('## PV water heater');
  assert.ok(start > 0, 'DOCS.md has a PV water heater section');
  const section = docs.slice(start, docs.indexOf('\n## ', start + 3));
  // Blocks inside a list item are indented; their fence says by how much.
  const blocks = [...section.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```/gm)].map(
    (m) => parse(m[2]!.split('\n').map((line) => line.slice(m[1]!.length)).join('\n')) as Record<string, unknown>,
  );
  const full = blocks.filter((b) => 'water_heater' in b);
  assert.ok(full.length >= 2, 'an example for the servo and one for better hardware');
  // The first example names the sources; the others reuse them.
  const automation = full[0]!.automation;
  for (const example of full) {
    const options = parseOptions({ automation, ...example });
    assert.equal(options.water_heater.length, 1);
  }
  // The calibration snippet is a valid calibration.
  const calibration = blocks.find((b) => 'calibration' in b) as { calibration: unknown } | undefined;
  assert.ok(calibration, 'a calibration example');
  const heater = full[0]!.water_heater as Array<Record<string, any>>;
  assert.doesNotThrow(() => parseOptions({ automation, water_heater: [{ ...heater[0], servo: { ...heater[0]!.servo, calibration: calibration.calibration } }] }));
});
