// pino loggers, one child per adapter. Every line goes through one sink that masks secrets and
// prints either readable text (the default; what the add-on log tab shows) or JSON lines.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { Secrets } from './secrets.js';
import { clip, oneLine } from './outside-text.js';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warning' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warning', 'error'];

const PINO_LEVEL: Record<LogLevel, LevelWithSilent> = { trace: 'trace', debug: 'debug', info: 'info', warning: 'warn', error: 'error' };
const LEVEL_NAME: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

export interface LogSink {
  write(line: string): void;
}

export interface LogHubOptions {
  level: LogLevel;
  secrets: Secrets;
  format?: 'text' | 'json';
  /** Where lines go (default: stdout). */
  out?: LogSink;
}

/** Owns the root logger and every child, so the level can change at runtime for all of them. */
export class LogHub {
  readonly root: Logger;
  private children = new Set<Logger>();
  private current: LogLevel;

  constructor(private readonly options: LogHubOptions) {
    this.current = options.level;
    const out = options.out ?? { write: (line: string) => process.stdout.write(line) };
    const format = options.format ?? 'text';
    const sink = {
      write: (raw: string) => {
        const clean = options.secrets.scrub(raw);
        // Turning JSON into text un-escapes strings, so mask again afterwards.
        out.write(format === 'json' ? cutJson(clean) : options.secrets.scrub(toText(clean)));
      },
    };
    this.root = pino({ level: PINO_LEVEL[options.level], base: undefined }, sink);
  }

  child(module: string): Logger {
    const logger = this.root.child({ module });
    this.children.add(logger);
    return logger;
  }

  get level(): LogLevel {
    return this.current;
  }

  setLevel(level: LogLevel): void {
    this.current = level;
    this.root.level = PINO_LEVEL[level];
    for (const child of this.children) child.level = PINO_LEVEL[level];
  }
}

/** The longest message a log line carries; callers cut outside text much shorter (outside-text.ts). */
const MAX_MESSAGE = 2000;

/** A JSON line with a message longer than MAX_MESSAGE, cut (a last guard against flooding). */
function cutJson(jsonLine: string): string {
  if (jsonLine.length <= MAX_MESSAGE + 200) return jsonLine;
  try {
    const entry = JSON.parse(jsonLine) as Record<string, unknown>;
    if (typeof entry.msg === 'string') entry.msg = clip(entry.msg, MAX_MESSAGE);
    return JSON.stringify(entry) + '\n';
  } catch {
    return jsonLine;
  }
}

/**
 * One readable line. The message and the extra fields are escaped, so that nothing in them (a
 * payload quoted in a message) can start a line of its own; only our own stack traces span lines.
 */
function toText(jsonLine: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const { level, time, msg, module, err, ...rest } = entry;
  const stamp = new Date(Number(time)).toISOString().replace('T', ' ').replace('Z', '');
  const name = (LEVEL_NAME[Number(level)] ?? String(level)).padEnd(5);
  let line = `${stamp} ${name} ${module ? `[${String(module)}] ` : ''}${oneLine(clip(String(msg ?? ''), MAX_MESSAGE))}`;
  const extras = Object.entries(rest).map(([k, v]) => `${k}=${oneLine(clip(typeof v === 'string' ? v : JSON.stringify(v), MAX_MESSAGE))}`);
  if (extras.length) line += ` (${extras.join(', ')})`;
  // Every line of a stack trace is indented, so an error message quoting a payload cannot pass for a log line.
  if (err && typeof err === 'object' && 'stack' in err) line += String((err as { stack: unknown }).stack).split('\n').map((l) => `\n    ${l.trimStart()}`).join('');
  return line + '\n';
}
