// What the Victron + Tempo family tells a person, in their language (English, French, German).
// Pure functions: no clock, no locale data from the runtime (an add-on image may lack full ICU),
// so the same notice gives the same words everywhere. Free text that comes from elsewhere (a GX
// error, a source's failure) is put on one line and cut; the notifier scrubs secrets afterwards.
import { clip, oneLine } from '../core/outside-text.js';

export const LANGUAGES = ['en', 'fr', 'de'] as const;
export type Language = (typeof LANGUAGES)[number];

export const COLOURS = ['blue', 'white', 'red'] as const;
export type Colour = (typeof COLOURS)[number];

export type Notice =
  | { kind: 'tomorrow_colour'; date: string; colour: Colour }
  | {
      kind: 'plan_applied';
      date: string;
      colour: Colour;
      minSoc: number;
      batteryLife: boolean;
      chargeSoc?: number;
      /** The schedule as the GX GUI numbers it ("Schedule 1" is D-Bus index 0). */
      schedule?: number;
      dryRun?: boolean;
    }
  | { kind: 'write_failed'; what: string; reason: string }
  | { kind: 'sources_failed'; reasons: string };

export type NoticeKind = Notice['kind'];

export interface NoticeText {
  title: string;
  message: string;
}

/** How much of a free-text field (a reason, a setting's name) a notification shows. */
const FREE_TEXT_CHARS = 300;

interface Words {
  /** The colour as an adjective after "jour" or in "a ... day" (German declines it where used). */
  colour: Record<Colour, string>;
  weekdays: readonly string[];
  months: readonly string[];
  date(day: number, weekday: string, month: string): string;
  percent(value: string): string;
  decimal: string;
}

const WORDS: Record<Language, Words> = {
  en: {
    colour: { blue: 'blue', white: 'white', red: 'red' },
    weekdays: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
    months: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
    date: (day, weekday, month) => `${weekday} ${day} ${month}`,
    percent: (value) => `${value}%`,
    decimal: '.',
  },
  fr: {
    colour: { blue: 'bleu', white: 'blanc', red: 'rouge' },
    weekdays: ['dimanche', 'lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi'],
    months: ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre'],
    // French writes the first of the month as an ordinal: "jeudi 1er janvier".
    date: (day, weekday, month) => `${weekday} ${day === 1 ? '1er' : day} ${month}`,
    percent: (value) => `${value} %`,
    decimal: ',',
  },
  de: {
    colour: { blue: 'blau', white: 'weiß', red: 'rot' },
    weekdays: ['Sonntag', 'Montag', 'Dienstag', 'Mittwoch', 'Donnerstag', 'Freitag', 'Samstag'],
    months: ['Januar', 'Februar', 'März', 'April', 'Mai', 'Juni', 'Juli', 'August', 'September', 'Oktober', 'November', 'Dezember'],
    date: (day, weekday, month) => `${weekday}, ${day}. ${month}`,
    percent: (value) => `${value} %`,
    decimal: ',',
  },
};

/** The colour as a title shows it: BLUE, BLEU, BLAU. */
export function colourName(colour: Colour, language: Language): string {
  return WORDS[language].colour[colour].toUpperCase();
}

/**
 * A calendar date (YYYY-MM-DD) as the language writes it, without the year: "Wednesday 7 January",
 * "mercredi 7 janvier", "Mittwoch, 7. Januar". Anything else is shown as given (cut).
 */
export function formatDate(date: string, language: Language): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (match) {
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    // A calendar date has no time zone: computed at UTC noon it is the same day everywhere.
    const at = new Date(Date.UTC(year, month - 1, day, 12));
    if (at.getUTCFullYear() === year && at.getUTCMonth() === month - 1 && at.getUTCDate() === day) {
      const words = WORDS[language];
      return words.date(day, words.weekdays[at.getUTCDay()]!, words.months[month - 1]!);
    }
  }
  return freeText(date, 40);
}

function number(value: number, language: Language): string {
  const text = Number.isInteger(value) ? String(value) : String(Math.round(value * 10) / 10);
  return text.replace('.', WORDS[language].decimal);
}

function percent(value: number, language: Language): string {
  return WORDS[language].percent(number(value, language));
}

/** Outside text on one line, cut, without a final full stop (the sentence adds its own). */
function freeText(text: string, max = FREE_TEXT_CHARS): string {
  return clip(oneLine(String(text)).trim(), max).replace(/[.\s]+$/, '');
}

/** The title and message of a notice, in natural sentences of the language. */
export function noticeText(notice: Notice, language: Language): NoticeText {
  switch (notice.kind) {
    case 'tomorrow_colour':
      return tomorrowColour(notice, language);
    case 'plan_applied':
      return planApplied(notice, language);
    case 'write_failed':
      return writeFailed(notice, language);
    case 'sources_failed':
      return sourcesFailed(notice, language);
  }
}

