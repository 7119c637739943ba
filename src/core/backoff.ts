// Reconnect waits: doubling from a first wait up to a cap, with ±20 % jitter so that many
// clients do not come back in step. The caps keep recovery quick once the other side is back.

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** The wait before reconnect attempt `attempt` (0, 1, ...), never more than maxMs + 20 %. */
export function reconnectWait(attempt: number, backoff: Backoff, random = Math.random()): number {
  return Math.round(Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30)) * (0.8 + random * 0.4));
}
