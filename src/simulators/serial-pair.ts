// A virtual serial line from socat: two linked pseudo-terminals, one for the emulated meter (the
// USB-RS485 adapter's end) and one for the simulated heat pump (the other end of the bus). Used by
// the tests and by `npm run demo` when socat is installed.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { once } from 'node:events';

export interface SerialPair {
  /** The meter's end (what the add-on opens). */
  slave: string;
  /** The heat pump's end. */
  master: string;
  close(): Promise<void>;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where socat is: the first one on PATH, else /usr/bin/socat, else undefined. */
export function socatPath(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'socat'));
  return [...onPath, '/usr/bin/socat'].find(isExecutable);
}

export function socatAvailable(): boolean {
  return socatPath() !== undefined;
}

/** Starts socat and resolves once both pseudo-terminals exist and data flows between them. */
export async function socatPair(): Promise<SerialPair> {
  const binary = socatPath();
  if (!binary) throw new Error('socat is not installed (apt-get install socat)');
  const child: ChildProcess = spawn(binary, ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const paths: string[] = [];
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`socat exited (${code}): ${stderr}`)));
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      for (const match of stderr.matchAll(/PTY is (\S+)/g)) if (!paths.includes(match[1]!)) paths.push(match[1]!);
      if (paths.length === 2 && /starting data transfer loop/.test(stderr)) resolve();
    });
  });
  child.removeAllListeners('exit');
  // socat keeps logging with -d -d; nobody reads it past the start, so drop it instead of letting the pipe fill.
  child.stderr!.removeAllListeners('data');
  child.stderr!.resume();
  return {
    slave: paths[0]!,
    master: paths[1]!,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
