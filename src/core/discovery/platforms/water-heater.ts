// A hot-water tank: operation mode and target temperature; state and commands per part (thermostat.ts).
import { HA_DOCS, type Platform } from '../platform.js';
import { formatThermostat, partCommandSchema, thermostatKeys, thermostatProblems, thermostatTopics, type PartCommand, type ThermostatSpec, type ThermostatState } from './thermostat.js';

export interface WaterHeaterSpec extends ThermostatSpec {
  component: 'water_heater';
  /** HA water-heater modes, from off, eco, electric, gas, heat_pump, high_demand, performance. */
  modes: readonly string[];
}

const WATER_HEATER_MODES = ['off', 'eco', 'electric', 'gas', 'heat_pump', 'high_demand', 'performance'];

export const waterHeater: Platform<WaterHeaterSpec, ThermostatState, PartCommand> = {
  component: 'water_heater',
  since: { since: '2023.7.0', source: `${HA_DOCS}/water_heater.mqtt (ha_release 2023.7)` },
  hasState: true,
  takesCommands: true,
  partCommands: true,
  problems: (spec) => thermostatProblems(spec, WATER_HEATER_MODES),
  discoveryKeys: thermostatKeys,
  // HA's MQTT water heater has no presets.
  discoveryTopics: (_spec, topics) => thermostatTopics(topics, false),
  formatState: formatThermostat,
  commandSchema: (spec) => partCommandSchema(spec, []),
};
