// `npm run demo`: a newcomer's first run. An embedded MQTT broker, the simulator of every device
// family, and the bridge wired to them, with the add-on's page on a local port. Options: --port N
// (default 1883), --web-port N (default 8099, or any free port when it is taken), --data DIR.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createServer } from 'node:net';
import { App } from './app.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { parseOptions } from './options.js';
import { DEMO_GX_PORTAL_ID, DEMO_HEAT_PUMP_METER, DEMO_HEAT_PUMP_TOPIC, DEMO_TEMPO_RULE, DEMO_WATER_HEATER_DEVICE, DEMO_EV_CHARGER_SERIAL, DEMO_EV_RULE, startDemoSimulators } from './simulators/index.js';
import { meterDeviceId } from './adapters/viessmann-meter/options.js';
import { victronDeviceId } from './adapters/victron/ids.js';
import { slugOf } from './automation/options.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '1883' }, 'web-port': { type: 'string', default: '8099' }, data: { type: 'string' } } });
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
  const app = new App({ options, dataDir, web: { port: await portOrAny(Number(values['web-port'])) } });
  await app.start();
  // The heat pump polls the add-on's meter, which listens only from app.start() on.
  await simulators.startPollers();

  process.stdout.write(
    [
      '',
      `energy2mqtt demo: embedded MQTT broker on 127.0.0.1:${port}, data in ${dataDir}`,
      app.web ? `The add-on's page (what Home Assistant shows in its sidebar): http://127.0.0.1:${app.web.port}/` : 'The add-on\'s page could not be served (see the log).',
      'Simulators:',
      ...simulators.names.map((name) => `  - ${name}`),
      'Watch what Home Assistant would see:',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/#' -t 'homeassistant/#'`,
      'Watch the automation decide (a sunny day every 4 minutes):',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/rule_demo_boiler/#' -t demo/boiler/set`,
      'Watch the Tempo colours and the Tempo ESS rule plan the GX\'s night (schedule at 20:05, min SoC and BatteryLife at 22:00, Paris time):',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/tempo/#' -t 'energy2mqtt/rule_${slugOf(DEMO_TEMPO_RULE)}/#' -t 'energy2mqtt/${victronDeviceId(DEMO_GX_PORTAL_ID)}/#'`,
      'Watch the heat pump poll the emulated Viessmann meter (its compressor follows the surplus served):',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/${meterDeviceId(DEMO_HEAT_PUMP_METER)}/#' -t ${DEMO_HEAT_PUMP_TOPIC}`,
      'Watch the PV water heater (relay and servo on the simulated pigpiod) soak up the sunny part of the day, holding 100 W of export.',
      'It shares the surplus: the Vitocal gets in when the export jumps as a cloud passes (the heater then works around its 900 W),',
      'and the 2 kW boiler rule goes "waiting" for a moment after a cloud but rarely switches on: the heater takes the surplus back first.',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/${DEMO_WATER_HEATER_DEVICE}/#' -t demo/boiler/set -t ${DEMO_HEAT_PUMP_TOPIC}`,
      'Watch the EV charger and its ev_charge rule (solar mode: it starts only when 1.4 kW of surplus is left for 60 s):',
      `  mosquitto_sub -h 127.0.0.1 -p ${port} -v -t 'energy2mqtt/givenergy_evc_${DEMO_EV_CHARGER_SERIAL.toLowerCase()}/#' -t 'energy2mqtt/rule_${slugOf(DEMO_EV_RULE)}/#'`,
      'Notifications (tomorrow\'s colour, the plan applied) go to the simulated Prowl and are printed here.',
      "The simulated GivEnergy inverter answers GivTCP's REST API too (this run's token):",
      `  curl -H 'Authorization: Bearer ${options.givenergy_rest?.token ?? ''}' http://127.0.0.1:6345/getCache`,
      'Send a command, e.g. change the log level:',
      `  mosquitto_pub -h 127.0.0.1 -p ${port} -t energy2mqtt/bridge/log_level/set -m debug`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  // What a phone with Prowl would show.
  let shown = 0;
  const notifications = setInterval(() => {
    for (const n of simulators.prowl.received.slice(shown)) process.stdout.write(`Prowl notification: ${n.event}: ${n.description}\n`);
    shown = simulators.prowl.received.length;
  }, 1000);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(notifications);
    await app.stop();
    await simulators.stop();
    await broker.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

/** The port if it is free on 127.0.0.1, else 0 (any free one): the page should not stop the demo. */
function portOrAny(port: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(0));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(port)));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
