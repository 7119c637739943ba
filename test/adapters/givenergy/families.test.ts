// Every GivEnergy family the captures cover, end to end: the dongle simulator serves a real
// installation's registers (givenergy-capture.ts), the adapter detects it over TCP, and what
// reaches Mosquitto equals what the devices sent, decoded by the family's decoder, with the
// devices behind it (LV modules, HV stacks and modules, an EMS's inverters, a Gateway's AIOs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../../helpers/broker.js';
import { Recorder, eventually } from '../../helpers/mqtt-client.js';
import { startGivEnergy } from '../../helpers/givenergy.js';
import { deviceDiscoveryProblems } from '../../../src/core/ha-acceptance.js';
import { capturePlant, type CapturePlant, type CaptureProfile } from '../../../src/simulators/givenergy-capture.js';
import { RegisterBank, batteryTelemetry, inverterTelemetry } from '../../../src/adapters/givenergy/registers.js';
import { threePhaseTelemetry } from '../../../src/adapters/givenergy/three-phase.js';
import { bcuTelemetry, bmuTelemetry } from '../../../src/adapters/givenergy/hv-battery.js';
import { emsTelemetry } from '../../../src/adapters/givenergy/ems.js';
import { gatewayTelemetry } from '../../../src/adapters/givenergy/gateway.js';

let broker: TestBroker;
before(async () => (broker = await startTestBroker()));
after(async () => broker.stop());

/** A captured device's registers as a bank. */
function bank(profile: CaptureProfile, device: number, kind: 'hr' | 'ir'): RegisterBank {
  const b = new RegisterBank();
  for (const [register, value] of profile.devices.get(device)?.[kind] ?? []) b.set(register, [value]);
  return b;
}

interface Run {
  /** The inverter's device and those announced behind it. */
  devices: string[];
  state(device: string, key: string): string | undefined;
  /** Publishes to a topic and returns the command_rejected event it caused. */
  refused(topic: string, payload: string): Promise<string>;
  /** Sets an entity from HA and waits for the state the inverter confirmed. */
  set(device: string, key: string, payload: string): Promise<void>;
  /** A GivTCP REST command with its JSON payload: the status and the answer. */
  post(command: string, body: unknown): Promise<{ status: number; body: { error?: string } }>;
  /** Registers written to the installation, as "register=value". */
  writes(): string[];
}

/** Starts the plant, waits until every device it should show is online, and runs `check`. */
async function withPlant(plant: CapturePlant, expected: string[], check: (run: Run, profile: CaptureProfile) => Promise<void> | void): Promise<void> {
  const profile = capturePlant(plant);
  const rec = await Recorder.connect(broker.port, ['homeassistant/device/+/config', 'energy2mqtt/#']);
  const mark = rec.mark(); // earlier tests' retained discovery is not this plant's
  const s = await startGivEnergy(broker, { capture: profile });
  try {
    for (const id of expected) {
      const config = JSON.parse((await rec.waitFor(`homeassistant/device/${id}/config`, (p) => p !== '', 5000, mark)).payload);
      assert.deepEqual(deviceDiscoveryProblems(`homeassistant/device/${id}/config`, config), [], `${id}: HA accepts its discovery`);
      if (id !== expected[0]) assert.equal(config.dev.via_device, `energy2mqtt_${expected[0]}`, `${id} is shown behind the inverter`);
      await rec.waitFor(`energy2mqtt/${id}/availability`, (p) => p === 'online', 5000, mark);
    }
    // Availability can come before the values: wait until every device has shown its states.
    await rec.waitFor(`energy2mqtt/${expected[0]}/grid_power`, undefined, 5000, mark);
    for (const id of expected) {
      const shownState = () => rec.messages.slice(mark).some((m) => m.topic.startsWith(`energy2mqtt/${id}/`) && !m.topic.endsWith('/availability'));
      await eventually(shownState, 5000, `${id}'s states`);
    }
    const devices = [...new Set(rec.messages.slice(mark).filter((m) => m.topic.startsWith('homeassistant/device/givenergy_') && m.payload !== '').map((m) => m.topic.split('/')[2]!))]
      .filter((id) => id === expected[0] || id.startsWith(`${expected[0]}_`)) // earlier tests' retained devices are not this plant's
      .sort();
    const run: Run = {
      devices,
      state: (device, key) => rec.last(`energy2mqtt/${device}/${key}`)?.payload,
      refused: async (topic, payload) => {
        const mark = rec.mark();
        await rec.publish(topic, payload);
        return (await rec.waitFor('energy2mqtt/bridge/event', (p) => p.includes('command_rejected'), 5000, mark)).payload;
      },
      set: async (device, key, payload) => {
        const mark = rec.mark();
        await rec.publish(`energy2mqtt/${device}/${key}/set`, payload);
        await rec.waitFor(`energy2mqtt/${device}/${key}`, (p) => p === payload, 5000, mark);
      },
      post: async (command, body) => {
        const res = await s.post(command, body);
        return { status: res.status, body: (await res.json()) as { error?: string } };
      },
      writes: () => s.sim.writes.map((w) => `${w.register}=${w.value}`),
    };
    await check(run, profile);
  } finally {
    await s.stop();
    await rec.close();
  }
}

