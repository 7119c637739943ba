// The page's world for the browser tests and the bench: a simulated GivEnergy inverter, a rule
// switching a pool pump on the surplus measured on an MQTT topic, the real App serving the page
// on a local port, and HA's ingress proxy in front of it when asked.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApp, type TestApp } from '../helpers/app.js';
import { Recorder } from '../helpers/mqtt-client.js';
import { GivEnergyDongleSimulator } from '../../src/simulators/givenergy-dongle.js';
import type { GivEnergyAdapter } from '../../src/adapters/givenergy/adapter.js';
import type { AppConfig } from '../../src/app.js';

export const DEV = 'givenergy_sa2114g047';
export const RULE = 'pool_pump';
export const CHROMIUM = '/usr/bin/chromium';

export interface PageWorld {
  t: TestApp;
  sim: GivEnergyDongleSimulator;
  adapter: GivEnergyAdapter;
  rec: Recorder;
  url: string;
  gridTopic: string;
  pumpTopic: string;
  grid(watts: number): Promise<void>;
  stop(): Promise<void>;
}

let seq = 0;

export async function startPageWorld(brokerPort: number, config: Partial<AppConfig> = {}): Promise<PageWorld> {
  const n = ++seq;
  const gridTopic = `web${n}/grid/power`;
  const pumpTopic = `web${n}/pump/set`;
  const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
  const simPort = await sim.listen();
  const rec = await Recorder.connect(brokerPort, [`web${n}/#`, 'energy2mqtt/#']);
  const t = await startApp(
    brokerPort,
    {
      givenergy: [{ host: '127.0.0.1', port: simPort, poll_interval: 3600, full_refresh_interval: 3600, frame_gap_ms: 0 }],
      automation: {
        sources: [{ name: 'grid', mqtt: { topic: gridTopic, json_path: 'power' }, stale_after: 3600 }],
        surplus: { grid: 'grid' },
        rules: [{ type: 'surplus_switch', name: 'Pool pump', power_w: 1200, target: { mqtt: { command_topic: pumpTopic } }, enable_delay: 600 }],
      },
    },
    { web: { port: 0 }, ...config },
  );
  const adapter = t.app.adapters[0] as GivEnergyAdapter;
  const url = `http://127.0.0.1:${t.app.web!.port}/`;
  return {
    t, sim, adapter, rec, url, gridTopic, pumpTopic,
    async grid(watts) {
      await rec.publish(gridTopic, JSON.stringify({ power: watts }), { qos: 0 });
    },
    async stop() {
      await t.stop();
      await sim.close();
      await rec.close();
    },
  };
}

/**
 * HA's ingress in front of the page: the page lives under /api/hassio_ingress/<token>/, the
 * proxy strips that prefix, says it in X-Ingress-Path, and answers 404 for anything else (so
 * an absolute URL in the page breaks, as it would in HA).
 */
export async function ingressProxy(targetPort: number, token = 'Zk3d8s-ingress-token'): Promise<{ url: string; prefix: string; close(): Promise<void> }> {
  const prefix = `/api/hassio_ingress/${token}`;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === prefix) {
      res.writeHead(301, { location: `${prefix}/` }).end();
      return;
    }
    if (!path.startsWith(`${prefix}/`)) {
      res.writeHead(404).end('not under the ingress path');
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: path.slice(prefix.length), headers: { ...req.headers, 'x-ingress-path': prefix } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
    res.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${prefix}/`,
    prefix,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
