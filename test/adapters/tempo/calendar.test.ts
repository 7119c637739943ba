// The Tempo calendar in Paris time: the 06:00 day change and the 22:00 period change on ordinary
// and DST days, seasons and quotas, and each rule a published colour must follow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  calendarProblem, countSeason, daysLeft, easterSunday, nextBoundary, nextDate, parisParts, parisTime, periodAt, previousDate, publicHoliday, seasonLength, seasonOf,
  seasonQuota, tempoDayAt, weekday,
} from '../../../src/adapters/tempo/calendar.js';
import { nextPollAt, recheckDue, type PollState } from '../../../src/adapters/tempo/schedule.js';

const utc = (iso: string) => Date.parse(iso);

test('Paris wall-clock time and offsets follow DST', () => {
  assert.equal(parisTime('2026-01-15', 6), utc('2026-01-15T05:00:00Z'), 'winter: UTC+1');
  assert.equal(parisTime('2026-07-15', 6), utc('2026-07-15T04:00:00Z'), 'summer: UTC+2');
  // The DST days themselves: 06:00 is after the 02:00/03:00 change.
  assert.equal(parisTime('2026-03-29', 6), utc('2026-03-29T04:00:00Z'));
  assert.equal(parisTime('2026-10-25', 6), utc('2026-10-25T05:00:00Z'));
  assert.equal(parisTime('2026-03-29', 0), utc('2026-03-28T23:00:00Z'), 'midnight before the spring change is still UTC+1');
  assert.equal(parisTime('2026-10-25', 0), utc('2026-10-24T22:00:00Z'), 'midnight before the autumn change is still UTC+2');
  const p = parisParts(utc('2026-03-29T01:30:00Z'));
  assert.deepEqual([p.date, p.hour, p.minute], ['2026-03-29', 3, 30], '01:30 UTC on the spring day is 03:30 in Paris');
});

test('the Tempo day changes at 06:00, also on DST days', () => {
  for (const date of ['2026-01-15', '2026-03-29', '2026-10-25', '2026-07-01']) {
    const six = parisTime(date, 6);
    assert.equal(tempoDayAt(six - 60_000), previousDate(date), `${date} 05:59 is still the previous day`);
    assert.equal(tempoDayAt(six - 1), previousDate(date), `${date} 05:59:59.999`);
    assert.equal(tempoDayAt(six), date, `${date} 06:00 is the new day`);
    assert.equal(tempoDayAt(parisTime(date, 23, 59)), date);
    assert.equal(tempoDayAt(parisTime(nextDate(date), 0, 30)), date, 'after midnight it is still the same Tempo day');
  }
  assert.equal(tempoDayAt(parisTime('2026-01-01', 3)), '2025-12-31', 'across a year');
});

test('HP from 06:00 to 22:00, HC otherwise; the next boundary is DST-correct', () => {
  for (const date of ['2026-01-15', '2026-03-29', '2026-10-25']) {
    assert.equal(periodAt(parisTime(date, 6) - 60_000), 'HC', `${date} 05:59`);
    assert.equal(periodAt(parisTime(date, 6)), 'HP', `${date} 06:00`);
    assert.equal(periodAt(parisTime(date, 21, 59)), 'HP', `${date} 21:59`);
    assert.equal(periodAt(parisTime(date, 22)), 'HC', `${date} 22:00`);
    assert.equal(nextBoundary(parisTime(date, 6) - 60_000), parisTime(date, 6));
    assert.equal(nextBoundary(parisTime(date, 6)), parisTime(date, 22), 'strictly after');
    assert.equal(nextBoundary(parisTime(date, 22)), parisTime(nextDate(date), 6));
  }
  // The night of the spring change is an hour shorter, the autumn one an hour longer.
  assert.equal(nextBoundary(parisTime('2026-03-28', 22)) - parisTime('2026-03-28', 22), 7 * 3_600_000);
  assert.equal(nextBoundary(parisTime('2026-10-24', 22)) - parisTime('2026-10-24', 22), 9 * 3_600_000);
  assert.equal(nextBoundary(parisTime('2026-10-25', 1, 30)), parisTime('2026-10-25', 6));
});

test('seasons run 1 September to 31 August; a leap season has one more blue day', () => {
  assert.equal(seasonOf('2025-08-31'), '2024-2025');
  assert.equal(seasonOf('2025-09-01'), '2025-2026');
  assert.equal(seasonOf('2026-01-15'), '2025-2026');
  assert.equal(seasonLength('2025-2026'), 365);
  assert.equal(seasonLength('2027-2028'), 366, 'holds 29 February 2028');
  assert.equal(seasonLength('2023-2024'), 366);
  assert.deepEqual(seasonQuota('2025-2026'), { blue: 300, white: 43, red: 22 });
  assert.deepEqual(seasonQuota('2027-2028'), { blue: 301, white: 43, red: 22 });
  assert.deepEqual(daysLeft('2025-2026', { blue: 100, white: 10, red: 3 }), { blue: 200, white: 33, red: 19 });
  assert.deepEqual(daysLeft('2025-2026', { red: 30 }), { blue: 300, white: 43, red: 0 }, 'never below zero');
  const days = [
    { date: '2025-08-31', colour: 'red' as const }, // the previous season
    { date: '2025-09-01', colour: 'blue' as const },
    { date: '2026-01-15', colour: 'white' as const },
    { date: '2026-01-16', colour: 'red' as const }, // tomorrow: not counted yet
  ];
  assert.deepEqual(countSeason(days, '2026-01-15'), { blue: 1, white: 1, red: 0 });
});

