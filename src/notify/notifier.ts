// Sends the Victron + Tempo family's notices to every configured target (Prowl, HA notify
// services). A notice is rare and never worth a crash: notify() returns at once and never throws;
// a failing target is logged once per kind of notice until it works again. The same text is not
// sent twice to a target within 10 minutes (a re-run of the plan, a retry upstream), and no
// target gets more than 30 notifications an hour, far below Prowl's 1000 calls an hour.
import type { Got } from 'got';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Secrets } from '../core/secrets.js';
import { RateLimitedWarning } from '../core/rate-limited-log.js';
import { noticeText, type Language, type Notice, type NoticeKind, type NoticeText } from './messages.js';
import { fullServiceName, type NotificationOptions } from './options.js';
import { ProwlClient } from './prowl.js';
import { HaNotifyClient, SUPERVISOR_CORE_API } from './ha-notify.js';

export const DEDUP_WINDOW_MS = 10 * 60_000;
export const MAX_PER_HOUR = 30;
const HOUR_MS = 3_600_000;
/** How long stop() lets a notification on its way finish before it is cut off. */
const STOP_GRACE_MS = 3_000;

export interface NotifierDeps {
  options: NotificationOptions;
  /** Overrides options.language. */
  language?: Language;
  /** The shared got instance (createHttpClient). */
  http: Got;
  log: Logger;
  secrets: Secrets;
  /** SUPERVISOR_TOKEN inside the add-on: HA's API through the Supervisor. */
  supervisorToken?: string;
  clock: Clock;
}

export interface SendResult {
  /** 'prowl', or the HA service (notify.mobile_app_x, persistent_notification.create). */
  target: string;
  ok: boolean;
  reason?: string;
  /** Not attempted: the same text went out less than 10 minutes ago, or the hourly cap is reached. */
  skipped?: 'duplicate' | 'hourly_cap';
}

interface Target {
  name: string;
  deliver(text: NoticeText, notice: Notice, signal: AbortSignal): Promise<void>;
  /** When each attempt of the last hour started. */
  attempts: number[];
  /** Text -> when it was sent (or is being sent). */
  sent: Map<string, number>;
  /** Kinds whose failure is already in the log. */
  failing: Set<NoticeKind>;
}

export class Notifier {
  /** The Prowl client when a key is set, for a key check at start (each check is one API call). */
  readonly prowl?: ProwlClient;
  private readonly targets: Target[] = [];
  private readonly language: Language;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly capWarning: RateLimitedWarning;
  private stopped = false;

  constructor(private readonly deps: NotifierDeps) {
    const { options, http, secrets, clock, log } = deps;
    this.language = deps.language ?? options.language;
    this.capWarning = new RateLimitedWarning(log, clock, HOUR_MS);
    if (options.prowl_api_key !== undefined) {
      const prowl = new ProwlClient({ apiKey: options.prowl_api_key, url: options.prowl_url, priority: options.prowl_priority, http, secrets, clock });
      this.prowl = prowl;
      this.addTarget('prowl', async (text, _notice, signal) => {
        await prowl.add({ event: text.title, description: text.message }, signal);
      });
    }
    const services = [...new Set(options.ha_services.map(fullServiceName))];
    if (services.length === 0) return;
    secrets.add(options.ha_token);
    secrets.add(deps.supervisorToken);
    const access = haAccess(options, deps.supervisorToken);
    if (access) {
      const client = new HaNotifyClient({ apiUrl: access.url, token: access.token, http, secrets });
      for (const service of services) {
        // One persistent notification per kind: tomorrow's colour replaces today's.
        this.addTarget(service, (text, notice, signal) => client.call(service, { ...text, notificationId: `energy2mqtt_${notice.kind}` }, signal));
      }
    } else {
      const why = 'there is no access to Home Assistant: outside the add-on set notifications.ha_api_url and notifications.ha_token';
      log.warn(`notifications.ha_services is set, but ${why}`);
      for (const service of services) this.addTarget(service, () => Promise.reject(new Error(`${service} cannot be called: ${why}`)));
    }
  }

  /** The targets every notice goes to. */
  get targetNames(): string[] {
    return this.targets.map((t) => t.name);
  }

