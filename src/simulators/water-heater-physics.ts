// The physics behind the water heater's pins (issue 12): a relay, a servo turning a 4000 W
// phase-angle power regulator's knob, a tank with a thermostat, and the house around it (PV, load,
// grid, optionally a zero-export battery system whose MPPT throttles when nothing takes the PV).
// Pure and deterministic: time moves only in advance(), so the demo wraps it in a timer and a
// benchmark steps a whole day in well under a second per run.

const WATER_HEAT_CAPACITY_J_PER_KG_K = 4186;
const SECONDS_PER_DAY = 86_400;

export interface HouseDay {
  durationS: number;
  /** PV the panels could produce at tS seconds into the day (before any MPPT throttling). */
  pvW(tS: number): number;
  /** The house's own load, without the water heater. */
  loadW(tS: number): number;
  describe: string;
}

/**
 * A day from a fixtures trace (`time,grid_w,pv_w,load_w`, one row per step, time = interval
 * start): linear between rows, the last row held for one step, so the day's integral equals
 * Σ value × step whenever the first and last rows are equal (both are night in every trace).
 */
export function traceDay(csv: string, describe: string): HouseDay {
  const lines = csv.split(/\r?\n/).filter((line) => line.trim() !== '');
  const header = (lines.shift() ?? '').split(',').map((name) => name.trim());
  const timeColumn = header.indexOf('time');
  const pvColumn = header.indexOf('pv_w');
  const loadColumn = header.indexOf('load_w');
  if (timeColumn < 0 || pvColumn < 0 || loadColumn < 0) {
    throw new Error(`a trace needs the columns time, pv_w and load_w; it has ${header.join(',')}`);
  }
  const times: number[] = [];
  const pv: number[] = [];
  const load: number[] = [];
  let firstMs: number | undefined;
  lines.forEach((line, index) => {
    const fields = line.split(',');
    const atMs = Date.parse(fields[timeColumn] ?? '');
    const pvValue = Number(fields[pvColumn]);
    const loadValue = Number(fields[loadColumn]);
    if (!Number.isFinite(atMs) || !Number.isFinite(pvValue) || !Number.isFinite(loadValue)) {
      throw new Error(`trace row ${index + 2} is not a time and two numbers: ${JSON.stringify(line.slice(0, 80))}`);
    }
    firstMs ??= atMs;
    const tS = (atMs - firstMs) / 1000;
    if (times.length > 0 && tS <= times[times.length - 1]!) throw new Error(`trace row ${index + 2} does not move forward in time`);
    times.push(tS);
    pv.push(Math.max(0, pvValue));
    load.push(Math.max(0, loadValue));
  });
  if (times.length < 2) throw new Error('a trace needs at least two rows');
  const stepS = times[1]! - times[0]!;
  const durationS = times[times.length - 1]! + stepS;
  const at = (values: number[], tS: number): number => {
    if (tS <= 0) return values[0]!;
    let low = 0;
    let high = times.length - 1;
    if (tS >= times[high]!) return values[high]!;
    while (high - low > 1) {
      const middle = (low + high) >> 1;
      if (times[middle]! <= tS) low = middle;
      else high = middle;
    }
    const fraction = (tS - times[low]!) / (times[high]! - times[low]!);
    return values[low]! + (values[high]! - values[low]!) * fraction;
  };
  return { durationS, describe, pvW: (tS) => at(pv, tS), loadW: (tS) => at(load, tS) };
}

/** A small seeded generator (mulberry32): the same seed gives the same day everywhere. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Pulse {
  startS: number;
  endS: number;
  /** Seconds the edges take to ramp (clouds drift in; appliances switch at once). */
  rampS: number;
  value: number;
}

function pulseAt(pulse: Pulse, tS: number): number {
  if (tS <= pulse.startS || tS >= pulse.endS) return 0;
  const edge = Math.min(tS - pulse.startS, pulse.endS - tS);
  return pulse.rampS > 0 && edge < pulse.rampS ? (pulse.value * edge) / pulse.rampS : pulse.value;
}

