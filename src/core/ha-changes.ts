// Values a user changed from Home Assistant (log level, rule thresholds, ...), kept in the data
// directory so a restart does not undo them.
import { z } from 'zod';
import type { Store } from './store.js';

// The file keeps its first name, so what users changed before the rename is not lost.
const FILE = 'settings';
const shape = z.record(z.string(), z.record(z.string(), z.unknown()));

export class HaChanges {
  private data: Record<string, Record<string, unknown>> = {};

  constructor(private readonly store: Store) {}

  async load(): Promise<void> {
    this.data = await this.store.read(FILE, shape, {});
  }

  get<T>(scope: string, key: string, schema: z.ZodType<T>, fallback: T): T {
    const parsed = schema.safeParse(this.data[scope]?.[key]);
    return parsed.success ? parsed.data : fallback;
  }

  /** The keys kept in a scope. */
  keys(scope: string): string[] {
    return Object.keys(this.data[scope] ?? {});
  }

  set(scope: string, key: string, value: unknown): Promise<void> {
    (this.data[scope] ??= {})[key] = value;
    return this.store.write(FILE, this.data);
  }
}
