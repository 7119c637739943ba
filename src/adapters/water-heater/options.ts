// The `water_heater` options: one entry per heater on a relay and a power regulator, the
// actuators' backend (pigpiod, the native pigpio library, HA entities or MQTT topics), and the
// measurements and limits its controller works with.
import { z } from 'zod';
import { isTimeZone } from '../../automation/options.js';
import { validFilter } from '../../io/mqtt-client.js';

const sourceName = z.string().regex(/^[a-z0-9_]+$/, 'use the name of a source in automation.sources');
const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;
const topic = z.string().min(1).refine((t) => validFilter(t) && !/[#+]/.test(t), { message: 'is not a topic to publish on (no # or +)' });
/** BCM numbering: the Pi's GPIO 0–27 on the header (pigpio accepts up to 53). */
const gpio = z.number().int().min(0).max(53);

export const BACKENDS = ['pigpiod', 'pigpio', 'ha', 'mqtt'] as const;

export const waterHeaterOptions = z
  .object({
    /** The device's name in HA; its id is derived from it, so keep it once chosen. */
    name: z.string().min(1).max(60).default('Water heater'),
    backend: z.enum(BACKENDS).default('pigpiod'),
    // The Supervisor wants nested objects present, so the blocks of unused backends may stay empty.
    pigpiod: z
      .object({
        /** Another add-on (e.g. the pigpio add-on's host name) or the host's address. */
        host: z.string().min(1).optional(),
        port: z.number().int().min(1).max(65535).default(8888),
      })
      .strict()
      .optional(),
    relay: z
      .object({
        gpio: gpio.optional(),
        /** The relay pulls in when the pin is low (many relay boards). */
        active_low: z.boolean().default(false),
        /** Off as the inactive level, or as a released pin (high impedance: the seed's fix for 5 V relay boards). */
        off_mode: z.enum(['low', 'released']).default('low'),
      })
      .strict()
      .optional(),
    servo: z
      .object({
        gpio: gpio.optional(),
        /** Pulse widths at the two ends of the servo's travel (pigpio takes 500–2500 µs). */
        min_us: z.number().int().min(500).max(2500).default(500),
        max_us: z.number().int().min(500).max(2500).default(2500),
        /** Degrees between min_us and max_us (for what HA shows; 180 on an SG90). */
        range_deg: z.number().min(10).max(360).default(180),
        /** The regulator's knob turns up when the pulse gets shorter. */
        reverse: z.boolean().default(false),
        /** Stop the pulses this long after a move (the knob holds by friction; the servo stays quiet); 0 keeps them. */
        release_after_ms: z.number().int().min(0).max(10_000).default(600),
        /** Moves end coming up from below by this much of the travel, so the gears' play is always taken the same way. */
        backlash_percent: z.number().min(0).max(20).default(3),
        /** Servo position (0–100 % of its travel) to regulator power, measured; a straight line from 0 to max_power_w without it. */
        calibration: z
          .array(z.object({ position: z.number().min(0).max(100), power_w: z.number().min(0).max(100_000) }).strict())
          .default([]),
      })
      .strict()
      .optional(),
    relay_entity: z.string().regex(/^(switch|input_boolean|light|fan)\.[a-z0-9_]+$/, 'use a switch, input_boolean, light or fan entity id').optional(),
    regulator_entity: z.string().regex(/^(number|input_number|light)\.[a-z0-9_]+$/, 'use a number, input_number or light entity id').optional(),
    relay_mqtt: z
      .object({
        command_topic: topic.optional(),
        payload_on: z.string().default('ON'),
        payload_off: z.string().default('OFF'),
      })
      .strict()
      .optional(),
    regulator_mqtt: z.object({ command_topic: topic.optional() }).strict().optional(),
    /** What the regulator entity or topic takes for full power (100 for a percentage, 255 for raw brightness, 10 for 0–10 V). */
    regulator_max: z.number().min(1).max(100_000).default(100),
    /** The heater's power at full regulator output, W. */
    max_power_w: z.number().min(100).max(100_000).default(3000),
    /** Below this the regulator gives nothing useful (its dead zone): the relay stays off. */
    min_power_w: z.number().min(0).max(100_000).default(300),
    grid: sourceName.optional(),
    battery_power: sourceName.optional(),
    battery_soc: sourceName.optional(),
    heater_power: sourceName.optional(),
    /** PV power now and its forecast (e.g. a forecast_solar source): their gap is power the MPPT holds back, a hint for zero_export as in the seed. */
    pv_power: sourceName.optional(),
    pv_forecast: sourceName.optional(),
    /** The MPPT's operation mode as the GX reports it (Victron MppOperationMode: 1 = limited, 2 = tracking); a hint for zero_export. */
    mppt_mode: sourceName.optional(),
    /** Export held while heating, W: a little, so the heater never draws from the grid. */
    target_export_w: z.number().min(-1000).max(10_000).default(100),
    /** No export is ever visible (zero-export ESS, off-grid): probe for power the MPPT holds back. */
    zero_export: z.boolean().default(false),
    gates: z
      .object({
        from: z.string().regex(HH_MM, 'use HH:MM').optional(),
        to: z.string().regex(HH_MM, 'use HH:MM').optional(),
        min_soc: z.number().min(0).max(100).optional(),
        max_grid_import_w: z.number().min(0).max(100_000).optional(),
        max_battery_discharge_w: z.number().min(0).max(100_000).optional(),
      })
      .strict()
      .optional(),
    timezone: z.string().min(1).refine(isTimeZone, { message: 'is not a time zone; use a name like Europe/Paris' }).optional(),
    min_on_s: z.number().int().min(0).max(3600).default(60),
    min_off_s: z.number().int().min(0).max(3600).default(60),
    /** A measurement older than this turns the heater off (relay off, regulator to its safe end). */
    stale_after: z.number().int().min(2).max(600).default(30),
  })
  .strict()
  .superRefine((o, ctx) => {
    const need = (ok: boolean, path: string[], message: string) => ok || ctx.addIssue({ code: 'custom', path, message });
    if (o.backend === 'pigpiod' || o.backend === 'pigpio') {
      if (o.backend === 'pigpiod') need(Boolean(o.pigpiod?.host), ['pigpiod', 'host'], 'is needed with backend pigpiod (where pigpiod listens: another add-on or the host)');
      need(o.relay?.gpio !== undefined, ['relay', 'gpio'], `is needed with backend ${o.backend}`);
      need(o.servo?.gpio !== undefined, ['servo', 'gpio'], `is needed with backend ${o.backend}`);
      if (o.relay?.gpio !== undefined && o.relay.gpio === o.servo?.gpio) ctx.addIssue({ code: 'custom', path: ['servo', 'gpio'], message: 'is the relay\'s GPIO too; use two pins' });
      if (o.servo && o.servo.min_us >= o.servo.max_us) ctx.addIssue({ code: 'custom', path: ['servo', 'max_us'], message: 'must be above servo.min_us' });
    }
    if (o.backend === 'ha') {
      need(o.relay_entity !== undefined, ['relay_entity'], 'is needed with backend ha (the switch that feeds the heater)');
      need(o.regulator_entity !== undefined, ['regulator_entity'], 'is needed with backend ha (the number or light that sets the regulator)');
    }
    if (o.backend === 'mqtt') {
      need(Boolean(o.relay_mqtt?.command_topic), ['relay_mqtt', 'command_topic'], 'is needed with backend mqtt');
      need(Boolean(o.regulator_mqtt?.command_topic), ['regulator_mqtt', 'command_topic'], 'is needed with backend mqtt');
    }
    need(o.grid !== undefined || (o.zero_export && o.battery_power !== undefined), ['grid'], 'is needed (the grid power source); off-grid, zero_export with battery_power will do');
    if (o.zero_export) need(o.battery_power !== undefined, ['battery_power'], 'is needed with zero_export (the controller backs off when the battery discharges)');
    if ((o.pv_power === undefined) !== (o.pv_forecast === undefined)) ctx.addIssue({ code: 'custom', path: [o.pv_power ? 'pv_forecast' : 'pv_power'], message: 'is needed too: the forecast gap is pv_forecast − pv_power' });
    if (o.min_power_w >= o.max_power_w) ctx.addIssue({ code: 'custom', path: ['min_power_w'], message: 'must be below max_power_w' });
    if ((o.gates?.from === undefined) !== (o.gates?.to === undefined)) ctx.addIssue({ code: 'custom', path: ['gates', o.gates?.from ? 'to' : 'from'], message: 'is needed too: the window has a start and an end' });
    const calibration = o.servo?.calibration ?? [];
    for (let i = 1; i < calibration.length; i++) {
      if (calibration[i]!.position <= calibration[i - 1]!.position || calibration[i]!.power_w < calibration[i - 1]!.power_w) {
        ctx.addIssue({ code: 'custom', path: ['servo', 'calibration', i], message: 'must come after the one before: position rising, power not falling' });
      }
    }
  });

export type WaterHeaterOptions = z.infer<typeof waterHeaterOptions>;

/** The options that name a source (a measurement of automation.sources). */
export const HEATER_SOURCE_ROLES = ['grid', 'battery_power', 'battery_soc', 'heater_power', 'mppt_mode', 'pv_power', 'pv_forecast'] as const;

export function heaterDeviceId(name: string): string {
  const slug = name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'heater';
  return `water_heater_${slug}`;
}
