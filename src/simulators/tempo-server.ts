// Every Tempo colour source on one real HTTP socket: api-couleur-tempo.fr, RTE's OAuth token and
// Tempo Like Supply Contract calendar, EDF's commerce calendar and legacy endpoints, and an
// EcoDevice's teleinfo JSON. The answers have the shapes of the recorded samples
// (shared/fixtures/tempo); the colours come from a settable calendar (blue where none is set), and
// tomorrow's colour appears only at its publication time on the simulated clock (10:30 Paris the
// day before by default; the EcoDevice's DEMAIN from 20:00, and never for a blue day). Each source
// can be taken down (503) or made to answer nonsense, and every request is logged by source.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpSimulator } from './http-simulator.js';
import type { Clock } from '../core/clock.js';
import {
  addDays, countSeason, daysBetween, daysLeft, isDate, nextDate, parisOffsetMs, parisParts, parisTime, periodAt, previousDate, seasonLength, seasonOf, seasonStart,
  tempoDayAt, type TempoColour,
} from '../adapters/tempo/calendar.js';

export type TempoSimSource = 'rte' | 'api_couleur_tempo' | 'edf_commerce' | 'edf_legacy' | 'ecodevice';
/** 'edf' stands for both EDF endpoints. */
export type TempoSimTarget = TempoSimSource | 'edf';
export type BadAnswer = 'shape' | 'not_json';

export interface TempoServerOptions {
  clock: Clock;
  /** date -> colour; a date not listed is blue. */
  calendar?: Record<string, TempoColour>;
  /** When a date's colour appears, as HH:MM Paris on the day before, per source. */
  publishAt?: Partial<Record<TempoSimSource, string>>;
  rte?: { clientId: string; clientSecret: string; tokenLifetimeS?: number };
}

export interface TempoSimRequest {
  source: TempoSimSource | 'unknown';
  method: string;
  path: string;
  query: string;
  at: number;
  status: number;
}

const DEFAULT_PUBLISH: Record<TempoSimSource, string> = { rte: '10:30', api_couleur_tempo: '10:30', edf_commerce: '10:30', edf_legacy: '10:30', ecodevice: '20:00' };
const ALL: TempoSimSource[] = ['rte', 'api_couleur_tempo', 'edf_commerce', 'edf_legacy', 'ecodevice'];
const RTE_PATH = '/open_api/tempo_like_supply_contract/v1/tempo_like_calendars';
const CODES: Record<TempoColour, number> = { blue: 1, white: 2, red: 3 };
const LABELS: Record<TempoColour, string> = { blue: 'Bleu', white: 'Blanc', red: 'Rouge' };
const RTE_VALUES: Record<TempoColour, string> = { blue: 'BLUE', white: 'WHITE', red: 'RED' };
const EDF_STATUS: Record<TempoColour, string> = { blue: 'TEMPO_BLEU', white: 'TEMPO_BLANC', red: 'TEMPO_ROUGE' };
const PTEC: Record<TempoColour, string> = { blue: 'B', white: 'W', red: 'R' };
const DEMAIN: Record<TempoColour, string> = { blue: '----', white: 'BLAN', red: 'ROUG' };
const RTE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/;

export class TempoServer extends HttpSimulator {
  readonly requests: TempoSimRequest[] = [];
  readonly calendar = new Map<string, TempoColour>();
  /** Tokens issued by the RTE token endpoint so far. */
  tokensIssued = 0;
  private readonly down = new Set<TempoSimSource>();
  private readonly bad = new Map<TempoSimSource, BadAnswer>();
  private readonly tokens = new Map<string, number>();
  private readonly overrides = new Map<TempoSimSource, Map<string, TempoColour>>();
  private readonly publishAt: Record<TempoSimSource, string>;

  constructor(readonly options: TempoServerOptions) {
    super();
    for (const [date, colour] of Object.entries(options.calendar ?? {})) this.setColour(date, colour);
    this.publishAt = { ...DEFAULT_PUBLISH, ...options.publishAt };
  }

  /** The adapter's options that point every source here. */
  get urls(): { api_couleur_tempo_url: string; rte_url: string; edf_url: string; edf_commerce_url: string; ecodevice_host: string } {
    const root = `http://127.0.0.1:${this.port}`;
    return { api_couleur_tempo_url: `${root}/api`, rte_url: root, edf_url: root, edf_commerce_url: root, ecodevice_host: `127.0.0.1:${this.port}` };
  }

  /** Sets a date's colour (undefined: back to blue), for every source or, to make them disagree, for one. */
  setColour(date: string, colour: TempoColour | undefined, source?: TempoSimTarget): void {
    if (!isDate(date)) throw new Error(`'${date}' is not a YYYY-MM-DD date`);
    if (source) {
      for (const s of this.expand(source)) {
        const own = this.overrides.get(s) ?? new Map<string, TempoColour>();
        this.overrides.set(s, own);
        if (colour) own.set(date, colour);
        else own.delete(date);
      }
      return;
    }
    if (colour) this.calendar.set(date, colour);
    else this.calendar.delete(date);
  }

