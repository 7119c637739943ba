// Shared by every benchmark: percentiles and the printed table.

export interface Row {
  metric: string;
  p50?: number;
  p99?: number;
  value?: number;
  unit: string;
  target?: string;
  n?: number;
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function summary(metric: string, samples: number[], unit: string, target?: string): Row {
  return { metric, p50: percentile(samples, 50), p99: percentile(samples, 99), unit, target, n: samples.length };
}

export function printTable(title: string, rows: Row[]): void {
  const fmt = (n: number | undefined) => (n === undefined ? '' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const lines = rows.map((r) => [r.metric, fmt(r.p50 ?? r.value), fmt(r.p99), r.unit, String(r.n ?? 1), r.target ?? '']);
  const header = ['metric', r50(rows), 'p99', 'unit', 'n', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(`\n${title}\n`);
  console.log(row(header));
  console.log('| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |');
  for (const l of lines) console.log(row(l));
}

function r50(rows: Row[]): string {
  return rows.some((r) => r.p50 !== undefined) ? 'p50 / value' : 'value';
}