function byHour(pulses: Pulse[]): Pulse[][] {
  const hours: Pulse[][] = Array.from({ length: 25 }, () => []);
  for (const pulse of pulses) {
    const first = Math.max(0, Math.floor(pulse.startS / 3600));
    const last = Math.min(24, Math.floor(pulse.endS / 3600));
    for (let hour = first; hour <= last; hour += 1) hours[hour]!.push(pulse);
  }
  return hours;
}

function pulsesAt(hours: Pulse[][], tS: number): Pulse[] {
  return hours[Math.min(24, Math.max(0, Math.floor(tS / 3600)))] ?? [];
}

const HOUR = 3600;
const SUNRISE_S = 6.5 * HOUR;
const SUNSET_S = 19.5 * HOUR;

/**
 * A generated day: the sun from 06:30 to 19:30 as sin^1.2 up to peakW at 13:00; with clouds,
 * seeded cloud passes (every 5–40 min, 1–12 min long, 30–80 % deep, 20–90 s edges). The load is
 * baseLoadW plus a fridge (90 W, 12 of every 40 min), a kettle around 07:00 (2 kW, 3 min), a
 * washing machine between 10:00 and 11:00 (2 kW for 15 min, then 250 W for an hour), a dishwasher
 * between 13:00 and 14:00 (1.8 kW, 20 min), an oven cycling from 18:00 (2.2 kW, 4 min on, 3 off,
 * 45 min) and 200 W of evening lights and TV from 18:00 to 23:00.
 */
export function generatedDay(options: { peakW: number; clouds?: boolean; seed?: number; baseLoadW?: number }): HouseDay {
  const seed = options.seed ?? 1;
  const baseLoadW = options.baseLoadW ?? 250;
  const random = seededRandom(seed);
  const between = (low: number, high: number) => low + (high - low) * random();

  const clouds: Pulse[] = [];
  if (options.clouds) {
    let cursorS = SUNRISE_S;
    while (cursorS < SUNSET_S) {
      const startS = cursorS + between(5, 40) * 60;
      const endS = startS + between(1, 12) * 60;
      clouds.push({ startS, endS, rampS: between(20, 90), value: between(0.3, 0.8) });
      cursorS = endS;
    }
  }

  const appliances: Pulse[] = [];
  const add = (startS: number, lengthS: number, watts: number) => appliances.push({ startS, endS: startS + lengthS, rampS: 0, value: watts });
  for (let startS = 0; startS < SECONDS_PER_DAY; startS += 40 * 60) add(startS + 5 * 60, 12 * 60, 90);
  add(7 * HOUR + between(0, 20) * 60, 3 * 60, 2000);
  const washS = 10 * HOUR + between(0, 60) * 60;
  add(washS, 15 * 60, 2000);
  add(washS + 15 * 60, 60 * 60, 250);
  add(13 * HOUR + between(0, 60) * 60, 20 * 60, 1800);
  for (let startS = 18 * HOUR; startS < 18 * HOUR + 45 * 60; startS += 7 * 60) add(startS, 4 * 60, 2200);
  add(18 * HOUR, 5 * HOUR, 200);

  // A benchmark asks for every 100 ms of a day: look only at the pulses of the hour in question.
  const cloudsByHour = byHour(clouds);
  const appliancesByHour = byHour(appliances);
  const pvW = (tS: number): number => {
    if (tS <= SUNRISE_S || tS >= SUNSET_S) return 0;
    const clear = options.peakW * Math.sin((Math.PI * (tS - SUNRISE_S)) / (SUNSET_S - SUNRISE_S)) ** 1.2;
    const shade = pulsesAt(cloudsByHour, tS).reduce((deepest, cloud) => Math.max(deepest, pulseAt(cloud, tS)), 0);
    return clear * (1 - shade);
  };
  const loadW = (tS: number): number => pulsesAt(appliancesByHour, tS).reduce((sum, appliance) => sum + pulseAt(appliance, tS), baseLoadW);
  const sky = options.clouds ? `cloudy (${clouds.length} cloud passes, 30–80 % deep)` : 'sunny';
  return {
    durationS: SECONDS_PER_DAY,
    pvW,
    loadW,
    describe: `generated ${sky} day, PV peak ${options.peakW} W at 13:00 (06:30–19:30), base load ${baseLoadW} W plus fridge, kettle, washing machine, dishwasher, oven, evening lights (seed ${seed})`,
  };
}

