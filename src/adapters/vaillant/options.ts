// The `vaillant` options: one entry per myVaillant account.
import { z } from 'zod';
import { API_URL } from './api-url.js';

export const vaillantAccountOptions = z
  .object({
    username: z.string().min(3),
    password: z.string().min(1),
    brand: z.enum(['vaillant', 'sdbg', 'bulex', 'glow-worm', 'demirdokum']).default('vaillant'),
    country: z.string().regex(/^[a-z-]+$/, 'use the lower-case English country name without spaces, e.g. germany, unitedkingdom').default('germany'),
    /** Seconds between system reports. */
    poll_interval: z.number().int().min(60).max(86_400).default(120),
    /** All API calls of this account per hour, polling and commands together. */
    request_budget_per_hour: z.number().int().min(5).max(1000).default(40),
    /** Minutes between fetches of the energy counters and trouble codes (quota-expensive). */
    energy_interval: z.number().int().min(15).max(1440).default(60),
    identity_url: z.string().url().default('https://identity.vaillant-group.com'),
    api_url: z.string().url().default(API_URL),
  })
  .strict();

export type VaillantAccountOptions = z.infer<typeof vaillantAccountOptions>;
