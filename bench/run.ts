// `npm run bench`: every benchmark, each printed as a table. Measures; asserts nothing.
import { startTestBroker } from '../test/helpers/broker.js';
import { benchBridge } from './bridge.bench.js';
import { benchAutomation } from './automation.bench.js';
import { benchGivenergy } from './givenergy.bench.js';
import { benchVaillant } from './vaillant.bench.js';
import { benchRecovery } from './recovery.bench.js';
import { printTable } from './stats.js';

const broker = await startTestBroker();
try {
  console.log(`broker: ${broker.kind}; node ${process.version}; ${(await import('node:os')).cpus().length} cores`);
  printTable('Bridge (issue 2)', await benchBridge(broker));
  printTable('Automation (issue 3)', await benchAutomation(broker));
  printTable('GivEnergy (issue 4)', await benchGivenergy(broker));
  printTable('Vaillant (issue 5)', await benchVaillant());
  printTable('Recovery (issue 8)', await benchRecovery());
} finally {
  await broker.stop();
}