/**
 * Output of a phase-angle (SCR/triac) regulator as a fraction of the element's full power. The
 * knob sets the firing delay roughly linearly; below the dead zone it does not fire at all.
 * With x the knob's travel past the dead zone (0..1) and firing angle α = π(1 − x), a resistive
 * load gets P/Pfull = 1 − α/π + sin(2α)/2π = x − sin(2πx)/2π: flat near both ends, steep in the
 * middle, monotone throughout.
 */
export function regulatorFraction(knob: number, deadZone: number): number {
  if (knob <= deadZone) return 0;
  const travel = Math.min(1, (knob - deadZone) / (1 - deadZone));
  return travel - Math.sin(2 * Math.PI * travel) / (2 * Math.PI);
}

export interface ZeroExportOptions {
  capacityWh: number;
  /** State of charge, 0..1. */
  soc: number;
  maxChargeW: number;
  maxDischargeW: number;
  /** The ESS discharges no further than this (0..1). Default 0.1. */
  minSoc?: number;
}

export interface WaterHeaterPhysicsOptions {
  day: HouseDay;
  /** Seconds into the day at which the physics starts. Default 0. */
  startS?: number;
  /** The element's power at full mains voltage. Default 3000 W. */
  heaterW?: number;
  regulator?: {
    /** The regulator's rating; an element above it gets no more than this. Default 4000 W. */
    maxW?: number;
    /** Knob fraction under which the regulator does not fire. Default 0.08. */
    deadZone?: number;
    /** Where the knob is at the start (0..1). Default 0. */
    startKnob?: number;
  };
  servo?: { minUs?: number; maxUs?: number; rangeDeg?: number; speedDegPerS?: number; backlashDeg?: number };
  tank?: { litres?: number; startC?: number; thermostatC?: number; hysteresisC?: number; lossW?: number };
  /** A zero-export ESS: the battery takes the surplus, the MPPT throttles when it is full, grid ≈ 0. */
  zeroExport?: ZeroExportOptions;
  /** Longest internal integration step. Default 100 ms. */
  stepMs?: number;
}

export interface WaterHeaterTotals {
  /** Heater energy that came from PV (heaterWh − importForHeaterWh); in zero-export this includes displacedChargeWh. */
  surplusToTankWh: number;
  /** Grid import (and battery discharge in zero-export) the heater caused, against the same moment without it. */
  importForHeaterWh: number;
  /** Zero-export: PV the battery would have stored had the heater not taken it. */
  displacedChargeWh: number;
  heaterWh: number;
  relaySwitches: number;
  exportWh: number;
  importWh: number;
  /** PV produced (after throttling) and what the panels could have produced. */
  pvWh: number;
  pvAvailableWh: number;
  loadWh: number;
  batteryChargeWh: number;
  batteryDischargeWh: number;
}

interface Balance {
  pvW: number;
  gridW: number;
  batteryW: number;
}

export class WaterHeaterPhysics {
  private readonly day: HouseDay;
  private readonly startS: number;
  private readonly fullHeaterW: number;
  private readonly deadZone: number;
  private readonly servoMinUs: number;
  private readonly servoMaxUs: number;
  private readonly rangeDeg: number;
  private readonly speedDegPerS: number;
  private readonly backlashDeg: number;
  private readonly tankKg: number;
  private readonly thermostatC: number;
  private readonly hysteresisC: number;
  private readonly lossW: number;
  private readonly battery: Required<ZeroExportOptions> | undefined;
  private readonly stepMs: number;

  private elapsedMs = 0;
  private relay = false;
  private pulseUs = 0;
  private hornDeg: number;
  private knobDeg: number;
  private temperatureC: number;
  private cutOut = false;
  private now: Balance & { pvAvailableW: number; loadW: number; heaterW: number };
  private readonly sums: WaterHeaterTotals = {
    surplusToTankWh: 0,
    importForHeaterWh: 0,
    displacedChargeWh: 0,
    heaterWh: 0,
    relaySwitches: 0,
    exportWh: 0,
    importWh: 0,
    pvWh: 0,
    pvAvailableWh: 0,
    loadWh: 0,
    batteryChargeWh: 0,
    batteryDischargeWh: 0,
  };

