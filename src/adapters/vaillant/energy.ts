// The heat generators' energy for HA's Energy dashboard: the devices of GET emf/v2/{id}/currentSystem
// and their hourly buckets (Wh) of GET emf/v2/{id}/devices/{uuid}/buckets, added to totals that are
// kept in the store. Each series remembers up to when it has counted (`until`, the end of the last
// range asked for) and what it counted for each bucket of the last RECHECK_MS (`recent`). Every
// request starts RECHECK_MS before `until` (still one request per series), so an hour the cloud fills
// late (a gateway uploading its backlog) or corrects upwards adds its growth then; a shrink is
// ignored. So the total never goes back, no Wh counts twice, and a restart neither loses nor
// repeats one (research vaillant.md §1.4, §2.5). A bucket belongs to the time it ends: buckets that
// are not whole UTC hours (a half-hour time zone) are counted once they have ended.
import { z } from 'zod';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export const HOUR_MS = 3_600_000;
/** A bucket is counted only once it ended this long ago: the cloud fills the last hour late. */
export const SETTLE_MS = HOUR_MS;
/** After a long outage, older buckets than this are not asked for (one request stays small). */
export const MAX_CATCH_UP_MS = 31 * 24 * HOUR_MS;
/** Each request reads this far back again, for hours filled late or corrected. */
export const RECHECK_MS = 48 * HOUR_MS;

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

const counterShape = z.object({
  wh: z.number().min(0),
  until: z.number(),
  /** Wh counted per bucket (by its end, epoch ms as the key) for the buckets of the last RECHECK_MS. */
  recent: z.record(z.string(), z.number().min(0)).optional(),
  /** `recent` knows every bucket ending after this (a bucket not in it was counted as 0); buckets
   *  ending at or before it and not in `recent` were counted, with a value not kept. Default `until`
   *  (a counter from before `recent` was kept). */
  since: z.number().optional(),
});
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

/** Where the request of a counter starts: RECHECK_MS before what it has counted. */
export function requestFrom(counter: Counter): number {
  return counter.until - RECHECK_MS;
}

/**
 * The counter after a buckets answer up to `to`. A bucket counts when it has ended by `to`: one
 * ending after `until` is new and added whole; one ending before is added only by what it grew
 * since it was counted (a shrink is ignored, and is not taken off later growth). A bucket ending at
 * or before `since` that `recent` does not know was counted with an unknown value: it only becomes
 * the base for later growth. The counter then stands at `to` and keeps the buckets of the last
 * RECHECK_MS. Throws on an answer without `data`.
 */
export function addBuckets(counter: Counter, answer: unknown, to: number): { counter: Counter; addedWh: number; buckets: number } {
  const data = (answer as Json | undefined)?.data;
  if (!Array.isArray(data)) throw new Error('the energy answer has no data list');
  const since = counter.since ?? counter.until;
  const recent: Record<string, number> = { ...counter.recent };
  let added = 0;
  let buckets = 0;
  for (const b of data as Json[]) {
    if (!b || typeof b !== 'object') continue;
    const start = Date.parse(String(b.startDate));
    const end = Date.parse(String(b.endDate));
    const value = b.value;
    if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start || typeof value !== 'number' || !Number.isFinite(value) || value < 0) continue;
    if (end > to) continue; // not complete yet
    const key = String(end);
    const known = recent[key] ?? (end > since ? 0 : undefined);
    if (known === undefined) {
      recent[key] = value; // counted before, value unknown: the base for later growth
      continue;
    }
    if (value > known) {
      added += value - known;
      buckets++;
      recent[key] = value;
    } else {
      recent[key] = known;
    }
  }
  const until = Math.max(counter.until, to);
  const keepAfter = until - RECHECK_MS;
  const kept: Record<string, number> = {};
  for (const [key, wh] of Object.entries(recent)) if (Number(key) > keepAfter) kept[key] = wh;
  return { counter: { wh: counter.wh + added, until, recent: kept, since: Math.max(since, keepAfter) }, addedWh: added, buckets };
}
