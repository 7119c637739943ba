// What-if replay: a recorded measurement trace through the configured rules on a simulated
// clock. The loads the rules switch on are added to the recorded grid power (feedback), so a
// load that starts eats into the surplus as it would have. Shared by `npm run simulate` and tests.
import { SimulatedClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { Measurements } from '../measurements/service.js';
import { Engine } from './engine.js';
import type { AutomationOptions } from './options.js';
import type { Rule, RuleDecision } from './rule.js';

export interface TraceRow {
  at: number; // ms since epoch
  values: Map<string, number>;
}

export interface ReplayDecision {
  at: number;
  rule: string;
  state: string;
  reason: string;
}

export interface LoadSummary {
  rule: string;
  starts: number;
  onSeconds: number;
  energyKwh: number;
}

export interface ReplayResult {
  decisions: ReplayDecision[];
  loads: LoadSummary[];
  readings: number;
  from: number;
  to: number;
}

/** Parses a trace: a `time` column (ISO time or seconds from the start) and one column per source. */
export function parseTrace(csv: string, sourceNames: Iterable<string>): TraceRow[] {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  if (lines.length < 2) throw new Error('the trace needs a header line and at least one row');
  const header = lines[0]!.split(',').map((h) => h.trim());
  if (header[0] !== 'time') throw new Error(`the first column must be 'time', not '${header[0]}'`);
  const known = new Set(sourceNames);
  for (const column of header.slice(1)) if (!known.has(column)) throw new Error(`column '${column}' names no source in automation.sources`);
  const start = Date.UTC(2026, 0, 1);
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',').map((c) => c.trim());
    const time = cells[0]!;
    const at = /^-?\d+(\.\d+)?$/.test(time) ? start + Number(time) * 1000 : Date.parse(time);
    if (!Number.isFinite(at)) throw new Error(`line ${i + 2}: '${time}' is not a time`);
    const values = new Map<string, number>();
    header.slice(1).forEach((name, k) => {
      const cell = cells[k + 1];
      if (cell === undefined || cell === '') return; // no reading: the source ages
      const n = Number(cell);
      if (!Number.isFinite(n)) throw new Error(`line ${i + 2}: ${name} '${cell}' is not a number`);
      values.set(name, n);
    });
    return { at, values };
  });
}

export async function replay(
  options: AutomationOptions,
  trace: TraceRow[],
  log: Logger,
  opts: { feedback?: boolean; onDecision?: (d: ReplayDecision) => void } = {},
): Promise<ReplayResult> {
  if (trace.length === 0) throw new Error('the trace is empty');
  const clock = new SimulatedClock(trace[0]!.at);
  const loads = new Map<string, LoadSummary & { onSince?: number; watts: number }>();
  const decisions: ReplayDecision[] = [];
  // Simulated loads switch instantly and report their state to the rule.
  const states = new Map<string, boolean>();
  const measurements = new Measurements({ clock, log });
  for (const source of options.sources) measurements.define(source);
  const engine = new Engine({
    options: { ...options, dry_run: false },
    clock,
    log,
    measurements,
    tickMs: 0, // evaluated below, once per simulated second
    targetFor: (r) => ({ describe: `(simulated) ${r.name}`, current: () => states.get(r.name) ?? false, set: async (on) => void states.set(r.name, on) }),
  });
  const gridName = options.surplus?.grid;
  const importSign = options.surplus?.grid_positive_is_import === false ? -1 : 1;
  let recordedGrid: number | undefined;
  const loadDraw = () => [...loads.values()].reduce((sum, l) => sum + (l.onSince !== undefined ? l.watts : 0), 0);

  engine.onDecision((rule: Rule, d: RuleDecision, changed: boolean) => {
    let load = loads.get(rule.name);
    if (!load) loads.set(rule.name, (load = { rule: rule.name, starts: 0, onSeconds: 0, energyKwh: 0, watts: 0 }));
    const now = clock.now();
    const on = d.consumingW > 0;
    if (on && load.onSince === undefined) {
      load.onSince = now;
      load.starts++;
    } else if (!on && load.onSince !== undefined) {
      close(load, now);
    }
    load.watts = d.consumingW;
    if (changed) {
      const decision = { at: now, rule: rule.name, state: d.state, reason: d.reason };
      decisions.push(decision);
      opts.onDecision?.(decision);
    }
  });
  const close = (load: LoadSummary & { onSince?: number; watts: number }, now: number) => {
    const seconds = (now - load.onSince!) / 1000;
    load.onSeconds += seconds;
    load.energyKwh += (load.watts * seconds) / 3_600_000;
    load.onSince = undefined;
  };

  await engine.start();
  const feed = () => {
    if (gridName && recordedGrid !== undefined) {
      const extra = opts.feedback === false ? 0 : loadDraw();
      engine.sources.get(gridName)!.set(recordedGrid + importSign * extra);
    }
  };
  for (const row of trace) {
    // Whole seconds between readings, so timers run out as they would live; one pass each.
    while (clock.now() + 1000 < row.at) {
      clock.advance(1000);
      engine.batch(feed);
    }
    if (row.at > clock.now()) clock.advance(row.at - clock.now());
    engine.batch(() => {
      for (const [name, value] of row.values) {
        if (name === gridName) recordedGrid = value;
        else engine.sources.get(name)!.set(value);
      }
      feed();
    });
  }
  const end = clock.now();
  for (const load of loads.values()) if (load.onSince !== undefined) close(load, end);
  await engine.settled();
  await engine.stop();
  return {
    decisions,
    loads: [...loads.values()].map(({ rule, starts, onSeconds, energyKwh }) => ({ rule, starts, onSeconds, energyKwh })),
    readings: trace.length,
    from: trace[0]!.at,
    to: end,
  };
}
