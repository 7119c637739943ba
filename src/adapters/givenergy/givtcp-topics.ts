// GivTCP's command path, kept for its users: the MQTT control topics <root>/control/<serial>/
// <command> with GivTCP's raw payloads, and the commands of its REST API. Both run like a command
// from HA: the outcome is logged, a refusal also published as an event.
import type { DeviceRegistry } from '../adapter.js';
import type { Logger } from '../../core/logger.js';
import { clip, oneLine, quote, shownPayload } from '../../core/outside-text.js';
import { COMMANDS } from './controls.js';

/** Where a command from GivTCP's topics or REST API came from, for the log and the event. */
export interface GivTcpOrigin {
  source: 'mqtt' | 'rest';
  /** e.g. "GivEnergy/control/SA123/setChargeTarget" or "REST /setChargeTarget from 10.0.0.5". */
  where: string;
}

export class GivTcpCommands {
  constructor(
    private readonly inverter: { execute(command: string, payload: unknown): Promise<{ written: number; skipped: number }> },
    private readonly devices: DeviceRegistry,
    private readonly log: Logger,
  ) {}

  /**
   * GivTCP's control topics: <root>/control/<serial>/<command>, raw payloads. As on every command
   * topic, a retained message (it would run again at every start and reconnect) and an empty one
   * (how a retained message is deleted) are refused.
   */
  subscribe(mqttRoot: string, serial: string, commands: readonly string[] = Object.keys(COMMANDS)): void {
    const root = `${mqttRoot}/control/${serial}`;
    for (const command of commands) {
      const topic = `${root}/${command}`;
      this.devices.follow(topic, (payload, { retain }) => {
        const from: GivTcpOrigin = { source: 'mqtt', where: topic };
        this.log.debug(`${topic}: ${quote(payload)}${retain ? ' (retained)' : ''}`);
        if (retain) return this.refused(from, payload, 'retained commands are ignored; publish commands without the retain flag');
        if (payload.trim() === '') return this.refused(from, payload, 'an empty message is not a command');
        this.run(command, givTcpPayload(command, payload), { ...from, raw: payload }).catch(() => undefined);
      });
    }
  }

  /**
   * A command from GivTCP's topics or REST API, run like one from HA: the outcome is logged, and
   * a refusal also published as an event on <base>/bridge/event. Throws what execute() throws.
   */
  async run(command: string, payload: unknown, from: GivTcpOrigin & { raw: string }): Promise<{ written: number; skipped: number }> {
    try {
      const result = await this.inverter.execute(command, payload);
      this.devices.event({ type: 'givtcp_command', topic: from.where, source: from.source, result });
      return result;
    } catch (err) {
      this.refused(from, from.raw, (err as Error).message);
      throw err;
    }
  }

  /** Logs and publishes a GivTCP command that was refused (before or while running it). */
  refused(from: GivTcpOrigin, raw: string, reason: string): void {
    this.log.warn(`${from.where} (payload ${quote(raw)}) refused: ${oneLine(clip(reason))}`);
    this.devices.event({ type: 'command_rejected', topic: from.where, payload: shownPayload(raw), reason, source: from.source });
  }
}

/** GivTCP's MQTT payloads are raw text; slots come as JSON; battery mode may come as 1/2/3. */
export function givTcpPayload(command: string, raw: string): unknown {
  const text = raw.trim();
  if (/Slot\d$/.test(command)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  if (command === 'setBatteryMode' && /^[1-3]$/.test(text)) return ['Eco', 'Timed Demand', 'Timed Export'][Number(text) - 1];
  return text.replace(/^"(.*)"$/, '$1');
}
