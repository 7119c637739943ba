// When to ask the Tempo sources next: the polling etiquette of hekmon/rtetempo (whose users were
// banned for polling more often) on the Paris clock. Pure, so it is tested without sockets.
//
// - Today's colour unknown: ask now (it was tomorrow's yesterday, so this is rare).
// - Tomorrow's colour unknown: from 10:30 (RTE's binding publication) every 30 min until known.
// - Known before the re-check time (11:00 + up to 15 min, so installations do not all come at
//   once): ask once more then, as RTE may still change it until about 11:00.
// - Then nothing until the Tempo day changes at 06:00.
// - A round where every source asked failed: again after 10 min, never sooner.
import { nextDate, parisTime, tempoDayStart } from './calendar.js';

export const RETRY_UNKNOWN_MS = 30 * 60_000;
export const RETRY_ERROR_MS = 10 * 60_000;
/** RTE publishes tomorrow's colour at 10:30 (an informative signal may come from 08:00). */
export const PUBLICATION = { hour: 10, minute: 30 } as const;
export const RECHECK = { hour: 11, minute: 0, spreadMs: 15 * 60_000 } as const;
/** Every source failed and tomorrow is still unknown at this hour: the user is told. */
export const ALERT_HOUR = 12;
/** An EcoDevice's DEMAIN is filled from about 20:00; before that it is not asked. */
export const ECODEVICE_FROM_HOUR = 20;

export interface PollState {
  /** The Tempo day in force now. */
  today: string;
  todayKnown: boolean;
  tomorrowKnown: boolean;
  /** When tomorrow's colour was first learned. */
  tomorrowKnownAt?: number;
  /** Tomorrow's colour was asked again after it became known. */
  recheckDone: boolean;
  /** The re-check instant of this Tempo day (11:00 plus this installation's spread). */
  recheckAt: number;
  /** The last round: when it started and whether every source asked failed. */
  lastRound?: { at: number; failed: boolean };
}

/** Whether tomorrow's colour is to be asked again now. */
export function recheckDue(now: number, s: PollState): boolean {
  return s.tomorrowKnown && !s.recheckDone && (s.tomorrowKnownAt ?? 0) < s.recheckAt && now >= s.recheckAt;
}

/** Rounds never follow each other closer than this, whatever the state says. */
export const MIN_GAP_MS = 60_000;

/** The instant of the next round (now or later). */
export function nextPollAt(now: number, s: PollState): number {
  return Math.max(wanted(now, s), s.lastRound ? s.lastRound.at + MIN_GAP_MS : now);
}

function wanted(now: number, s: PollState): number {
  const dayEnd = tempoDayStart(nextDate(s.today));
  const last = s.lastRound;
  const afterError = last?.failed ? last.at + RETRY_ERROR_MS : Number.NEGATIVE_INFINITY;
  if (!s.todayKnown) return Math.max(now, last ? last.at + (last.failed ? RETRY_ERROR_MS : RETRY_UNKNOWN_MS) : now);
  if (!s.tomorrowKnown) {
    const publication = parisTime(s.today, PUBLICATION.hour, PUBLICATION.minute);
    // The 30-minute rhythm counts from rounds after the publication time, so the first is at 10:30.
    const afterUnknown = last && last.at >= publication && !last.failed ? last.at + RETRY_UNKNOWN_MS : Number.NEGATIVE_INFINITY;
    return Math.min(dayEnd, Math.max(now, publication, afterUnknown, afterError));
  }
  if (!s.recheckDone && (s.tomorrowKnownAt ?? 0) < s.recheckAt) return Math.min(dayEnd, Math.max(now, s.recheckAt, afterError));
  return Math.max(now, dayEnd);
}
