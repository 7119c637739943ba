// Runs the compiled bridge (dist/, as in the add-on image) with 500 entities, lets it sit idle,
// and prints its resident memory. Usage: node bench/idle-bridge.mjs BROKER_PORT
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../dist/app.js';
import { parseOptions } from '../dist/options.js';

const port = Number(process.argv[2]);
const app = new App({
  options: parseOptions({ mqtt: { host: '127.0.0.1', port, client_id: 'bench_idle' }, base_topic: 'idle', log_level: 'error' }),
  dataDir: mkdtempSync(join(tmpdir(), 'e2m-idle-')),
  extraAdapters: (contextFor) => [
    {
      id: 'bench',
      async start() {
        const { devices } = contextFor('bench');
        for (let d = 0; d < 10; d++) {
          const device = devices.device({ id: `idle_${d}`, name: `Idle ${d}` }, 'bench');
          for (let e = 0; e < 50; e++) device.sensor({ key: `p${e}`, name: `Power ${e}`, deviceClass: 'power', unit: 'W', stateClass: 'measurement' }).update(e);
        }
      },
      async stop() {},
      failSafe() {},
    },
  ],
});
await app.start();
await app.bridge.ready;
await new Promise((r) => setTimeout(r, 5000));
const rssMb = process.memoryUsage().rss / 1024 / 1024;
await app.stop();
process.stdout.write(JSON.stringify({ rssMb }));
process.exit(0);
