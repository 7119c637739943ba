// The add-on's entry: `node dist/main.js --options FILE --data DIR` (defaults: the add-on's /data).
// It owns the process: signals stop the add-on gracefully within a time limit, and a crash (an
// uncaught exception, an unhandled rejection) or any exit first puts every output in its safe
// state, synchronously.
import { parseArgs } from 'node:util';
import { App } from './app.js';
import { loadOptionsFile, OptionsError } from './options.js';

/** A graceful stop that takes longer is cut short (the Supervisor kills us after 10 s anyway). */
const STOP_LIMIT_MS = 8000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { options: { type: 'string', default: '/data/options.json' }, data: { type: 'string', default: '/data' } },
  });
  const options = loadOptionsFile(values.options!);
  const app = new App({ options, dataDir: values.data!, supervisorToken: process.env.SUPERVISOR_TOKEN, supervisorUrl: process.env.E2M_SUPERVISOR_URL });

  const crash = (what: string, err: unknown) => {
    app.logs.root.fatal({ err }, `${what}; stopping`);
    app.failSafe(what);
    process.exit(1);
  };
  process.on('uncaughtException', (err) => crash('unexpected error', err));
  process.on('unhandledRejection', (reason) => crash('unhandled promise rejection', reason));
  process.on('exit', () => app.failSafe('exit'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logs.root.info(`${signal} received, stopping`);
    app.failSafe(signal);
    const limit = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), STOP_LIMIT_MS).unref());
    if ((await Promise.race([app.stop().then(() => 'done' as const), limit])) === 'late') {
      app.logs.root.error(`stopping took longer than ${STOP_LIMIT_MS / 1000} s; exiting anyway`);
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await app.start();
}

main().catch((err: unknown) => {
  // Options errors are one sentence for the user; anything else is a start-up failure.
  const message = err instanceof OptionsError ? err.message : `energy2mqtt could not start: ${(err as Error).message}`;
  process.stderr.write(message + '\n');
  process.exit(1);
});
