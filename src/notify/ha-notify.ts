// Home Assistant notify services through HA's REST API: POST {api}/services/<domain>/<service>
// with a bearer token and {title, message}. Inside the add-on the Supervisor proxies the API at
// http://supervisor/core/api and takes SUPERVISOR_TOKEN (config.yaml: homeassistant_api: true).
// HA answers 400 for an unknown service (and for data it refuses); this client then asks HA's
// service list which of the two it was, so the log names the service that does not exist.
import type { Got } from 'got';
import type { Secrets } from '../core/secrets.js';
import { quote } from '../core/outside-text.js';
import { HttpError, shownUrl } from '../io/http.js';
import { fullServiceName } from './options.js';

export const SUPERVISOR_CORE_API = 'http://supervisor/core/api';

export class HaNotifyError extends Error {
  override readonly name = 'HaNotifyError';
  constructor(
    message: string,
    /** HA's HTTP status, or got's code for a network error. */
    readonly code: number | string,
  ) {
    super(message);
  }
}

export interface HaNotifyOptions {
  /** HA's REST API, up to and including /api. */
  apiUrl: string;
  token: string;
  http: Got;
  secrets: Secrets;
}

export interface HaNotification {
  title: string;
  message: string;
  /** persistent_notification only: a later notification with the same id replaces this one. */
  notificationId?: string;
}

/** domain.service split; `persistent_notification` alone is its create service. */
export function splitService(name: string): { domain: string; service: string } {
  const full = fullServiceName(name);
  const dot = full.indexOf('.');
  return { domain: full.slice(0, dot), service: full.slice(dot + 1) };
}

export class HaNotifyClient {
  private readonly apiUrl: string;
  private readonly viaSupervisor: boolean;

  constructor(private readonly options: HaNotifyOptions) {
    options.secrets.add(options.token);
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.viaSupervisor = this.apiUrl === SUPERVISOR_CORE_API;
  }

  /** Calls one service; throws an HaNotifyError whose message names the service and what to do. */
  async call(serviceName: string, notification: HaNotification, signal?: AbortSignal): Promise<void> {
    const { domain, service } = splitService(serviceName);
    const name = `${domain}.${service}`;
    const json: Record<string, string> = { title: notification.title, message: notification.message };
    if (domain === 'persistent_notification' && notification.notificationId) json.notification_id = notification.notificationId;
    let response: { statusCode: number; body: string };
    try {
      response = await this.options.http.post(`${this.apiUrl}/services/${domain}/${service}`, {
        json,
        headers: { authorization: `Bearer ${this.options.token}` },
        throwHttpErrors: false,
        retry: { limit: 0 },
        responseType: 'text',
        signal,
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    if (status === 400) throw new HaNotifyError(await this.badRequest(domain, service, response.body, signal), 400);
    throw new HaNotifyError(this.options.secrets.scrub(this.describe(status, name, response.body)), status);
  }

  private describe(status: number, name: string, body: string): string {
    switch (status) {
      case 401:
        return this.viaSupervisor
          ? `the Supervisor refused the add-on's token for ${name} (HTTP 401): the add-on needs homeassistant_api: true`
          : `Home Assistant refused notifications.ha_token for ${name} (HTTP 401): use a long-lived access token from your Home Assistant profile`;
      case 403:
        return `Home Assistant does not allow this token to call ${name} (HTTP 403)`;
      case 404:
        return `Home Assistant answered 404 for ${name}: the service does not exist, or notifications.ha_api_url is not Home Assistant's API (it ends in /api)`;
      case 502:
      case 503:
      case 504:
        if (this.viaSupervisor) return `Home Assistant did not answer the Supervisor (HTTP ${status}) for ${name}; is it starting or stopped?`;
        return `Home Assistant answered HTTP ${status} for ${name}`;
      default:
        return `Home Assistant answered HTTP ${status} for ${name}${body.trim() ? `: ${quote(body.trim(), 120)}` : ''}`;
    }
  }

  /** HA's 400 says nothing more: its service list tells a missing service from refused data. */
  private async badRequest(domain: string, service: string, body: string, signal?: AbortSignal): Promise<string> {
    const name = `${domain}.${service}`;
    const exists = await this.hasService(domain, service, signal);
    if (exists === false) {
      const hint = domain === 'notify' ? ' (the names are under Developer tools > Actions, e.g. notify.mobile_app_<phone>)' : '';
      return `Home Assistant has no service ${name}${hint}`;
    }
    const said = safeMessage(body);
    if (exists === true) return this.options.secrets.scrub(`Home Assistant refused the call to ${name} (HTTP 400${said}): the service does not take a title and a message`);
    return this.options.secrets.scrub(`Home Assistant refused the call to ${name} (HTTP 400${said}): the service does not exist or does not take a title and a message`);
  }

  /** Whether HA lists the service; undefined when the list cannot be had. */
  private async hasService(domain: string, service: string, signal?: AbortSignal): Promise<boolean | undefined> {
    try {
      const response = await this.options.http.get(`${this.apiUrl}/services`, {
        headers: { authorization: `Bearer ${this.options.token}` },
        throwHttpErrors: false,
        retry: { limit: 0 },
        responseType: 'text',
        signal,
      });
      if (response.statusCode !== 200) return undefined;
      const list = JSON.parse(response.body) as unknown;
      if (!Array.isArray(list)) return undefined;
      const entry = list.find((d): d is { domain: string; services: Record<string, unknown> } => typeof d === 'object' && d !== null && (d as { domain?: unknown }).domain === domain);
      return entry !== undefined && typeof entry.services === 'object' && entry.services !== null && Object.hasOwn(entry.services, service);
    } catch {
      return undefined;
    }
  }

  private unreachable(err: unknown): HaNotifyError {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'ERR_REQUEST';
    // HttpError's message names the request without secrets; got's own error is never passed on.
    const reason = err instanceof HttpError ? err.message.replace(/^\S+ \S+: /, '') : (err as Error).name === 'AbortError' ? 'aborted' : code;
    const where = this.viaSupervisor ? 'Home Assistant through the Supervisor' : `Home Assistant at ${shownUrl(this.apiUrl)}`;
    return new HaNotifyError(this.options.secrets.scrub(`cannot reach ${where} (${reason})`), code);
  }
}

/** HA's JSON message ({"message": "..."}), quoted; aiohttp's plain "400: Bad Request" adds nothing. */
function safeMessage(body: string): string {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof message === 'string' && message.trim()) return `: ${quote(message.trim(), 120)}`;
  } catch {
    // Not JSON: aiohttp's own text.
  }
  return '';
}
