// The `automation` options (names fixed by issue 3's example; README and outside checks rely on them).
import { z } from 'zod';
import { nodeCron } from './controllers/cron.js';
import { sourceOptions } from '../measurements/options.js';

export { sourceOptions };

const NAME = /^[a-z0-9_]+$/;
const isSet = (o: { topic?: string; command_topic?: string } | undefined) => Boolean(o && (o.topic ?? o.command_topic));

// One shape for every target, so the add-on editor (which merges the rule types into one dict)
// can show every key; each rule then says which kinds of target it takes.
const targetShape = z
  .object({
    mqtt: z
      .object({
        command_topic: z.string().min(1).optional(),
        payload_on: z.string().default('ON'),
        payload_off: z.string().default('OFF'),
        /** Where the load reports its state (or its level), so the rule can restore what it was. */
        state_topic: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    entity: z.string().regex(/^[a-zA-Z0-9_-]+\/[a-z0-9_]+$/, 'use <device_id>/<entity_key>').optional(),
    ha_entity: z
      .string()
      .regex(/^(switch|input_boolean|light|fan|number|input_number)\.[a-z0-9_]+$/, 'use a switch, input_boolean, light, fan, number or input_number entity id')
      .optional(),
    /** A light driven by level: brightness_pct 0-100 (percent) or brightness 0-255 (raw). */
    brightness: z.enum(['percent', 'raw']).optional(),
  })
  .strict();

const exactlyOne = (t: z.infer<typeof targetShape>) => [isSet(t.mqtt), Boolean(t.entity), Boolean(t.ha_entity)].filter(Boolean).length === 1;
const domainOf = (id: string | undefined) => id?.split('.')[0];

/** What an on/off rule switches. */
export const targetOptions = targetShape
  .refine(exactlyOne, { message: 'give exactly one of mqtt.command_topic, entity or ha_entity' })
  .refine((t) => !t.ha_entity || ['switch', 'input_boolean', 'light', 'fan'].includes(domainOf(t.ha_entity)!), {
    message: 'use a switch, input_boolean, light or fan entity id',
    path: ['ha_entity'],
  });

/** What a follow rule sets to a level: a number, an input_number, a light's brightness, an MQTT number topic, a number of this add-on. */
export const levelTargetOptions = targetShape
  .refine(exactlyOne, { message: 'give exactly one of mqtt.command_topic, entity or ha_entity' })
  .refine((t) => !t.ha_entity || ['number', 'input_number', 'light'].includes(domainOf(t.ha_entity)!), {
    message: 'use a number, input_number or light entity id',
    path: ['ha_entity'],
  })
  .refine((t) => !t.brightness || domainOf(t.ha_entity) === 'light', { message: 'applies to a light (ha_entity: light.…) only', path: ['brightness'] });

const cron = z
  .string()
  .min(9, 'use a cron expression like "0 9 * * *"')
  // Five fields: a sixth (seconds first) would pass node-cron but never match a whole minute.
  .refine((expr) => expr.trim().split(/\s+/).length === 5 && nodeCron().validate(expr), { message: 'is not a valid cron expression (minute hour day month weekday, e.g. "0 9 * * *")' });

/** A time zone the runtime knows (a bogus one would only fail at the first schedule check). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** When an on/off decision may change (the same fields for every rule type; heat pumps want longer). */
function onOffTiming(d: { enableDelay: number; disableDelay: number; minOn: number; minOff: number; maxStarts: number }) {
  return {
    enable_threshold_w: z.number().min(-100_000).max(100_000).default(0),
    enable_delay: z.number().min(0).max(86_400).default(d.enableDelay),
    disable_threshold_w: z.number().min(0).max(100_000).default(0),
    disable_delay: z.number().min(0).max(86_400).default(d.disableDelay),
    min_on: z.number().min(0).max(86_400).default(d.minOn),
    min_off: z.number().min(0).max(86_400).default(d.minOff),
    max_starts_per_hour: z.number().int().min(0).max(60).default(d.maxStarts),
  };
}

export const surplusSwitchOptions = z
  .object({
    type: z.literal('surplus_switch'),
    name: z.string().min(1).max(60),
    enabled: z.boolean().default(true),
    mode: z.enum(['surplus', 'on', 'off']).default('surplus'),
    priority: z.number().int().min(1).max(99).default(1),
    power_w: z.number().min(1).max(100_000),
    target: targetOptions,
    // The add-on editor stores every rule type's blocks in every rule; these belong to others.
    switch_target: z.unknown().optional(),
    blue: z.unknown().optional(),
    white: z.unknown().optional(),
    red: z.unknown().optional(),
    ...onOffTiming({ enableDelay: 60, disableDelay: 180, minOn: 0, minOff: 0, maxStarts: 0 }),
    /** Only in this window (cron expressions in automation.timezone); outside it the load is off. */
    schedule_start: cron.optional(),
    schedule_end: cron.optional(),
  })
  .strict()
  .refine((r) => Boolean(r.schedule_start) === Boolean(r.schedule_end), {
    message: 'needs schedule_end as well (or neither)',
    path: ['schedule_start'],
  });

/** Hot-water boost or heating quick veto of a Vaillant heat pump on surplus (the evcc sensonet strategy). */
export const vaillantPvOptions = z
  .object({
    type: z.literal('vaillant_pv'),
    name: z.string().min(1).max(60),
    enabled: z.boolean().default(true),
    /** The strategy (pvusestrategy), also a select in HA. */
    mode: z.enum(['hotwater', 'heating', 'hotwater_then_heating']).default('hotwater_then_heating'),
    priority: z.number().int().min(1).max(99).default(1),
    /** What the heat pump draws when boosting: the surplus it needs. */
    power_w: z.number().min(1).max(100_000).default(2000),
    /** The myVaillant account (its username) whose system is steered. */
    account: z.string().min(3),
    /** The system, as the first 8 characters of its id (required when the account has several). */
    system: z.string().regex(/^[a-z0-9]{8}$/).optional(),
    /** The heating zone for the quick veto, by its index (default: the system's first zone). */
    zone: z.number().int().min(0).max(15).optional(),
    /** Boost only when the tank is more than this below its setpoint (°C). */
    hotwater_threshold: z.number().min(0).max(30).default(5),
    /** Quick veto at the zone's normal setpoint plus this (°C). */
    veto_offset: z.number().min(0).max(10).default(2),
    /** Quick veto length (minutes). */
    veto_duration: z.number().int().min(10).max(720).default(30),
    // Heat pumps want long runs: 20 minutes on and off, three starts an hour at most.
    ...onOffTiming({ enableDelay: 120, disableDelay: 300, minOn: 1200, minOff: 1200, maxStarts: 3 }),
    // The add-on editor wants every rule's nested blocks present; a vaillant_pv rule has no target.
    target: z.unknown().optional(),
    switch_target: z.unknown().optional(),
    blue: z.unknown().optional(),
    white: z.unknown().optional(),
    red: z.unknown().optional(),
  })
  .strict();


/** A continuous load (EV current, dimmer, heat-pump power limit) follows the surplus. */
export const surplusFollowOptions = z
  .object({
    type: z.literal('surplus_follow'),
    name: z.string().min(1).max(60),
    enabled: z.boolean().default(true),
    /** surplus: follow it; max: the maximum level; off: off. */
    mode: z.enum(['surplus', 'max', 'off']).default('surplus'),
    priority: z.number().int().min(1).max(99).default(1),
    target: levelTargetOptions,
    // The add-on editor stores every rule type's blocks in every rule; these belong to tempo_ess.
    blue: z.unknown().optional(),
    white: z.unknown().optional(),
    red: z.unknown().optional(),
    /** Switches the load on and off when the level alone cannot (an EV charger's enable). */
    switch_target: targetOptions.optional(),
    /** Export to keep while following (W); negative allows that much import. */
    target_export_w: z.number().min(-100_000).max(100_000).default(100),
    /** What one unit of the target draws (W): 230 for amps on one phase, 690 on three. */
    watts_per_unit: z.number().min(0.001).max(100_000),
    /** Draw at level 0 (W): watts = level × watts_per_unit + offset. */
    offset: z.number().min(-100_000).max(100_000).default(0),
    min: z.number().min(-1_000_000).max(1_000_000).default(0),
    max: z.number().min(-1_000_000).max(1_000_000),
    step: z.number().min(0.001).max(1_000_000).default(1),
    /** The level's unit, for the reasons and HA (e.g. A, %). */
    unit: z.string().max(10).default(''),
    /** Written to switch the load off when there is no switch_target (a light is turned off). */
    off_level: z.number().min(-1_000_000).max(1_000_000).default(0),
    /** No change while the export is within this of target_export_w (W). */
    deadband_w: z.number().min(0).max(100_000).default(50),
    /** Largest change per second (W/s), either way. */
    rate_limit_w_per_s: z.number().min(1).max(1_000_000).default(200),
    /** Seconds between two changes, so the meter shows one before the next. */
    interval: z.number().min(0).max(3600).default(10),
    ...onOffTiming({ enableDelay: 60, disableDelay: 180, minOn: 0, minOff: 0, maxStarts: 0 }),
  })
  .strict()
  .refine((r) => r.min < r.max, { message: 'must be below max', path: ['min'] })
  .refine((r) => r.off_level <= r.min || r.switch_target !== undefined, { message: 'must not be above min (it switches the load off)', path: ['off_level'] });

/**
 * Charging modes for a GivEnergy EV charger (GivTCP's Grid, Solar and Hybrid, rebuilt): the
 * EVSE minimum of 6 A, start and stop delays and a minimum charge time for the car's contactor,
 * an import cap on the house's grid current for every mode, and a session energy limit.
 */
export const evChargeOptions = z
  .object({
    type: z.literal('ev_charge'),
    name: z.string().min(1).max(60),
    enabled: z.boolean().default(true),
    /** grid: charge at current_a; solar: on surplus only; hybrid: at least 6 A, surplus on top. */
    mode: z.enum(['grid', 'solar', 'hybrid']).default('solar'),
    priority: z.number().int().min(1).max(99).default(1),
    /** The charger's serial (its device is givenergy_evc_<serial>); optional with one charger. */
    charger: z.string().regex(/^[A-Za-z0-9]{4,32}$/, 'use the serial number of the charger').optional(),
    /** The current in grid mode (A). */
    current_a: z.number().int().min(6).max(32).default(16),
    /** The house's grid current to stay under, in every mode (A per phase); 0 = off. */
    import_cap_a: z.number().min(0).max(100).default(0),
    /** A source (automation.sources) with the house's grid current in A, import positive, for the cap. */
    grid_current: z.string().regex(NAME).optional(),
    /** Stop the session at this much energy (kWh); 0 = off. */
    max_session_kwh: z.number().min(0).max(200).default(0),
    /** 1 or 3 (default: the charger's phases entity, else 1). */
    phases: z.number().int().min(1).max(3).refine((p) => p !== 2, { message: 'must be 1 or 3' }).optional(),
    /** Seconds the surplus (or the cap) must allow the 6 A minimum before a charge starts. */
    start_delay: z.number().min(0).max(86_400).default(60),
    /** Seconds the surplus must stay below the 6 A minimum before a solar charge stops. */
    stop_delay: z.number().min(0).max(86_400).default(300),
    /** A solar charge runs at least this long once started (s); the import cap overrides it. */
    min_charge_time: z.number().min(0).max(86_400).default(600),
    /** Seconds between two current changes (the import cap's reductions do not wait). */
    interval: z.number().min(1).max(3600).default(10),
    // The add-on editor stores every rule type's blocks in every rule; these belong to others.
    target: z.unknown().optional(),
    switch_target: z.unknown().optional(),
    blue: z.unknown().optional(),
    white: z.unknown().optional(),
    red: z.unknown().optional(),
  })
  .strict();

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;
const colourPlan = (min_soc: number, battery_life: boolean, charge_soc: number) =>
  z
    .object({
      /** Minimum SoC for the day (%), applied at apply_time the evening before. */
      min_soc: z.number().int().min(0).max(100).default(min_soc),
      /** BatteryLife on (Optimized with BatteryLife) or off (Optimized without BatteryLife). */
      battery_life: z.boolean().default(battery_life),
      /** The charge schedule's target SoC for the night before (%), set at plan_time. */
      charge_soc: z.number().int().min(0).max(100).default(charge_soc),
    })
    .strict()
    .default({ min_soc, battery_life, charge_soc });

/**
 * A Victron ESS driven by the EDF Tempo colour (the tempo-ess seed made safe). Defaults are the
 * seed's: blue 30 % / BatteryLife on / charge to 80 %, white 30 / on / 90, red 25 / off / 98.
 */
export const tempoEssOptions = z
  .object({
    type: z.literal('tempo_ess'),
    name: z.string().min(1).max(60),
    enabled: z.boolean().default(true),
    /** auto: plan and apply at their times; manual: show the plan, apply it from the button. */
    mode: z.enum(['auto', 'manual']).default('auto'),
    priority: z.number().int().min(1).max(99).default(1),
    /** The GX's portal id (optional with one GX). */
    victron: z.string().regex(/^[a-zA-Z0-9]{4,32}$/).optional(),
    /** The charge schedule the plan sets, numbered as in the GX's menu (Schedule 1 to 5). */
    schedule: z.number().int().min(1).max(5).default(1),
    /** When tomorrow's colour is turned into the schedule's target SoC (Europe/Paris). */
    plan_time: z.string().regex(HH_MM, 'use HH:MM').default('20:05'),
    /** When min SoC and BatteryLife for the coming day are applied: the start of off-peak hours. */
    apply_time: z.string().regex(HH_MM, 'use HH:MM').default('22:00'),
    blue: colourPlan(30, true, 80),
    white: colourPlan(30, true, 90),
    red: colourPlan(25, false, 98),
    target: z.unknown().optional(),
    // The add-on editor stores every rule type's blocks in every rule; these belong to others.
    switch_target: z.unknown().optional(),
  })
  .strict()
  .refine((r) => r.plan_time <= r.apply_time && r.apply_time >= '12:00', { message: 'must be after plan_time and in the evening (the plan is for the coming day, from 06:00)', path: ['apply_time'] });

export const ruleOptions = z.discriminatedUnion('type', [surplusSwitchOptions, vaillantPvOptions, surplusFollowOptions, tempoEssOptions, evChargeOptions]);

export const automationOptions = z
  .object({
    dry_run: z.boolean().default(false),
    timezone: z.string().min(1).refine(isTimeZone, { message: 'is not a time zone; use a name like Europe/Paris' }).optional(),
    /** After a load starts, how long lower-priority rules count its power as taken (s). */
    settle_time: z.number().min(0).max(600).default(10),
    home_assistant: z.object({ url: z.string().min(1).optional(), token: z.string().min(1).optional() }).strict().optional(),
    sources: z.array(sourceOptions).default([]),
    surplus: z
      .object({
        grid: z.string().regex(NAME).optional(),
        grid_positive_is_import: z.boolean().default(true),
        residual_w: z.number().min(-100_000).max(100_000).default(0),
        battery_soc: z.string().regex(NAME).nullable().optional(),
        battery_power: z.string().regex(NAME).nullable().optional(),
        battery_power_positive_is_charge: z.boolean().default(true),
        battery_priority_soc: z.number().min(0).max(100).nullable().optional(),
      })
      .strict()
      .optional(),
    rules: z.array(ruleOptions).default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    const names = new Set(a.sources.map((s) => s.name));
    const need = (name: string | null | undefined, path: (string | number)[]) => {
      if (name && !names.has(name)) ctx.addIssue({ code: 'custom', path, message: `names no source '${name}'` });
    };
    need(a.surplus?.grid, ['surplus', 'grid']);
    need(a.surplus?.battery_soc, ['surplus', 'battery_soc']);
    need(a.surplus?.battery_power, ['surplus', 'battery_power']);
    a.rules.forEach((r, i) => r.type === 'ev_charge' && need(r.grid_current, ['rules', i, 'grid_current']));
    if (a.rules.some((r) => r.type !== 'tempo_ess') && !a.surplus?.grid) ctx.addIssue({ code: 'custom', path: ['surplus', 'grid'], message: 'rules need a grid source' });
    const slugs = new Set<string>();
    a.rules.forEach((r, i) => {
      const slug = slugOf(r.name);
      if (slugs.has(slug)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `another rule is also called '${r.name}'` });
      slugs.add(slug);
    });
  });

export type AutomationOptions = z.infer<typeof automationOptions>;

/** Whether a source or a target is a Home Assistant entity: then the add-on needs HA's API. */
export function usesHomeAssistant(o: AutomationOptions): boolean {
  return o.sources.some((s) => s.ha_entity) || o.rules.some((r) => (r.type === 'surplus_switch' || r.type === 'surplus_follow') && Boolean(r.target.ha_entity || (r.type === 'surplus_follow' && r.switch_target?.ha_entity)));
}
export type SurplusSwitchOptions = z.infer<typeof surplusSwitchOptions>;
export type SurplusFollowOptions = z.infer<typeof surplusFollowOptions>;
export type VaillantPvOptions = z.infer<typeof vaillantPvOptions>;
export type TempoEssOptions = z.infer<typeof tempoEssOptions>;
export type EvChargeOptions = z.infer<typeof evChargeOptions>;
export type RuleOptions = z.infer<typeof ruleOptions>;
export type { SourceOptions } from '../measurements/options.js';
export type TargetOptions = z.infer<typeof targetOptions>;
export type LevelTargetOptions = z.infer<typeof levelTargetOptions>;

export function slugOf(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'rule';
}
