// What every adapter must do (DESIGN.md, "Contracts"), checked on each family against its
// simulator: the constructor does no I/O; a device that cannot be reached does not make start()
// throw and is shown with its reason; stop() resolves and lets go of sockets and timers; after
// failSafe() (twice) and after stop() nothing more reaches the device.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { freePort, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { Recorder, eventually } from '../helpers/mqtt-client.js';
import { startApp, tempDir, type TestApp } from '../helpers/app.js';
import { FIX, S, SYSTEM } from '../helpers/vaillant.js';
import type { Adapter } from '../../src/adapters/adapter.js';
import { GivEnergyAdapter } from '../../src/adapters/givenergy/adapter.js';
import { GivTcpRestServer } from '../../src/adapters/givenergy/givtcp-rest.js';
import { VaillantAdapter } from '../../src/adapters/vaillant/adapter.js';
import { givenergyInverterOptions, givenergyRestOptions } from '../../src/adapters/givenergy/options.js';
import { vaillantAccountOptions } from '../../src/adapters/vaillant/options.js';
import { GivEnergyDongleSimulator } from '../../src/simulators/givenergy-dongle.js';
import { MyVaillantSimulator } from '../../src/simulators/myvaillant.js';
import { VictronAdapter } from '../../src/adapters/victron/adapter.js';
import { victronGxOptions } from '../../src/adapters/victron/options.js';
import { VictronGxSimulator } from '../../src/simulators/victron-gx.js';
import { TempoAdapter } from '../../src/adapters/tempo/adapter.js';
import { tempoOptions } from '../../src/adapters/tempo/options.js';
import { TempoServer } from '../../src/simulators/tempo-server.js';
import { systemClock } from '../../src/core/clock.js';
import { Store } from '../../src/core/store.js';
import { ViessmannMeterAdapter } from '../../src/adapters/viessmann-meter/adapter.js';
import { viessmannMeterOptions } from '../../src/adapters/viessmann-meter/options.js';
import { sourceOptions } from '../../src/measurements/options.js';
import { WaterHeaterAdapter } from '../../src/adapters/water-heater/adapter.js';
import { waterHeaterOptions } from '../../src/adapters/water-heater/options.js';
import { PigpiodSimulator } from '../../src/simulators/pigpiod.js';
import { GivEvcAdapter } from '../../src/adapters/givenergy-evc/adapter.js';
import { givenergyEvcOptions } from '../../src/adapters/givenergy-evc/options.js';
import { GivEvcSimulator } from '../../src/simulators/givevc.js';
import modbusSerial from 'modbus-serial';
import { join } from 'node:path';

const ModbusRTU = modbusSerial.default;

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

/** Sockets and timers of this process, by kind: what an adapter holds. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

interface Family {
  name: string;
  /** Adapter, and how the test reaches its peer. `reachable: false` points it at a closed port. */
  make(t: TestApp, reachable: boolean): Promise<{
    adapter: Adapter;
    /** Requests or connections that reached the peer so far. */
    reached(): number;
    /** Resolves when HA is told why the device cannot be reached. */
    shownUnreachable(rec: Recorder): Promise<void>;
    /** Tries to act on the device through the add-on; resolves with whether anything reached it. */
    act(): Promise<boolean>;
    close(): Promise<void>;
  }>;
}