/** The published value, as the number or text the decoder gives. */
const shown = (value: number | string | boolean | undefined | null) => (value === undefined || value === null ? undefined : String(value));

/** A published number against the decoded one: powers are shown in whole watts. */
function same(published: string | undefined, value: number | undefined, what: string): void {
  assert.ok(published !== undefined && value !== undefined && Math.abs(Number(published) - value) <= 0.5, `${what}: published ${published}, decoded ${value}`);
}

test('Gen1 hybrid with two LV batteries (hybrid_2_bat_a): the inverter and its two modules; empty slots 0x34–0x37 are not batteries', async () => {
  const dev = 'givenergy_sa2114g000';
  await withPlant('hybrid_2_bat_a', [dev, `${dev}_battery_1`, `${dev}_battery_2`], (run, p) => {
    assert.deepEqual(run.devices, [dev, `${dev}_battery_1`, `${dev}_battery_2`]);
    const t = inverterTelemetry(bank(p, 0x11, 'ir'));
    for (const [key, value] of [['soc', t.soc], ['pv_power', t.pvPower], ['grid_power', t.gridPower], ['battery_power', t.batteryPower], ['pv_energy_today', t.pvToday]] as const) {
      assert.equal(run.state(dev, key), shown(value), key);
    }
    assert.equal(run.state(dev, 'soc'), '83');
    assert.equal(run.state(`${dev}_battery_1`, 'soc'), shown(batteryTelemetry(bank(p, 0x32, 'ir')).soc));
    assert.equal(run.state(`${dev}_battery_2`, 'cycles'), '823');
    assert.deepEqual(run.writes(), [], 'nothing was written to the installation');
  });
});

test('HV Gen3 hybrid 8102 (hybrid_hv_gen3_a): single-phase values, its BCU stack and three BMU modules', async () => {
  const dev = 'givenergy_fg2444g000';
  const expected = [dev, `${dev}_stack_1`, `${dev}_module_1`, `${dev}_module_2`, `${dev}_module_3`];
  await withPlant('hybrid_hv_gen3_a', expected, (run, p) => {
    assert.deepEqual(run.devices, [...expected].sort());
    const t = inverterTelemetry(bank(p, 0x11, 'ir'));
    // The reclassification the README argues for: decoded single-phase, a sunny afternoon.
    assert.deepEqual([run.state(dev, 'soc'), run.state(dev, 'pv1_power'), run.state(dev, 'pv2_power')], ['100', '674', '4531']);
    assert.equal(run.state(dev, 'grid_power'), shown(t.gridPower));
    const bcu = bcuTelemetry(bank(p, 0x70, 'ir'));
    assert.deepEqual([run.state(`${dev}_stack_1`, 'soc'), run.state(`${dev}_stack_1`, 'modules'), run.state(`${dev}_stack_1`, 'voltage')], ['100', '3', shown(bcu.voltage)]);
    assert.equal(run.state(`${dev}_module_2`, 'cells'), '24');
    assert.equal(run.state(`${dev}_module_2`, 'cell_min_voltage'), shown(bmuTelemetry(bank(p, 0x51, 'ir')).cellMinVoltage));
  });
});

