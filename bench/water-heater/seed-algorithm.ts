// pv_heater_optimizer's control loop as coded (main.py at 5f79184; research
// viessmann-pvheater.md §4.3), for the benchmark only: a 3 s loop, ±10 % servo steps, a start at
// 50 %, the daylight, SoC and grid gates, and the forecast gap. Its defects are kept on purpose:
// an OFF decision takes effect one loop later, |battery power| (charging too) steps down, and
// the servo's percentage is the knob's angle, with no calibration. It is fed whatever the
// benchmark gives it; VRM's staleness is the benchmark's to model.
import type { HeaterInputs } from '../../src/adapters/water-heater/controller.js';
import { localSecondOfDay, parseClockTime } from '../../src/adapters/water-heater/gates.js';

/** The shipped `Files/config.yaml` values (§4.1). */
export interface SeedConfig {
  sleepTimerS: number; // sleep_timer
  minBattery: number; // min_battery, SoC must be above it
  minDayTime: string; // min_day_time
  maxDayTime: string; // max_day_time
  timeZone: string; // the Pi's local time
  maxGridDrawW: number; // max_grid_draw
  maxBatteryDischargeW: number; // max_battery_discharge
  adjustValue: number; // adjust_value, % per loop
  toleranceW: number; // tolerance
  fcastDiffW: number; // fcast_diff
}

export const SHIPPED_SEED_CONFIG: Omit<SeedConfig, 'timeZone'> = {
  sleepTimerS: 3,
  minBattery: 95,
  minDayTime: '09:00:00',
  maxDayTime: '18:00:00',
  maxGridDrawW: 80,
  maxBatteryDischargeW: 100,
  adjustValue: 10,
  toleranceW: 100,
  fcastDiffW: 10,
};

/** What one VRM diagnostics read gives the loop; `undefined` fields mean the read failed. */
export type SeedInputs = Pick<HeaterInputs, 'now' | 'gridW' | 'batteryW' | 'batterySoc' | 'forecastGapW'>;

export class SeedAlgorithm {
  readonly periodS: number;
  private heating = false;
  private percent = 50;
  private relay = false;
  private firstPass = true;

  constructor(private readonly config: SeedConfig) {
    this.periodS = config.sleepTimerS;
  }

  /** One pass of main.py's `while True`; call every `periodS`. `level` is the servo's % / 100. */
  step(inputs: SeedInputs): { relay: boolean; level: number } {
    // main.py sleeps first, then applies the previous pass's "not heating" (servo 50 %, relay OFF).
    if (!this.firstPass && !this.heating) {
      this.percent = 50;
      this.relay = false;
    }
    this.firstPass = false;
    const result = () => ({ relay: this.relay, level: this.percent / 100 });

    const second = localSecondOfDay(inputs.now, this.config.timeZone);
    if (second < parseClockTime(this.config.minDayTime) || second > parseClockTime(this.config.maxDayTime)) {
      this.heating = false;
      return result();
    }
    const { gridW, batteryW, batterySoc } = inputs;
    if (gridW === undefined || batteryW === undefined || batterySoc === undefined) {
      this.heating = false;
      return result();
    }
    if (!(batterySoc > this.config.minBattery) || !(gridW <= this.config.maxGridDrawW)) {
      this.heating = false;
      return result();
    }
    // forecast[HH] − ScW; the forecast is 0 where missing.
    const gapW = inputs.forecastGapW ?? 0;
    // VRM's `bst` says "discharging" for any discharge; main.py tests it as well as |bp|.
    const discharging = batteryW < 0;
    if (this.heating) {
      if (Math.abs(batteryW) > this.config.maxBatteryDischargeW || discharging) this.percent = Math.max(0, this.percent - this.config.adjustValue);
      else if (gapW > this.config.toleranceW) this.percent = Math.min(100, this.percent + this.config.adjustValue);
    } else if (gapW > this.config.fcastDiffW) {
      this.heating = true;
      this.relay = true;
    }
    return result();
  }
}
