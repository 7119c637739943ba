// What the inverter is, from its holding registers 0–59: model and generation from the device
// type code (HR0) and ARM firmware (HR21), serials, battery capacity and power limits.
// Rules from the shared research, givenergy.md §2.2 and §1.10. The first two digits of the code
// name the model within family 8 (givenergy-modbus `Model`, and the capture hybrid_hv_gen3_a
// with its device type 8102): 80 All in One, 81 single-phase HV Gen3 hybrid, 82 All in One
// hybrid, 83 Gen4 hybrid. Only 80xx is an All in One.

export type Family = 'hybrid' | 'ac' | 'hybrid_3ph' | 'ems' | 'ac_3ph' | 'gateway' | 'aio';

export interface InverterModel {
  dtc: string; // e.g. "2001"
  family: Family;
  generation: 'Gen1' | 'Gen2' | 'Gen3' | 'Gen4' | undefined;
  /** A high-voltage battery stack (BCU/BMU) rather than LV packs at 0x32+. */
  hv: boolean;
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
  /**
   * AC-coupled and All in One units: no PV strings of their own. IR1/2 and IR8/9 echo the grid
   * side there, and IR44 is the battery's discharge output, not PV (givenergy-modbus #293).
   */
  acCoupled: boolean;
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
  const prefix = dtc.slice(0, 2);
  // A device type we have no map for (a new family, or 0000 from a dongle that answered zeros)
  // is not guessed at: its registers may mean anything, so it is neither read nor written.
  const known = FAMILY[dtc[0]!] !== undefined;
  let family = FAMILY[dtc[0]!] ?? 'hybrid';
  const arm = hr[21] ?? 0;
  let generation: InverterModel['generation'];
  let name: string | undefined;
  let batteryMaxPowerW = BATTERY_MAX_W[dtc] ?? 0;
  if (prefix === '20') {
    const major = Math.floor(arm / 100);
    generation = major === 3 ? 'Gen3' : major === 8 || major === 9 ? 'Gen2' : 'Gen1';
    batteryMaxPowerW = generation === 'Gen1' ? 2600 : 3600;
  } else if (prefix === '22') {
    generation = 'Gen3';
  } else if (prefix === '81') {
    family = 'hybrid';
    generation = 'Gen3';
    name = 'HV Gen3 Hybrid';
  } else if (prefix === '82') {
    name = 'All in One Hybrid';
  } else if (prefix === '83') {
    family = 'hybrid';
    generation = 'Gen4';
    name = 'Gen4 Hybrid';
  }
  const ah = hr[55] ?? 0;
  // Ah to kWh by the pack's nominal voltage. The All in One's 317 V is GivTCP's; the peer
  // library keeps 51.2 V for the family-8 hybrids (81xx, 83xx), which no capture contradicts.
  const factor = prefix === '80' ? 317 : family === 'hybrid_3ph' || family === 'ac_3ph' ? 76.8 : 51.2;
  const batteryCapacityKwh = Math.round(((ah * factor) / 1000) * 100) / 100;
  // Unknown limit: half a C-rate of the pack, which is what HR111/112 = 50 means.
  if (!batteryMaxPowerW) batteryMaxPowerW = Math.round(batteryCapacityKwh * 500);
  const names: Record<Family, string> = {
    hybrid: `${generation ?? ''} Hybrid`.trim(), ac: 'AC Coupled', hybrid_3ph: '3-phase Hybrid', ems: 'EMS', ac_3ph: '3-phase AC', gateway: 'Gateway', aio: 'All in One',
  };
  const allInOne = prefix === '80';
  return {
    dtc,
    family,
    generation,
    hv: family === 'aio' || prefix === '81' || family === 'hybrid_3ph' || family === 'ac_3ph',
    name: known ? (name ?? names[family]) : `unknown (device type ${dtc})`,
    serial: ascii(hr.slice(13, 18)),
    batterySerial: ascii(hr.slice(8, 13)),
    firmware: `D0.${hr[19] ?? 0}-A0.${arm}`,
    armFirmware: arm,
    address: family === 'ac' || generation === 'Gen1' ? 0x31 : 0x11,
    batteryCapacityKwh,
    batteryMaxPowerW,
    inverterMaxPowerW: INVERTER_MAX_W[dtc] ?? 5000,
    // The HR 300–359 block (HR313/314) answers on AC units and the All in One; DC-coupled HV and
    // Gen4 hybrids time out on it (givenergy-modbus #162), so they keep HR111/112.
    acRateRegisters: family === 'ac' || allInOne || (generation === 'Gen3' && (prefix === '20' || prefix === '22')),
    acCoupled: family === 'ac' || family === 'ac_3ph' || allInOne,
    // Three-phase, EMS and Gateway use other register banks (1000+, 1600+, 2040+: plant.ts). The
    // All in One hybrid (82xx) has no capture to build it from.
    supported: known && prefix !== '82',
  };
}
