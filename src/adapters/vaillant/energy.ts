// The heat generators' energy for HA's Energy dashboard: the devices of GET emf/v2/{id}/currentSystem
// and their hourly buckets (Wh) of GET emf/v2/{id}/devices/{uuid}/buckets, added to totals that are
// kept in the store. Each series remembers up to when it has counted (`until`, the end of its last
// counted bucket): a bucket is counted when it starts at or after `until` and has ended, so no
// bucket counts twice and a restart neither loses nor repeats one (research vaillant.md §1.4, §2.5).
import { z } from 'zod';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export const HOUR_MS = 3_600_000;
/** A bucket is counted only once it ended this long ago: the cloud fills the last hour late. */
export const SETTLE_MS = HOUR_MS;
/** After a long outage, older buckets than this are not asked for (one request stays small). */
export const MAX_CATCH_UP_MS = 31 * 24 * HOUR_MS;

export const ENERGY_SERIES = [
  { key: 'electricity_heating', name: 'Electricity consumed for heating', operationMode: 'HEATING', energyType: 'CONSUMED_ELECTRICAL_ENERGY' },
  { key: 'electricity_hot_water', name: 'Electricity consumed for hot water', operationMode: 'DOMESTIC_HOT_WATER', energyType: 'CONSUMED_ELECTRICAL_ENERGY' },
  { key: 'environment_heating', name: 'Environmental yield for heating', operationMode: 'HEATING', energyType: 'EARNED_ENVIRONMENT_ENERGY' },
  { key: 'environment_hot_water', name: 'Environmental yield for hot water', operationMode: 'DOMESTIC_HOT_WATER', energyType: 'EARNED_ENVIRONMENT_ENERGY' },
] as const;
export type SeriesKey = (typeof ENERGY_SERIES)[number]['key'];

/** Sums published beside the series (no request of their own). */
export const ENERGY_SUMS = [
  { key: 'electricity_total', name: 'Electricity consumed', of: ['electricity_heating', 'electricity_hot_water'] },
  { key: 'environment_total', name: 'Environmental yield', of: ['environment_heating', 'environment_hot_water'] },
] as const satisfies ReadonlyArray<{ key: string; name: string; of: readonly SeriesKey[] }>;

export interface HeatGenerator {
  uuid: string;
  /** "aroTHERM plus", or the device type when the product has no name. */
  name: string;
  deviceType?: string;
  /** The series this device reports (from its `data` entries). */
  series: SeriesKey[];
}

/** The devices of currentSystem that report at least one of our series. */
export function parseCurrentSystem(json: unknown): HeatGenerator[] {
  const cs = (json && typeof json === 'object' ? json : {}) as Json;
  const candidates: unknown[] = [cs.primary_heat_generator, ...(Array.isArray(cs.secondary_heat_generators) ? cs.secondary_heat_generators : []), cs.electric_backup_heater];
  const out: HeatGenerator[] = [];
  for (const c of candidates) {
    if (!c || typeof c !== 'object') continue;
    const d = c as Json;
    if (typeof d.device_uuid !== 'string' || !d.device_uuid || out.some((g) => g.uuid === d.device_uuid)) continue;
    const data = Array.isArray(d.data) ? (d.data as Json[]) : [];
    const series = ENERGY_SERIES.filter((s) => data.some((x) => x && x.operation_mode === s.operationMode && x.value_type === s.energyType)).map((s) => s.key);
    if (series.length === 0) continue;
    const name = typeof d.product_name === 'string' && d.product_name.trim() ? d.product_name.trim() : typeof d.device_type === 'string' ? d.device_type : 'Heat generator';
    out.push({ uuid: d.device_uuid, name, deviceType: typeof d.device_type === 'string' ? d.device_type : undefined, series });
  }
  return out;
}

const counterShape = z.object({ wh: z.number().min(0), until: z.number() });
export type Counter = z.infer<typeof counterShape>;

/** What the store keeps per system. */
export const energyStoreShape = z.object({
  lastFetch: z.number().default(0),
  generators: z.record(z.string(), z.object({ name: z.string(), series: z.record(z.string(), counterShape) })).default({}),
});
export type EnergyStore = z.infer<typeof energyStoreShape>;

/** The end of the last bucket that may be counted now. */
export function countableUntil(now: number): number {
  return Math.floor((now - SETTLE_MS) / HOUR_MS) * HOUR_MS;
}

/** The buckets request of one series from `from` to `to` (hourly). */
export function bucketsPath(systemId: string, uuid: string, key: SeriesKey, from: number, to: number): string {
  const s = ENERGY_SERIES.find((x) => x.key === key)!;
  const q = new URLSearchParams({ resolution: 'HOUR', operationMode: s.operationMode, energyType: s.energyType, startDate: new Date(from).toISOString(), endDate: new Date(to).toISOString() });
  return `/emf/v2/${encodeURIComponent(systemId)}/devices/${encodeURIComponent(uuid)}/buckets?${q.toString()}`;
}

/**
 * The counter after a buckets answer for [counter.until, to): every bucket inside that range is
 * added once, and the counter then stands at `to`. A bucket reaching past `to` (not complete yet)
 * or starting before `until` (counted already) is left out. Throws on an answer without `data`.
 */
export function addBuckets(counter: Counter, answer: unknown, to: number): { counter: Counter; addedWh: number; buckets: number } {
  const data = (answer as Json | undefined)?.data;
  if (!Array.isArray(data)) throw new Error('the energy answer has no data list');
  let added = 0;
  let buckets = 0;
  for (const b of data as Json[]) {
    if (!b || typeof b !== 'object') continue;
    const start = Date.parse(String(b.startDate));
    const end = Date.parse(String(b.endDate));
    const value = b.value;
    if (!Number.isFinite(start) || !Number.isFinite(end) || typeof value !== 'number' || !Number.isFinite(value) || value < 0) continue;
    if (start < counter.until || end > to) continue;
    added += value;
    buckets++;
  }
  return { counter: { wh: counter.wh + added, until: Math.max(counter.until, to) }, addedWh: added, buckets };
}
