// One reading and the 52 registers the ALE3 datasheet (research viessmann-pvheater.md §1.5)
// says it must produce, computed by hand here so that the map is checked against the table and
// not against itself.
import type { Ale3Identity, MeterReading } from '../../../src/adapters/viessmann-meter/registers.js';

export const UNIT_ID = 7;

export const READING: MeterReading = {
  powerW: [1234, -567, 405],
  voltageV: [231, 229, 230],
  reactivePowerVar: [100, -50, 0],
  powerFactor: [0.99, -0.95, 1],
  importEnergyWh: 987_654_321,
  exportEnergyWh: 5000,
  importPartialWh: 1234,
};

export const IDENTITY: Ale3Identity = { unitId: UNIT_ID, serialNumber: 0x1234_5678_9abc, baudRate: 19200 };

const neg = (n: number) => 0x10000 + n;

/** [wire address, value, what it is] for every one of the 52 registers. */
export const EXPECTED: ReadonlyArray<readonly [number, number, string]> = [
  [0, 11, 'firmware 1.1'],
  [1, 52, 'number of registers'],
  [2, 0, 'number of flags'],
  [3, 0, 'baud rate high word'],
  [4, 19200, 'baud rate low word'],
  [5, 0, 'unused'],
  [6, 0x414c, '"AL"'],
  [7, 0x4533, '"E3"'],
  [8, 0x4435, '"D5"'],
  [9, 0x4644, '"FD"'],
  [10, 0x3130, '"10"'],
  [11, 0x4332, '"C2" (non-MID)'],
  [12, 0x4130, '"A0"'],
  [13, 0x3020, '"0 "'],
  [14, 11, 'hardware version'],
  [15, 0x1234, 'serial number, high'],
  [16, 0x5678, 'serial number, middle'],
  [17, 0x9abc, 'serial number, low'],
  [18, 0, 'unused'],
  [19, 0, 'unused'],
  [20, 0, 'unused'],
  [21, 0, 'status ok'],
  [22, 60, 'response timeout, ms'],
  [23, UNIT_ID, 'Modbus address'],
  [24, 0, 'error register'],
  [25, 0, 'unused'],
  [26, 0, 'tariff T1'],
  [27, 1507, 'energy T1 total high word (98 765 432 × 0.01 kWh)'],
  [28, 2680, 'energy T1 total low word'],
  [29, 0, 'energy T1 partial high word'],
  [30, 123, 'energy T1 partial low word (1234 Wh → 123)'],
  [31, 0, 'energy T2 total high word'],
  [32, 500, 'energy T2 total low word (5000 Wh)'],
  [33, 0, 'energy T2 partial high word'],
  [34, 500, 'energy T2 partial low word (= total when not given)'],
  [35, 231, 'U L1, V'],
  [36, 54, 'I L1, 0.1 A (|1234 + 100j| VA / 231 V = 5.36 A)'],
  [37, 123, 'P L1, 10 W (1234 W)'],
  [38, 10, 'Q L1, 10 var'],
  [39, 99, 'cos φ L1, 0.01'],
  [40, 229, 'U L2'],
  [41, 25, 'I L2 (569.2 VA / 229 V = 2.49 A)'],
  [42, neg(-57), 'P L2 (−567 W, signed, masked)'],
  [43, neg(-5), 'Q L2 (−50 var)'],
  [44, neg(-95), 'cos φ L2 (−0.95)'],
  [45, 230, 'U L3'],
  [46, 18, 'I L3 (405 VA / 230 V = 1.76 A)'],
  [47, 41, 'P L3 (405 W)'],
  [48, 0, 'Q L3'],
  [49, 100, 'cos φ L3 (1.00)'],
  [50, 107, 'P total (1072 W)'],
  [51, 5, 'Q total (50 var)'],
];
