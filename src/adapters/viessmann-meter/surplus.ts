// The surplus a meter serves, computed from the add-on's measurements. Pure: the adapter gives
// the measurements and the time, and gets the power per phase in the heat pump's convention, or
// the reason why there is nothing fresh to serve (then it serves 0 W, never an old surplus).
import type { Measurement } from '../../measurements/measurement.js';
import type { PhaseValues } from './registers.js';
import type { ViessmannMeterOptions } from './options.js';

export type SurplusOptions = Pick<ViessmannMeterOptions, 'rest_power' | 'grid' | 'heat_pump' | 'grid_l1' | 'grid_l2' | 'grid_l3' | 'sign' | 'phase_split' | 'stale_after'>;

export type Surplus =
  | {
      fresh: true;
      /** Surplus in W, positive when power would go to the grid without the heat pump. */
      totalW: number;
      /** Per phase, same sign as totalW (measured, or the total split as the options say). */
      phasesW: PhaseValues;
      /** When the oldest measurement used was taken (ms since epoch). */
      measuredAt: number;
    }
  | { fresh: false; reason: string };

type Lookup = (name: string) => Measurement | undefined;

/** A measurement's value while it is younger than both its own limit and the meter's. */
function freshValue(lookup: Lookup, name: string, staleAfterS: number, now: number): { value: number; at: number } | { reason: string } {
  const measurement = lookup(name);
  if (!measurement) return { reason: `source '${name}' is not defined in automation.sources` };
  const value = measurement.value;
  if (value === undefined || typeof value !== 'number') return { reason: measurement.why() };
  const ageS = measurement.ageS;
  if (ageS > staleAfterS) return { reason: `no fresh value from source '${name}' for ${Math.round(ageS)} s (the meter's stale_after is ${staleAfterS} s)` };
  return { value, at: now - ageS * 1000 };
}

export function computeSurplus(options: SurplusOptions, lookup: Lookup, now: number): Surplus {
  const names = options.rest_power !== undefined ? [options.rest_power] : options.grid !== undefined ? [options.grid] : [options.grid_l1!, options.grid_l2!, options.grid_l3!];
  const wanted = options.heat_pump !== undefined ? [...names, options.heat_pump] : names;
  const values: number[] = [];
  let measuredAt = now;
  const reasons: string[] = [];
  for (const name of wanted) {
    const got = freshValue(lookup, name, options.stale_after, now);
    if ('reason' in got) reasons.push(got.reason);
    else {
      values.push(got.value);
      measuredAt = Math.min(measuredAt, got.at);
    }
  }
  if (reasons.length) return { fresh: false, reason: reasons.join('; ') };

  // restPower = heat pump − grid (grid positive when importing): what the meter placed after the
  // heat pump, before every other load, would see going out (research §1.3).
  const heatPumpW = options.heat_pump !== undefined ? values[values.length - 1]! : 0;
  let measuredPhases: PhaseValues | undefined;
  let totalW: number;
  if (options.rest_power !== undefined) totalW = values[0]!;
  else if (options.grid !== undefined) totalW = heatPumpW - values[0]!;
  else {
    measuredPhases = [heatPumpW / 3 - values[0]!, heatPumpW / 3 - values[1]!, heatPumpW / 3 - values[2]!];
    totalW = measuredPhases[0] + measuredPhases[1] + measuredPhases[2];
  }
  const phasesW: PhaseValues =
    options.phase_split === 'measured' && measuredPhases ? measuredPhases : options.phase_split === 'l1' ? [totalW, 0, 0] : [totalW / 3, totalW / 3, totalW / 3];
  return { fresh: true, totalW, phasesW, measuredAt };
}

/** The power per phase as the heat pump wants to read it: export positive (200-S) or negated (262-A). */
export function inHeatPumpSign(phasesW: PhaseValues, sign: SurplusOptions['sign']): PhaseValues {
  if (sign === 'export_positive') return phasesW;
  return [-phasesW[0] || 0, -phasesW[1] || 0, -phasesW[2] || 0];
}
