// The framer on every captured frame from real dongles (test/fixtures/givenergy, Apache-2.0, see
// SOURCES.md there) and on the research's test vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { Framer, MARKER, crc16modbus, decodeFrame, encodeNull, encodeReadRequest, encodeWriteRequest, encodeHeartbeat, encodeReadResponse, type Frame } from '../../../src/adapters/givenergy/frame.js';
import { DongleClient } from '../../../src/adapters/givenergy/client.js';
import { GivEnergyDongleSimulator } from '../../../src/simulators/givenergy-dongle.js';
import { LogHub } from '../../../src/core/logger.js';
import { Secrets } from '../../../src/core/secrets.js';
import { eventually } from '../../helpers/mqtt-client.js';

const ROOT = 'test/fixtures/givenergy/captures';

function captureFiles(dir = ROOT): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return captureFiles(path);
    return /\.(log|txt)$/.test(name) ? [path] : [];
  });
}

/** Replays a capture: each direction is a byte stream, reframed; a reconnect marker resets both. */
function replayCapture(file: string): Frame[] {
  return replayRaw(file).map(decodeFrame);
}

function replayRaw(file: string): Buffer[] {
  const framers = { rx: new Framer(), tx: new Framer() };
  const frames: Buffer[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('#')) {
      if (/reconnected/.test(line)) {
        framers.rx.reset();
        framers.tx.reset();
      }
      continue;
    }
    const m = /(?:^\S+\s+)?(rx|tx):?\s+([0-9a-fA-F]+)\s*$/.exec(line.trim());
    if (!m) continue;
    frames.push(...framers[m[1] as 'rx' | 'tx'].push(Buffer.from(m[2]!, 'hex')));
  }
  return frames;
}

const EXPECTED: Record<string, [frames: number, ok: number, bad: number]> = {
  'aio_a/aio_arm612_5min.log': [52, 47, 1],
  'aio_a/aio_arm620_redetect_7min.log': [70, 64, 0],
  'ems_2_inv_3_bat_a/ac_arm282_1x_givbat512gen3_30min.log': [396, 366, 0],
  'ems_2_inv_3_bat_a/ac_arm282_2x_givbat52_30min.log': [446, 426, 0],
  'ems_2_inv_3_bat_a/ems_arm1036_30min.log': [851, 784, 7],
  'ems_2_inv_3_bat_a/ems_arm1036_60s.log': [27, 25, 0],
  'gateway_2aio_a/gateway_gaaa0014_10min_daylight.log': [436, 430, 0],
  'gateway_2aio_a/gateway_gaaa0014_10min_night.log': [315, 309, 0],
  'hybrid_2_bat_a/hybrid_gen1_arm449_0x11_poll_10min.log': [727, 719, 0],
  'hybrid_2_bat_a/hybrid_gen1_arm449_givbat82_givbat95gen3_60min.log': [1843, 1790, 11],
  'hybrid_gen2_1_bat_a/hybrid_gen2_arm920_60s.log': [14, 14, 0],
  'hybrid_hv_gen3_a/givhy80g3hv_hass295_120s.log': [34, 34, 0],
  'three_phase_hv_a/giv3hy11_da011_10min.log': [121, 115, 0],
  'three_phase_hv_a/giv3hy11_da011_detect_10min.log': [421, 415, 0],
  'three_phase_hv_a/giv3hy11_hass174_180s.txt': [156, 154, 0],
};

const withCrc = (f: Frame) => 'crcOk' in f;

