// The `viessmann_meter` options: one entry per emulated meter (the one a Vitocal polls), with its
// serial line and/or TCP server, and the measurements its surplus is computed from.
import { z } from 'zod';

/** What the ALE3 detects by itself (datasheet p. 5). */
const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];

const sourceName = z.string().regex(/^[a-z0-9_]+$/, 'use the name of a source in automation.sources');

export const meterSerialOptions = z
  .object({
    /** The USB-RS485 adapter, e.g. /dev/ttyUSB0 (in the add-on: picked from the host's serial devices). */
    port: z.string().min(1).meta({ supervisor: 'device(subsystem=tty)' }).optional(),
    /** The heat pump decides the line: 19200 8E1 on the Vitocal 200-S, 38400 8N1 on the 262-A. */
    baud: z
      .number()
      .int()
      .min(1200)
      .max(115200)
      .refine((b) => BAUD_RATES.includes(b), { message: `use one of ${BAUD_RATES.join(', ')}` })
      .default(19200),
    parity: z.enum(['even', 'odd', 'none']).default('even'),
    stop_bits: z.number().int().min(1).max(2).default(1),
    data_bits: z.number().int().min(7).max(8).default(8),
  })
  .strict();

export const meterTcpOptions = z
  .object({
    /** Modbus TCP server (off unless a port is given); 502 is the Modbus port. */
    port: z.number().int().min(1).max(65535).optional(),
    /** Where it listens: 0.0.0.0 for a gateway on the LAN (the add-on's port mapping decides what the host exposes). */
    host: z.string().min(1).default('0.0.0.0'),
  })
  .strict();

export const viessmannMeterOptions = z
  .object({
    /** The device's name in HA; its id is derived from it, so keep it once chosen. */
    name: z.string().min(1).max(60).default('Heat pump meter'),
    profile: z.enum(['ale3', 'sdm630']).default('ale3'),
    // The Supervisor wants nested objects present, so an empty `serial: {}` or `tcp: {}` means "off".
    serial: meterSerialOptions.optional(),
    tcp: meterTcpOptions.optional(),
    unit_id: z.number().int().min(1).max(247).default(1),
    /** export_positive: surplus served as a positive power (Vitocal 200-S); import_positive: negated (262-A). */
    sign: z.enum(['export_positive', 'import_positive']).default('export_positive'),
    /** even: a third per phase; l1: all on L1; measured: per phase from grid_l1..grid_l3. */
    phase_split: z.enum(['even', 'l1', 'measured']).default('even'),
    /** Seconds after which a source's value is too old: the meter then serves 0 W. */
    stale_after: z.number().int().min(1).max(3600).default(30),
    rest_power: sourceName.optional(),
    grid: sourceName.optional(),
    heat_pump: sourceName.optional(),
    grid_l1: sourceName.optional(),
    grid_l2: sourceName.optional(),
    grid_l3: sourceName.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const phases = [m.grid_l1, m.grid_l2, m.grid_l3].filter(Boolean).length;
    const modes = [m.rest_power !== undefined, m.grid !== undefined, phases > 0].filter(Boolean).length;
    if (modes !== 1) {
      ctx.addIssue({ code: 'custom', path: ['rest_power'], message: 'give exactly one surplus source: rest_power, or grid (with heat_pump), or grid_l1, grid_l2 and grid_l3' });
      return;
    }
    if (phases > 0 && phases < 3) ctx.addIssue({ code: 'custom', path: [m.grid_l1 ? (m.grid_l2 ? 'grid_l3' : 'grid_l2') : 'grid_l1'], message: 'is needed too: per-phase grid power takes all three phases' });
    if (m.rest_power !== undefined && m.heat_pump !== undefined) ctx.addIssue({ code: 'custom', path: ['heat_pump'], message: 'is not used with rest_power (the rest power already holds it); leave one of them out' });
    if (m.phase_split === 'measured' && phases === 0) ctx.addIssue({ code: 'custom', path: ['phase_split'], message: 'measured needs grid_l1, grid_l2 and grid_l3' });
    if (!m.serial?.port && m.tcp?.port === undefined) ctx.addIssue({ code: 'custom', path: ['serial', 'port'], message: 'is needed, or tcp.port: the meter needs a serial port or a TCP port to be polled on' });
  });

export type ViessmannMeterOptions = z.infer<typeof viessmannMeterOptions>;

/** The options that name a source (a measurement of automation.sources). */
export const METER_SOURCE_ROLES = ['rest_power', 'grid', 'heat_pump', 'grid_l1', 'grid_l2', 'grid_l3'] as const;

/** The HA device id of a meter: from its name, as rules are named. */
export function meterDeviceId(name: string): string {
  const slug = name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'meter';
  return `viessmann_meter_${slug}`;
}
