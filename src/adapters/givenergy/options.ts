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
    /**
     * Register writes allowed per day. The inverter's EEPROM is quoted at about 1 million writes
     * (research §5.10): 100 a day is 27 years of it.
     */
    daily_write_budget: z.number().int().min(1).max(5000).default(100),
    /** Root of GivTCP's MQTT control topics: <root>/control/<serial>/<command>. */
    mqtt_root: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('GivEnergy'),
  })
  .strict();

/**
 * GivTCP's REST API: off unless asked for. When on, every request needs the token unless the
 * user opens reads, or everything, on purpose; a browser page from another site is refused.
 */
export const givenergyRestOptions = z
  .object({
    enabled: z.boolean().default(false),
    port: z.number().int().min(1).max(65535).default(6345),
    /** Checked when the API is on (an old, shorter token of a disabled API must not stop the start). */
    token: z.string().optional(),
    /** Anyone who reaches the port may read and write: a warning at every start. */
    allow_unauthenticated: z.boolean().default(false),
    /** GET /getCache and friends without the token; writes still need it. */
    allow_unauthenticated_reads: z.boolean().default(false),
    /** Web pages (their Origin, e.g. http://homeassistant.local:8123) allowed to call the API. */
    allowed_origins: z.array(z.string().regex(/^https?:\/\/[^\s/]+$/, 'use an origin like http://homeassistant.local:8123')).default([]),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.enabled) return;
    if (r.token === undefined) {
      if (!r.allow_unauthenticated) ctx.addIssue({ code: 'custom', path: ['token'], message: 'is needed when the REST API is enabled (or set allow_unauthenticated: true)' });
    } else if (r.token.length < 16) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'use at least 16 characters' });
    } else if (!/^[\x21-\x7e]+$/.test(r.token)) {
      // What an HTTP header carries as it is: no spaces, no accents.
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'use letters, digits and punctuation only (no spaces or accents)' });
    }
  });

export type GivenergyInverterOptions = z.infer<typeof givenergyInverterOptions>;
export type GivenergyRestOptions = z.infer<typeof givenergyRestOptions>;