function tomorrowColour(notice: Extract<Notice, { kind: 'tomorrow_colour' }>, language: Language): NoticeText {
  const day = formatDate(notice.date, language);
  const name = colourName(notice.colour, language);
  const red = notice.colour === 'red';
  switch (language) {
    case 'en':
      return {
        title: `Tempo tomorrow: ${name}`,
        message: `Tomorrow, ${day}, is a ${WORDS.en.colour[notice.colour]} Tempo day.${red ? ' Peak hours (6:00 to 22:00) are at the red price.' : ''}`,
      };
    case 'fr':
      return {
        title: `Tempo demain : ${name}`,
        message: `Demain, ${day}, est un jour Tempo ${WORDS.fr.colour[notice.colour]}.${red ? ' Les heures pleines (6 h à 22 h) sont au tarif rouge.' : ''}`,
      };
    case 'de': {
      // German declines the adjective after "ein": ein blauer, weißer, roter Tag.
      const adjective = { blue: 'blauer', white: 'weißer', red: 'roter' }[notice.colour];
      return {
        title: `Tempo morgen: ${name}`,
        message: `Morgen, ${day}, ist ein ${adjective} Tempo-Tag.${red ? ' Die Hauptzeit (6 bis 22 Uhr) kostet den roten Tarif.' : ''}`,
      };
    }
  }
}

function planApplied(notice: Extract<Notice, { kind: 'plan_applied' }>, language: Language): NoticeText {
  const day = formatDate(notice.date, language);
  const name = colourName(notice.colour, language);
  const colour = WORDS[language].colour[notice.colour];
  const minSoc = percent(notice.minSoc, language);
  const charge = notice.chargeSoc !== undefined ? percent(notice.chargeSoc, language) : undefined;
  const schedule = notice.schedule !== undefined ? ` ${notice.schedule}` : '';
  switch (language) {
    case 'en': {
      const parts = [`minimum SoC ${minSoc}`, `BatteryLife ${notice.batteryLife ? 'on' : 'off'}`];
      if (charge) parts.push(notice.schedule !== undefined ? `scheduled charge${schedule} to ${charge}` : `charge to ${charge}`);
      return {
        title: `Tempo ${name}: battery plan ${notice.dryRun ? '(dry run)' : 'applied'}`,
        message: `Plan for ${day} (${colour} day): ${parts.join(', ')}.${notice.dryRun ? ' Dry run: nothing was written to the GX.' : ''}`,
      };
    }
    case 'fr': {
      const parts = [`SoC minimum ${minSoc}`, `BatteryLife ${notice.batteryLife ? 'activé' : 'désactivé'}`];
      if (charge) parts.push(notice.schedule !== undefined ? `charge programmée${schedule} jusqu'à ${charge}` : `charge jusqu'à ${charge}`);
      return {
        title: `Tempo ${name} : plan batterie ${notice.dryRun ? '(simulation)' : 'appliqué'}`,
        message: `Plan pour ${day} (jour ${colour}) : ${parts.join(', ')}.${notice.dryRun ? " Simulation : rien n'a été écrit sur le GX." : ''}`,
      };
    }
    case 'de': {
      const parts = [`minimaler SoC ${minSoc}`, `BatteryLife ${notice.batteryLife ? 'an' : 'aus'}`];
      if (charge) parts.push(notice.schedule !== undefined ? `geplante Ladung${schedule} bis ${charge}` : `Ladung bis ${charge}`);
      const adjective = { blue: 'blauer', white: 'weißer', red: 'roter' }[notice.colour];
      return {
        title: `Tempo ${name}: Batterieplan ${notice.dryRun ? '(Probelauf)' : 'angewendet'}`,
        message: `Plan für ${day} (${adjective} Tag): ${parts.join(', ')}.${notice.dryRun ? ' Probelauf: Es wurde nichts auf das GX-Gerät geschrieben.' : ''}`,
      };
    }
  }
}

function writeFailed(notice: Extract<Notice, { kind: 'write_failed' }>, language: Language): NoticeText {
  const what = freeText(notice.what, 120);
  const reason = freeText(notice.reason);
  switch (language) {
    case 'en':
      return {
        title: 'Victron: write failed',
        message: `Writing ${what} to the GX failed: ${reason}. The battery plan may not be in place; please check the GX.`,
      };
    case 'fr':
      return {
        title: "Victron : échec d'écriture",
        message: `L'écriture de ${what} sur le GX a échoué : ${reason}. Le plan batterie n'est peut-être pas en place ; vérifiez le GX.`,
      };
    case 'de':
      return {
        title: 'Victron: Schreiben fehlgeschlagen',
        message: `Das Schreiben von ${what} auf das GX-Gerät ist fehlgeschlagen: ${reason}. Der Batterieplan ist möglicherweise nicht aktiv; bitte das GX-Gerät prüfen.`,
      };
  }
}

function sourcesFailed(notice: Extract<Notice, { kind: 'sources_failed' }>, language: Language): NoticeText {
  const reasons = freeText(notice.reasons);
  switch (language) {
    case 'en':
      return {
        title: "Tempo: tomorrow's colour unknown",
        message: `No Tempo source gave tomorrow's colour (${reasons}). The battery settings stay as they are.`,
      };
    case 'fr':
      return {
        title: 'Tempo : couleur de demain inconnue',
        message: `Aucune source Tempo n'a donné la couleur de demain (${reasons}). Les réglages de la batterie restent inchangés.`,
      };
    case 'de':
      return {
        title: 'Tempo: Farbe für morgen unbekannt',
        message: `Keine Tempo-Quelle hat die Farbe für morgen geliefert (${reasons}). Die Batterieeinstellungen bleiben unverändert.`,
      };
  }
}