test('three-phase HV hybrid 4004 (three_phase_hv_a): the 1000+ banks, three phases, its own controls (HR 1109–1123), a stack of six modules', async () => {
  const dev = 'givenergy_tc2337g000';
  const modules = [1, 2, 3, 4, 5, 6].map((n) => `${dev}_module_${n}`);
  await withPlant('three_phase_hv_a', [dev, `${dev}_stack_1`, ...modules], async (run, p) => {
    assert.deepEqual(run.devices, [dev, `${dev}_stack_1`, ...modules].sort());
    const t = threePhaseTelemetry(bank(p, 0x11, 'ir'), bank(p, 0x11, 'hr'));
    for (const [key, value] of [
      ['soc', t.soc], ['battery_power', t.batteryPower], ['load_power', t.loadPower], ['grid_power', t.gridPower], ['inverter_power', t.inverterPower],
      ['battery_voltage', t.batteryVoltage], ['grid_frequency', t.gridFrequency], ['pv_energy_today', t.pvToday], ['import_energy_total', t.importTotal],
      ['l1_voltage', t.phases[0]!.voltage], ['l2_power', t.phases[1]!.power], ['l3_current', t.phases[2]!.current],
    ] as const) {
      same(run.state(dev, key), value, key);
    }
    // Per-phase grid power sums to the meter's export − import (the helper's check, through MQTT).
    const phases = [1, 2, 3].map((n) => Number(run.state(dev, `l${n}_power`)));
    assert.ok(Math.abs(phases.reduce((a, b) => a + b, 0) - Number(run.state(dev, 'grid_power'))) <= 1, `${phases} vs ${run.state(dev, 'grid_power')}`);
    assert.equal(run.state(`${dev}_stack_1`, 'modules'), '6');
    assert.equal(run.state(`${dev}_stack_1`, 'soc'), run.state(dev, 'soc'), 'the BCU and the inverter agree');
    assert.equal(run.state(`${dev}_module_6`, 'cells'), '24');
    // Its own controls, on the registers the captured unit holds (HR 1109–1123), not the single-phase ones.
    assert.deepEqual(
      ['target_soc', 'battery_reserve', 'ac_charge', 'force_charge', 'force_discharge', 'charge_slot_1_start', 'discharge_slot_1_end'].map((k) => run.state(dev, k)),
      ['100', '5', 'OFF', 'ON', 'ON', '01:00:00', '01:00:00'],
    );
    assert.equal(run.state(dev, 'battery_mode'), undefined, 'no single-phase battery mode here');
    assert.equal(run.state(dev, 'date_time'), '09/07/2026 21:20:29', 'the clock at HR 35–40, as on single-phase units');
    await run.set(dev, 'target_soc', '80');
    await run.set(dev, 'force_discharge', 'OFF');
    assert.equal((await run.post('setACCharge', { state: 'enable' })).status, 200);
    assert.equal((await run.post('setChargeSlot1', { start: '02:30', finish: '05:00' })).status, 200);
    assert.deepEqual(run.writes(), ['1111=80', '1122=0', '1112=1', '1113=230', '1114=500']);
    // A single-phase command, a value out of range: refused, nothing written.
    assert.match(await run.refused('GivEnergy/control/TC2337G000/setBatteryMode', 'Eco'), /not a command 3-phase Hybrid units take/);
    const low = await run.post('setBatteryReserve', { reservePercent: '2' });
    assert.equal(low.status, 400);
    assert.match(low.body.error!, /at least 4/);
    assert.equal(run.writes().length, 5);
  });
});

test('All in One 8001 (aio_a): the inverter, its BCU and four modules', async () => {
  const dev = 'givenergy_ch2414g000';
  const modules = [1, 2, 3, 4].map((n) => `${dev}_module_${n}`);
  await withPlant('aio_a', [dev, `${dev}_stack_1`, ...modules], (run, p) => {
    assert.deepEqual(run.devices, [dev, `${dev}_stack_1`, ...modules].sort());
    const t = inverterTelemetry(bank(p, 0x11, 'ir'));
    assert.equal(run.state(dev, 'soc'), shown(t.soc));
    assert.equal(run.state(`${dev}_stack_1`, 'soc'), shown(t.soc), 'the BCU and the inverter agree');
    assert.equal(run.state(`${dev}_module_1`, 'cells'), shown(bmuTelemetry(bank(p, 0x50, 'ir')).cellCount));
    // The peer disagreement fixed in this family: no PV strings of its own.
    assert.equal(run.state(dev, 'pv1_voltage'), undefined);
  });
});

