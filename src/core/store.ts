// The data directory: what must survive a restart, one JSON file per concern. A write goes to a
// temporary file, is fsynced and renamed over the old one, so a process killed at any moment
// leaves either the old or the new content, never a torn or empty file.
import { promises as fs, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import type { Logger } from './logger.js';

const NAME = /^[a-z0-9_-]+$/;

export interface WriteOptions {
  /** JSON without indentation: for large files written often (default: pretty-printed). */
  compact?: boolean;
}

export class Store {
  private writes = new Map<string, { running: Promise<void>; next?: unknown; hasNext: boolean; options?: WriteOptions }>();
  private seq = 0;

  constructor(
    readonly dir: string,
    private readonly log?: Logger,
  ) {}

  /** Creates the directory and clears temporary files a killed process left behind. */
  open(): void {
    mkdirSync(this.dir, { recursive: true });
    for (const file of readdirSync(this.dir)) if (file.endsWith('.tmp')) rmSync(join(this.dir, file), { force: true });
  }

  path(name: string): string {
    if (!NAME.test(name)) throw new Error(`store name '${name}' must be [a-z0-9_-]`);
    return join(this.dir, `${name}.json`);
  }

  /** Reads and validates a file; a missing file gives the fallback, a damaged one is set aside. */
  async read<T>(name: string, schema: z.ZodType<T>, fallback: T): Promise<T> {
    const file = this.path(name);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
      throw err;
    }
    try {
      const parsed = schema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
      this.log?.warn(`${name}.json does not have the expected shape; starting from defaults (${parsed.error.issues[0]?.message})`);
    } catch {
      this.log?.warn(`${name}.json is not valid JSON; starting from defaults`);
    }
    await fs.rename(file, `${file}.damaged`).catch(() => undefined);
    return fallback;
  }

  /** Writes a value atomically. Writes to one file are serialised; a burst collapses to the last value. */
  write(name: string, value: unknown, options?: WriteOptions): Promise<void> {
    const pending = this.writes.get(name);
    if (pending) {
      pending.next = value;
      pending.hasNext = true;
      pending.options = options;
      return pending.running;
    }
    const state: { running: Promise<void>; next?: unknown; hasNext: boolean; options?: WriteOptions } = { running: Promise.resolve(), hasNext: false, options };
    state.running = (async () => {
      let current: unknown = value;
      try {
        for (;;) {
          await this.writeNow(name, current, state.options);
          // Decide and unregister in the same tick: a write arriving later starts a new run
          // instead of being folded into one that has already finished.
          if (!state.hasNext) {
            this.writes.delete(name);
            return;
          }
          current = state.next;
          state.hasNext = false;
        }
      } catch (err) {
        this.writes.delete(name);
        throw err;
      }
    })();
    this.writes.set(name, state);
    return state.running;
  }

  /** Resolves once every write started so far is on disk. */
  async flush(): Promise<void> {
    await Promise.all([...this.writes.values()].map((w) => w.running.catch(() => undefined)));
  }

  private async writeNow(name: string, value: unknown, options?: WriteOptions): Promise<void> {
    const file = this.path(name);
    const tmp = `${file}.${process.pid}.${this.seq++}.tmp`;
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile((options?.compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    // Persist the rename itself: sync the directory entry.
    const dir = await fs.open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
