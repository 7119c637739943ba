// The options of a named measurement (`automation.sources`): where the value comes from, its
// unit, and how old it may get.
import { z } from 'zod';
import { validFilter } from '../io/mqtt-client.js';

/** forecast.solar's public API; `url` points elsewhere (a test's simulator). */
export const FORECAST_SOLAR_URL = 'https://api.forecast.solar';
/** Victron's VRM API (the `/v2` paths are appended). */
export const VRM_URL = 'https://vrmapi.victronenergy.com';
/** Victron asks not to poll VRM more often than every few minutes; its data is minutes old anyway. */
export const VRM_MIN_INTERVAL_S = 60;

/**
 * How old a value may get when the options do not say: a local value every minute; a forecast
 * is recomputed from its day's curve every few seconds, but may rest on a fetch hours old, so an
 * hour; VRM data is as fresh as the GX's "VRM log interval" (15 min by default), so 20 minutes.
 */
export const DEFAULT_STALE_AFTER_S = { local: 60, forecast_solar: 3600, vrm: 1200 } as const;

// The Supervisor wants nested objects present, so an empty `forecast_solar: {}` or `vrm: {}` means
// "not this kind", as `mqtt: {}` does; which fields a configured one needs is checked below.
const forecastSolarOptions = z
  .object({
    latitude: z.number().min(-90).max(90).optional(),
    longitude: z.number().min(-180).max(180).optional(),
    /** Tilt of the panels: 0 horizontal, 90 vertical. */
    declination: z.number().int().min(0).max(90).optional(),
    /** forecast.solar's convention: -180 north, -90 east, 0 south, 90 west, 180 north. */
    azimuth: z.number().int().min(-180).max(180).optional(),
    kwp: z.number().min(0.01).max(10_000).optional(),
    api_key: z.string().min(1).optional(),
    url: z.string().url().default(FORECAST_SOLAR_URL),
  })
  .strict();

const vrmOptions = z
  .object({
    /** The number in the VRM portal's address: vrm.victronenergy.com/installation/<id>/. */
    installation_id: z.number().int().min(1).max(10_000_000).optional(),
    /** A diagnostics code (SOC, bp, ScW, g1p, ...) or `grid` for g1p + g2p + g3p. */
    code: z.string().regex(/^[A-Za-z0-9_]{1,32}$/, 'use a VRM diagnostics code such as SOC, bp, ScW, g1p or grid').optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** A VRM access token (Preferences > Integrations > Access tokens); needed with two-factor login. */
    token: z.string().min(1).optional(),
    /** Seconds between polls of one installation; sources of one installation share the shortest. */
    interval: z.number().int().min(VRM_MIN_INTERVAL_S).max(3600).default(VRM_MIN_INTERVAL_S),
    url: z.string().url().default(VRM_URL),
  })
  .strict();

export const sourceOptions = z
  .object({
    name: z.string().regex(/^[a-z0-9_]+$/, 'use lower-case letters, digits and _'),
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
    forecast_solar: forecastSolarOptions.optional(),
    vrm: vrmOptions.optional(),
    invert: z.boolean().default(false),
    /** Default by kind: DEFAULT_STALE_AFTER_S. */
    stale_after: z.number().min(1).max(86_400).optional(),
  })
  .strict()
  .refine((s) => [Boolean(s.mqtt?.topic), Boolean(s.entity), Boolean(s.ha_entity), isForecastSolar(s), isVrm(s)].filter(Boolean).length === 1, {
    message: 'give exactly one of mqtt.topic, entity, ha_entity, forecast_solar or vrm',
  })
  .superRefine((s, ctx) => {
    const f = s.forecast_solar;
    if (f && isForecastSolar(s)) {
      for (const key of ['latitude', 'longitude', 'declination', 'azimuth', 'kwp'] as const) {
        if (f[key] === undefined) ctx.addIssue({ code: 'custom', path: ['forecast_solar', key], message: 'is needed for a forecast.solar source' });
      }
    }
    const v = s.vrm;
    if (v && isVrm(s)) {
      if (v.installation_id === undefined) ctx.addIssue({ code: 'custom', path: ['vrm', 'installation_id'], message: 'is needed for a VRM source' });
      if (v.code === undefined) ctx.addIssue({ code: 'custom', path: ['vrm', 'code'], message: 'is needed for a VRM source (SOC, bp, ScW, g1p, grid, ...)' });
      const login = v.username !== undefined || v.password !== undefined;
      if (v.token !== undefined && login) ctx.addIssue({ code: 'custom', path: ['vrm', 'token'], message: 'give either token or username and password, not both' });
      else if (v.token === undefined && (v.username === undefined || v.password === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['vrm', v.username === undefined ? 'username' : 'password'], message: 'VRM needs an access token, or username and password' });
      }
    }
  })
  .transform((s) => ({ ...s, stale_after: s.stale_after ?? DEFAULT_STALE_AFTER_S[isForecastSolar(s) ? 'forecast_solar' : isVrm(s) ? 'vrm' : 'local'] }));

/** A forecast_solar block with anything in it but its default URL. */
function isForecastSolar(s: { forecast_solar?: Record<string, unknown> }): boolean {
  return Object.entries(s.forecast_solar ?? {}).some(([key, value]) => key !== 'url' && value !== undefined);
}

/** A vrm block with anything in it but its defaults (interval, URL). */
function isVrm(s: { vrm?: Record<string, unknown> }): boolean {
  return Object.entries(s.vrm ?? {}).some(([key, value]) => key !== 'url' && key !== 'interval' && value !== undefined);
}

export type SourceOptions = z.infer<typeof sourceOptions>;
export type ForecastSolarSourceOptions = z.infer<typeof forecastSolarOptions>;
export type VrmSourceOptions = z.infer<typeof vrmOptions>;
