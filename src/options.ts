// Every option the add-on takes, as one zod schema; the types come from it. config.yaml's
// options/schema and the translations are checked against it by test/options.test.ts.
import { z } from 'zod';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { LOG_LEVELS } from './core/logger.js';
import { automationOptions } from './automation/options.js';
import { givenergyInverterOptions, givenergyRestOptions } from './adapters/givenergy/options.js';
import { givenergyEvcOptions } from './adapters/givenergy-evc/options.js';
import { vaillantAccountOptions } from './adapters/vaillant/options.js';
import { victronGxOptions } from './adapters/victron/options.js';
import { tempoOptions } from './adapters/tempo/options.js';
import { HEATER_SOURCE_ROLES, heaterDeviceId, waterHeaterOptions } from './adapters/water-heater/options.js';
import { METER_SOURCE_ROLES, meterDeviceId, viessmannMeterOptions } from './adapters/viessmann-meter/options.js';
import { notificationOptions } from './notify/options.js';

const topicSegment = /^[a-zA-Z0-9_-]+(\/[a-zA-Z0-9_-]+)*$/;

/** A file the add-on reads (a certificate): checked at start, so a wrong path is named then. */
const readableFile = z
  .string()
  .min(1)
  .superRefine((path, ctx) => {
    const problem = fileProblem(path);
    if (problem) ctx.addIssue({ code: 'custom', message: `cannot read ${path} (${problem}); in the add-on, /ssl is Home Assistant's ssl folder` });
  });

function fileProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'not a file';
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message);
  }
}

