// The water heater's control law (issue 12): pure and clock-driven, one step() a second with the
// time in the inputs, so the adapter, the tests and the benchmark run the same code on real or
// simulated time. It decides the relay and a regulator level; the adapter turns those into pins,
// an HA number or an MQTT message, and owns the deadman and fail-safe.
import { evaluateGates, GATE_NAMES, type GateName, type GateSettings, type GateVerdicts } from './gates.js';

export interface HeaterInputs {
  now: number; // ms since epoch
  gridW?: number; // + import, − export; undefined = stale/missing
  batteryW?: number; // + charging, − discharging (Victron's sign)
  batterySoc?: number; // %
  heaterW?: number; // the heater's measured power if a source gives it
  forecastGapW?: number; // forecast PV − actual PV, if the user configured a forecast
  mpptThrottling?: boolean; // where the GX reports the MPPT limiting
}

export interface HeaterSettings {
  maxPowerW: number; // regulator at 100 %
  minPowerW: number; // below this the relay is not worth switching on (regulator dead zone)
  targetExportW: number; // default 100: hold a little export
  zeroExport: boolean; // no visible export: probe for hidden power
  /** PI on (export − target): errors within ±deadbandW count as zero. kp is per W of error change,
   *  ki per W·s; both give W of heater power. maxStepPerS is in level units (fraction of
   *  maxPowerW) per second, both directions, except the zero-export back-off, which is at once. */
  deadbandW: number;
  kp: number;
  ki: number;
  maxStepPerS: number;
  minOnS: number;
  minOffS: number;
  probe: { stepW: number; everyS: number; maxImportW: number; maxDischargeW: number };
  gates: GateSettings;
  /** How long the surplus must cover minPowerW before the relay goes on (default 10 s). */
  onDelayS?: number;
  /** How long the level must sit below the regulator's minimum, still short of surplus, before
   *  the relay goes off (default 30 s); minOffS then keeps it off. */
  offDelayS?: number;
  /** How long the grid-import and battery-discharge gates must fail before they stop the heater
   *  (default 10 s): the controller's own transients must not trip them. */
  gateHoldS?: number;
  /** Thermostat cut-out: detected after detectS of no response, re-checked every recheckEveryS. */
  cutOut?: { detectS: number; recheckEveryS: number };
}

export type HeaterState = 'off' | 'gated' | 'waiting' | 'heating' | 'probing' | 'tank_hot' | 'stale';

export interface HeaterCommand {
  relay: boolean;
  level: number; // 0..1 of maxPowerW
  state: HeaterState;
  reason: string; // one sentence for HA, with numbers
  gates: Record<GateName, boolean | undefined>; // undefined = not configured
  estimatedHeaterW: number;
}

/** Defaults a user of a 4 kW regulator on a servo can start from; the adapter's options override. */
export function defaultHeaterSettings(maxPowerW = 4000): HeaterSettings {
  return {
    maxPowerW,
    minPowerW: Math.round(maxPowerW * 0.1),
    targetExportW: 100,
    zeroExport: false,
    // Tuned on the benchmark's servo and regulator: settles a step in under 10 s with the grid
    // meter up to 1 s late; a faster ki rings once the meter is 2 s late.
    deadbandW: 30,
    kp: 0.1,
    ki: 0.4,
    maxStepPerS: 0.25,
    minOnS: 60,
    minOffS: 120,
    probe: { stepW: 100, everyS: 5, maxImportW: 100, maxDischargeW: 100 },
    gates: {},
    onDelayS: 10,
    offDelayS: 30,
    gateHoldS: 10,
    cutOut: { detectS: 20, recheckEveryS: 600 },
  };
}

/** A reading pair taken when the level was last known to reach the heater. */
interface Anchor {
  level: number;
  netW: number;
  gapW: number | undefined;
}

/** The level lowered on purpose to see whether the heater draws at all. */
interface CutOutTest {
  fromLevel: number;
  toLevel: number;
  netW: number;
  gapW: number | undefined;
  /** When the level reached toLevel: the meter needs a few seconds after that. */
  reachedAt: number | undefined;
}

// How long a lowered level is watched before the answer counts.
const CUT_OUT_TEST_MS = 4000;

