// GivTCP's EV charger control topics, kept for its users: <root>/control/<EVC serial>/<command>
// (research/givenergy.md §3). Each command becomes the command of one of our entities and runs
// through the same path as HA's (schema, safe writer, read-back); the outcome is logged and a
// refusal published as an event by GivTcpCommands, as for the inverter's topics.
import type { DeviceRegistry } from '../adapter.js';
import type { Logger } from '../../core/logger.js';
import { quote } from '../../core/outside-text.js';
import { WriteRefused } from '../../io/safe-writer.js';
import { GivTcpCommands, type GivTcpOrigin } from '../givenergy/givtcp-topics.js';
import { EVC_KEYS } from './entities.js';

/** A GivTCP word pair ("Start"/"Stop", "enable"/"disable", any case) as a switch's ON/OFF. */
function onOffWords(on: string, off: string, what = ''): (raw: string) => string {
  return (raw) => {
    const word = raw.toLowerCase();
    if (word === on.toLowerCase()) return 'ON';
    if (word === off.toLowerCase()) return 'OFF';
    throw new WriteRefused(`expected ${on} or ${off}${what}, got ${quote(raw)}`);
  };
}

/** GivTCP's EVC command -> our entity key and the HA payload for GivTCP's raw payload. */
export const EVC_GIVTCP_COMMANDS: Record<string, { key: string; payload: (raw: string) => string }> = {
  // GivTCP's Charge_Control select: "Start" / "Stop".
  controlCharge: { key: EVC_KEYS.chargeControl, payload: onOffWords('Start', 'Stop') },
  // GivTCP's chargeMode (REST /setChargeMode) is plug and go: "enable" / "disable" (its evc.py writes HR93).
  chargeMode: { key: EVC_KEYS.plugAndGo, payload: onOffWords('enable', 'disable', ' (plug and go)') },
  setCurrentLimit: { key: EVC_KEYS.chargeLimit, payload: (raw) => raw },
  setMaxSessionEnergy: { key: EVC_KEYS.maxSessionEnergy, payload: (raw) => raw },
  // GivTCP sets the charger to the host's time, whatever the payload.
  setSystemTime: { key: EVC_KEYS.syncTime, payload: () => 'PRESS' },
};

/** GivTCP's charge-mode commands: its local loop, which the ev_charge rule replaces. */
export const EVC_GIVTCP_RULE_COMMANDS = ['setChargingMode', 'setImportCap'] as const;

export class EvcGivTcp {
  private readonly commands: GivTcpCommands;
  private unsubscribers: Array<() => void> = [];

  constructor(
    private readonly charger: { execute(key: string, payload: string): Promise<{ written: number; skipped: number }> },
    private readonly devices: DeviceRegistry,
    private readonly log: Logger,
  ) {
    this.commands = new GivTcpCommands({ execute: (command, payload) => this.execute(command, restValue(payload)) }, devices, log);
  }

  /** Whether GivTCP knows this EVC command (for a REST server's routing). */
  has(command: string): boolean {
    return Object.hasOwn(EVC_GIVTCP_COMMANDS, command) || (EVC_GIVTCP_RULE_COMMANDS as readonly string[]).includes(command);
  }

  /** A command from GivTCP's REST API or topics: logged, a refusal published as an event. */
  run(command: string, payload: unknown, from: GivTcpOrigin & { raw: string }): Promise<{ written: number; skipped: number }> {
    return this.commands.run(command, payload, from);
  }

  refused(from: GivTcpOrigin, raw: string, reason: string): void {
    this.commands.refused(from, raw, reason);
  }

  execute(command: string, raw: string): Promise<{ written: number; skipped: number }> {
    const mapping = Object.hasOwn(EVC_GIVTCP_COMMANDS, command) ? EVC_GIVTCP_COMMANDS[command] : undefined;
    if (!mapping) {
      const rule = (EVC_GIVTCP_RULE_COMMANDS as readonly string[]).includes(command);
      return Promise.reject(new WriteRefused(rule ? `${command} is GivTCP's charge-mode loop: use an ev_charge rule in the automation options` : `no EV charger command ${command}`));
    }
    let payload: string;
    try {
      payload = mapping.payload(raw.trim().replace(/^"(.*)"$/, '$1'));
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.charger.execute(mapping.key, payload);
  }

  /** Retained and empty messages are refused, as on every command topic. */
  subscribe(mqttRoot: string, serial: string): void {
    this.unsubscribe();
    const root = `${mqttRoot}/control/${serial}`;
    for (const command of [...Object.keys(EVC_GIVTCP_COMMANDS), ...EVC_GIVTCP_RULE_COMMANDS]) {
      const topic = `${root}/${command}`;
      this.unsubscribers.push(
        this.devices.follow(topic, (payload, { retain }) => {
          const from: GivTcpOrigin = { source: 'mqtt', where: topic };
          this.log.debug(`${topic}: ${quote(payload)}${retain ? ' (retained)' : ''}`);
          if (retain) return this.commands.refused(from, payload, 'retained commands are ignored; publish commands without the retain flag');
          if (payload.trim() === '') return this.commands.refused(from, payload, 'an empty message is not a command');
          this.commands.run(command, payload, { ...from, raw: payload }).catch(() => undefined);
        }),
      );
    }
  }

  unsubscribe(): void {
    for (const stop of this.unsubscribers) stop();
    this.unsubscribers = [];
  }
}

/**
 * A REST body is JSON; GivTCP's EVC bodies are not documented in the research, so a lone value
 * ("10", 10) or an object with one field ({"current": 10}) is taken as the value.
 */
export function restValue(payload: unknown): string {
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload)) {
    const values = Object.values(payload);
    return values.length === 1 ? String(values[0]) : '';
  }
  return String(payload);
}
