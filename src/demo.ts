// `npm run demo`: a newcomer's first run. An embedded MQTT broker, the simulator of every device
// family, and the bridge wired to them. Options: --port N (default 1883), --data DIR.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { App } from './app.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { parseOptions } from './options.js';
import { startDemoSimulators } from './simulators/index.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '1883' }, data: { type: 'string' } } });
  const wanted = Number(values.port);
  const broker = await EmbeddedBroker.create();
  let port: number;
  try {
    port = await broker.listen(wanted);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    process.stderr.write(`Port ${wanted} is taken (another MQTT broker?); choose another: npm run demo -- --port 1884\n`);
    process.exit(1);
  }
  const simulators = await startDemoSimulators(port);
  const dataDir = values.data ?? mkdtempSync(join(tmpdir(), 'energy2mqtt-demo-'));
  const options = parseOptions({ mqtt: { host: '127.0.0.1', port }, ...simulators.options });
  const app = new App({ options, dataDir });
  await app.start();

  process.stdout.write(
    [
      '',
      `energy2mqtt demo: embedded MQTT broker on 127.0.0.1:${port}, data in ${dataDir}`,
      `Simulators: ${simulators.names.length ? simulators.names.join(', ') : 'none yet'}`,
      'Watch what Home Assistant would see:',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/#' -t 'homeassistant/#'`,
      'Watch the automation decide (a sunny day every 4 minutes):',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/rule_demo_boiler/#' -t demo/boiler/set`,
      "The simulated GivEnergy inverter answers GivTCP's REST API too (this run's token):",
      `  curl -H 'Authorization: Bearer ${options.givenergy_rest?.token ?? ''}' http://127.0.0.1:6345/getCache`,
      'Send a command, e.g. change the log level:',
      `  mosquitto_pub -h 127.0.0.1 -p ${port} -t energy2mqtt/bridge/log_level/set -m debug`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await app.stop();
    await simulators.stop();
    await broker.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