const clamp01 = (value: number) => Math.min(1, Math.max(0, value));
const watts = (value: number) => `${Math.round(value)} W`;
const percent = (level: number) => `${Math.round(level * 100)} %`;

export class HeaterController {
  private readonly settings: HeaterSettings;
  private readonly onDelayMs: number;
  private readonly offDelayMs: number;
  private readonly gateHoldMs: number;
  private readonly detectMs: number;
  private readonly recheckMs: number;
  private readonly minLevel: number;

  private relay = false;
  private level = 0;
  private relayChangedAt: number | undefined;
  private lastNow: number | undefined;
  private previousError = 0;
  private surplusSince: number | undefined;
  private shortSince: number | undefined;
  private readonly gateFailingSince: Partial<Record<GateName, number>> = {};
  private lastProbeAt = 0;
  private probeHoldUntil = 0;
  private tankHotSince: number | undefined;
  private suspectSince: number | undefined;
  private anchor: Anchor | undefined;
  private cutOutTest: CutOutTest | undefined;
  private quietUntil = 0;
  private heaterMeasured = false;

  constructor(settings: HeaterSettings) {
    if (!(settings.maxPowerW > 0)) throw new Error(`maxPowerW must be above 0, not ${settings.maxPowerW}`);
    this.settings = settings;
    this.onDelayMs = (settings.onDelayS ?? 10) * 1000;
    this.offDelayMs = (settings.offDelayS ?? 30) * 1000;
    this.gateHoldMs = (settings.gateHoldS ?? 10) * 1000;
    this.detectMs = (settings.cutOut?.detectS ?? 20) * 1000;
    this.recheckMs = (settings.cutOut?.recheckEveryS ?? 600) * 1000;
    this.minLevel = clamp01(settings.minPowerW / settings.maxPowerW);
  }

  step(inputs: HeaterInputs): HeaterCommand {
    const { now } = inputs;
    const dtS = this.lastNow === undefined ? 1 : Math.min(10, Math.max(0, (now - this.lastNow) / 1000));
    this.lastNow = now;
    this.heaterMeasured = inputs.heaterW !== undefined;

    const verdicts = evaluateGates(this.settings.gates, inputs);
    this.holdPowerGates(verdicts, now);
    const gates = Object.fromEntries(GATE_NAMES.map((name) => [name, verdicts[name].pass])) as Record<GateName, boolean | undefined>;

    if (inputs.gridW === undefined || !Number.isFinite(inputs.gridW)) {
      this.forceOff(now);
      return this.command('stale', 'Grid power is stale or missing: relay off, regulator at 0 %.', gates, inputs);
    }
    const failed = GATE_NAMES.filter((name) => verdicts[name].pass === false);
    if (failed.length) {
      this.forceOff(now);
      return this.command('gated', `Gated: ${failed.map((name) => verdicts[name].detail).join('; ')}.`, gates, inputs);
    }
    const { state, reason } = this.settings.zeroExport ? this.probe(inputs, inputs.gridW, dtS) : this.follow(inputs, inputs.gridW, dtS);
    return this.command(state, reason, gates, inputs);
  }

  /** The power gates fail only once their condition has lasted gateHoldS; the verdicts are
   *  rewritten in place so that HA shows the gate that actually acts. */
  private holdPowerGates(verdicts: GateVerdicts, now: number): void {
    for (const name of ['grid_import', 'battery_discharge'] as const) {
      if (verdicts[name].pass !== false) {
        delete this.gateFailingSince[name];
        continue;
      }
      const since = (this.gateFailingSince[name] ??= now);
      if (now - since < this.gateHoldMs) verdicts[name].pass = true;
      else verdicts[name].detail += ` for ${Math.round((now - since) / 1000)} s`;
    }
  }

  // ---- export following: PI on (export − target) ----

