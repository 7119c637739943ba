// The `givenergy_evc` options: one entry per GivEnergy EV charger (GivEVC) on local Modbus TCP.
import { z } from 'zod';

export const givenergyEvcOptions = z
  .object({
    host: z.string().min(1),
    /** The charger's Modbus TCP port (GivTCP never changes it). */
    port: z.number().int().min(1).max(65535).default(502),
    /** Seconds between polls (GivTCP's evc_self_run_timer is 10 s; the charger's port locks up when hammered). */
    poll_interval: z.number().min(1).max(3600).default(10),
    /** GivTCP passes none, so pymodbus 2.x sends 0 (research/givenergy.md §3). */
    unit_id: z.number().int().min(0).max(255).default(0),
    /** Setting writes per day (current limit, start/stop, plug and go, clock). */
    daily_write_budget: z.number().int().min(1).max(20_000).default(500),
    /** Root of GivTCP's MQTT control topics: <root>/control/<serial>/<command>. */
    mqtt_root: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('GivEnergy'),
  })
  .strict();

export type GivenergyEvcOptions = z.infer<typeof givenergyEvcOptions>;
