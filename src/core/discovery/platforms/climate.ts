// A heating zone: HVAC mode, target temperature, presets; state and commands per part (thermostat.ts).
import { HA_CORE, HA_DOCS, type Platform } from '../platform.js';
import { formatThermostat, partCommandSchema, thermostatKeys, thermostatProblems, thermostatTopics, type PartCommand, type ThermostatSpec, type ThermostatState } from './thermostat.js';

export interface ClimateSpec extends ThermostatSpec {
  component: 'climate';
  /** HA hvac modes, e.g. ['auto', 'heat', 'off']. */
  modes: readonly string[];
  presets?: readonly string[];
  tempStep: number;
}

const HVAC_MODES = ['auto', 'off', 'cool', 'heat', 'dry', 'fan_only', 'heat_cool'];

export const climate: Platform<ClimateSpec, ThermostatState, PartCommand> = {
  component: 'climate',
  since: {
    since: '2022.3.0',
    source: `platform: ${HA_DOCS}/climate.mqtt (ha_release 0.55); preset_mode_* topics: ${HA_CORE}/pull/66062 (2022.3, per the removal notice in ${HA_CORE}/pull/76299)`,
  },
  hasState: true,
  takesCommands: true,
  partCommands: true,
  problems: (spec) => thermostatProblems(spec, HVAC_MODES),
  discoveryKeys(spec) {
    const keys = { ...thermostatKeys(spec), temp_step: spec.tempStep };
    // HA has its own "none" preset; listing ours would show it twice.
    return spec.presets?.length ? { ...keys, preset_modes: spec.presets.filter((p) => p !== 'none') } : keys;
  },
  // The preset topics go with preset_modes (even when only 'none' was declared, as always).
  discoveryTopics: (spec, topics) => thermostatTopics(topics, Boolean(spec.presets?.length)),
  formatState: formatThermostat,
  commandSchema: (spec) => partCommandSchema(spec, spec.presets ?? []),
};
