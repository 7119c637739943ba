// `npm run bench`: every benchmark, each printed as a table. Measures; asserts nothing.
// `npx tsx bench/run.ts victron givenergy`: only the families named (by key or title, case-insensitive).
import { startTestBroker, type TestBroker } from '../test/helpers/broker.js';
import { benchBridge } from './bridge.bench.js';
import { benchAutomation } from './automation.bench.js';
import { benchGivenergy } from './givenergy.bench.js';
import { benchGivenergyEvc } from './givenergy-evc.bench.js';
import { benchGivenergyFamilies } from './givenergy-families.bench.js';
import { benchVaillant } from './vaillant.bench.js';
import { benchRecovery } from './recovery.bench.js';
import { benchVictron } from './victron.bench.js';
import { benchViessmannMeter } from './viessmann-meter.bench.js';
import { benchWaterHeater } from './water-heater.bench.js';
import { benchWeb } from './web.bench.js';
import { printTable, type Row } from './stats.js';

const families: Array<{ key: string; title: string; run: (broker: TestBroker) => Promise<Row[]> }> = [
  { key: 'bridge', title: 'Bridge (issue 2)', run: benchBridge },
  { key: 'automation', title: 'Automation (issue 3)', run: benchAutomation },
  { key: 'givenergy', title: 'GivEnergy (issue 4)', run: benchGivenergy },
  { key: 'vaillant', title: 'Vaillant (issue 5)', run: () => benchVaillant() },
  { key: 'recovery', title: 'Recovery (issue 8)', run: () => benchRecovery() },
  { key: 'victron', title: 'Victron and Tempo (issue 10)', run: benchVictron },
  { key: 'viessmann', title: 'Viessmann meter (issue 11)', run: benchViessmannMeter },
  { key: 'water-heater', title: 'Water heater (issue 12)', run: () => benchWaterHeater() },
  { key: 'givenergy-evc', title: 'GivEnergy EV charger (issue 13)', run: benchGivenergyEvc },
  { key: 'givenergy-families', title: 'GivEnergy families (issue 13)', run: benchGivenergyFamilies },
  { key: 'web', title: "The add-on's page (issue 15)", run: benchWeb },
];

const wanted = process.argv.slice(2).map((a) => a.toLowerCase());
const chosen = wanted.length ? families.filter((f) => wanted.some((w) => f.key.includes(w) || f.title.toLowerCase().includes(w))) : families;
if (!chosen.length) {
  console.error(`no benchmark family matches ${wanted.join(', ')}; there are: ${families.map((f) => f.key).join(', ')}`);
  process.exit(2);
}

const broker = await startTestBroker();
let failed = false;
try {
  console.log(`broker: ${broker.kind}; node ${process.version}; ${(await import('node:os')).cpus().length} cores`);
  for (const family of chosen) printTable(family.title, await family.run(broker));
} catch (error) {
  console.error(error);
  failed = true;
} finally {
  await broker.stop();
}
// A benchmark that failed half-way may leave a simulator's socket open: do not wait for it.
if (failed) process.exit(1);
