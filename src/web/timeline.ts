// What each rule decided over the last 24 h, for the page: every change of state with its reason
// (and the surplus and draw then), and a sample a minute of the surplus against what the rule's
// load drew (the plot draws both). Kept in
// memory, written through the Store every 15 minutes and on stop (compact JSON: an SD card
// should not see the whole file every minute), and cut to a size limit so that a rule that
// flaps every second cannot fill the data directory. A crash loses at most the last 15 minutes.
import { z } from 'zod';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Store } from '../core/store.js';

export const TIMELINE_FILE = 'web_timeline';
const DAY_MS = 24 * 3600_000;
/** Changes kept per rule: a rule that changes more often than every 3 minutes for a day keeps the newest. */
export const MAX_CHANGES = 500;
const SAMPLE_EVERY_MS = 60_000;
/** A sample a minute for 24 h. */
const MAX_SAMPLES = 24 * 60;
/** Reasons are cut to this length (the HA sensor holds 250 characters). */
const MAX_REASON = 250;
/** How often the file is rewritten, if anything was recorded since. */
export const SAVE_EVERY_MS = 15 * 60_000;

const change = z.object({
  t: z.number(),
  state: z.string(),
  reason: z.string(),
  dry: z.boolean(),
  surplus: z.number().nullable(),
  drawn: z.number(),
});
const sample = z.tuple([z.number(), z.number().nullable(), z.number()]);
const fileShape = z.record(z.string(), z.object({ changes: z.array(change), samples: z.array(sample) }));

export type TimelineChange = z.infer<typeof change>;
/** [time, surplus W (null when unknown), drawn W]. */
export type TimelineSample = z.infer<typeof sample>;
export interface RuleTimeline {
  changes: TimelineChange[];
  samples: TimelineSample[];
}

export interface DecisionSeen {
  state: string;
  reason: string;
  dryRun: boolean;
  surplusW: number | null;
  drawnW: number;
}

export class Timelines {
  private rules = new Map<string, RuleTimeline>();
  private dirty = false;
  private saveTimer?: TimerHandle;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Reads the saved timelines; those of rules not in `rules` (removed since) are dropped. */
  async load(rules?: Iterable<string>): Promise<void> {
    const saved = await this.store.read(TIMELINE_FILE, fileShape, {});
    const known = rules ? new Set(rules) : undefined;
    for (const [slug, timeline] of Object.entries(saved)) {
      if (known && !known.has(slug)) this.dirty = true;
      else this.rules.set(slug, timeline);
    }
    this.prune();
    this.saveTimer = this.clock.setInterval(() => void this.save(), SAVE_EVERY_MS);
  }

  /** Records a decision; returns the change it recorded, if the state or the reason's gist changed. */
  record(slug: string, seen: DecisionSeen, changed: boolean): TimelineChange | undefined {
    const now = this.clock.now();
    const timeline = this.of(slug);
    const lastSample = timeline.samples.at(-1);
    if (!lastSample || now - lastSample[0] >= SAMPLE_EVERY_MS) {
      timeline.samples.push([now, seen.surplusW === null ? null : Math.round(seen.surplusW), Math.round(seen.drawnW)]);
      this.dirty = true;
    }
    const last = timeline.changes.at(-1);
    let recorded: TimelineChange | undefined;
    if (changed || !last || last.dry !== seen.dryRun) {
      recorded = {
        t: now,
        state: seen.state,
        reason: seen.reason.length > MAX_REASON ? seen.reason.slice(0, MAX_REASON - 1) + '…' : seen.reason,
        dry: seen.dryRun,
        surplus: seen.surplusW === null ? null : Math.round(seen.surplusW),
        drawn: Math.round(seen.drawnW),
      };
      timeline.changes.push(recorded);
      this.dirty = true;
    }
    this.prune(timeline, now);
    return recorded;
  }

  get(slug: string): RuleTimeline {
    return this.rules.get(slug) ?? { changes: [], samples: [] };
  }

  private of(slug: string): RuleTimeline {
    let timeline = this.rules.get(slug);
    if (!timeline) this.rules.set(slug, (timeline = { changes: [], samples: [] }));
    return timeline;
  }

  private prune(only?: RuleTimeline, now = this.clock.now()): void {
    const since = now - DAY_MS;
    for (const timeline of only ? [only] : this.rules.values()) {
      // The change in force at the start of the window stays: the timeline starts in a known state.
      const firstKept = timeline.changes.findIndex((c) => c.t >= since);
      const drop = firstKept < 0 ? Math.max(0, timeline.changes.length - 1) : Math.max(0, firstKept - 1);
      if (drop) timeline.changes.splice(0, drop);
      if (timeline.changes.length > MAX_CHANGES) timeline.changes.splice(0, timeline.changes.length - MAX_CHANGES);
      const firstSample = timeline.samples.findIndex((s) => s[0] >= since);
      timeline.samples.splice(0, firstSample < 0 ? timeline.samples.length : firstSample);
      if (timeline.samples.length > MAX_SAMPLES) timeline.samples.splice(0, timeline.samples.length - MAX_SAMPLES);
    }
  }

  /** Writes what changed since the last save (the Store writes atomically). */
  async save(): Promise<void> {
    // Nothing new: a write already under way is still waited for.
    if (!this.dirty) return this.store.flush();
    this.dirty = false;
    await this.store.write(TIMELINE_FILE, Object.fromEntries(this.rules), { compact: true }).catch(() => (this.dirty = true));
  }

  async stop(): Promise<void> {
    this.saveTimer?.cancel();
    await this.save();
  }
}
