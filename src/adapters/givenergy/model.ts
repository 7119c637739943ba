// What the inverter is, from its holding registers 0–59: model and generation from the device
// type code (HR0) and ARM firmware (HR21), serials, battery capacity and power limits.
// Rules from the shared research, givenergy.md §2.2 and §1.10.

export type Family = 'hybrid' | 'ac' | 'hybrid_3ph' | 'ems' | 'ac_3ph' | 'gateway' | 'aio';

export interface InverterModel {
  dtc: string; // e.g. "2001"
  family: Family;
  generation: 'Gen1' | 'Gen2' | 'Gen3' | undefined;
  name: string;
  serial: string;
  batterySerial: string;
  firmware: string; // D0.<dsp>-A0.<arm>
  armFirmware: number;
  /** Where to poll the inverter: 0x31 on AC and Gen1 hybrids, 0x11 otherwise. */
  address: number;
  batteryCapacityKwh: number;
  batteryMaxPowerW: number;
  inverterMaxPowerW: number;
  /** Models that take charge/discharge power as a percentage in HR313/314. */
  acRateRegisters: boolean;
  supported: boolean;
}

const FAMILY: Record<string, Family> = { '2': 'hybrid', '3': 'ac', '4': 'hybrid_3ph', '5': 'ems', '6': 'ac_3ph', '7': 'gateway', '8': 'aio' };
const INVERTER_MAX_W: Record<string, number> = { '2001': 5000, '2002': 4600, '2003': 3600, '2201': 5000, '3001': 3000, '3002': 3600, '8001': 6000, '8102': 8000, '8103': 10000 };
const BATTERY_MAX_W: Record<string, number> = { '2201': 5400, '3001': 3000, '3002': 3000, '8001': 6000, '8102': 8000, '8103': 10000 };

export function ascii(words: number[]): string {
  return words
    .flatMap((w) => [w >> 8, w & 0xff])
    .filter((c) => c !== 0)
    .map((c) => String.fromCharCode(c))
    .join('')
    .trim();
}

export function detectModel(hr: number[]): InverterModel {
  const dtc = (hr[0] ?? 0).toString(16).padStart(4, '0');
  const family = FAMILY[dtc[0]!] ?? 'hybrid';
  const arm = hr[21] ?? 0;
  let generation: InverterModel['generation'];
  let batteryMaxPowerW = BATTERY_MAX_W[dtc] ?? 0;
  if (dtc.startsWith('20')) {
    const major = Math.floor(arm / 100);
    generation = major === 3 ? 'Gen3' : major === 8 || major === 9 ? 'Gen2' : 'Gen1';
    batteryMaxPowerW = generation === 'Gen1' ? 2600 : 3600;
  } else if (dtc.startsWith('22')) {
    generation = 'Gen3';
  }
  const ah = hr[55] ?? 0;
  const factor = family === 'aio' ? 317 : family === 'hybrid_3ph' || family === 'ac_3ph' ? 76.8 : 51.2;
  const batteryCapacityKwh = Math.round(((ah * factor) / 1000) * 100) / 100;
  // Unknown limit: half a C-rate of the pack, which is what HR111/112 = 50 means.
  if (!batteryMaxPowerW) batteryMaxPowerW = Math.round(batteryCapacityKwh * 500);
  const names: Record<Family, string> = {
    hybrid: `${generation ?? ''} Hybrid`.trim(), ac: 'AC Coupled', hybrid_3ph: '3-phase Hybrid', ems: 'EMS', ac_3ph: '3-phase AC', gateway: 'Gateway', aio: 'All in One',
  };
  return {
    dtc,
    family,
    generation,
    name: names[family],
    serial: ascii(hr.slice(13, 18)),
    batterySerial: ascii(hr.slice(8, 13)),
    firmware: `D0.${hr[19] ?? 0}-A0.${arm}`,
    armFirmware: arm,
    address: family === 'ac' || generation === 'Gen1' ? 0x31 : 0x11,
    batteryCapacityKwh,
    batteryMaxPowerW,
    inverterMaxPowerW: INVERTER_MAX_W[dtc] ?? 5000,
    acRateRegisters: family === 'ac' || family === 'aio' || generation === 'Gen3',
    // Three-phase, EMS and Gateway use other register banks (1000+, 1600+, 2040+).
    supported: family === 'hybrid' || family === 'ac' || family === 'aio',
  };
}
