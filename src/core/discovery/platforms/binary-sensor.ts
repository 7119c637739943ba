// An on/off reading (connectivity, a running pump).
import { HA_DOCS, noCommands, readOnlyCategoryProblems, type CommonSpec, type Platform } from '../platform.js';

export interface BinarySensorSpec extends CommonSpec {
  component: 'binary_sensor';
  deviceClass?: string;
}

export const binarySensor: Platform<BinarySensorSpec, boolean, never> = {
  component: 'binary_sensor',
  since: { since: '0.9.0', source: `${HA_DOCS}/binary_sensor.mqtt (ha_release 0.9)` },
  hasState: true,
  takesCommands: false,
  partCommands: false,
  problems: readOnlyCategoryProblems,
  discoveryKeys: (spec) => (spec.deviceClass ? { device_class: spec.deviceClass } : {}),
  discoveryTopics: (_spec, topics) => ({ state_topic: topics.state }),
  formatState: (_spec, value) => (value ? 'ON' : 'OFF'),
  commandSchema: () => noCommands('binary_sensor'),
};