test('the framer decodes every frame of the capture corpus, with the known CRC figures', () => {
  const all: Frame[] = [];
  for (const file of captureFiles()) {
    const rel = file.slice(ROOT.length + 1);
    const frames = replayCapture(file);
    const ok = frames.filter((f) => withCrc(f) && (f as { crcOk: boolean }).crcOk).length;
    const bad = frames.filter((f) => withCrc(f) && !(f as { crcOk: boolean }).crcOk).length;
    assert.deepEqual([frames.length, ok, bad], EXPECTED[rel], rel);
    all.push(...frames);
  }
  const count = (pred: (f: Frame) => boolean) => all.filter(pred).length;
  assert.equal(all.length, 5909);
  assert.equal(count((f) => f.kind === 'unknown'), 0, 'every frame is understood');
  assert.equal(count((f) => f.kind === 'heartbeat'), 188);
  assert.equal(count((f) => f.kind === 'lan-config'), 10);
  assert.equal(count(withCrc), 5711);
  assert.equal(count((f) => withCrc(f) && (f as { crcOk: boolean }).crcOk), 5692);
  assert.equal(count((f) => f.kind === 'read-response'), 5355);
  assert.equal(count((f) => f.kind === 'read-response' && f.fn === 0x04), 4320);
  assert.equal(count((f) => f.kind === 'read-response' && f.fn === 0x03), 1033);
  assert.equal(count((f) => f.kind === 'read-response' && f.fn === 0x16), 2);
  assert.equal(count((f) => f.kind === 'exception'), 5);
  assert.equal(count((f) => f.kind === 'null'), 1);
  assert.equal(count((f) => f.kind === 'read-request'), 350);
});

test('split and concatenated reads give the same frames, and noise before a frame is skipped', () => {
  const file = join(ROOT, 'hybrid_2_bat_a/hybrid_gen1_arm449_0x11_poll_10min.log');
  const rx = Buffer.concat(
    readFileSync(file, 'utf8').split('\n').filter((l) => / rx /.test(l)).map((l) => Buffer.from(l.trim().split(' ')[2]!, 'hex')),
  );
  const expected = new Framer().push(rx).map(decodeFrame);
  assert.ok(expected.length > 400);
  let noisy = 0;
  for (let round = 0; round < 50; round++) {
    const framer = new Framer();
    const out: Frame[] = [];
    for (let at = 0; at < rx.length; ) {
      const n = randomInt(1, 120);
      // Before a frame start, now and then, bytes that cannot form a marker.
      const noise = round % 2 === 0 && rx.indexOf(MARKER, at) === at ? Buffer.from([0x00, 0x59, 0x42]) : Buffer.alloc(0);
      if (noise.length) noisy++;
      out.push(...framer.push(Buffer.concat([noise, rx.subarray(at, at + n)])).map(decodeFrame));
      at += n;
    }
    assert.deepEqual(out, expected);
    assert.equal(framer.pending, 0);
  }
  assert.ok(noisy > 0, 'noise was injected');
});

test('research test vectors: CRCs, requests, responses, heartbeats', () => {
  const prefix = '59590001001c0102414231323334473536370000000000000008';
  assert.equal(encodeReadRequest(0x32, 0x04, 0x10, 6).toString('hex'), prefix + '320400100006740e');
  assert.equal(encodeReadRequest(0x11, 0x03, 0, 60).toString('hex'), prefix + '11030000003c474b');
  assert.equal(encodeReadRequest(0x31, 0x03, 0, 60).toString('hex'), prefix + '31030000003c402b');
  assert.equal(encodeWriteRequest(0x11, 20, 1).toString('hex'), prefix + '11060014' + '00010a9e');
  assert.equal(encodeWriteRequest(0x11, 94, 130).toString('hex'), prefix + '1106005e00826ae9');
  assert.equal(encodeWriteRequest(0x32, 20, 1).toString('hex'), prefix + '3206001400010dcd');
  assert.equal(encodeHeartbeat('WF1234G567', 2).toString('hex'), '59590001000d0101574631323334473536370' + '2');

  const boot = Buffer.from(
    '59590001009e01025746323132354733313600000000' + '0000008a' +
      '1103534132313134473034370000003c' +
      [8193, 3, 2098, 513, 0, 50000, 3600, 1, 16967, 12849, 13108, 18224, 12343, 21313, 12849, 12596, 18224, 13367, 3007, 449, 1, 449, 2, 0, 32768, 30235, 6000, 1, 0, 0, 17, 0, 4, 7, 140, 23, 4, 28, 12, 15, 36, 1, 3, 0, 0, 0, 101, 1, 0, 0, 100, 0, 0, 1, 1, 160, 0, 0, 1, 0]
        .map((v) => v.toString(16).padStart(4, '0'))
        .join('') +
      '251c',
    'hex',
  );
  const decoded = decodeFrame(boot);
  assert.equal(decoded.kind, 'read-response');
  if (decoded.kind !== 'read-response') return;
  assert.equal(decoded.crcOk, true, 'the captured boot response CRC 251c verifies');
  assert.equal(decoded.inverterSerial, 'SA2114G047');
  assert.equal(decoded.values[0], 8193);
  assert.equal(decoded.values[55], 160);

  const exception = decodeFrame(Buffer.from('595900010026010257463231323547303030000000000000001231845341323131344730303000b400004582', 'hex'));
  assert.deepEqual(exception, { kind: 'exception', adapterSerial: 'WF2125G000', device: 0x31, fn: 4, inverterSerial: 'SA2114G000', base: 180, count: 0, crcOk: true });
  const write = decodeFrame(Buffer.from('595900010026010257463132333447353637000000000000008a320653413132333447353637' + '0023223ce463', 'hex'));
  assert.deepEqual(write, { kind: 'write-response', adapterSerial: 'WF1234G567', device: 0x32, inverterSerial: 'SA1234G567', register: 35, value: 0x223c, crcOk: true });
  const nullFrame = decodeFrame(Buffer.from('59590001009e01024b4b3433323148393837000000000000008a2200' + '00'.repeat(134) + '7cbf', 'hex'));
  assert.equal(nullFrame.kind, 'null');

  // Our own responses carry valid CRCs over address..values.
  const ours = encodeReadResponse('WF0000G000', 0x11, 0x04, 'SA0000G000', 0, [1, 2, 3]);
  assert.equal(crc16modbus(ours, 26, ours.length - 2), ours.readUInt16LE(ours.length - 2));
  assert.deepEqual(decodeFrame(ours), { kind: 'read-response', adapterSerial: 'WF0000G000', device: 0x11, fn: 4, inverterSerial: 'SA0000G000', base: 0, count: 3, values: [1, 2, 3], crcOk: true });
});