  constructor(options: WaterHeaterPhysicsOptions) {
    this.day = options.day;
    this.startS = options.startS ?? 0;
    this.fullHeaterW = Math.min(options.heaterW ?? 3000, options.regulator?.maxW ?? 4000);
    this.deadZone = options.regulator?.deadZone ?? 0.08;
    this.servoMinUs = options.servo?.minUs ?? 500;
    this.servoMaxUs = options.servo?.maxUs ?? 2500;
    this.rangeDeg = options.servo?.rangeDeg ?? 180;
    this.speedDegPerS = options.servo?.speedDegPerS ?? 300;
    this.backlashDeg = options.servo?.backlashDeg ?? 4;
    this.tankKg = options.tank?.litres ?? 120;
    this.temperatureC = options.tank?.startC ?? 40;
    this.thermostatC = options.tank?.thermostatC ?? 60;
    this.hysteresisC = options.tank?.hysteresisC ?? 6;
    this.lossW = options.tank?.lossW ?? 60;
    this.cutOut = this.temperatureC >= this.thermostatC;
    this.stepMs = options.stepMs ?? 100;
    if (options.zeroExport) this.battery = { minSoc: 0.1, ...options.zeroExport };
    this.knobDeg = clamp(options.regulator?.startKnob ?? 0, 0, 1) * this.rangeDeg;
    this.hornDeg = this.knobDeg;
    this.now = this.snapshot(this.tS);
  }

  get tS(): number {
    return this.startS + this.elapsedMs / 1000;
  }
  get pvAvailableW(): number {
    return this.now.pvAvailableW;
  }
  get pvW(): number {
    return this.now.pvW;
  }
  get loadW(): number {
    return this.now.loadW;
  }
  get heaterW(): number {
    return this.now.heaterW;
  }
  /** Positive: import. */
  get gridW(): number {
    return this.now.gridW;
  }
  /** Positive: charging. */
  get batteryW(): number {
    return this.now.batteryW;
  }
  /** 0..1; NaN without a zero-export battery. */
  get batterySoc(): number {
    return this.battery?.soc ?? Number.NaN;
  }
  get tankC(): number {
    return this.temperatureC;
  }
  /** The thermostat has cut the element off (the tank is hot). */
  get thermostatOpen(): boolean {
    return this.cutOut;
  }
  /** 0 (fully counter-clockwise) .. 1. */
  get knobPosition(): number {
    return this.knobDeg / this.rangeDeg;
  }
  get servoAngleDeg(): number {
    return this.hornDeg;
  }
  get relayOn(): boolean {
    return this.relay;
  }
  /** The element's power with the knob fully open and the thermostat closed. */
  get fullPowerW(): number {
    return this.fullHeaterW;
  }
  get totals(): Readonly<WaterHeaterTotals> {
    return { ...this.sums };
  }

  setRelay(on: boolean): void {
    if (on !== this.relay) this.sums.relaySwitches += 1;
    this.relay = on;
    this.now = this.snapshot(this.tS);
  }

  /** 0 releases the servo: the horn stops and the knob stays where it is (friction holds it). */
  setServoPulse(us: number): void {
    this.pulseUs = Math.max(0, us);
  }

  advance(dtMs: number): void {
    let remainingMs = dtMs;
    while (remainingMs > 1e-9) {
      const stepMs = Math.min(remainingMs, this.stepMs);
      this.step(stepMs / 1000);
      remainingMs -= stepMs;
    }
  }

