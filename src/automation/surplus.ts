// What surplus PV power is available, from the grid meter, the residual offset and the battery.
import type { Measurement } from '../measurements/measurement.js';

export interface SurplusInputs {
  grid: Measurement;
  gridPositiveIsImport: boolean;
  /** W kept as export (positive) or allowed as import (negative). */
  residualW: number;
  batterySoc?: Measurement;
  batteryPower?: Measurement;
  batteryPowerPositiveIsCharge: boolean;
  batteryPrioritySoc?: number;
}

export type Surplus =
  | { ok: true; watts: number; gridImportW: number; explain: string }
  | { ok: false; why: string };

/**
 * Surplus = export − residual, plus what the battery is charging with, unless the battery is
 * below its priority SoC: then its charging power is the battery's, not the loads'.
 */
export function computeSurplus(s: SurplusInputs): Surplus {
  const grid = s.grid.value;
  if (grid === undefined) return { ok: false, why: s.grid.why() };
  const gridImportW = s.gridPositiveIsImport ? grid : -grid;
  let watts = -gridImportW - s.residualW;
  let explain = '';
  if (s.batteryPower) {
    const raw = s.batteryPower.value;
    if (raw !== undefined) {
      const charging = Math.max(0, s.batteryPowerPositiveIsCharge ? raw : -raw);
      const soc = s.batterySoc?.value;
      const priority = s.batteryPrioritySoc !== undefined && (soc === undefined || soc < s.batteryPrioritySoc);
      if (charging > 0 && !priority) {
        watts += charging;
        explain = ` (with ${Math.round(charging)} W the battery would give up)`;
      } else if (charging > 0) {
        explain = ` (battery has priority below ${s.batteryPrioritySoc} %${soc === undefined ? '' : `, at ${Math.round(soc)} %`})`;
      }
    }
  }
  return { ok: true, watts, gridImportW, explain };
}
