// Child process for the SIGKILL test: writes ever-growing JSON to the store as fast as it can.
import { Store } from '../../src/core/store.js';

const store = new Store(process.argv[2]!);
store.open();
let n = 0;
for (;;) {
  n++;
  // Sizes vary so a torn write would show as truncated JSON.
  await store.write('state', { n, items: Array.from({ length: (n % 50) * 20 }, (_, i) => ({ i, text: 'x'.repeat(i % 30) })) });
  if (n === 1) process.stdout.write('started\n');
}
