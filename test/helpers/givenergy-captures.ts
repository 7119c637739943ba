// The GivEnergy wire captures (test/fixtures/givenergy/captures, Apache-2.0, from
// dewet22/givenergy-modbus) as the adapter tests read them: the register pages the devices sent.
// One parser with the dongle simulator (captureFrames in src/simulators/givenergy-capture.ts).
import assert from 'node:assert/strict';
import { captureFrames } from '../../src/simulators/givenergy-capture.js';

export const CAPTURES = 'test/fixtures/givenergy/captures';

/** One valid-CRC read response, with the timestamp of its capture line if the line has one. */
export interface CapturedResponse {
  at?: string | undefined;
  device: number;
  fn: number;
  base: number;
  count: number;
  values: number[];
}

/** One read: the device (or any of several addresses), the function, the first register and how many. */
export interface CapturedRead {
  device: number | readonly number[];
  fn: 0x03 | 0x04;
  base: number;
  count: number;
  /** Also take longer pages from the same base (`count` registers at least). */
  atLeast?: boolean;
}

/** Every valid-CRC read response in a capture file (a path below the captures folder), in wire order. */
export function capturedResponses(file: string): CapturedResponse[] {
  const out: CapturedResponse[] = [];
  for (const { at, frame: f } of captureFrames(`${CAPTURES}/${file}`)) {
    if (f.kind === 'read-response' && f.crcOk) out.push({ at, device: f.device, fn: f.fn, base: f.base, count: f.count, values: f.values });
  }
  return out;
}

/** The responses to one read in a capture, in wire order; asserts there is at least one. */
export function capturedReads(file: string, read: CapturedRead): CapturedResponse[] {
  const devices: readonly number[] = typeof read.device === 'number' ? [read.device] : read.device;
  const found = capturedResponses(file).filter(
    (r) => devices.includes(r.device) && r.fn === read.fn && r.base === read.base && (read.atLeast ? r.values.length >= read.count : r.count === read.count),
  );
  const at = devices.map((d) => `0x${d.toString(16)}`).join('/');
  assert.ok(found.length > 0, `${file} has ${read.fn === 0x03 ? 'HR' : 'IR'} ${read.base}+${read.count}${read.atLeast ? ' or more' : ''} at ${at}`);
  return found;
}

/** The register values of each response to one read, in wire order; asserts there is at least one. */
export function capturedPages(file: string, read: CapturedRead): number[][] {
  return capturedReads(file, read).map((r) => r.values);
}
