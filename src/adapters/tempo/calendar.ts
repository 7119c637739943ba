// The Tempo calendar, all in Europe/Paris time (through Intl, so DST follows the platform's time
// zone data): the Tempo day in force at an instant (06:00 -> 06:00), HP/HC and the next boundary,
// the season (1 Sept -> 31 Aug), the quotas of each colour, and the rules a published colour must
// follow. Pure functions; dates are 'YYYY-MM-DD' strings naming a calendar day in Paris.

export type TempoColour = 'blue' | 'white' | 'red';
export const COLOURS: readonly TempoColour[] = ['blue', 'white', 'red'];

export type Period = 'HP' | 'HC';
/** A Tempo day starts at 06:00; HC runs 22:00 -> 06:00. */
export const DAY_START_HOUR = 6;
export const OFF_PEAK_START_HOUR = 22;

export const RED_DAYS = 22;
export const WHITE_DAYS = 43;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

const formatter = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/Paris',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

export interface ParisParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** The calendar date in Paris, YYYY-MM-DD. */
  date: string;
}

/** Wall-clock time in Paris at an instant. */
export function parisParts(ms: number): ParisParts {
  const values: Record<string, number> = {};
  for (const part of formatter.formatToParts(ms)) if (part.type !== 'literal') values[part.type] = Number(part.value);
  const year = values.year!;
  const month = values.month!;
  const day = values.day!;
  return { year, month, day, hour: values.hour!, minute: values.minute!, second: values.second!, date: formatDate(year, month, day) };
}