  private step(dtS: number): void {
    this.moveServo(dtS);
    // Powers at the middle of the step integrate a linear stretch of the day exactly.
    const state = this.snapshot(this.tS + dtS / 2, dtS);
    const withoutHeater = this.balance(state.pvAvailableW, state.loadW, 0, dtS);
    const hours = dtS / 3600;
    const sums = this.sums;
    const importOf = (balance: Balance) => Math.max(0, balance.gridW) + Math.max(0, -balance.batteryW);
    const causedW = importOf(state) - importOf(withoutHeater);
    sums.importForHeaterWh += causedW * hours;
    sums.surplusToTankWh += (state.heaterW - causedW) * hours;
    sums.displacedChargeWh += (Math.max(0, withoutHeater.batteryW) - Math.max(0, state.batteryW)) * hours;
    sums.heaterWh += state.heaterW * hours;
    sums.importWh += Math.max(0, state.gridW) * hours;
    sums.exportWh += Math.max(0, -state.gridW) * hours;
    sums.pvWh += state.pvW * hours;
    sums.pvAvailableWh += state.pvAvailableW * hours;
    sums.loadWh += state.loadW * hours;
    sums.batteryChargeWh += Math.max(0, state.batteryW) * hours;
    sums.batteryDischargeWh += Math.max(0, -state.batteryW) * hours;

    this.temperatureC += ((state.heaterW - this.lossW) * dtS) / (this.tankKg * WATER_HEAT_CAPACITY_J_PER_KG_K);
    if (!this.cutOut && this.temperatureC >= this.thermostatC) this.cutOut = true;
    else if (this.cutOut && this.temperatureC <= this.thermostatC - this.hysteresisC) this.cutOut = false;
    if (this.battery) {
      this.battery.soc = clamp(this.battery.soc + (state.batteryW * hours) / this.battery.capacityWh, 0, 1);
    }
    this.elapsedMs += dtS * 1000;
    this.now = state;
  }

  // The horn turns at the servo's speed towards the pulse's angle; the knob follows through a
  // coupling with play: it moves only while the horn pushes it from one side, so reversing
  // direction costs backlashDeg of horn travel before the knob turns.
  private moveServo(dtS: number): void {
    if (this.pulseUs <= 0) return;
    const fraction = clamp((this.pulseUs - this.servoMinUs) / (this.servoMaxUs - this.servoMinUs), 0, 1);
    const targetDeg = fraction * this.rangeDeg;
    const travel = this.speedDegPerS * dtS;
    this.hornDeg += clamp(targetDeg - this.hornDeg, -travel, travel);
    const play = this.backlashDeg / 2;
    if (this.hornDeg - this.knobDeg > play) this.knobDeg = this.hornDeg - play;
    else if (this.knobDeg - this.hornDeg > play) this.knobDeg = this.hornDeg + play;
    this.knobDeg = clamp(this.knobDeg, 0, this.rangeDeg);
  }

  private snapshot(tS: number, dtS = this.stepMs / 1000): Balance & { pvAvailableW: number; loadW: number; heaterW: number } {
    const pvAvailableW = Math.max(0, this.day.pvW(tS));
    const loadW = Math.max(0, this.day.loadW(tS));
    const heaterW = this.relay && !this.cutOut ? this.fullHeaterW * regulatorFraction(this.knobPosition, this.deadZone) : 0;
    return { pvAvailableW, loadW, heaterW, ...this.balance(pvAvailableW, loadW, heaterW, dtS) };
  }

  // Without a battery the grid takes or gives the difference. With the zero-export ESS: PV goes
  // to the load and the heater first, then into the battery (up to its charge power and its
  // room), and the MPPT throttles the rest away; a deficit comes from the battery (down to
  // minSoc), then from the grid.
  private balance(pvAvailableW: number, loadW: number, heaterW: number, dtS: number): Balance {
    const demandW = loadW + heaterW;
    const battery = this.battery;
    if (!battery) return { pvW: pvAvailableW, gridW: demandW - pvAvailableW, batteryW: 0 };
    const hours = Math.max(dtS, 1e-6) / 3600;
    if (pvAvailableW >= demandW) {
      const roomW = ((1 - battery.soc) * battery.capacityWh) / hours;
      const chargeW = Math.min(pvAvailableW - demandW, battery.maxChargeW, Math.max(0, roomW));
      return { pvW: demandW + chargeW, gridW: 0, batteryW: chargeW };
    }
    const deficitW = demandW - pvAvailableW;
    const reserveW = ((battery.soc - battery.minSoc) * battery.capacityWh) / hours;
    const dischargeW = Math.min(deficitW, battery.maxDischargeW, Math.max(0, reserveW));
    return { pvW: pvAvailableW, gridW: deficitW - dischargeW, batteryW: -dischargeW };
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
