// Draws icon.png (128x128) and logo.png (250x100) for the add-on store: a sun and a bolt.
// Run once with `node scripts/make-artwork.mjs`; the PNGs are committed.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

function crc32(buf) {
  let c, crc = 0xffffffff;
  for (const byte of buf) {
    c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function png(width, height, pixel) {
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const [r, g, b, a] = pixel(x, y);
      raw.set([r, g, b, a], y * (width * 4 + 1) + 1 + x * 4);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// A bolt as a polygon in a unit square; point-in-polygon by ray casting.
const BOLT = [[0.55, 0.12], [0.3, 0.55], [0.48, 0.55], [0.4, 0.9], [0.72, 0.42], [0.53, 0.42], [0.65, 0.12]];
function inBolt(u, v) {
  let inside = false;
  for (let i = 0, j = BOLT.length - 1; i < BOLT.length; j = i++) {
    const [xi, yi] = BOLT[i], [xj, yj] = BOLT[j];
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function emblem(u, v) {
  const d = Math.hypot(u - 0.5, v - 0.5);
  if (inBolt(u, v)) return [255, 255, 255, 255];
  if (d < 0.42) return [3, 169, 244, 255]; // HA blue disc
  if (d < 0.48) return [255, 193, 7, 255]; // sun ring
  return [0, 0, 0, 0];
}

writeFileSync('icon.png', png(128, 128, (x, y) => emblem(x / 128, y / 128)));
writeFileSync('logo.png', png(250, 100, (x, y) => (x < 100 ? emblem(x / 100, y / 100) : x > 110 && x < 240 && y > 44 && y < 56 ? [3, 169, 244, 255] : [0, 0, 0, 0])));
console.log('wrote icon.png and logo.png');
