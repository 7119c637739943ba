// `npm run simulate -- --options FILE --trace FILE.csv [--no-feedback] [--quiet]`
// Replays a recorded trace through the configured rules and prints every decision and a summary.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LogHub } from '../core/logger.js';
import { Secrets } from '../core/secrets.js';
import { loadOptionsFile, OptionsError } from '../options.js';
import { parseTrace, replay, type ReplayResult } from './replay.js';

function hms(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${h} h ${String(m).padStart(2, '0')} min`;
}

export function formatSummary(result: ReplayResult): string {
  // A follow rule's level steps are worth seeing (a charger that is told every few seconds wears).
  const follows = result.loads.some((l) => l.changes > 0);
  const rows = result.loads.map((l) => [l.rule, String(l.starts), hms(l.onSeconds), `${l.energyKwh.toFixed(2)} kWh`, ...(follows ? [String(l.changes)] : [])]);
  const header = ['load', 'starts', 'time on', 'energy moved', ...(follows ? ['level changes'] : [])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const span = `${new Date(result.from).toISOString()} to ${new Date(result.to).toISOString()}, ${result.readings} readings`;
  return [`Summary (${span})`, line(header), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      options: { type: 'string' },
      trace: { type: 'string' },
      'no-feedback': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  if (!values.options || !values.trace) throw new OptionsError('Usage: npm run simulate -- --options FILE --trace FILE.csv [--no-feedback] [--quiet]');
  const options = loadOptionsFile(values.options);
  if (!options.automation?.rules.length) throw new OptionsError(`The options in ${values.options} have no automation.rules to replay.`);
  const trace = parseTrace(readFileSync(values.trace, 'utf8'), options.automation.sources.map((s) => s.name));
  const logs = new LogHub({ level: 'error', secrets: new Secrets() });
  const result = await replay(options.automation, trace, logs.child('simulate'), {
    feedback: !values['no-feedback'],
    onDecision: values.quiet ? undefined : (d) => process.stdout.write(`${new Date(d.at).toISOString().replace('T', ' ').slice(0, 19)}  ${d.rule.padEnd(16)} ${d.state.padEnd(8)} ${d.reason}\n`),
  });
  process.stdout.write(`\n${formatSummary(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
