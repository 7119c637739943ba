// An action without a state (sync the clock, restart).
import { z } from 'zod';
import { HA_DOCS, type CommonSpec, type Platform } from '../platform.js';

export interface ButtonSpec extends CommonSpec {
  component: 'button';
  deviceClass?: 'identify' | 'restart' | 'update';
}

export const button: Platform<ButtonSpec, never, 'PRESS'> = {
  component: 'button',
  since: { since: '2021.12.0', source: `${HA_DOCS}/button.mqtt (ha_release 2021.12)` },
  hasState: false,
  takesCommands: true,
  partCommands: false,
  problems: () => [],
  discoveryKeys: (spec) => (spec.deviceClass ? { device_class: spec.deviceClass } : {}),
  discoveryTopics: (_spec, topics) => ({ command_topic: topics.command }),
  formatState: (_spec, value) => String(value),
  commandSchema: () => z.literal('PRESS', { message: "expected 'PRESS'" }),
};
