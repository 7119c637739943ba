// The `givenergy` and `givenergy_rest` options.
import { z } from 'zod';

export const givenergyInverterOptions = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(8899),
    /** Seconds between fast polls (power, SoC, clock, batteries). */
    poll_interval: z.number().min(1).max(3600).default(15),
    /** Seconds between full refreshes (configuration and schedules too). */
    full_refresh_interval: z.number().min(5).max(86_400).default(120),
    /** Pause between frames on the wire (GivTCP uses 250 ms; the dongle copes with less). */
    frame_gap_ms: z.number().int().min(0).max(5000).default(100),
    /** Root of GivTCP's MQTT control topics: <root>/control/<serial>/<command>. */
    mqtt_root: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('GivEnergy'),
  })
  .strict();

export const givenergyRestOptions = z
  .object({
    port: z.number().int().min(1).max(65535).default(6345),
    token: z.string().min(8, 'use at least 8 characters').optional(),
  })
  .strict();

export type GivenergyInverterOptions = z.infer<typeof givenergyInverterOptions>;
export type GivenergyRestOptions = z.infer<typeof givenergyRestOptions>;
