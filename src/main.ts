// The add-on's entry: `node dist/main.js --options FILE --data DIR` (defaults: the add-on's /data).
import { parseArgs } from 'node:util';
import { App } from './app.js';
import { loadOptionsFile, OptionsError } from './options.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { options: { type: 'string', default: '/data/options.json' }, data: { type: 'string', default: '/data' } },
  });
  const options = loadOptionsFile(values.options!);
  const app = new App({ options, dataDir: values.data!, supervisorToken: process.env.SUPERVISOR_TOKEN, supervisorUrl: process.env.E2M_SUPERVISOR_URL });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logs.root.info(`${signal} received, stopping`);
    await app.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('uncaughtException', (err) => {
    app.logs.root.fatal({ err }, 'unexpected error');
    process.exit(1);
  });
  await app.start();
}

main().catch((err: unknown) => {
  // Options errors are one sentence for the user; anything else is a start-up failure.
  const message = err instanceof OptionsError ? err.message : `energy2mqtt could not start: ${(err as Error).message}`;
  process.stderr.write(message + '\n');
  process.exit(1);
});
