// An evcc-like on/off baseline for the benchmark: the heater's relay at full power, a decision
// every 30 s, on once the surplus has covered the heater's whole power at two decisions in a row
// (30 s), off at the first decision that sees import. As evcc does with a home battery above its
// priority SoC, a charging battery counts as surplus and a discharging one as import.
import type { HeaterInputs } from '../../src/adapters/water-heater/controller.js';

export interface OnOffConfig {
  heaterW: number;
  periodS: number;
  /** Above this SoC, battery charge power counts as surplus (evcc's priority SoC). */
  prioritySoc: number;
}

export class OnOffRelay {
  readonly periodS: number;
  private relay = false;
  private coveredBefore = false;

  constructor(private readonly config: OnOffConfig) {
    this.periodS = config.periodS;
  }

  step(inputs: Pick<HeaterInputs, 'now' | 'gridW' | 'batteryW' | 'batterySoc'>): { relay: boolean; level: number } {
    if (inputs.gridW === undefined) {
      this.relay = false;
      this.coveredBefore = false;
      return { relay: false, level: 1 };
    }
    const batteryW = inputs.batteryW ?? 0;
    const batteryCounts = batteryW < 0 || (inputs.batterySoc ?? 0) >= this.config.prioritySoc;
    // Export plus battery charge; while the heater runs its draw is already in these readings,
    // so a negative value means it takes more than the sun gives.
    const surplusW = -inputs.gridW + (batteryCounts ? batteryW : 0);
    if (this.relay) {
      if (surplusW < 0) this.relay = false;
      this.coveredBefore = false;
    } else {
      const covered = surplusW >= this.config.heaterW;
      if (covered && this.coveredBefore) this.relay = true;
      this.coveredBefore = covered;
    }
    return { relay: this.relay, level: 1 };
  }
}