  private follow(inputs: HeaterInputs, gridW: number, dtS: number): { state: HeaterState; reason: string } {
    const { settings } = this;
    const exportW = -gridW;
    const errorW = exportW - settings.targetExportW;

    if (!this.relay) {
      const started = this.considerSwitchOn(inputs.now, errorW >= settings.minPowerW);
      if (started) {
        return { state: 'heating', reason: `Relay on: export ${watts(exportW)} left ${watts(errorW)} above the ${watts(settings.targetExportW)} target, enough for the regulator's ${watts(settings.minPowerW)} minimum.` };
      }
      const enough = errorW >= settings.minPowerW;
      const why = `export ${watts(exportW)} leaves ${watts(errorW)} above the ${watts(settings.targetExportW)} target, ${enough ? 'enough for' : 'less than'} the regulator's ${watts(settings.minPowerW)} minimum`;
      return this.offOrWaiting(inputs.now, enough, why);
    }

    const cutOut = this.watchCutOut(inputs, gridW, false, { wanting: errorW > settings.deadbandW, shortfall: errorW < -settings.deadbandW }, dtS);
    if (cutOut) return cutOut;

    const effectiveError = Math.abs(errorW) <= settings.deadbandW ? 0 : errorW;
    // Velocity form: the level itself is the integrator's state, so clamping it is the anti-windup.
    const deltaW = settings.kp * (effectiveError - this.previousError) + settings.ki * effectiveError * dtS;
    this.previousError = effectiveError;
    const maxStep = settings.maxStepPerS * dtS;
    // A heater measured at nothing while a cut-out is suspected: raising it only winds up.
    const ceiling = this.suspectSince !== undefined && this.heaterMeasured ? 0 : maxStep;
    this.level = clamp01(this.level + Math.max(-maxStep, Math.min(ceiling, deltaW / settings.maxPowerW)));

    const short = this.level < this.minLevel && effectiveError < 0;
    if (this.considerSwitchOff(inputs.now, short)) {
      return { state: 'off', reason: `Relay off: the regulator sat below its ${watts(settings.minPowerW)} minimum with export ${watts(exportW)} under the ${watts(settings.targetExportW)} target.` };
    }
    const position = effectiveError === 0 ? 'within the deadband of' : effectiveError > 0 ? 'above' : 'below';
    return { state: 'heating', reason: `Heating at ${percent(this.level)} (about ${watts(this.level * settings.maxPowerW)}): export ${watts(exportW)} is ${position} the ${watts(settings.targetExportW)} target.` };
  }

  // ---- zero export: probe for power the MPPT holds back ----

  private probe(inputs: HeaterInputs, gridW: number, dtS: number): { state: HeaterState; reason: string } {
    const { settings } = this;
    const { probe } = settings;
    const exportW = -gridW;
    const chargeW = Math.max(0, inputs.batteryW ?? 0);
    const visibleW = Math.max(0, exportW - settings.targetExportW) + chargeW;
    const dischargeW = Math.max(0, -(inputs.batteryW ?? 0));
    const importW = Math.max(0, gridW);

    if (!this.relay) {
      const hint = this.hiddenPowerHint(inputs, visibleW);
      if (this.considerSwitchOn(inputs.now, hint.present)) {
        this.lastProbeAt = inputs.now;
        return { state: 'probing', reason: `Relay on at ${percent(this.level)} to probe: ${hint.text}.` };
      }
      return this.offOrWaiting(inputs.now, hint.present, hint.text);
    }

    const overdraw = dischargeW > probe.maxDischargeW || importW > probe.maxImportW;
    const cutOut = this.watchCutOut(inputs, gridW, true, { wanting: true, shortfall: overdraw }, dtS);
    if (cutOut) return cutOut;

    let action: string;
    if (overdraw) {
      // The heater took more than the sun gives: drop by all of it and a step more, at once.
      const dropW = dischargeW + importW + probe.stepW;
      this.level = clamp01(this.level - dropW / settings.maxPowerW);
      this.probeHoldUntil = inputs.now + 2 * probe.everyS * 1000;
      this.lastProbeAt = inputs.now;
      action = `backed off by ${watts(dropW)} (battery discharge ${watts(dischargeW)}, grid import ${watts(importW)})`;
    } else if (visibleW > settings.deadbandW) {
      // Power we can see (export or a charging battery) needs no probing; take half of it per
      // second so the servo's lag cannot overshoot into the battery.
      this.raise((visibleW / 2) / settings.maxPowerW, dtS);
      action = `raised towards ${watts(visibleW)} of visible surplus`;
    } else {
      const hint = this.hiddenPowerHint(inputs, visibleW);
      const due = inputs.now - this.lastProbeAt >= probe.everyS * 1000 && inputs.now >= this.probeHoldUntil;
      if (due && hint.present) {
        const gap = inputs.forecastGapW;
        const stepW = gap === undefined ? probe.stepW : Math.min(4 * probe.stepW, Math.max(probe.stepW, gap / 2));
        this.raise(stepW / settings.maxPowerW, dtS);
        this.lastProbeAt = inputs.now;
        action = `probed up by ${watts(stepW)} (${hint.text})`;
      } else {
        action = hint.present ? `holding until the next probe` : `holding: ${hint.text}`;
      }
    }

    const short = this.level < this.minLevel && (overdraw || !this.hiddenPowerHint(inputs, visibleW).present);
    if (this.considerSwitchOff(inputs.now, short)) {
      return { state: 'off', reason: `Relay off: probing found less than the regulator's ${watts(settings.minPowerW)} minimum.` };
    }
    return { state: 'probing', reason: `Probing at ${percent(this.level)} (about ${watts(this.level * settings.maxPowerW)}): ${action}.` };
  }