test('decoding never throws on random bytes', () => {
  for (let i = 0; i < 20_000; i++) {
    const framer = new Framer();
    const junk = Buffer.alloc(randomInt(0, 400));
    for (let k = 0; k < junk.length; k++) junk[k] = randomInt(0, 256);
    if (i % 4 === 0) Buffer.from([0x59, 0x59, 0x00, 0x01, 0x00, randomInt(0, 255), randomInt(0, 2), randomInt(1, 3)]).copy(junk, 0);
    for (const frame of framer.push(junk)) decodeFrame(frame);
  }
});

test('peer disagreement 4: the captured null frame with CRC 0000 is a CRC error, for the decoder and the client', async () => {
  const file = join(ROOT, 'hybrid_2_bat_a/hybrid_gen1_arm449_givbat82_givbat95gen3_60min.log');
  const captured = replayRaw(file).filter((raw) => decodeFrame(raw).kind === 'null');
  assert.equal(captured.length, 1);
  const raw = captured[0]!;
  assert.deepEqual([raw.length, raw[26], raw.readUInt16LE(raw.length - 2)], [164, 0x33, 0x0000]);
  assert.deepEqual(decodeFrame(raw), { kind: 'null', adapterSerial: 'WF2125G000', device: 0x33, crcOk: false });
  assert.equal(decodeFrame(encodeNull('WF2125G000', 0x33)).kind === 'null' && (decodeFrame(encodeNull('WF2125G000', 0x33)) as { crcOk: boolean }).crcOk, true, 'a null frame with its CRC is no error');

  // The client counts it with the CRC errors (and a null frame with a good CRC not at all).
  const sim = new GivEnergyDongleSimulator();
  const client = new DongleClient({ host: '127.0.0.1', port: await sim.listen(), frameGapMs: 0, timeoutMs: 300, retries: 2 }, new LogHub({ level: 'error', secrets: new Secrets() }).child('givenergy'));
  client.start();
  try {
    await client.waitConnected();
    sim.broadcast(encodeNull(sim.adapterSerial, 0x33));
    sim.broadcast(raw);
    await eventually(() => client.stats.crcErrors > 0, 2000, 'the CRC error to be counted');
    assert.deepEqual(await client.read(0x11, 0x03, 0, 60), sim.hr.slice(0, 60), 'the connection carries on');
    assert.equal(client.stats.crcErrors, 1);
  } finally {
    await client.stop();
    await sim.close();
  }
});