test('EMS 5001 (ems_2_inv_3_bat_a): the plant rollup, its two inverters and its controls (HR 2040–2071)', async () => {
  const dev = 'givenergy_ems2522000';
  await withPlant('ems_2_inv_3_bat_a', [dev, `${dev}_inverter_1`, `${dev}_inverter_2`], async (run, p) => {
    assert.deepEqual(run.devices, [dev, `${dev}_inverter_1`, `${dev}_inverter_2`]);
    const t = emsTelemetry(bank(p, 0x11, 'ir'), bank(p, 0x11, 'hr'));
    for (const [key, value] of [['grid_power', t.gridPower], ['load_power', t.loadPower], ['battery_power', t.batteryPower], ['pv_power', t.pvPower], ['inverter_count', t.inverterCount]] as const) {
      assert.equal(run.state(dev, key), shown(value), key);
    }
    assert.equal(run.state(dev, 'inverter_count'), '2');
    const [a, b] = t.inverters;
    assert.deepEqual([run.state(`${dev}_inverter_1`, 'soc'), run.state(`${dev}_inverter_2`, 'soc')], [shown(a!.soc), shown(b!.soc)]);
    // The plant balances: the inverters' battery powers add up to the plant's battery power.
    assert.equal(Number(run.state(`${dev}_inverter_1`, 'power')) + Number(run.state(`${dev}_inverter_2`, 'power')), Number(run.state(dev, 'battery_power')));
    assert.equal(run.state(dev, 'battery_reserve'), undefined, 'no single-phase controls');
    // The EMS's own: plant control, the export limit, its slots (HR 2040–2071, as captured).
    assert.deepEqual(['plant_control', 'export_limit', 'discharge_slot_1_start', 'discharge_slot_1_end', 'discharge_slot_1_target'].map((k) => run.state(dev, k)), ['ON', '9500', '19:00:00', '23:59:00', '4']);
    await run.set(dev, 'export_limit', '6000');
    assert.equal((await run.post('setChargeSlot2', { start: '01:00', finish: '04:30', chargeToPercent: '90' })).status, 200);
    assert.equal((await run.post('setExportLimit', { state: '70000' })).status, 400);
    assert.deepEqual(run.writes(), ['2071=6000', '2056=100', '2057=430', '2058=90']);
  });
});

test('AC-coupled 3001 behind the EMS (ems_ac_2x): two LV batteries; stray words in empty slots are not batteries', async () => {
  const dev = 'givenergy_ce2231g000';
  await withPlant('ems_ac_2x', [dev, `${dev}_battery_1`, `${dev}_battery_2`], (run) => {
    assert.deepEqual(run.devices, [dev, `${dev}_battery_1`, `${dev}_battery_2`]);
    assert.equal(run.state(`${dev}_battery_1`, 'soc'), '59');
    assert.equal(run.state(`${dev}_battery_2`, 'soc'), '51');
  });
});

test('Gateway 7001 (gateway_2aio_a): the plant rollup and its two All in Ones; read only', async () => {
  const dev = 'givenergy_gw2412g000';
  await withPlant('gateway_2aio_a', [dev, `${dev}_aio_1`, `${dev}_aio_2`], async (run, p) => {
    assert.deepEqual(run.devices, [dev, `${dev}_aio_1`, `${dev}_aio_2`]);
    const t = gatewayTelemetry(bank(p, 0x11, 'ir'));
    for (const [key, value] of [['grid_power', t.gridPower], ['pv_power', t.pvPower], ['load_power', t.loadPower], ['battery_power', t.batteryPower], ['import_energy_total', t.importTotal], ['firmware', t.firmware]] as const) {
      assert.equal(run.state(dev, key), shown(value), key);
    }
    assert.equal(run.state(dev, 'firmware'), 'GAAA0014');
    assert.deepEqual([run.state(`${dev}_aio_1`, 'serial'), run.state(`${dev}_aio_2`, 'serial')], ['CH2414G000', 'CH2542G000']);
    assert.equal(run.state(`${dev}_aio_2`, 'soc'), shown(t.aios[1]!.soc));
    const refused = await run.post('setChargeRate', { chargeRate: '1000' });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error!, /take no commands/);
    assert.deepEqual(run.writes(), []);
  });
});