  /** Whether anything says there is power to find; with no forecast and no MPPT state configured,
   *  only trying tells, so the answer is yes and the back-off is the guard. */
  private hiddenPowerHint(inputs: HeaterInputs, visibleW: number): { present: boolean; text: string } {
    const { minPowerW, probe } = this.settings;
    if (visibleW >= minPowerW) return { present: true, text: `${watts(visibleW)} of export or battery charge is visible` };
    if (inputs.mpptThrottling === false) return { present: false, text: 'the MPPT reports no throttling' };
    if (inputs.forecastGapW !== undefined) {
      const needed = this.relay ? probe.stepW : minPowerW;
      const present = inputs.forecastGapW >= needed;
      return { present, text: `the forecast is ${watts(inputs.forecastGapW)} above the PV power (${present ? 'at least' : 'less than'} ${watts(needed)})` };
    }
    if (inputs.mpptThrottling === true) return { present: true, text: 'the MPPT reports throttling' };
    return { present: true, text: 'no forecast or MPPT state, so trying is the only test' };
  }

  private raise(byLevel: number, dtS: number): void {
    if (this.suspectSince !== undefined && this.heaterMeasured) return;
    this.level = clamp01(this.level + Math.min(byLevel, this.settings.maxStepPerS * dtS));
  }

  // ---- relay timing ----

  /** Counts how long the surplus has held; switches on after onDelay and minOff, at the
   *  regulator's minimum, from where the loop climbs at its rate limit. */
  private considerSwitchOn(now: number, surplus: boolean): boolean {
    if (!surplus) {
      this.surplusSince = undefined;
      return false;
    }
    this.surplusSince ??= now;
    if (now - this.surplusSince < this.onDelayMs || !this.minTimeDone(now, this.settings.minOffS)) return false;
    this.setRelay(true, now);
    this.level = this.minLevel;
    this.previousError = 0;
    this.resetCutOut();
    return true;
  }

  private considerSwitchOff(now: number, short: boolean): boolean {
    if (!short) {
      this.shortSince = undefined;
      return false;
    }
    this.shortSince ??= now;
    if (now - this.shortSince < this.offDelayMs || !this.minTimeDone(now, this.settings.minOnS)) return false;
    this.setRelay(false, now);
    this.level = 0;
    return true;
  }

  private offOrWaiting(now: number, surplus: boolean, why: string): { state: HeaterState; reason: string } {
    if (!surplus) return { state: 'off', reason: `Off: ${why}.` };
    const heldS = Math.round((now - (this.surplusSince ?? now)) / 1000);
    const offLeftS = this.relayChangedAt === undefined ? 0 : Math.max(0, Math.ceil(this.settings.minOffS - (now - this.relayChangedAt) / 1000));
    const delay = Math.round(this.onDelayMs / 1000);
    return { state: 'waiting', reason: `Waiting: ${why}, held ${heldS} of ${delay} s${offLeftS > 0 ? `, minimum off time ${offLeftS} s left` : ''}.` };
  }

  private minTimeDone(now: number, minS: number): boolean {
    return this.relayChangedAt === undefined || now - this.relayChangedAt >= minS * 1000;
  }

  private setRelay(on: boolean, now: number): void {
    if (this.relay === on) return;
    this.relay = on;
    this.relayChangedAt = now;
    this.surplusSince = undefined;
    this.shortSince = undefined;
  }

