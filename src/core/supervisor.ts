// Inside the add-on the Supervisor tells us where the MQTT broker is (GET /services/mqtt).
// At boot Mosquitto may not be ready yet, so the call is retried with backoff.
import { z } from 'zod';
import type { Logger } from './logger.js';

export const SUPERVISOR_URL = 'http://supervisor';

const serviceShape = z.object({
  result: z.literal('ok'),
  data: z.object({
    host: z.string().min(1),
    port: z.union([z.number(), z.string()]).transform(Number).pipe(z.number().int().min(1).max(65535)),
    ssl: z.boolean().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
  }),
});

export interface SupervisorBroker {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
}

export class SupervisorError extends Error {}

export async function fetchMqttService(
  token: string,
  log: Logger,
  opts: { baseUrl?: string; attempts?: number; firstDelayMs?: number } = {},
): Promise<SupervisorBroker> {
  const url = `${opts.baseUrl ?? SUPERVISOR_URL}/services/mqtt`;
  const attempts = opts.attempts ?? 6;
  let delay = opts.firstDelayMs ?? 2000;
  let lastReason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
      const body: unknown = await res.json().catch(() => undefined);
      if (res.status === 403) {
        throw new SupervisorError('the Supervisor refused access to the MQTT service; the add-on needs "services: mqtt" in its config');
      }
      const parsed = serviceShape.safeParse(body);
      if (res.ok && parsed.success) {
        const d = parsed.data.data;
        log.info(`the Supervisor reports the MQTT broker at ${d.host}:${d.port}`);
        return { host: d.host, port: d.port, tls: d.ssl ?? false, username: d.username, password: d.password };
      }
      const message = (body as { message?: string } | undefined)?.message;
      lastReason = message ? `${res.status} ${message}` : `status ${res.status}`;
    } catch (err) {
      if (err instanceof SupervisorError) throw err;
      lastReason = (err as Error).message;
    }
    if (attempt < attempts) {
      log.warn(`no MQTT service from the Supervisor yet (${lastReason}); asking again in ${Math.round(delay / 1000)} s`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  }
  throw new SupervisorError(
    `no MQTT broker: the Supervisor has no MQTT service (${lastReason}). Install and start the Mosquitto add-on, or set mqtt.host in the options`,
  );
}
