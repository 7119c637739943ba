// The production entry (src/main.ts) as a child process with an options file, its output
// collected; with `inject`, a crash can be caused from outside (test/helpers/inject-crash.ts).
import { spawn, type ChildProcess } from 'node:child_process';

export interface AddOnProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code when it has exited. */
  exited: Promise<number | null>;
}

export function spawnAddOn(optionsFile: string, dataDir: string, inject?: 'exception' | 'rejection'): AddOnProcess {
  const preload = inject ? ['--import', './test/helpers/inject-crash.ts'] : [];
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, 'src/main.ts', '--options', optionsFile, '--data', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: inject ? { ...process.env, E2M_INJECT: inject } : process.env,
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}
