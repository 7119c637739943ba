// What-if replay: a recorded measurement trace through the configured rules on a simulated
// clock. The loads the rules switch on are added to the recorded grid power (feedback), so a
// load that starts eats into the surplus as it would have; a surplus_follow load draws what its
// rule sets (level × watts_per_unit + offset). Shared by `npm run simulate` and tests.
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
  /** Changes of what it draws while on (a follow rule's level steps). */
  changes: number;
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

type Load = LoadSummary & { onSince?: number; watts: number; wattsSince: number };

export async function replay(
  options: AutomationOptions,
  trace: TraceRow[],
  log: Logger,
  opts: { feedback?: boolean; onDecision?: (d: ReplayDecision) => void } = {},
): Promise<ReplayResult> {
  if (trace.length === 0) throw new Error('the trace is empty');
  const clock = new SimulatedClock(trace[0]!.at);
  const loads = new Map<string, Load>();
  const decisions: ReplayDecision[] = [];
  // Simulated loads switch instantly and report their state to the rule.
  const states = new Map<string, boolean>();
  const levels = new Map<string, number>();
  const measurements = new Measurements({ clock, log });
  for (const source of options.sources) measurements.define(source);
  const engine = new Engine({
    options: { ...options, dry_run: false },
    clock,
    log,
    measurements,
    tickMs: 0, // evaluated below, once per simulated second
    targetFor: (r) => {
      const follow = options.rules.find((x) => x.name === r.name && x.type === 'surplus_follow');
      return {
        describe: `(simulated) ${r.name}`,
        current: () => states.get(r.name) ?? false,
        set: async (on) => void states.set(r.name, on),
        // A follow rule's load starts at its off level and takes what the rule sets.
        level: follow?.type === 'surplus_follow' ? { describe: `(simulated) ${r.name}`, current: () => levels.get(r.name) ?? follow.off_level, set: async (level) => void levels.set(r.name, level) } : undefined,
      };
    },
  });
  const gridName = options.surplus?.grid;
  const importSign = options.surplus?.grid_positive_is_import === false ? -1 : 1;
  let recordedGrid: number | undefined;
  const loadDraw = () => [...loads.values()].reduce((sum, l) => sum + (l.onSince !== undefined ? l.watts : 0), 0);

  engine.onDecision((rule: Rule, d: RuleDecision, changed: boolean) => {
    let load = loads.get(rule.name);
    if (!load) loads.set(rule.name, (load = { rule: rule.name, starts: 0, onSeconds: 0, energyKwh: 0, changes: 0, watts: 0, wattsSince: 0 }));
    const now = clock.now();
    // What a rule draws is what it set: a switch's power, a follow rule's level in watts.
    const on = d.consumingW > 0;
    if (on && load.onSince === undefined) {
      load.onSince = now;
      load.wattsSince = now;
      load.starts++;
    } else if (!on && load.onSince !== undefined) {
      close(load, now);
    } else if (on && d.consumingW !== load.watts) {
      count(load, now);
      load.changes++;
    }
    load.watts = d.consumingW;
    if (changed) {
      const decision = { at: now, rule: rule.name, state: d.state, reason: d.reason };
      decisions.push(decision);
      opts.onDecision?.(decision);
    }
  });
  /** Energy at the power drawn since the last change. */
  const count = (load: Load, now: number) => {
    load.energyKwh += (load.watts * (now - load.wattsSince)) / 3_600_000_000;
    load.wattsSince = now;
  };
  const close = (load: Load, now: number) => {
    count(load, now);
    load.onSeconds += (now - load.onSince!) / 1000;
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
    loads: [...loads.values()].map(({ rule, starts, onSeconds, energyKwh, changes }) => ({ rule, starts, onSeconds, energyKwh, changes })),
    readings: trace.length,
    from: trace[0]!.at,
    to: end,
  };
}
