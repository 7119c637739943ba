// A real installation as the dongle simulator serves it: every register page the devices of a
// wire capture sent (test/fixtures/givenergy/captures, Apache-2.0, from givenergy-modbus), the
// last value of each register kept, per device address and register kind. The captures are
// passive (the dongle fans every answer out to every client), so a profile holds what the cloud,
// the app and other clients asked for as well as what the capturing client did.
import { readFileSync } from 'node:fs';
import { Framer, decodeFrame, type Frame } from '../adapters/givenergy/frame.js';

export interface CapturedDevice {
  hr: Map<number, number>;
  ir: Map<number, number>;
}

export interface CaptureProfile {
  /** The dongle's and the inverter's serials as the response envelopes carry them. */
  adapterSerial: string;
  inverterSerial: string;
  devices: Map<number, CapturedDevice>;
  /** Valid-CRC read responses decoded, and the frames refused for a bad CRC. */
  pages: number;
  crcErrors: number;
}

/** Both line formats of the captures: `<ts> rx <hex>` (givenergy-cli) and `rx: <hex>` (the HA integration). */
const LINE = /^(?:(\S+)\s+)?(rx|tx):?\s+([0-9a-fA-F]+)\s*$/;

/** One frame the devices sent, decoded, with the timestamp of its capture line if the line has one. */
export interface CapturedFrame {
  at?: string;
  frame: Frame;
}

/**
 * Every frame the devices sent (`rx` lines) in a capture file, reframed and decoded, in wire order.
 * A `# … reconnected` comment starts a new TCP stream: a half frame before it is dropped.
 */
export function* captureFrames(file: string): Generator<CapturedFrame> {
  const framer = new Framer();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) {
      if (/reconnected/.test(line)) framer.reset();
      continue;
    }
    const m = LINE.exec(line);
    if (!m || m[2] !== 'rx') continue;
    for (const bytes of framer.push(Buffer.from(m[3]!, 'hex'))) yield { at: m[1], frame: decodeFrame(bytes) };
  }
}

/** Reads one or more capture files of the same installation into a profile (later files win). */
export function loadCapture(...files: string[]): CaptureProfile {
  const profile: CaptureProfile = { adapterSerial: '', inverterSerial: '', devices: new Map(), pages: 0, crcErrors: 0 };
  for (const file of files) {
    for (const { frame: f } of captureFrames(file)) {
      if (f.kind !== 'read-response') continue;
      if (!f.crcOk) {
        profile.crcErrors++;
        continue;
      }
      profile.pages++;
      if (!profile.adapterSerial) profile.adapterSerial = f.adapterSerial;
      if (!profile.inverterSerial && (f.device === 0x11 || f.device === 0x31)) profile.inverterSerial = f.inverterSerial;
      // 0x31 is the same inverter as 0x11 on AC and Gen1 units.
      const address = f.device === 0x31 ? 0x11 : f.device;
      let device = profile.devices.get(address);
      if (!device) profile.devices.set(address, (device = { hr: new Map(), ir: new Map() }));
      const bank = f.fn === 0x03 ? device.hr : f.fn === 0x04 ? device.ir : undefined;
      f.values.forEach((v, i) => bank?.set(f.base + i, v));
    }
  }
  if (!profile.devices.has(0x11)) throw new Error(`${files.join(', ')}: no inverter page in the capture`);
  return profile;
}

/** The capture plants the simulator can play, with what each capture lacks and its README states. */
export const CAPTURE_PLANTS = {
  /** Gen1 hybrid 2001, ARM 449, two LV batteries. */
  hybrid_2_bat_a: { files: ['hybrid_2_bat_a/hybrid_gen1_arm449_0x11_poll_10min.log'] },
  /** Gen2 hybrid 2003, ARM 920, one LV battery. */
  hybrid_gen2_1_bat_a: { files: ['hybrid_gen2_1_bat_a/hybrid_gen2_arm920_60s.log'] },
  /** HV Gen3 hybrid: the capture has no HR0; the README gives the device type 8102. */
  hybrid_hv_gen3_a: { files: ['hybrid_hv_gen3_a/givhy80g3hv_hass295_120s.log'], hr: { 0: 0x8102 } },
  /** Three-phase HV hybrid 4004 (GIV-3HY-11) with six HV modules; the detect capture has the HR banks. */
  three_phase_hv_a: { files: ['three_phase_hv_a/giv3hy11_da011_10min.log', 'three_phase_hv_a/giv3hy11_da011_detect_10min.log'] },
  /** All in One 8001 with its HV BCU stack. */
  aio_a: { files: ['aio_a/aio_arm612_5min.log', 'aio_a/aio_arm620_redetect_7min.log'] },
  /** EMS 5001, ARM 1036, in front of two AC-coupled inverters (each behind its own dongle). */
  ems_2_inv_3_bat_a: { files: ['ems_2_inv_3_bat_a/ems_arm1036_60s.log', 'ems_2_inv_3_bat_a/ems_arm1036_30min.log'] },
  /** One of the EMS's AC-coupled inverters, 3001 ARM 282, with two LV batteries. */
  ems_ac_2x: { files: ['ems_2_inv_3_bat_a/ac_arm282_2x_givbat52_30min.log'] },
  /** Gateway 7001 (GAAA0014) in front of two All in Ones, by day. */
  gateway_2aio_a: { files: ['gateway_2aio_a/gateway_gaaa0014_10min_night.log', 'gateway_2aio_a/gateway_gaaa0014_10min_daylight.log'] },
} as const satisfies Record<string, { files: readonly string[]; hr?: Record<number, number> }>;

export type CapturePlant = keyof typeof CAPTURE_PLANTS;

/** A plant's profile from the captures folder, with the registers its README supplies. */
export function capturePlant(plant: CapturePlant, root = 'test/fixtures/givenergy/captures'): CaptureProfile {
  const entry: { files: readonly string[]; hr?: Record<number, number> } = CAPTURE_PLANTS[plant];
  const profile = loadCapture(...entry.files.map((f) => `${root}/${f}`));
  const hr = profile.devices.get(0x11)!.hr;
  for (const [register, value] of Object.entries(entry.hr ?? {})) hr.set(Number(register), value);
  // A capture without the identity page: the serial the envelopes carry is the one HR 13–17 holds.
  if (!hr.has(13)) {
    const serial = profile.inverterSerial.padEnd(10, '\0');
    for (let i = 0; i < 5; i++) hr.set(13 + i, (serial.charCodeAt(2 * i) << 8) | serial.charCodeAt(2 * i + 1));
  }
  return profile;
}
