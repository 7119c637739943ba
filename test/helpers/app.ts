// Runs the real App against a test broker, with its log lines captured.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppConfig } from '../../src/app.js';
import { parseOptions } from '../../src/options.js';

export interface TestApp {
  app: App;
  logs: string[];
  dataDir: string;
  stop(): Promise<void>;
}

export function tempDir(prefix = 'e2m-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startApp(
  port: number,
  extra: Record<string, unknown> = {},
  config: Partial<AppConfig> = {},
): Promise<TestApp> {
  const logs: string[] = [];
  const dataDir = config.dataDir ?? tempDir();
  const options = parseOptions({ mqtt: { host: '127.0.0.1', port, client_id: `e2m_${Math.random().toString(16).slice(2, 10)}` }, log_level: 'debug', ...extra });
  const app = new App({
    logOut: { write: (line) => void logs.push(line) },
    tuning: { birthDelayMs: { min: 10, max: 30 }, backoff: { initialMs: 100, maxMs: 500 }, discoveryDebounceMs: 5 },
    ...config,
    options,
    dataDir,
  });
  await app.start();
  await app.bridge.ready;
  return { app, logs, dataDir, stop: () => app.stop() };
}