/** How far Paris is ahead of UTC at an instant, in ms (3_600_000 in winter, 7_200_000 in summer). */
export function parisOffsetMs(ms: number): number {
  const p = parisParts(ms);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant of a wall-clock time in Paris on a date. Two passes settle the offset on either
 * side of a DST change; the times we use (06:00, 10:30, 11:00, 20:00, 22:00) never fall in the
 * 02:00-03:00 gap or overlap.
 */
export function parisTime(date: string, hour: number, minute = 0): number {
  const { year, month, day } = splitDate(date);
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  const first = wall - parisOffsetMs(wall);
  return wall - parisOffsetMs(first);
}

/** The date of the Tempo day in force at an instant: before 06:00 it is still the previous date's day. */
export function tempoDayAt(ms: number): string {
  const p = parisParts(ms);
  return p.hour < DAY_START_HOUR ? previousDate(p.date) : p.date;
}

/** The instant a Tempo day starts (06:00 Paris on its date). */
export function tempoDayStart(date: string): number {
  return parisTime(date, DAY_START_HOUR);
}

export function periodAt(ms: number): Period {
  const hour = parisParts(ms).hour;
  return hour >= DAY_START_HOUR && hour < OFF_PEAK_START_HOUR ? 'HP' : 'HC';
}

/** The next 06:00 or 22:00 in Paris strictly after the instant. */
export function nextBoundary(ms: number): number {
  const date = parisParts(ms).date;
  const candidates = [parisTime(date, DAY_START_HOUR), parisTime(date, OFF_PEAK_START_HOUR), parisTime(nextDate(date), DAY_START_HOUR)];
  return candidates.find((at) => at > ms)!;
}

export function addDays(date: string, days: number): string {
  const { year, month, day } = splitDate(date);
  const d = new Date(Date.UTC(year, month - 1, day) + days * DAY_MS);
  return formatDate(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
}

export const nextDate = (date: string): string => addDays(date, 1);
export const previousDate = (date: string): string => addDays(date, -1);

/** 0 = Sunday ... 6 = Saturday. */
export function weekday(date: string): number {
  const { year, month, day } = splitDate(date);
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

export function isDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  const a = splitDate(from);
  const b = splitDate(to);
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY_MS);
}

// ---- season ----

/** The Tempo season a date belongs to, "2025-2026" (1 Sept 2025 -> 31 Aug 2026). */
export function seasonOf(date: string): string {
  const { year, month } = splitDate(date);
  const first = month >= 9 ? year : year - 1;
  return `${first}-${first + 1}`;
}

export function seasonStart(season: string): string {
  return `${seasonFirstYear(season)}-09-01`;
}

export function seasonEnd(season: string): string {
  return `${seasonFirstYear(season) + 1}-08-31`;
}

/** 366 when the season holds a 29 February (so one more blue day), else 365. */
export function seasonLength(season: string): number {
  const first = seasonFirstYear(season);
  return daysBetween(`${first}-09-01`, `${first + 1}-09-01`);
}

export type ColourCounts = Record<TempoColour, number>;

/** How many days of each colour a season has: 22 red, 43 white, the rest blue (300, or 301 in a leap season). */
export function seasonQuota(season: string): ColourCounts {
  return { blue: seasonLength(season) - RED_DAYS - WHITE_DAYS, white: WHITE_DAYS, red: RED_DAYS };
}

/** Days left of each colour once `counted` of them are placed in the season (never below 0). */
export function daysLeft(season: string, counted: Partial<ColourCounts>): ColourCounts {
  const quota = seasonQuota(season);
  const left = (colour: TempoColour) => Math.max(0, quota[colour] - (counted[colour] ?? 0));
  return { blue: left('blue'), white: left('white'), red: left('red') };
}

/**
 * Counts of each colour placed in `date`'s season up to and including `date` (the convention of
 * api-couleur-tempo's /stats: today is counted from 00:00, tomorrow never).
 */
export function countSeason(days: Iterable<{ date: string; colour: TempoColour }>, date: string): ColourCounts {
  const season = seasonOf(date);
  const start = seasonStart(season);
  const counts: ColourCounts = { blue: 0, white: 0, red: 0 };
  for (const day of days) if (day.date >= start && day.date <= date) counts[day.colour]++;
  return counts;
}

// ---- rules ----

/** Easter Sunday of a year (the anonymous Gregorian algorithm, Meeus/Jones/Butcher). */
export function easterSunday(year: number): string {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return formatDate(year, month, day);
}

const FIXED_HOLIDAYS: Record<string, string> = {
  '01-01': "New Year's Day",
  '05-01': 'Labour Day',
  '05-08': 'Victory in Europe Day',
  '07-14': 'Bastille Day',
  '08-15': 'Assumption',
  '11-01': "All Saints' Day",
  '11-11': 'Armistice Day',
  '12-25': 'Christmas Day',
};

/** The name of the French (metropolitan) public holiday on a date, if it is one. */
export function publicHoliday(date: string): string | undefined {
  const fixed = FIXED_HOLIDAYS[date.slice(5)];
  if (fixed) return fixed;
  const easter = easterSunday(splitDate(date).year);
  const after = daysBetween(easter, date);
  if (after === 1) return 'Easter Monday';
  if (after === 39) return 'Ascension Day';
  if (after === 50) return 'Whit Monday';
  return undefined;
}

/**
 * Why a colour cannot be right for a date, or undefined when the calendar allows it:
 * - Sunday is always blue (no white or red day on a Sunday);
 * - red only on weekdays, from 1 November to 31 March;
 * - red never on a public holiday. This last rule comes from community code (rjullien/rtetempo
 *   tempo_rules.py), not from an RTE or EDF text, so it is the least certain: RTE has not placed a
 *   red day on a holiday in the seasons we know of, but a source that does would be refused here.
 * A flagged colour points at a source that shifted its dates or mislabelled a colour.
 */
export function calendarProblem(date: string, colour: TempoColour): string | undefined {
  if (colour === 'blue') return undefined;
  const day = weekday(date);
  if (day === 0) return `${colour} on a Sunday: Sunday is always blue`;
  if (colour === 'white') return undefined;
  if (day === 6) return 'red on a Saturday: red days fall on weekdays only';
  const month = splitDate(date).month;
  if (month > 3 && month < 11) return 'red outside 1 November-31 March';
  const holiday = publicHoliday(date);
  if (holiday) return `red on a public holiday (${holiday}): red days are not placed on holidays`;
  return undefined;
}

// ---- helpers ----

function splitDate(date: string): { year: number; month: number; day: number } {
  const m = DATE.exec(date);
  if (!m) throw new Error(`'${date}' is not a YYYY-MM-DD date`);
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

function seasonFirstYear(season: string): number {
  const m = /^(\d{4})-(\d{4})$/.exec(season);
  if (!m || Number(m[2]) !== Number(m[1]) + 1) throw new Error(`'${season}' is not a Tempo season like 2025-2026`);
  return Number(m[1]);
}

function formatDate(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}