  /** When `source` publishes a date's colour, as HH:MM Paris on the day before. */
  setPublishAt(source: TempoSimTarget, hhmm: string): void {
    for (const s of this.expand(source)) this.publishAt[s] = hhmm;
  }

  /** While on, every request to the source answers 503. */
  outage(source: TempoSimTarget, on: boolean): void {
    for (const s of this.expand(source)) {
      if (on) this.down.add(s);
      else this.down.delete(s);
    }
  }

  /** While on, the source answers 200 with a body of the wrong shape (or that is not JSON). */
  badAnswer(source: TempoSimTarget, on: boolean | BadAnswer): void {
    for (const s of this.expand(source)) {
      if (on) this.bad.set(s, on === true ? 'shape' : on);
      else this.bad.delete(s);
    }
  }

  /** Requests that reached a source (optionally: since an index into `requests`). */
  count(source: TempoSimTarget, since = 0): number {
    const wanted = this.expand(source);
    return this.requests.slice(since).filter((r) => wanted.includes(r.source as TempoSimSource)).length;
  }

  /** Every token issued so far stops working (as after an RTE restart). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  private expand(source: TempoSimTarget): TempoSimSource[] {
    return source === 'edf' ? ['edf_commerce', 'edf_legacy'] : [source];
  }

  private now(): number {
    return this.options.clock.now();
  }

  /** The colour of a date as `source` shows it now: undefined until published. */
  private published(source: TempoSimSource, date: string): TempoColour | undefined {
    const [hour, minute] = this.publishAt[source].split(':').map(Number) as [number, number];
    if (this.now() < parisTime(previousDate(date), hour, minute)) return undefined;
    return this.colourOf(date, source);
  }

