// One of a fixed list (an operating mode).
import { z } from 'zod';
import { HA_DOCS, type CommonSpec, type Platform } from '../platform.js';

export interface SelectSpec extends CommonSpec {
  component: 'select';
  options: readonly string[];
}

export const select: Platform<SelectSpec, string, string> = {
  component: 'select',
  since: { since: '2021.7.0', source: `${HA_DOCS}/select.mqtt (ha_release 2021.7)` },
  hasState: true,
  takesCommands: true,
  partCommands: false,
  problems: (spec) => (spec.options.length === 0 ? ['a select needs options'] : []),
  discoveryKeys: (spec) => ({ options: spec.options }),
  discoveryTopics: (_spec, topics) => ({ state_topic: topics.state, command_topic: topics.command }),
  formatState: (_spec, value) => String(value),
  commandSchema: (spec) => z.string().refine((s) => spec.options.includes(s), { message: `expected one of: ${spec.options.join(', ')}` }),
};
