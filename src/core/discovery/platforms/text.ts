// A free text setting, optionally bounded and matched by a pattern.
import { z } from 'zod';
import { HA_DOCS, type CommonSpec, type Platform } from '../platform.js';

export interface TextSpec extends CommonSpec {
  component: 'text';
  min?: number;
  max?: number;
  /** A regular expression the whole value must match (also sent to HA). */
  pattern?: string;
}

/** HA's own limit when a text entity states none. */
const HA_MAX_LENGTH = 255;

function textSchema(spec: TextSpec): z.ZodType<string> {
  const min = spec.min ?? 0;
  const max = spec.max ?? HA_MAX_LENGTH;
  let schema = z.string().min(min, { message: `must be at least ${min} characters` }).max(max, { message: `must be at most ${max} characters` });
  // A control character would end up in a device's display or a log line.
  schema = schema.refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: 'control characters are not allowed' }) as unknown as typeof schema;
  return spec.pattern ? schema.regex(new RegExp(`^(?:${spec.pattern})$`), { message: `must match ${spec.pattern}` }) : schema;
}

export const text: Platform<TextSpec, string, string> = {
  component: 'text',
  since: { since: '2022.12.0', source: `${HA_DOCS}/text.mqtt (ha_release 2022.12; min, max and pattern documented there, not confirmed as part of the first release)` },
  hasState: true,
  takesCommands: true,
  partCommands: false,
  problems: () => [],
  discoveryKeys(spec) {
    const keys: Record<string, unknown> = {};
    if (spec.min !== undefined) keys.min = spec.min;
    if (spec.max !== undefined) keys.max = spec.max;
    if (spec.pattern) keys.pattern = spec.pattern;
    return keys;
  },
  discoveryTopics: (_spec, topics) => ({ state_topic: topics.state, command_topic: topics.command }),
  formatState: (_spec, value) => String(value),
  commandSchema: textSchema,
};