  private colourOf(date: string, source?: TempoSimSource): TempoColour {
    return (source && this.overrides.get(source)?.get(date)) ?? this.calendar.get(date) ?? 'blue';
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname;
    const source = sourceOf(path);
    const entry: TempoSimRequest = { source, method: req.method ?? 'GET', path, query: url.search, at: this.now(), status: 0 };
    this.requests.push(entry);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        if (source === 'unknown') return send(404, { message: `no route ${req.method} ${path}` });
        if (this.down.has(source)) return send(503, { message: 'Service Unavailable' }, { 'retry-after': '600' });
        const bad = this.bad.get(source);
        if (bad === 'not_json') return send(200, '<html><body>Maintenance</body></html>', { 'content-type': 'text/html' });
        switch (source) {
          case 'api_couleur_tempo':
            return this.apiCouleurTempo(path.slice('/api'.length), bad, send);
          case 'rte':
            return this.rte(req, url, Buffer.concat(chunks).toString(), bad, send);
          case 'edf_commerce':
            return this.edfCommerce(req, url, bad, send);
          case 'edf_legacy':
            return this.edfLegacy(url, bad, send);
          case 'ecodevice':
            return this.ecodevice(url, bad, send);
        }
      } catch (err) {
        send(500, { message: (err as Error).message });
      }
    });
  }

  // ---- api-couleur-tempo.fr ----

  private apiCouleurTempo(path: string, bad: BadAnswer | undefined, send: Send): void {
    // The server's "today" is its calendar date: it changes at midnight, not at 06:00.
    const today = parisParts(this.now()).date;
    if (path === '/stats') {
      if (bad) return send(200, { periode: seasonOf(today), joursBleusRestants: 'beaucoup' });
      const season = seasonOf(today);
      const counts = countSeason(this.knownDays(seasonStart(season), today, 'api_couleur_tempo'), today);
      const left = daysLeft(season, counts);
      return send(200, {
        periode: season, bissextile: seasonLength(season) === 366, dernierJourInclus: today,
        joursBleusConsommes: counts.blue, joursBlancsConsommes: counts.white, joursRougesConsommes: counts.red,
        joursBleusRestants: left.blue, joursBlancsRestants: left.white, joursRougesRestants: left.red,
      });
    }
    const m = /^\/jourTempo\/(today|tomorrow|yesterday|\d{4}-\d{2}-\d{2})$/.exec(path);
    if (!m) return send(404, { title: 'An error occurred', detail: 'Not Found', status: 404 });
    const which = m[1]!;
    const date = which === 'today' ? today : which === 'tomorrow' ? nextDate(today) : which === 'yesterday' ? previousDate(today) : which;
    if (!isDate(date)) return send(404, { title: 'An error occurred', detail: 'Not Found', status: 404 });
    if (bad) return send(200, { dateJour: date, codeJour: 7, libCouleur: 'Violet' });
    const colour = this.published('api_couleur_tempo', date);
    send(200, { dateJour: date, codeJour: colour ? CODES[colour] : 0, periode: seasonOf(date), libCouleur: colour ? LABELS[colour] : 'Inconnu' });
  }

  // ---- RTE ----

  private rte(req: IncomingMessage, url: URL, body: string, bad: BadAnswer | undefined, send: Send): void {
    const config = this.options.rte;
    if (url.pathname === '/token/oauth/' || url.pathname === '/token/oauth') {
      if (req.method !== 'POST') return send(405, { error: 'invalid_request', error_description: 'POST only' });
      const expected = config ? `Basic ${Buffer.from(`${config.clientId}:${config.clientSecret}`).toString('base64')}` : undefined;
      if (!expected || req.headers.authorization !== expected) return send(401, { error: 'invalid_client', error_description: 'Bad client credentials' });
      const grant = new URLSearchParams(body).get('grant_type');
      if (grant !== null && grant !== 'client_credentials') return send(400, { error: 'unsupported_grant_type' });
      const lifetime = config?.tokenLifetimeS ?? 7200;
      const token = `rte-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
      this.tokens.set(token, this.now() + lifetime * 1000);
      this.tokensIssued++;
      return send(200, { access_token: token, token_type: 'Bearer', expires_in: lifetime });
    }
    if (url.pathname !== RTE_PATH || req.method !== 'GET') return send(404, { error: 'not_found' });
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const until = token ? this.tokens.get(token) : undefined;
    if (until === undefined || until <= this.now()) return send(401, { error: 'invalid_token', error_description: 'Invalid or expired token' });
    const start = url.searchParams.get('start_date');
    const end = url.searchParams.get('end_date');
    const tempoToday = tempoDayAt(this.now());
    let from: string;
    let to: string; // exclusive
    if (start === null && end === null) {
      from = tempoToday;
      to = addDays(tempoToday, 2);
    } else {
      if (start === null || end === null) return send(400, rteError('TMPLIKSUPCON_TMPLIKCAL_F02', 'One of the parameters start_date and end_date is missing'));
      if (!RTE_TIME.test(start) || !RTE_TIME.test(end)) return send(400, rteError('TMPLIKSUPCON_TMPLIKCAL_F03', 'The dates must be in the format YYYY-MM-DDThh:mm:ss±hh:mm'));
      if (start.slice(19) !== rteOffset(start.slice(0, 10)) || end.slice(19) !== rteOffset(end.slice(0, 10))) {
        return send(400, rteError('TMPLIKSUPCON_TMPLIKCAL_F03', 'The offset does not match the Europe/Paris time of the date'));
      }
      from = start.slice(0, 10);
      to = end.slice(0, 10);
      if (to <= from) return send(400, rteError('TMPLIKSUPCON_TMPLIKCAL_F04', 'end_date must be after start_date'));
      if (daysBetween(from, to) > 366) return send(400, rteError('TMPLIKSUPCON_TMPLIKCAL_F05', 'The period must not exceed 366 days'));
    }
    if (bad) return send(200, { tempo_like_calendars: { start_date: `${from}T00:00:00`, values: [{ date: from, couleur: 'BLEU' }] } });
    const values: unknown[] = [];
    for (let date = from; date < to; date = nextDate(date)) {
      const colour = this.published('rte', date);
      if (!colour) continue;
      const [hour, minute] = this.publishAt.rte.split(':').map(Number) as [number, number];
      values.unshift({
        start_date: rteInstant(date),
        end_date: rteInstant(nextDate(date)),
        value: RTE_VALUES[colour],
        updated_date: rteInstant(previousDate(date), hour, minute),
      });
    }
    send(200, { tempo_like_calendars: { start_date: rteInstant(from), end_date: rteInstant(to), values } });
  }

  // ---- EDF ----

  private edfCommerce(req: IncomingMessage, url: URL, bad: BadAnswer | undefined, send: Send): void {
    if (url.pathname !== '/commerce/activet/v1/calendrier-jours-effacement') return send(404, { errors: [{ code: 'NOT_FOUND' }] });
    if (req.headers['application-origine-controlee'] !== 'site_RC' || !req.headers['situation-usage']) {
      return send(403, { errors: [{ code: 'ACCES_REFUSE', libelle: 'Accès refusé' }], content: null });
    }
    const p = url.searchParams;
    const from = edfDate(p.get('dateApplicationBorneInf'));
    const to = edfDate(p.get('dateApplicationBorneSup'));
    if (p.get('option') !== 'TEMPO' || !from || !to || to < from || daysBetween(from, to) > 400) {
      return send(400, { errors: [{ code: 'PARAMETRES_INVALIDES', libelle: 'Paramètres invalides' }], content: null });
    }
    if (bad) return send(200, { errors: [], content: { options: [] } });
    const calendrier: unknown[] = [];
    for (let date = from; date <= to; date = nextDate(date)) {
      const colour = this.published('edf_commerce', date);
      calendrier.push({ dateApplication: date, statut: colour ? EDF_STATUS[colour] : 'NON_DEFINI' });
    }
    send(200, { errors: [], content: { dateApplicationBorneInf: from, dateApplicationBorneSup: to, options: [{ option: 'TEMPO', calendrier }] } });
  }

  private edfLegacy(url: URL, bad: BadAnswer | undefined, send: Send): void {
    if (url.pathname === '/services/rest/referentiel/searchTempoStore') {
      const date = url.searchParams.get('dateRelevant') ?? '';
      if (!isDate(date)) return send(400, { message: 'dateRelevant invalide' });
      if (bad) return send(200, { couleurJourJ: 'TEMPO_VIOLET' });
      const status = (d: string) => {
        const colour = this.published('edf_legacy', d);
        return colour ? EDF_STATUS[colour] : 'NON_DEFINI';
      };
      return send(200, { couleurJourJ: status(date), couleurJourJ1: status(nextDate(date)) });
    }
    if (url.pathname === '/services/rest/referentiel/getNbTempoDays') {
      if (bad) return send(200, { PARAM_NB_J_BLEU: -1 });
      const today = tempoDayAt(this.now());
      const season = seasonOf(today);
      const left = daysLeft(season, countSeason(this.knownDays(seasonStart(season), today, 'edf_legacy'), today));
      return send(200, { PARAM_NB_J_BLEU: left.blue, PARAM_NB_J_BLANC: left.white, PARAM_NB_J_ROUGE: left.red });
    }
    send(404, { message: 'not found' });
  }

  // ---- EcoDevice ----

  private ecodevice(url: URL, bad: BadAnswer | undefined, send: Send): void {
    if (url.searchParams.get('cmd') !== '10') return send(200, { product: 'Eco-devices' });
    const now = this.now();
    const today = tempoDayAt(now);
    if (bad) return send(200, { product: 'Eco-devices', T1_PTEC: 'TH..', T1_DEMAIN: '????' });
    const tomorrow = this.published('ecodevice', nextDate(today));
    send(200, {
      product: 'Eco-devices',
      T1_PTEC: `${periodAt(now)}J${PTEC[this.colourOf(today, 'ecodevice')]}`,
      T1_PAPP: 1250,
      T1_IINST: 5,
      T1_ADPS: 0,
      // Filled only from the publication hour (about 20:00), and never for a blue day.
      T1_DEMAIN: tomorrow ? DEMAIN[tomorrow] : '----',
      T1_BBRHCJB: 1203344, T1_BBRHPJB: 2045567, T1_BBRHCJW: 301122, T1_BBRHPJW: 498877, T1_BBRHCJR: 90211, T1_BBRHPJR: 120045,
    });
  }

  private knownDays(from: string, to: string, source: TempoSimSource): Array<{ date: string; colour: TempoColour }> {
    const days: Array<{ date: string; colour: TempoColour }> = [];
    for (let date = from; date <= to; date = nextDate(date)) days.push({ date, colour: this.colourOf(date, source) });
    return days;
  }
}

type Send = (status: number, body: unknown, headers?: Record<string, string>) => void;

function sourceOf(path: string): TempoSimSource | 'unknown' {
  if (path === '/api/xdevices.json') return 'ecodevice';
  if (path.startsWith('/api/')) return 'api_couleur_tempo';
  if (path.startsWith('/token/oauth') || path.startsWith('/open_api/')) return 'rte';
  if (path.startsWith('/commerce/')) return 'edf_commerce';
  if (path.startsWith('/services/rest/')) return 'edf_legacy';
  return 'unknown';
}

function rteError(code: string, description: string): unknown {
  return { error: code, error_description: description };
}

function rteOffset(date: string): string {
  const minutes = parisOffsetMs(parisTime(date, 0)) / 60_000;
  return `+${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

function rteInstant(date: string, hour = 0, minute = 0): string {
  const time = `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00`;
  const minutes = parisOffsetMs(parisTime(date, hour, minute)) / 60_000;
  return `${date}T${time}+${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The EDF site writes 2026-1-5; accept that and the padded form. */
function edfDate(text: string | null): string | undefined {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text ?? '');
  if (!m) return undefined;
  const date = `${m[1]}-${m[2]!.padStart(2, '0')}-${m[3]!.padStart(2, '0')}`;
  return isDate(date) ? date : undefined;
}

export { ALL as TEMPO_SIM_SOURCES };
