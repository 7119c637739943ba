// The `victron` options: one entry per GX (Cerbo GX, Venus GX, a Raspberry Pi with Venus OS).
import { z } from 'zod';

export const victronGxOptions = z
  .object({
    host: z.string().min(1),
    /** Default 1883, or 8883 with TLS ("MQTT on LAN (SSL)" in the GX's settings). */
    port: z.number().int().min(1).max(65535).optional(),
    /** Free on the GX; the password is its security-profile (Remote Console) password. */
    username: z.string().optional(),
    password: z.string().optional(),
    tls: z.boolean().default(false),
    /** The GX's certificate is signed by Victron's own CA, not a public one. */
    reject_unauthorized: z.boolean().default(false),
    /** The VRM portal id; found from the GX's retained N/+/system/0/Serial when left out. */
    portal_id: z.string().regex(/^[a-zA-Z0-9]{4,32}$/, 'use the VRM portal id: letters and digits, as in N/<portal id>/...').optional(),
    /** Seconds between keepalives (the GX stops publishing 60 s after the last one). */
    keepalive_interval: z.number().int().min(5).max(50).default(30),
    /**
     * Settings written per day. They land in the GX's flash (localsettings); a Tempo night
     * needs 1 to 4.
     */
    daily_write_budget: z.number().int().min(1).max(5000).default(200),
  })
  .strict()
  .refine((o) => o.password === undefined || o.username !== undefined, { message: 'needs a username as well (any name: the GX checks only the password)', path: ['password'] });

export type VictronGxOptions = z.infer<typeof victronGxOptions>;