const families: Family[] = [
  {
    name: 'givenergy',
    async make(t, reachable) {
      const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
      const port = reachable ? await sim.listen() : await freePort();
      let connections = 0;
      const options = givenergyInverterOptions.parse({ host: '127.0.0.1', port, poll_interval: 3600, full_refresh_interval: 3600, frame_gap_ms: 0 });
      const adapter = new GivEnergyAdapter(options, t.app.contextFor('contract givenergy'));
      adapter.writeLimits = { minGapMs: 0, perMinute: 1000 };
      return {
        adapter,
        reached: () => (connections = Math.max(connections, sim.clientCount)) + sim.writes.length,
        shownUnreachable: async (rec) => {
          await rec.waitFor(`energy2mqtt/givenergy_dongle_127_0_0_1_${port}/last_error`, (p) => p === 'ECONNREFUSED');
          await rec.waitFor(`energy2mqtt/givenergy_dongle_127_0_0_1_${port}/connection`, (p) => p === 'ON');
        },
        act: async () => {
          const before = sim.writes.length;
          sim.hr[116] = 100;
          await adapter.execute('setChargeTarget', '55').catch(() => undefined);
          return sim.writes.length > before;
        },
        close: () => sim.close(),
      };
    },
  },
  {
    name: 'vaillant',
    async make(t, reachable) {
      const sim = new MyVaillantSimulator({
        users: [{ username: 'anna@example.com', password: 'secret-pw-42' }],
        homes: JSON.parse(readFileSync(`${FIX}/homes.json`, 'utf8')) as unknown[],
        systems: { [SYSTEM]: JSON.parse(readFileSync(`${FIX}/${SYSTEM}/system.json`, 'utf8')) },
        altchaCost: 200,
      });
      await sim.listen();
      const closed = `http://127.0.0.1:${await freePort()}`;
      const options = vaillantAccountOptions.parse({
        username: 'anna@example.com', password: 'secret-pw-42', identity_url: reachable ? sim.identityUrl : closed, api_url: reachable ? sim.apiUrl : closed,
      });
      const adapter = new VaillantAdapter(options, t.app.contextFor('contract vaillant'));
      const writes = () => sim.requests.filter((r) => r.method !== 'GET').length;
      return {
        adapter,
        reached: () => sim.requests.length,
        shownUnreachable: async (rec) => {
          await rec.waitFor(`energy2mqtt/${(adapter as unknown as { scope: string }).scope}/api_status`, (p) => /ECONNREFUSED|refused|connect/i.test(p));
        },
        act: async () => {
          const before = writes();
          await t.app.bridge.command(`${S}_dhw_255`, 'boost', 'ON', 'mqtt');
          return writes() > before;
        },
        close: () => sim.close(),
      };
    },
  },
  {
    name: 'victron',
    async make(t, reachable) {
      const gxBroker = reachable ? await startTestBroker() : undefined;
      const port = gxBroker?.port ?? (await freePort());
      const gx = gxBroker ? new VictronGxSimulator({ host: '127.0.0.1', port, portalId: 'c0ffee123456' }) : undefined;
      await gx?.start();
      const adapter = new VictronAdapter(victronGxOptions.parse({ host: '127.0.0.1', port, portal_id: 'c0ffee123456' }), t.app.contextFor('contract victron'));
      let value = 20;
      return {
        adapter,
        reached: () => (gx ? gx.writes.length + gx.keepalives.length : 0),
        shownUnreachable: async (rec) => {
          await rec.waitFor(`energy2mqtt/victron_link_127_0_0_1_${port}/last_error`, (p) => /ECONNREFUSED|connect/i.test(p));
          await rec.waitFor(`energy2mqtt/victron_link_127_0_0_1_${port}/connection`, (p) => p === 'ON');
        },
        act: async () => {
          if (!gx) return false;
          // After a fail-safe the GX may never have answered; the command must not reach it either way.
          await eventually(() => t.app.bridge.getDevice('victron_c0ffee123456')?.available === true, 2000, 'the GX answering').catch(() => undefined);
          const before = gx.writes.length;
          await t.app.bridge.command('victron_c0ffee123456', 'min_soc', String(++value), 'mqtt');
          return gx.writes.length > before;
        },
        close: async () => (await gx?.stop(), await gxBroker?.stop()),
      };
    },
  },
  {
    name: 'tempo',
    async make(t, reachable) {
      const sim = new TempoServer({ clock: systemClock });
      await sim.listen();
      const closed = `http://127.0.0.1:${await freePort()}/api`;
      const options = tempoOptions.parse({ sources: ['api_couleur_tempo'], api_couleur_tempo_url: reachable ? sim.urls.api_couleur_tempo_url : closed });
      // A store of its own: colours kept by an earlier instance would make asking unnecessary.
      const store = new Store(tempDir());
      store.open();
      const adapter = new TempoAdapter(options, { ...t.app.contextFor('contract tempo'), store });
      return {
        adapter,
        reached: () => sim.requests.length,
        shownUnreachable: async (rec) => {
          await rec.waitFor('energy2mqtt/tempo/source', (p) => /ECONNREFUSED|refused|connect/i.test(p));
        },
        // Nothing to actuate: acting is asking the sources again.
        act: async () => {
          const before = sim.requests.length;
          await adapter.refresh().catch(() => undefined);
          return sim.requests.length > before;
        },
        close: () => sim.close(),
      };
    },
  },
  {
    name: 'givenergy_rest',
    async make(t, reachable) {
      const sim = new GivEnergyDongleSimulator({ armFirmware: 312 });
      const port = reachable ? await sim.listen() : await freePort();
      const inverter = new GivEnergyAdapter(givenergyInverterOptions.parse({ host: '127.0.0.1', port, poll_interval: 3600, frame_gap_ms: 0 }), t.app.contextFor('contract inverter'));
      if (reachable) await inverter.start();
      const restPort = await freePort();
      const rest = new GivTcpRestServer(givenergyRestOptions.parse({ enabled: true, port: restPort, token: 'contract-token-123456' }), [inverter], t.app.contextFor('contract rest').log, t.app.contextFor('x').clock);
      let requests = 0;
      return {
        adapter: rest,
        reached: () => requests + sim.writes.length,
        // The API itself has no device; its inverter shows why it cannot be reached.
        shownUnreachable: async () => undefined,
        act: async () => {
          const before = sim.writes.length;
          sim.hr[116] = 100;
          try {
            requests++;
            await fetch(`http://127.0.0.1:${restPort}/setChargeTarget`, { method: 'POST', headers: { authorization: 'Bearer contract-token-123456', 'content-type': 'application/json' }, body: '{"chargeToPercent":"55"}' });
          } catch {
            // refused: nothing listens any more
          }
          return sim.writes.length > before;
        },
        close: async () => (await inverter.stop(), await sim.close()),
      };
    },
  },
  {
    name: 'viessmann_meter',
    async make(t, reachable) {
      // The heat pump is the peer: "reaching" it is serving it a surplus it reads.
      if (!t.app.measurements.get('contract_rest')) {
        t.app.measurements.define(sourceOptions.parse({ name: 'contract_rest', mqtt: { topic: 'contract/rest', unit: 'W' } }));
      }
      const port = await freePort();
      const missing = join(tempDir(), 'ttyUSB-gone');
      const options = viessmannMeterOptions.parse({
        name: 'Contract meter', rest_power: 'contract_rest', ...(reachable ? { tcp: { port, host: '127.0.0.1' } } : { serial: { port: missing } }),
      });
      const adapter = new ViessmannMeterAdapter(options, t.app.contextFor('contract meter'));
      const publisher = await Recorder.connect(broker.port);
      return {
        adapter,
        reached: () => (adapter.tcpPort === undefined ? 0 : 1),
        shownUnreachable: async (rec) => {
          await rec.waitFor('energy2mqtt/viessmann_meter_contract_meter/server_state', (p) => p.startsWith(`serial ${missing}: cannot open`));
        },
        act: async () => {
          await publisher.publish('contract/rest', '3000');
          const client = new ModbusRTU();
          try {
            await client.connectTCP('127.0.0.1', { port });
            client.setTimeout(500);
            const end = Date.now() + 1000;
            while (Date.now() < end) {
              if ((await client.readHoldingRegisters(37, 1)).data[0] !== 0) return true;
              await new Promise((r) => setTimeout(r, 20));
            }
            return false;
          } catch {
            return false; // refused: the meter is gone
          } finally {
            await new Promise<void>((resolve) => (client.isOpen ? client.close(() => resolve()) : resolve()));
          }
        },
        close: () => publisher.close(),
      };
    },
  },
  {
    name: 'water_heater',
    async make(t, reachable) {
      const sim = new PigpiodSimulator();
      const port = reachable ? await sim.listen() : await freePort();
      const options = waterHeaterOptions.parse({
        name: 'Contract heater', pigpiod: { host: '127.0.0.1', port }, relay: { gpio: 17 }, servo: { gpio: 21, release_after_ms: 0 }, grid: 'contract_grid', min_on_s: 0, min_off_s: 0,
      });
      const adapter = new WaterHeaterAdapter(options, t.app.contextFor('contract heater'));
      return {
        adapter,
        reached: () => sim.clientCount + sim.history.length,
        shownUnreachable: async (rec) => {
          await rec.waitFor('energy2mqtt/water_heater_contract_heater/backend_problem', (p) => /ECONNREFUSED/.test(p));
        },
        act: async () => {
          const before = sim.history.length;
          await t.app.bridge.command('water_heater_contract_heater', 'relay', sim.pin(17).level === 1 ? 'OFF' : 'ON', 'mqtt').catch(() => undefined);
          await new Promise((r) => setTimeout(r, 300));
          return sim.history.length > before;
        },
        close: () => sim.close(),
      };
    },
  },
  {
    name: 'givenergy_evc',
    async make(t, reachable) {
      const sim = new GivEvcSimulator({ serial: 'WF2306G999' });
      const port = reachable ? await sim.listen() : await freePort();
      const adapter = new GivEvcAdapter(givenergyEvcOptions.parse({ host: '127.0.0.1', port, poll_interval: 3600 }), t.app.contextFor('contract givenergy_evc'));
      adapter.tuning.timeoutMs = 500;
      let amps = 10;
      return {
        adapter,
        reached: () => sim.clientCount + sim.writes.length,
        shownUnreachable: async (rec) => {
          await rec.waitFor(`energy2mqtt/givenergy_evc_link_127_0_0_1_${port}/last_error`, (p) => p === 'ECONNREFUSED');
          await rec.waitFor(`energy2mqtt/givenergy_evc_link_127_0_0_1_${port}/connection`, (p) => p === 'ON');
        },
        act: async () => {
          // After a fail-safe the charger may never have answered; the command must not reach it either way.
          await eventually(() => t.app.bridge.getDevice('givenergy_evc_wf2306g999')?.available === true, 2000, 'the charger answering').catch(() => undefined);
          const before = sim.writes.length;
          await t.app.bridge.command('givenergy_evc_wf2306g999', 'charge_limit', String(++amps), 'mqtt');
          return sim.writes.length > before;
        },
        close: () => sim.close(),
      };
    },
  },
];

