// The options of a named measurement (`automation.sources`): where the value comes from, its
// unit, and how old it may get.
import { z } from 'zod';
import { validFilter } from '../io/mqtt-client.js';

export const sourceOptions = z
  .object({
    name: z.string().regex(/^[a-z0-9_]+$/, 'use lower-case letters, digits and _'),
    // The Supervisor wants nested objects present, so an empty `mqtt: {}` means "not MQTT".
    mqtt: z
      .object({
        topic: z.string().min(1).refine(validFilter, { message: "is not a valid MQTT topic ('#' only at the end, '+' alone in its level)" }).optional(),
        json_path: z.string().min(1).optional(),
        unit: z.enum(['W', 'kW', '%']).default('W'),
      })
      .strict()
      .optional(),
    entity: z.string().regex(/^[a-zA-Z0-9_-]+\/[a-z0-9_]+$/, 'use <device_id>/<entity_key>').optional(),
    ha_entity: z.string().regex(/^[a-z_]+\.[a-z0-9_]+$/, 'use an entity id like sensor.grid_power').optional(),
    invert: z.boolean().default(false),
    stale_after: z.number().min(1).max(86_400).default(60),
  })
  .strict()
  .refine((s) => [Boolean(s.mqtt?.topic), Boolean(s.entity), Boolean(s.ha_entity)].filter(Boolean).length === 1, {
    message: 'give exactly one of mqtt.topic, entity or ha_entity',
  });


export type SourceOptions = z.infer<typeof sourceOptions>;