  /** Stale data or a failed gate: off now, whatever the minimum on time says. */
  private forceOff(now: number): void {
    this.setRelay(false, now);
    this.level = 0;
    this.previousError = 0;
    this.surplusSince = undefined;
    this.resetCutOut();
  }

  // ---- thermostat cut-out ----

  private resetCutOut(): void {
    this.tankHotSince = undefined;
    this.suspectSince = undefined;
    this.anchor = undefined;
    this.cutOutTest = undefined;
  }

  /**
   * Returns a command while the tank is hot (level held, nothing integrated), else undefined.
   * Measured heater power decides when there is one; otherwise a raise of the level that moves
   * neither grid nor battery (nor, in zero export, the forecast gap) for detectS is the sign,
   * while the surplus that asked for the raise is still there (`wanting`): a PV ramp that the
   * loop tracks also raises the level without moving the grid, but it leaves no surplus behind.
   * A regulator already at the element's full power ignores a raise too, so a suspicion is
   * tested before it counts: the level is lowered (at the rate limit) and a heater that draws
   * hands the difference back to the grid within seconds. `shortfall` (import or discharge
   * beyond the limits) ends a tank_hot at once: if the heater draws after all, the loop must
   * be free to back off.
   */
  private watchCutOut(inputs: HeaterInputs, gridW: number, zeroExport: boolean, { wanting, shortfall }: { wanting: boolean; shortfall: boolean }, dtS: number): { state: HeaterState; reason: string } | undefined {
    const { settings } = this;
    const now = inputs.now;
    const netW = gridW - (inputs.batteryW ?? 0);

    if (this.tankHotSince !== undefined) {
      const drawing = inputs.heaterW !== undefined ? inputs.heaterW >= this.drawThresholdW() : this.anchor !== undefined && this.responseSince(this.anchor, netW, inputs.forecastGapW, zeroExport) >= 0.5 * this.level * settings.maxPowerW;
      const recheck = now - this.tankHotSince >= this.recheckMs;
      if (drawing || recheck || shortfall) {
        // The loop takes over from the held level; if the tank is still hot, its climb shows it
        // again and the test that follows confirms it.
        this.resetCutOut();
        this.previousError = 0;
        return undefined;
      }
      const noSurplus = zeroExport ? gridW > settings.probe.maxImportW : -gridW - settings.targetExportW < settings.minPowerW;
      if (this.considerSwitchOff(now, noSurplus)) {
        this.resetCutOut();
        return { state: 'off', reason: `Relay off: the tank is hot and the surplus has gone (grid ${watts(gridW)}).` };
      }
      const nextS = Math.max(0, Math.ceil((this.tankHotSince + this.recheckMs - now) / 1000));
      return { state: 'tank_hot', reason: `Tank hot: the heater draws nothing at ${percent(this.level)} (thermostat open); holding, next check in ${Math.ceil(nextS / 60)} min.` };
    }

    if (this.cutOutTest) return this.continueCutOutTest(inputs, netW, zeroExport, shortfall, dtS);
    if (this.level < this.minLevel || now < this.quietUntil) {
      this.suspectSince = undefined;
      this.anchor = undefined;
      return undefined;
    }
    let suspect: boolean;
    if (inputs.heaterW !== undefined) {
      suspect = this.level * settings.maxPowerW >= 1.25 * settings.minPowerW && inputs.heaterW < this.drawThresholdW();
    } else {
      const gapW = inputs.forecastGapW;
      // In zero export the heater's draw shows as more PV, not as grid or battery: without a
      // forecast gap to see it, a hot tank cannot be told from hidden power, so do not guess.
      if (zeroExport && gapW === undefined) return undefined;
      const anchor = (this.anchor ??= { level: this.level, netW, gapW });
      const raisedW = (this.level - anchor.level) * settings.maxPowerW;
      const responseW = this.responseSince(anchor, netW, gapW, zeroExport);
      if (raisedW <= 0 || responseW >= 0.5 * raisedW) {
        this.anchor = { level: this.level, netW, gapW };
        suspect = false;
      } else {
        suspect = wanting && raisedW >= Math.max(200, settings.minPowerW / 2) && responseW < 0.25 * raisedW;
      }
      // At the top the level cannot rise, so the raise test above goes quiet; still wanting
      // more there is just as suspect.
      if (wanting && this.level >= 1) suspect = true;
    }
    if (!suspect) {
      this.suspectSince = undefined;
      return undefined;
    }
    this.suspectSince ??= now;
    if (now - this.suspectSince < this.detectMs) return undefined;
    if (inputs.heaterW === undefined) {
      const fromLevel = this.level;
      this.cutOutTest = { fromLevel, toLevel: Math.max(this.minLevel, fromLevel / 2), netW, gapW: inputs.forecastGapW, reachedAt: undefined };
      return this.continueCutOutTest(inputs, netW, zeroExport, shortfall, dtS);
    }
    return this.enterTankHot(inputs, netW);
  }