for (const family of families) {
  test(`contract (${family.name}): no I/O in the constructor; start and stop release what they hold; safe after failSafe() and stop()`, async () => {
    const t = await startApp(broker.port);
    const rec = await Recorder.connect(broker.port, ['energy2mqtt/#']);
    try {
      const baseline = resources();
      const subject = await family.make(t, true);
      await new Promise((r) => setImmediate(r));
      assert.equal(subject.reached(), 0, 'the constructor reached nothing');
      assert.deepEqual(t.app.bridge.allDevices().filter((d) => d.owner === subject.adapter.id).map((d) => d.id), [], 'the constructor declared nothing');

      await subject.adapter.start();
      assert.ok(await subject.act(), 'a command reaches the device while running');
      const stopped = subject.adapter.stop();
      await Promise.race([stopped, new Promise((_r, reject) => setTimeout(() => reject(new Error('stop() took over 5 s')), 5000))]);
      assert.equal(await subject.act(), false, 'nothing reaches the device after stop()');
      subject.adapter.failSafe(); // also after stop: no throw
      await subject.close();
      await eventually(() => {
        const now = resources();
        return (['TCPSocketWrap', 'TCPServerWrap', 'Timeout'] as const).every((kind) => (now[kind] ?? 0) <= (baseline[kind] ?? 0));
      }, 5000, `sockets and timers released: before ${JSON.stringify(baseline)}, now ${JSON.stringify(resources())}`);

      // Running again, then a fail-safe (twice): nothing more is written.
      const again = await family.make(t, true);
      await again.adapter.start();
      again.adapter.failSafe();
      again.adapter.failSafe();
      assert.equal(await again.act(), false, 'nothing reaches the device after failSafe()');
      await again.adapter.stop();
      await again.close();

      // A device that cannot be reached: start() does not throw, and HA is told why.
      const away = await family.make(t, false);
      await away.adapter.start();
      await away.shownUnreachable(rec);
      await away.adapter.stop();
      await away.close();
    } finally {
      await rec.close();
      await t.stop();
    }
  });
}