export const mqttOptions = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    client_id: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'use 1 to 64 letters, digits, _ or -').optional(),
    tls: z.boolean().default(false),
    ca: readableFile.optional(),
    cert: readableFile.optional(),
    key: readableFile.optional(),
    reject_unauthorized: z.boolean().default(true),
  })
  .strict()
  // MQTT 3.1.1 has no password without a user name; the broker would just hang up.
  .refine((m) => m.password === undefined || m.username !== undefined, { message: 'needs mqtt.username as well', path: ['password'] })
  .superRefine((m, ctx) => {
    // Readable is not enough: the files must be what TLS takes (PEM, a key that fits the certificate).
    if (!m.tls) return;
    for (const key of ['ca', 'cert', 'key'] as const) {
      const path = m[key];
      if (path === undefined || fileProblem(path)) continue;
      try {
        const pem = readFileSync(path);
        if (key === 'key') createPrivateKey(pem);
        else new X509Certificate(pem); // the first certificate of a CA bundle
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${path} is not a usable ${key === 'key' ? 'private key' : 'certificate'} (${tlsReason(err)})` });
      }
    }
    if (m.cert && m.key && !fileProblem(m.cert) && !fileProblem(m.key)) {
      try {
        createSecureContext({ cert: readFileSync(m.cert), key: readFileSync(m.key) });
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['key'], message: `does not fit the certificate ${m.cert} (${tlsReason(err)})` });
      }
    }
  });

function tlsReason(err: unknown): string {
  const text = (err as Error).message;
  return /no start line|bad base64|PEM|unsupported|DECODER/i.test(text) ? 'not PEM' : /key values mismatch/i.test(text) ? 'the key does not match' : text.replace(/^error:[0-9A-F]+:/, '');
}

/** The add-on's page: through HA's ingress as an add-on; outside HA only on a port given here. */
export const webOptions = z
  .object({
    enabled: z.boolean().default(true),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .strict();

export const optionsSchema = z
  .object({
    mqtt: mqttOptions.default({ tls: false, reject_unauthorized: true }),
    base_topic: z.string().regex(topicSegment, 'use letters, digits, _ or - separated by /').default('energy2mqtt'),
    discovery_prefix: z.string().regex(topicSegment, 'use letters, digits, _ or - separated by /').default('homeassistant'),
    log_level: z.enum(LOG_LEVELS as [string, ...string[]]).default('info'),
    state_refresh_interval: z.number().int().min(10).max(86_400).default(300),
    givenergy: z.array(givenergyInverterOptions).default([]),
    givenergy_rest: givenergyRestOptions.optional(),
    givenergy_evc: z.array(givenergyEvcOptions).default([]),
    vaillant: z.array(vaillantAccountOptions).default([]),
    victron: z.array(victronGxOptions).default([]),
    tempo: tempoOptions.optional(),
    viessmann_meter: z.array(viessmannMeterOptions).default([]),
    water_heater: z.array(waterHeaterOptions).default([]),
    notifications: notificationOptions.optional(),
    automation: automationOptions.optional(),
    web: webOptions.default({ enabled: true }),
  })
  .strict()
  .refine((o) => o.base_topic !== o.discovery_prefix, { message: 'must differ from discovery_prefix', path: ['base_topic'] })
  .superRefine((o, ctx) => {
    // The same device twice would be polled twice and get every register written twice.
    noDuplicates(o.givenergy.map((g) => `${g.host.toLowerCase()}:${g.port}`), ['givenergy'], 'host', 'the same dongle (host and port) as', ctx);
    noDuplicates(o.givenergy_evc.map((c) => c.host.toLowerCase()), ['givenergy_evc'], 'host', 'the same charger (host) as', ctx);
    noDuplicates(o.vaillant.map((v) => v.username.toLowerCase()), ['vaillant'], 'username', 'the same account as', ctx);
    noDuplicates(o.victron.map((v) => `${v.host.toLowerCase()}:${v.port ?? (v.tls ? 8883 : 1883)}`), ['victron'], 'host', 'the same GX broker (host and port) as', ctx);
    noDuplicates(o.viessmann_meter.map((m) => meterDeviceId(m.name)), ['viessmann_meter'], 'name', 'the same name (so the same HA device) as', ctx);
    // Unset ports are unique placeholders: two meters without TCP do not share a TCP port.
    noDuplicates(o.viessmann_meter.map((m, i) => m.serial?.port ?? `\0${i}`), ['viessmann_meter'], 'serial.port', 'the same serial port as', ctx);
    noDuplicates(o.viessmann_meter.map((m, i) => (m.tcp?.port !== undefined ? String(m.tcp.port) : `\0${i}`)), ['viessmann_meter'], 'tcp.port', 'the same TCP port as', ctx);
    // A meter's surplus comes from the named sources the rules use too.
    const sources = new Set(o.automation?.sources.map((s) => s.name) ?? []);
    const units = new Map(o.automation?.sources.map((s) => [s.name, s.mqtt?.unit]) ?? []);
    o.viessmann_meter.forEach((m, i) => {
      for (const role of METER_SOURCE_ROLES) {
        const name = m[role];
        if (name === undefined) continue;
        if (!sources.has(name)) ctx.addIssue({ code: 'custom', path: ['viessmann_meter', i, role], message: `names the source '${name}', which is not in automation.sources` });
        else if (units.get(name) === '%') ctx.addIssue({ code: 'custom', path: ['viessmann_meter', i, role], message: `names the source '${name}', which is in %; a meter needs a power (W or kW)` });
      }
    });
    noDuplicates(o.water_heater.map((w) => heaterDeviceId(w.name)), ['water_heater'], 'name', 'the same name (so the same HA device) as', ctx);
    o.water_heater.forEach((w, i) => {
      const at = (field: string) => ['water_heater', i, field];
      if (w.backend === 'ha' && !o.automation) ctx.addIssue({ code: 'custom', path: at('backend'), message: 'ha needs Home Assistant\'s API: add automation (its sources name the measurements anyway)' });
      for (const role of HEATER_SOURCE_ROLES) {
        const name = w[role];
        if (name === undefined) continue;
        if (!sources.has(name)) ctx.addIssue({ code: 'custom', path: at(role), message: `names the source '${name}', which is not in automation.sources` });
        else if (units.get(name) === '%' && role !== 'battery_soc' && role !== 'mppt_mode') {
          ctx.addIssue({ code: 'custom', path: at(role), message: `names the source '${name}', which is in %; this needs a power (W or kW)` });
        }
      }
      // A gate without its measurement would never pass: the heater would never run.
      const gates = w.gates ?? {};
      const gateNeeds: Array<[gate: keyof typeof gates, role: (typeof HEATER_SOURCE_ROLES)[number]]> = [['min_soc', 'battery_soc'], ['max_battery_discharge_w', 'battery_power'], ['max_grid_import_w', 'grid']];
      for (const [gate, role] of gateNeeds) {
        if (gates[gate] !== undefined && w[role] === undefined) ctx.addIssue({ code: 'custom', path: ['water_heater', i, 'gates', gate], message: `needs ${role} (the measurement it checks)` });
      }
    });
    // A vaillant_pv rule steers the heat pump of an account the add-on logs in to, never another.
    const accounts = new Set(o.vaillant.map((v) => v.username.toLowerCase()));
    o.automation?.rules.forEach((rule, i) => {
      if (rule.type !== 'vaillant_pv' || accounts.has(rule.account.toLowerCase())) return;
      const known = o.vaillant.length ? `the vaillant accounts are ${o.vaillant.map((v) => `'${v.username}'`).join(', ')}` : 'no vaillant account is configured';
      ctx.addIssue({ code: 'custom', path: ['automation', 'rules', i, 'account'], message: `names the account '${rule.account}', which is not in vaillant (${known})` });
    });
    // A tempo_ess rule needs the colours, and a GX to steer.
    o.automation?.rules.forEach((rule, i) => {
      if (rule.type !== 'tempo_ess') return;
      if (!o.tempo?.enabled) ctx.addIssue({ code: 'custom', path: ['automation', 'rules', i, 'type'], message: 'needs tempo.enabled (where the colours come from)' });
      if (!o.victron.length) ctx.addIssue({ code: 'custom', path: ['automation', 'rules', i, 'type'], message: 'needs a GX in the victron options' });
      else if (!rule.victron && o.victron.length > 1) ctx.addIssue({ code: 'custom', path: ['automation', 'rules', i, 'victron'], message: 'names the GX (its portal id) when there are several' });
    });
  });

function noDuplicates(keys: string[], path: string[], field: string, what: string, ctx: z.RefinementCtx): void {
  keys.forEach((key, i) => {
    const first = keys.indexOf(key);
    if (first < i) ctx.addIssue({ code: 'custom', path: [...path, i, field], message: `${what} ${path.join('.')}.${first}; list each device once` });
  });
}

export type Options = z.infer<typeof optionsSchema>;

export class OptionsError extends Error {}

/** Validates raw options; the error is one sentence naming the option and the reason. */
export function parseOptions(raw: unknown): Options {
  const result = optionsSchema.safeParse(raw ?? {});
  if (result.success) return result.data as Options;
  const issue = mostUseful(result.error.issues);
  if (issue.code === 'unrecognized_keys') {
    return fail(`Invalid option ${[...issue.path, issue.keys[0]].join('.')}: this option does not exist.`);
  }
  const path = issue.path.length ? issue.path.join('.') : '(options)';
  return fail(`Invalid option ${path}: ${describeIssue(issue)}.`);
}

/**
 * The issue to tell the user about: a misspelled key first (its "missing" twin is only a
 * consequence), and a real bound before zod's safe-integer one.
 */
function mostUseful(issues: z.core.$ZodIssue[]): z.core.$ZodIssue {
  const unknownKey = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknownKey) return unknownKey;
  const safeIntegerBound = (i: z.core.$ZodIssue) =>
    (i.code === 'too_big' && Number(i.maximum) === Number.MAX_SAFE_INTEGER) || (i.code === 'too_small' && Number(i.minimum) === Number.MIN_SAFE_INTEGER);
  return issues.find((i) => !safeIntegerBound(i)) ?? issues[0]!;
}

/** zod's issue in words a user reads in the add-on log. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) <= 1 ? 'must not be empty' : `must have at least ${issue.minimum} characters`;
      if (issue.origin === 'array') return `needs at least ${issue.minimum} entries`;
      return `must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must have at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `takes at most ${issue.maximum} entries`;
      return `must be at most ${issue.maximum}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_type':
      return `expected ${issue.expected === 'int' ? 'a whole number' : `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    default:
      return issue.message;
  }
}

function fail(sentence: string): never {
  throw new OptionsError(sentence);
}

export function loadOptionsFile(file: string): Options {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new OptionsError(`Cannot read the options file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new OptionsError(`The options file ${file} is not valid JSON: ${(err as Error).message}.`);
  }
  return parseOptions(raw);
}
