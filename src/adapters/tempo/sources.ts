// One client per Tempo colour source, each through the shared got instance and its base URL from
// the options. Every source answers the same question: the colours of two given dates (today's
// Tempo day and tomorrow's) and, when asked, the days left of each colour in the season. An
// answer that does not have the expected shape is an error naming the source and what was wrong;
// a colour not published yet is simply absent.
import type { Got } from 'got';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import type { Secrets } from '../../core/secrets.js';
import { quote } from '../../core/outside-text.js';
import { countSeason, daysLeft, isDate, nextDate, parisOffsetMs, parisParts, parisTime, seasonOf, seasonStart, type ColourCounts, type TempoColour } from './calendar.js';
import { configuredSources, type SourceName, type TempoOptions } from './options.js';

export interface TempoQuery {
  /** The Tempo day in force (06:00 -> 06:00), YYYY-MM-DD. */
  today: string;
  tomorrow: string;
  wantToday: boolean;
  wantTomorrow: boolean;
  wantDaysLeft: boolean;
  /** The instant of the question (what "today" means to a server that switches at midnight). */
  now: number;
  /** Aborts the requests under way (the adapter is stopping). */
  signal?: AbortSignal;
}

export interface SourceAnswer {
  today?: TempoColour;
  tomorrow?: TempoColour;
  /** Days left of each colour after today (today counted as placed). */
  daysLeft?: ColourCounts;
}

export interface TempoSource {
  readonly name: SourceName;
  ask(query: TempoQuery): Promise<SourceAnswer>;
}

/** What went wrong with one source; the message starts with the source's name. */
export class SourceError extends Error {
  override readonly name = 'SourceError';
  constructor(
    readonly source: SourceName,
    readonly reason: string,
    /** The HTTP status of a refused request. */
    readonly status?: number,
  ) {
    super(`${source}: ${reason}`);
  }
}

export interface SourceDeps {
  http: Got;
  clock: Clock;
  secrets: Secrets;
  /** Called before every HTTP request a source makes (token requests included), for the counts. */
  onRequest(source: SourceName): void;
}

/** The clients of the configured sources, in the configured order. */
export function createSources(options: TempoOptions, deps: SourceDeps): TempoSource[] {
  return configuredSources(options).map((name): TempoSource => {
    switch (name) {
      case 'api_couleur_tempo':
        return new ApiCouleurTempoSource(options.api_couleur_tempo_url, deps);
      case 'rte':
        return new RteSource(options.rte_url, options.rte_client_id ?? '', options.rte_client_secret ?? '', deps);
      case 'edf':
        return new EdfSource(options.edf_commerce_url, options.edf_url, deps);
      case 'ecodevice':
        return new EcoDeviceSource(options.ecodevice_host ?? '', deps);
    }
  });
}

// ---- shared plumbing ----

interface RequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  form?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One counted request whose answer must be JSON. The adapter spaces its polls itself (a retry
 * the client made would be a request the counts and the polling etiquette never saw), so nothing
 * is retried here; a failed source is skipped and asked again at the next poll.
 */
class JsonClient {
  private readonly http: Got;

  constructor(
    private readonly source: SourceName,
    private readonly deps: SourceDeps,
  ) {
    this.http = deps.http.extend({ retry: { limit: 0 }, timeout: { request: 20_000 }, throwHttpErrors: false, responseType: 'text', followRedirect: false });
  }

