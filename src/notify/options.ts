// The `notifications` options: Prowl and/or Home Assistant notify services, and the language.
// Messages never repeat a key or token: an invalid one is described, not quoted.
import { z } from 'zod';
import { LANGUAGES } from './messages.js';

export const PROWL_URL = 'https://api.prowlapp.com/publicapi';

/** Prowl's API keys are 40 letters and digits (hexadecimal in practice). */
const PROWL_KEY = /^[A-Za-z0-9]{40}$/;

/** The keys of a `prowl_api_key` option: one key, or several separated by commas. */
export function prowlKeys(value: string): string[] {
  return value
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
}

/** Why an option value is not a Prowl key list, in words that do not repeat it; undefined if it is one. */
export function prowlKeyProblem(value: string): string | undefined {
  const keys = prowlKeys(value);
  if (keys.length === 0) return 'is empty; remove it, or paste the 40-character API key from prowlapp.com (Settings > API Keys)';
  const bad = keys.findIndex((key) => !PROWL_KEY.test(key));
  if (bad < 0) return undefined;
  const which = keys.length > 1 ? `key ${bad + 1} of ${keys.length}` : 'the key';
  return `${which} is not a Prowl API key: a key is 40 letters and digits (it has ${keys[bad]!.length} characters); separate several keys with commas`;
}

/** HA's domain and service names are lower-case slugs. */
const SERVICE = /^[a-z0-9_]+\.[a-z0-9_]+$/;

/** Why a value is not an HA service name (domain.service, or persistent_notification); undefined if it is one. */
export function haServiceProblem(value: string): string | undefined {
  if (value === 'persistent_notification' || SERVICE.test(value)) return undefined;
  return `${JSON.stringify(value.slice(0, 80))} is not a Home Assistant service: use domain.service in lower case, e.g. notify.mobile_app_pixel_7 or persistent_notification.create`;
}

const httpUrl = z
  .string()
  .url('must be a URL, e.g. http://homeassistant.local:8123/api')
  .refine((url) => /^https?:\/\//i.test(url), { message: 'must be an http:// or https:// URL' });

export const notificationOptions = z
  .object({
    /** One Prowl API key, or several separated by commas. */
    prowl_api_key: z
      .string()
      .superRefine((value, ctx) => {
        const problem = prowlKeyProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** -2 very low, -1 moderate, 0 normal, 1 high, 2 emergency. */
    prowl_priority: z.number().int().min(-2).max(2).default(0),
    prowl_url: httpUrl.default(PROWL_URL),
    /** HA services that get every notification: notify.mobile_app_x, persistent_notification.create, ... */
    ha_services: z
      .array(
        z.string().superRefine((value, ctx) => {
          const problem = haServiceProblem(value);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .default([]),
    /** Outside the add-on only: HA's REST API (http://homeassistant.local:8123/api) and a long-lived token. */
    ha_api_url: httpUrl.optional(),
    ha_token: z.string().min(1).optional(),
    language: z.enum(LANGUAGES).default('en'),
  })
  .strict()
  // The Supervisor's token is for the Supervisor only: another URL needs its own token, and a
  // long-lived token is of no use through the Supervisor's proxy.
  .refine((o) => o.ha_token !== undefined || o.ha_api_url === undefined, { message: 'needs ha_token as well (a long-lived access token from your Home Assistant profile)', path: ['ha_api_url'] })
  .refine((o) => o.ha_api_url !== undefined || o.ha_token === undefined, { message: 'needs ha_api_url as well (inside the add-on leave both out: the Supervisor gives access)', path: ['ha_token'] })
  .superRefine((o, ctx) => {
    const names = o.ha_services.map(fullServiceName);
    names.forEach((name, i) => {
      const first = names.indexOf(name);
      if (first < i) ctx.addIssue({ code: 'custom', path: ['ha_services', i], message: `is the same service as ha_services.${first}; list each service once` });
    });
  });

export type NotificationOptions = z.infer<typeof notificationOptions>;

/** `persistent_notification` alone means its create service. */
export function fullServiceName(name: string): string {
  return name === 'persistent_notification' ? 'persistent_notification.create' : name;
}