  private continueCutOutTest(inputs: HeaterInputs, netW: number, zeroExport: boolean, shortfall: boolean, dtS: number): { state: HeaterState; reason: string } | undefined {
    const test = this.cutOutTest!;
    const now = inputs.now;
    if (this.level > test.toLevel) {
      this.level = Math.max(test.toLevel, this.level - this.settings.maxStepPerS * dtS);
      test.reachedAt = undefined;
    } else {
      test.reachedAt ??= now;
    }
    const expectedW = (test.fromLevel - test.toLevel) * this.settings.maxPowerW;
    const gapW = inputs.forecastGapW;
    const responseW = -this.responseSince(test, netW, gapW, zeroExport);
    if (shortfall || responseW < -0.25 * expectedW) {
      // The house moved the other way meanwhile (a cloud, a kettle): no answer; the loop resumes
      // and a later suspicion tests again.
      this.cutOutTest = undefined;
      this.suspectSince = undefined;
      this.anchor = undefined;
      return undefined;
    }
    if (test.reachedAt === undefined || now - test.reachedAt < CUT_OUT_TEST_MS) {
      return { state: zeroExport ? 'probing' : 'heating', reason: `Checking for a thermostat cut-out: the heater ignored a raise, so the level goes from ${percent(test.fromLevel)} down to ${percent(test.toLevel)} for a few seconds.` };
    }
    this.cutOutTest = undefined;
    if (responseW >= 0.25 * expectedW) {
      // It draws: the regulator was at the element's full power. The loop climbs back at its
      // rate limit; do not ask again for a while, or a saturated heater is tested over and over.
      this.suspectSince = undefined;
      this.anchor = undefined;
      this.quietUntil = now + this.recheckMs;
      return undefined;
    }
    return this.enterTankHot(inputs, netW);
  }

  private enterTankHot(inputs: HeaterInputs, netW: number): { state: HeaterState; reason: string } {
    const now = inputs.now;
    this.tankHotSince = now;
    this.previousError = 0;
    // The climb that revealed the cut-out went nowhere: give it back, so the heater restarts at
    // the power it last drew when the thermostat closes again.
    if (this.anchor) this.level = Math.min(this.level, this.anchor.level);
    // Measured from here, with the heater drawing nothing, the thermostat closing again shows as
    // the held level's power appearing on the grid or battery.
    this.anchor = { level: this.level, netW, gapW: inputs.forecastGapW };
    return { state: 'tank_hot', reason: `Tank hot: the heater draws nothing at ${percent(this.level)} (thermostat open); holding, next check in ${Math.ceil(this.recheckMs / 60_000)} min.` };
  }

  /** How much more the heater seems to draw now than at `then`: more from grid and battery,
   *  or, in zero export, more PV (the forecast gap closing). */
  private responseSince(then: { netW: number; gapW: number | undefined }, netW: number, gapW: number | undefined, zeroExport: boolean): number {
    const fromPv = zeroExport && gapW !== undefined && then.gapW !== undefined ? then.gapW - gapW : 0;
    return netW - then.netW + fromPv;
  }

  private drawThresholdW(): number {
    return Math.max(30, 0.1 * this.settings.minPowerW);
  }

  private command(state: HeaterState, reason: string, gates: Record<GateName, boolean | undefined>, inputs: HeaterInputs): HeaterCommand {
    const drawing = this.relay && state !== 'tank_hot';
    const estimatedHeaterW = !drawing ? 0 : inputs.heaterW !== undefined ? inputs.heaterW : this.level * this.settings.maxPowerW;
    return { relay: this.relay, level: this.level, state, reason, gates, estimatedHeaterW };
  }
}