  async json(url: string, what: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
    this.deps.onRequest(this.source);
    let response;
    try {
      response = await this.http(url, {
        method: init.method ?? 'GET',
        headers: { accept: 'application/json', ...init.headers },
        ...(init.form ? { form: init.form } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (err) {
      // The shared client's HttpError names the request without its query or credentials.
      throw this.error(`${what} failed: ${(err as Error).message}`);
    }
    const text = String(response.body ?? '');
    if (response.statusCode < 200 || response.statusCode > 299) {
      // A refusal (4xx) often says why; a 5xx body is a server's error page.
      const why = response.statusCode < 500 && text ? ` ${quote(text, 120)}` : '';
      throw this.error(`${what} answered HTTP ${response.statusCode}${why}`, response.statusCode);
    }
    try {
      return { status: response.statusCode, body: JSON.parse(text) as unknown };
    } catch {
      throw this.error(`${what} did not answer JSON: ${quote(text, 80)}`);
    }
  }

  /** The value checked against its schema, or an error that says where it differs. */
  parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const issues = result.error.issues.slice(0, 3).map((issue) => `${issue.path.length ? issue.path.join('.') : 'the answer'}: ${issue.message}`);
    throw this.error(`unexpected answer to ${what}: ${issues.join('; ')}${result.error.issues.length > 3 ? ` (and ${result.error.issues.length - 3} more)` : ''}`);
  }

  error(reason: string, status?: number): SourceError {
    return new SourceError(this.source, this.deps.secrets.scrub(reason), status);
  }
}

const isoDate = z.string().refine(isDate, { message: 'expected a date YYYY-MM-DD' });
const count = z.number().int().min(0).max(366);

function base(url: string): string {
  return url.replace(/\/+$/, '');
}

// ---- api-couleur-tempo.fr ----

const API_CODES: Record<number, TempoColour | undefined> = { 0: undefined, 1: 'blue', 2: 'white', 3: 'red' };

const jourTempo = z.object({ dateJour: isoDate, codeJour: z.number().int().min(0).max(3) }).passthrough();
const statistiques = z.object({ joursBleusRestants: count, joursBlancsRestants: count, joursRougesRestants: count }).passthrough();

/**
 * The community API (jbromain/rte-tempo). Its /jourTempo/today and /tomorrow follow the server's
 * calendar date, which changes at midnight while a Tempo day changes at 06:00: a date is asked
 * through today/tomorrow when it is the server's today or tomorrow, else by /jourTempo/{date},
 * and the answer's dateJour must be the date asked. codeJour 0 means not published yet.
 */
export class ApiCouleurTempoSource implements TempoSource {
  readonly name = 'api_couleur_tempo';
  private readonly client: JsonClient;

  constructor(
    private readonly url: string,
    deps: SourceDeps,
  ) {
    this.client = new JsonClient(this.name, deps);
  }

  async ask(q: TempoQuery): Promise<SourceAnswer> {
    const answer: SourceAnswer = {};
    if (q.wantToday) answer.today = await this.colourOf(q.today, q);
    if (q.wantTomorrow) answer.tomorrow = await this.colourOf(q.tomorrow, q);
    if (q.wantDaysLeft) {
      const { body } = await this.client.json(`${base(this.url)}/stats`, '/stats', { signal: q.signal });
      const stats = this.client.parse(statistiques, body, '/stats');
      answer.daysLeft = { blue: stats.joursBleusRestants, white: stats.joursBlancsRestants, red: stats.joursRougesRestants };
    }
    return answer;
  }

  private async colourOf(date: string, q: TempoQuery): Promise<TempoColour | undefined> {
    const serverToday = parisParts(q.now).date;
    const path = date === serverToday ? '/jourTempo/today' : date === nextDate(serverToday) ? '/jourTempo/tomorrow' : `/jourTempo/${date}`;
    const { body } = await this.client.json(`${base(this.url)}${path}`, path, { signal: q.signal });
    const day = this.client.parse(jourTempo, body, path);
    if (day.dateJour !== date) throw this.client.error(`${path} answered for ${day.dateJour}, not ${date}`);
    return API_CODES[day.codeJour];
  }
}

// ---- RTE Tempo Like Supply Contract ----

const RTE_VALUES: Record<string, TempoColour> = { BLUE: 'blue', WHITE: 'white', RED: 'red' };
const rteDateTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$/, 'expected a date-time with its offset');
const rteCalendars = z.object({
  tempo_like_calendars: z.object({
    start_date: rteDateTime,
    end_date: rteDateTime,
    values: z.array(z.object({ start_date: rteDateTime, end_date: rteDateTime, value: z.enum(['BLUE', 'WHITE', 'RED']), updated_date: rteDateTime.optional() }).passthrough()),
  }).passthrough(),
}).passthrough();
/** How the calendar request is named in errors (short: they are shown in an HA state). */
const CALENDARS = 'tempo_like_calendars';
const rteToken = z.object({ access_token: z.string().min(1), token_type: z.string().optional(), expires_in: z.number().positive().optional() }).passthrough();

/** Paris midnight of a date as RTE wants it: 2026-01-15T00:00:00+01:00. */
export function rteInstant(date: string): string {
  const offset = parisOffsetMs(parisTime(date, 0)) / 60_000;
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${date}T00:00:00${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * RTE's official API: an OAuth2 client-credentials token (HTTP Basic client_id:client_secret),
 * reused until shortly before it expires, then the calendar from today (or from the season's
 * start, to count the days placed) to the end of tomorrow. Values come newest first; a day not
 * published yet is absent.
 */
export class RteSource implements TempoSource {
  readonly name = 'rte';
  private readonly client: JsonClient;
  private token?: { value: string; until: number };
  private readonly basic: string;

  constructor(
    private readonly url: string,
    clientId: string,
    clientSecret: string,
    private readonly deps: SourceDeps,
  ) {
    this.client = new JsonClient(this.name, deps);
    this.basic = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
    deps.secrets.add(clientId);
    deps.secrets.add(clientSecret);
    deps.secrets.add(this.basic);
  }

  async ask(q: TempoQuery): Promise<SourceAnswer> {
    const from = q.wantDaysLeft ? seasonStart(seasonOf(q.today)) : q.today;
    const path = '/open_api/tempo_like_supply_contract/v1/tempo_like_calendars';
    const query = new URLSearchParams({ start_date: rteInstant(from), end_date: rteInstant(nextDate(q.tomorrow)) });
    const url = `${base(this.url)}${path}?${query.toString()}`;
    let body: unknown;
    try {
      body = (await this.client.json(url, CALENDARS, { headers: { authorization: `Bearer ${await this.accessToken(q.signal)}` }, signal: q.signal })).body;
    } catch (err) {
      // A token RTE no longer takes (revoked, clock skew): one more try with a fresh one.
      if ((err as SourceError).status !== 401) throw err;
      this.token = undefined;
      body = (await this.client.json(url, CALENDARS, { headers: { authorization: `Bearer ${await this.accessToken(q.signal)}` }, signal: q.signal })).body;
    }
    const values = this.client.parse(rteCalendars, body, CALENDARS).tempo_like_calendars.values;
    const days = values.map((v) => ({ date: v.start_date.slice(0, 10), colour: RTE_VALUES[v.value]! }));
    const colourOf = (date: string) => days.find((d) => d.date === date)?.colour;
    const answer: SourceAnswer = {};
    if (q.wantToday) answer.today = colourOf(q.today);
    if (q.wantTomorrow) answer.tomorrow = colourOf(q.tomorrow);
    if (q.wantDaysLeft) answer.daysLeft = daysLeft(seasonOf(q.today), countSeason(days, q.today));
    return answer;
  }

  private async accessToken(signal?: AbortSignal): Promise<string> {
    const now = this.deps.clock.now();
    if (this.token && now < this.token.until) return this.token.value;
    let body: unknown;
    try {
      body = (await this.client.json(`${base(this.url)}/token/oauth/`, 'the token request', {
        method: 'POST',
        headers: { authorization: `Basic ${this.basic}` },
        form: { grant_type: 'client_credentials' },
        signal,
      })).body;
    } catch (err) {
      const status = (err as SourceError).status;
      if (status === 401 || status === 400) throw this.client.error(`RTE refused the application's credentials (HTTP ${status}); check rte_client_id and rte_client_secret`);
      throw err;
    }
    const token = this.client.parse(rteToken, body, 'the token request');
    this.deps.secrets.add(token.access_token);
    // A minute of margin, so a token never expires between the check and the request.
    const lifetime = Math.max(60, token.expires_in ?? 3600) * 1000;
    this.token = { value: token.access_token, until: now + lifetime - 60_000 };
    return token.access_token;
  }
}

// ---- EDF ----

const EDF_STATUS: Record<string, TempoColour | undefined> = { TEMPO_BLEU: 'blue', TEMPO_BLANC: 'white', TEMPO_ROUGE: 'red', NON_DEFINI: undefined };
const edfStatus = z.enum(['TEMPO_BLEU', 'TEMPO_BLANC', 'TEMPO_ROUGE', 'NON_DEFINI']);
const edfCalendar = z.object({
  content: z.object({
    options: z.array(z.object({ calendrier: z.array(z.object({ dateApplication: z.string().regex(/^\d{4}-\d{2}-\d{2}/, 'expected a date YYYY-MM-DD'), statut: edfStatus }).passthrough()) }).passthrough()).min(1),
  }).passthrough(),
}).passthrough();
const edfStore = z.object({ couleurJourJ: edfStatus, couleurJourJ1: edfStatus }).passthrough();
const edfCounts = z.object({ PARAM_NB_J_BLEU: count, PARAM_NB_J_BLANC: count, PARAM_NB_J_ROUGE: count }).passthrough();

/** 2026-01-05 -> 2026-1-5, as the EDF site writes the bounds. */
function edfBound(date: string): string {
  return date.split('-').map((part, i) => (i === 0 ? part : String(Number(part)))).join('-');
}

/**
 * EDF: the customer site's own calendar endpoint on api-commerce.edf.fr first (with the headers the
 * site sends), then the legacy particulier.edf.fr endpoints the seed used, which may be retired.
 */
export class EdfSource implements TempoSource {
  readonly name = 'edf';
  private readonly client: JsonClient;

  constructor(
    private readonly commerceUrl: string,
    private readonly legacyUrl: string,
    deps: SourceDeps,
  ) {
    this.client = new JsonClient(this.name, deps);
  }

  async ask(q: TempoQuery): Promise<SourceAnswer> {
    try {
      return await this.commerce(q);
    } catch (commerceError) {
      try {
        return await this.legacy(q);
      } catch (legacyError) {
        const reason = (err: unknown) => (err instanceof SourceError ? err.reason : (err as Error).message);
        throw this.client.error(`${reason(commerceError)}; ${reason(legacyError)}`);
      }
    }
  }

  private async commerce(q: TempoQuery): Promise<SourceAnswer> {
    const from = q.wantDaysLeft ? seasonStart(seasonOf(q.today)) : q.today;
    const path = '/commerce/activet/v1/calendrier-jours-effacement';
    const what = 'calendrier-jours-effacement';
    const query = new URLSearchParams({ option: 'TEMPO', dateApplicationBorneInf: edfBound(from), dateApplicationBorneSup: edfBound(q.tomorrow), identifiantConsommateur: 'src' });
    const { body } = await this.client.json(`${base(this.commerceUrl)}${path}?${query.toString()}`, what, {
      headers: { 'application-origine-controlee': 'site_RC', 'situation-usage': 'Jours Effacement', 'content-type': 'application/json' },
      signal: q.signal,
    });
    const calendar = this.client.parse(edfCalendar, body, what).content.options[0]!.calendrier;
    const days = calendar.flatMap((d) => {
      const colour = EDF_STATUS[d.statut];
      return colour ? [{ date: d.dateApplication.slice(0, 10), colour }] : [];
    });
    const colourOf = (date: string) => days.find((d) => d.date === date)?.colour;
    const answer: SourceAnswer = {};
    if (q.wantToday) answer.today = colourOf(q.today);
    if (q.wantTomorrow) answer.tomorrow = colourOf(q.tomorrow);
    if (q.wantDaysLeft) answer.daysLeft = daysLeft(seasonOf(q.today), countSeason(days, q.today));
    return answer;
  }

  private async legacy(q: TempoQuery): Promise<SourceAnswer> {
    const answer: SourceAnswer = {};
    if (q.wantToday || q.wantTomorrow) {
      const path = '/services/rest/referentiel/searchTempoStore';
      const { body } = await this.client.json(`${base(this.legacyUrl)}${path}?dateRelevant=${q.today}`, 'searchTempoStore', { signal: q.signal });
      const store = this.client.parse(edfStore, body, 'searchTempoStore');
      if (q.wantToday) answer.today = EDF_STATUS[store.couleurJourJ];
      if (q.wantTomorrow) answer.tomorrow = EDF_STATUS[store.couleurJourJ1];
    }
    if (q.wantDaysLeft) {
      const path = '/services/rest/referentiel/getNbTempoDays';
      const { body } = await this.client.json(`${base(this.legacyUrl)}${path}?TypeAlerte=TEMPO`, 'getNbTempoDays', { signal: q.signal });
      const counts = this.client.parse(edfCounts, body, 'getNbTempoDays');
      answer.daysLeft = { blue: counts.PARAM_NB_J_BLEU, white: counts.PARAM_NB_J_BLANC, red: counts.PARAM_NB_J_ROUGE };
    }
    return answer;
  }
}

// ---- EcoDevice teleinfo ----

const PTEC = /^H[PC]J([BWR])$/;
const PTEC_COLOURS: Record<string, TempoColour> = { B: 'blue', W: 'white', R: 'red' };
const DEMAIN: Record<string, TempoColour | undefined> = { '----': undefined, BLEU: 'blue', BLAN: 'white', ROUG: 'red' };
const teleinfo = z.object({ T1_PTEC: z.string(), T1_DEMAIN: z.string() }).passthrough();

/**
 * An EcoDevice v1 reading the meter's teleinfo: PTEC is the period and colour in force now,
 * DEMAIN the colour of the next Tempo day. The meter fills DEMAIN only from about 20:00 and
 * never for a blue day; it shows '----' otherwise. '----' is taken as unknown at any hour,
 * although the seed took it as blue: it is also what a meter shows when the signal has not come
 * (or the teleinfo link is down), and a blue taken for a red day costs more than an unknown,
 * which the rules treat with caution. So this source confirms white and red days only.
 */
export class EcoDeviceSource implements TempoSource {
  readonly name = 'ecodevice';
  private readonly client: JsonClient;

  constructor(
    private readonly host: string,
    deps: SourceDeps,
  ) {
    this.client = new JsonClient(this.name, deps);
  }

  async ask(q: TempoQuery): Promise<SourceAnswer> {
    const { body } = await this.client.json(`http://${this.host}/api/xdevices.json?cmd=10`, 'xdevices.json', { signal: q.signal });
    const info = this.client.parse(teleinfo, body, 'xdevices.json');
    const ptec = PTEC.exec(info.T1_PTEC.trim());
    if (!ptec) throw this.client.error(`the meter is not on a Tempo tariff (PTEC ${quote(info.T1_PTEC, 20)})`);
    const demain = info.T1_DEMAIN.trim();
    if (!Object.hasOwn(DEMAIN, demain)) throw this.client.error(`unexpected DEMAIN ${quote(info.T1_DEMAIN, 20)}`);
    const answer: SourceAnswer = {};
    if (q.wantToday) answer.today = PTEC_COLOURS[ptec[1]!];
    if (q.wantTomorrow) answer.tomorrow = DEMAIN[demain];
    return answer;
  }
}
