// Something to turn on and off.
import { z } from 'zod';
import { quote } from '../../outside-text.js';
import { HA_CORE, HA_DOCS, type CommonSpec, type Platform } from '../platform.js';

export interface SwitchSpec extends CommonSpec {
  component: 'switch';
  deviceClass?: 'switch' | 'outlet';
}

// HA sends ON/OFF; automations and people typing into MQTT send the others.
const ON_WORDS = new Set(['on', 'true', '1']);
const OFF_WORDS = new Set(['off', 'false', '0']);

export const switchPlatform: Platform<SwitchSpec, boolean, boolean> = {
  component: 'switch',
  since: {
    since: '2021.12.0',
    source: `platform: ${HA_DOCS}/switch.mqtt (ha_release 0.7); device_class: ${HA_CORE}/pull/58931 (opened after the 2021.11 beta; release inferred)`,
  },
  hasState: true,
  takesCommands: true,
  partCommands: false,
  problems: () => [],
  discoveryKeys: (spec) => (spec.deviceClass ? { device_class: spec.deviceClass } : {}),
  discoveryTopics: (_spec, topics) => ({ state_topic: topics.state, command_topic: topics.command }),
  formatState: (_spec, value) => (value ? 'ON' : 'OFF'),
  commandSchema: () =>
    z.string().transform((s, ctx) => {
      const word = s.toLowerCase();
      if (ON_WORDS.has(word)) return true;
      if (OFF_WORDS.has(word)) return false;
      ctx.addIssue({ code: 'custom', message: `expected ON or OFF, got ${quote(s)}` });
      return z.NEVER;
    }),
};