test('Easter and the public holidays', () => {
  assert.equal(easterSunday(2024), '2024-03-31');
  assert.equal(easterSunday(2025), '2025-04-20');
  assert.equal(easterSunday(2026), '2026-04-05');
  assert.equal(easterSunday(2027), '2027-03-28');
  assert.equal(publicHoliday('2027-03-29'), 'Easter Monday');
  assert.equal(publicHoliday('2026-05-14'), 'Ascension Day');
  assert.equal(publicHoliday('2026-05-25'), 'Whit Monday');
  assert.equal(publicHoliday('2026-11-11'), 'Armistice Day');
  assert.equal(publicHoliday('2026-11-12'), undefined);
  assert.equal(weekday('2026-01-18'), 0, 'a Sunday');
});

test('calendar rules: what a published colour cannot be, and why', () => {
  const ok: Array<[string, 'blue' | 'white' | 'red']> = [
    ['2026-01-13', 'red'], // a Tuesday in January
    ['2026-03-31', 'red'], // the last day of the red period
    ['2025-11-03', 'red'], // a Monday in November
    ['2026-01-17', 'white'], // white on a Saturday is allowed
    ['2026-07-15', 'white'], // white all year
    ['2026-01-18', 'blue'], // blue is always allowed
    ['2026-12-25', 'blue'],
  ];
  for (const [date, colour] of ok) assert.equal(calendarProblem(date, colour), undefined, `${colour} on ${date}`);
  const wrong: Array<[string, 'white' | 'red', RegExp]> = [
    ['2026-01-18', 'red', /Sunday is always blue/],
    ['2026-01-18', 'white', /Sunday is always blue/],
    ['2026-01-17', 'red', /Saturday/],
    ['2026-04-01', 'red', /outside 1 November-31 March/],
    ['2025-10-31', 'red', /outside 1 November-31 March/],
    ['2025-12-25', 'red', /public holiday \(Christmas Day\)/],
    ['2026-01-01', 'red', /public holiday \(New Year's Day\)/],
    ['2027-03-29', 'red', /public holiday \(Easter Monday\)/],
    ['2025-11-11', 'red', /public holiday \(Armistice Day\)/],
  ];
  for (const [date, colour, why] of wrong) assert.match(calendarProblem(date, colour) ?? 'allowed', why, `${colour} on ${date}`);
});

test('polling etiquette: when the sources are asked next', () => {
  const day = '2026-01-12';
  const base: PollState = { today: day, todayKnown: true, tomorrowKnown: false, recheckDone: false, recheckAt: parisTime(day, 11, 5) };
  const at = (h: number, m = 0) => parisTime(day, h, m);
  assert.equal(nextPollAt(at(7), base), at(10, 30), 'tomorrow unknown: first at 10:30');
  assert.equal(nextPollAt(at(10, 30), { ...base, lastRound: { at: at(10, 30), failed: false } }), at(11), 'then every 30 min');
  assert.equal(nextPollAt(at(10, 30), { ...base, lastRound: { at: at(10, 30), failed: true } }), at(10, 40), 'after an error: 10 min');
  assert.equal(nextPollAt(at(10, 31), { ...base, lastRound: { at: at(10, 25), failed: true } }), at(10, 35), 'never sooner than 10 min after an error');
  assert.equal(nextPollAt(at(10, 31), { ...base, lastRound: { at: at(10, 25), failed: true } }) >= at(10, 35), true);
  assert.equal(nextPollAt(at(7), { ...base, lastRound: { at: at(7), failed: false } }), at(10, 30), 'a morning round does not shift the 10:30 start');
  assert.equal(nextPollAt(at(5, 30) + 86_400_000, { ...base, lastRound: { at: at(5, 40) + 86_400_000, failed: false } }), parisTime(nextDate(day), 6), 'at the latest when the day changes');
  const known = { ...base, tomorrowKnown: true, tomorrowKnownAt: at(10, 30) };
  assert.equal(nextPollAt(at(10, 30), known), at(11, 5), 'known before the re-check: asked again then');
  assert.equal(recheckDue(at(11, 4), known), false);
  assert.equal(recheckDue(at(11, 5), known), true);
  assert.equal(nextPollAt(at(11, 6), { ...known, recheckDone: true }), parisTime(nextDate(day), 6), 'then nothing until 06:00');
  assert.equal(nextPollAt(at(12), { ...known, tomorrowKnownAt: at(11, 30) }), parisTime(nextDate(day), 6), 'known after the re-check time: no re-check');
  assert.equal(nextPollAt(at(7), { ...base, todayKnown: false }), at(7), "today unknown: now");
  assert.equal(nextPollAt(at(7), { ...base, todayKnown: false, lastRound: { at: at(6, 55), failed: true } }), at(7, 5));
  // Whatever the state, never two rounds within a minute.
  assert.equal(nextPollAt(at(11, 5), { ...known, lastRound: { at: at(11, 5), failed: false } }), at(11, 6));
});
