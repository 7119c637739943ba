// Replays a recorded day through the rules in a worker thread: a day is 86 400 evaluations, and
// the add-on's own event loop (the meter it emulates, the water heater's loop) must not wait.
// Runs the same what-if replay as `npm run simulate`, once with the rules as set and once with
// the changed settings.
import { parentPort, workerData } from 'node:worker_threads';
import { LogHub } from '../core/logger.js';
import { Secrets } from '../core/secrets.js';
import { automationOptions, slugOf, type AutomationOptions } from '../automation/options.js';
import { parseTrace, replay, type ReplayResult } from '../automation/replay.js';

export interface ReplayJob {
  options: AutomationOptions;
  csv: string;
  /** Per rule slug, settings (option names) to change. */
  changes: Record<string, Record<string, number>>;
}

export interface ReplayRun {
  loads: ReplayResult['loads'];
  rules: Array<{ slug: string; name: string; changes: Array<{ t: number; state: string; reason: string }>; samples: Array<[number, number | null, number]> }>;
}

/** Rule types the replay can simulate: those that act on a load by surplus alone. */
const REPLAYABLE = new Set(['surplus_switch', 'surplus_follow']);
const MAX_CHANGES = 500;

async function run(job: ReplayJob): Promise<{ skipped: string[]; asSet: ReplayRun; changed?: ReplayRun }> {
  const rules = job.options.rules.filter((r) => REPLAYABLE.has(r.type));
  const skipped = job.options.rules.filter((r) => !REPLAYABLE.has(r.type)).map((r) => r.name);
  const base = { ...job.options, rules };
  const trace = parseTrace(job.csv, base.sources.map((s) => s.name));
  const log = new LogHub({ level: 'error', secrets: new Secrets() }).child('replay');
  const once = async (options: AutomationOptions): Promise<ReplayRun> => {
    const result = await replay(options, trace, log);
    // The plot: the recorded surplus (export) a minute, and what each load drew as decided.
    const grid = options.surplus?.grid;
    const importSign = options.surplus?.grid_positive_is_import === false ? -1 : 1;
    return {
      loads: result.loads,
      rules: options.rules.map((r) => {
        const decisions = result.decisions.filter((d) => d.rule === r.name);
        const power = 'power_w' in r && typeof r.power_w === 'number' ? r.power_w : 0;
        const drawnAt = (t: number) => {
          const last = decisions.findLast((d) => d.at <= t);
          return last && (last.state === 'on' || last.state === 'holding') ? power : 0;
        };
        const samples: Array<[number, number | null, number]> = [];
        let next = 0;
        for (const row of trace) {
          if (row.at < next) continue;
          next = row.at + 60_000;
          const g = grid ? row.values.get(grid) : undefined;
          samples.push([row.at, g === undefined ? null : Math.round(-importSign * g), drawnAt(row.at)]);
        }
        return { slug: slugOf(r.name), name: r.name, changes: decisions.slice(-MAX_CHANGES).map((d) => ({ t: d.at, state: d.state, reason: d.reason })), samples };
      }),
    };
  };
  const asSet = await once(base);
  if (!Object.keys(job.changes).length) return { skipped, asSet };
  const changedRules = rules.map((r) => ({ ...r, ...(job.changes[slugOf(r.name)] ?? {}) }));
  // Checked as the options are: a changed setting out of its range is refused here.
  const changed = automationOptions.parse({ ...base, rules: changedRules });
  return { skipped, asSet, changed: await once(changed) };
}

run(workerData as ReplayJob).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: (err as Error).message }),
);