  /** Sends in the background; never throws, never waits. */
  notify(notice: Notice): void {
    if (this.stopped || this.targets.length === 0) return;
    this.send(notice).catch((err: unknown) => this.deps.log.error(`a notification could not be prepared: ${this.deps.secrets.scrub(String((err as Error)?.message ?? err))}`));
  }

  /** Sends to every target and says how each went (for tests and callers that want to know). */
  send(notice: Notice): Promise<SendResult[]> {
    if (this.stopped) return Promise.resolve([]);
    const work = (async () => {
      const text = this.textOf(notice);
      const now = this.deps.clock.now();
      return Promise.all(this.targets.map((target) => this.sendTo(target, notice, text, now)));
    })();
    this.inflight.add(work);
    const forget = () => this.inflight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** No more notifications; one on its way gets a few seconds to arrive. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.inflight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
    await Promise.race([Promise.allSettled([...this.inflight]), grace]);
    clearTimeout(timer);
    this.abort.abort();
    await Promise.allSettled([...this.inflight]);
  }

  private addTarget(name: string, deliver: Target['deliver']): void {
    this.targets.push({ name, deliver, attempts: [], sent: new Map(), failing: new Set() });
  }

  private textOf(notice: Notice): NoticeText {
    const text = noticeText(notice, this.language);
    return { title: this.deps.secrets.scrub(text.title), message: this.deps.secrets.scrub(text.message) };
  }

  private async sendTo(target: Target, notice: Notice, text: NoticeText, now: number): Promise<SendResult> {
    const { log } = this.deps;
    target.attempts = target.attempts.filter((at) => now - at < HOUR_MS);
    for (const [sentText, at] of target.sent) if (now - at >= DEDUP_WINDOW_MS) target.sent.delete(sentText);
    const key = `${text.title}\n${text.message}`;
    if (target.sent.has(key)) {
      log.debug(`the ${notice.kind} notification to ${target.name} is not sent again: the same text went out less than ${DEDUP_WINDOW_MS / 60_000} minutes ago`);
      return { target: target.name, ok: false, skipped: 'duplicate', reason: `the same notification was sent less than ${DEDUP_WINDOW_MS / 60_000} minutes ago` };
    }
    if (target.attempts.length >= MAX_PER_HOUR) {
      const reason = `${MAX_PER_HOUR} notifications went to ${target.name} in the last hour; more are held back`;
      this.capWarning.warn(`cap:${target.name}`, `the ${notice.kind} notification is not sent: ${reason}`);
      return { target: target.name, ok: false, skipped: 'hourly_cap', reason };
    }
    target.attempts.push(now);
    // Claimed before sending, so the same notice twice in a row goes out once.
    target.sent.set(key, now);
    try {
      await target.deliver(text, notice, this.abort.signal);
    } catch (err) {
      if (target.sent.get(key) === now) target.sent.delete(key);
      const reason = this.deps.secrets.scrub(err instanceof Error ? err.message : String(err));
      this.failed(target, notice.kind, reason);
      return { target: target.name, ok: false, reason };
    }
    if (target.failing.size > 0) log.info(`notifications to ${target.name} work again`);
    target.failing.clear();
    log.info(`sent ${JSON.stringify(text.title)} to ${target.name}`);
    return { target: target.name, ok: true };
  }

  private failed(target: Target, kind: NoticeKind, reason: string): void {
    const line = `could not send the ${kind} notification to ${target.name}: ${reason}`;
    if (this.stopped || target.failing.has(kind)) {
      this.deps.log.debug(line);
      return;
    }
    target.failing.add(kind);
    this.deps.log.warn(line);
  }
}

/** Where HA's API is and the token for it; the Supervisor's token goes to the Supervisor only. */
function haAccess(options: NotificationOptions, supervisorToken: string | undefined): { url: string; token: string } | undefined {
  if (options.ha_api_url !== undefined) return options.ha_token ? { url: options.ha_api_url, token: options.ha_token } : undefined;
  if (options.ha_token !== undefined) return undefined;
  return supervisorToken ? { url: SUPERVISOR_CORE_API, token: supervisorToken } : undefined;
}
