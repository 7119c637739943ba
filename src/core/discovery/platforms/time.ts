// A time of day (a charge slot's start). HA's newest platform we use: it sets config.yaml's minimum.
import { z } from 'zod';
import { HA_DOCS, type CommonSpec, type Platform } from '../platform.js';

export interface TimeSpec extends CommonSpec {
  component: 'time';
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

export const time: Platform<TimeSpec, string, string> = {
  component: 'time',
  since: { since: '2026.5.0', source: `${HA_DOCS}/time.mqtt (ha_release 2026.5), https://github.com/home-assistant/home-assistant.io/pull/44977` },
  hasState: true,
  takesCommands: true,
  partCommands: false,
  problems: () => [],
  discoveryKeys: () => ({}),
  discoveryTopics: (_spec, topics) => ({ state_topic: topics.state, command_topic: topics.command }),
  formatState: (_spec, value) => String(value),
  // HA sends HH:MM:SS; people and automations also write HH:MM.
  commandSchema: () =>
    z.string().transform((s, ctx) => {
      const m = TIME.exec(s);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'expected a time as HH:MM or HH:MM:SS' });
        return z.NEVER;
      }
      return `${m[1]}:${m[2]}:${m[3] ?? '00'}`;
    }),
};
