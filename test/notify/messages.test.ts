// What a person reads on their phone, per notice and language; and the options that choose
// where it goes, with errors that never repeat a key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDate, noticeText, LANGUAGES, type Notice } from '../../src/notify/messages.js';
import { notificationOptions } from '../../src/notify/options.js';
import { describeIssue } from '../../src/options.js';

const RED_TOMORROW: Notice = { kind: 'tomorrow_colour', date: '2026-01-07', colour: 'red' };

test("tomorrow's colour, in English, French and German", () => {
  assert.deepEqual(noticeText(RED_TOMORROW, 'en'), {
    title: 'Tempo tomorrow: RED',
    message: 'Tomorrow, Wednesday 7 January, is a red Tempo day. Peak hours (6:00 to 22:00) are at the red price.',
  });
  assert.deepEqual(noticeText(RED_TOMORROW, 'fr'), {
    title: 'Tempo demain : ROUGE',
    message: 'Demain, mercredi 7 janvier, est un jour Tempo rouge. Les heures pleines (6 h à 22 h) sont au tarif rouge.',
  });
  assert.deepEqual(noticeText(RED_TOMORROW, 'de'), {
    title: 'Tempo morgen: ROT',
    message: 'Morgen, Mittwoch, 7. Januar, ist ein roter Tempo-Tag. Die Hauptzeit (6 bis 22 Uhr) kostet den roten Tarif.',
  });
  // Blue and white have no red-price sentence, and their own words.
  assert.deepEqual(noticeText({ kind: 'tomorrow_colour', date: '2026-01-01', colour: 'white' }, 'fr'), {
    title: 'Tempo demain : BLANC',
    message: 'Demain, jeudi 1er janvier, est un jour Tempo blanc.',
  });
  assert.deepEqual(noticeText({ kind: 'tomorrow_colour', date: '2026-03-02', colour: 'blue' }, 'de'), {
    title: 'Tempo morgen: BLAU',
    message: 'Morgen, Montag, 2. März, ist ein blauer Tempo-Tag.',
  });
  assert.equal(noticeText({ kind: 'tomorrow_colour', date: '2026-03-02', colour: 'white' }, 'de').title, 'Tempo morgen: WEISS');
  assert.equal(noticeText({ kind: 'tomorrow_colour', date: '2026-03-02', colour: 'blue' }, 'en').message, 'Tomorrow, Monday 2 March, is a blue Tempo day.');
});

test('the applied plan, with and without a charge target, and as a dry run', () => {
  const plan: Notice = { kind: 'plan_applied', date: '2026-01-07', colour: 'red', minSoc: 25, batteryLife: false, chargeSoc: 98, schedule: 1 };
  assert.deepEqual(noticeText(plan, 'en'), {
    title: 'Tempo RED: battery plan applied',
    message: 'Plan for Wednesday 7 January (red day): minimum SoC 25%, BatteryLife off, scheduled charge 1 to 98%.',
  });
  assert.deepEqual(noticeText(plan, 'fr'), {
    title: 'Tempo ROUGE : plan batterie appliqué',
    message: "Plan pour mercredi 7 janvier (jour rouge) : SoC minimum 25 %, BatteryLife désactivé, charge programmée 1 jusqu'à 98 %.",
  });
  assert.deepEqual(noticeText(plan, 'de'), {
    title: 'Tempo ROT: Batterieplan angewendet',
    message: 'Plan für Mittwoch, 7. Januar (roter Tag): minimaler SoC 25 %, BatteryLife aus, geplante Ladung 1 bis 98 %.',
  });
  const dry: Notice = { kind: 'plan_applied', date: '2026-01-08', colour: 'blue', minSoc: 30, batteryLife: true, dryRun: true };
  assert.deepEqual(noticeText(dry, 'en'), {
    title: 'Tempo BLUE: battery plan (dry run)',
    message: 'Plan for Thursday 8 January (blue day): minimum SoC 30%, BatteryLife on. Dry run: nothing was written to the GX.',
  });
  assert.deepEqual(noticeText(dry, 'fr'), {
    title: 'Tempo BLEU : plan batterie (simulation)',
    message: "Plan pour jeudi 8 janvier (jour bleu) : SoC minimum 30 %, BatteryLife activé. Simulation : rien n'a été écrit sur le GX.",
  });
  assert.deepEqual(noticeText(dry, 'de'), {
    title: 'Tempo BLAU: Batterieplan (Probelauf)',
    message: 'Plan für Donnerstag, 8. Januar (blauer Tag): minimaler SoC 30 %, BatteryLife an. Probelauf: Es wurde nichts auf das GX-Gerät geschrieben.',
  });
  // A charge target without a schedule number, and a decimal in the language's own way.
  const noSchedule: Notice = { kind: 'plan_applied', date: '2026-01-09', colour: 'white', minSoc: 27.5, batteryLife: true, chargeSoc: 90 };
  assert.match(noticeText(noSchedule, 'en').message, /minimum SoC 27\.5%, BatteryLife on, charge to 90%\.$/);
  assert.match(noticeText(noSchedule, 'fr').message, /SoC minimum 27,5 %, BatteryLife activé, charge jusqu'à 90 %\.$/);
  assert.match(noticeText(noSchedule, 'de').message, /\(weißer Tag\): minimaler SoC 27,5 %, BatteryLife an, Ladung bis 90 %\.$/);
});

test('a failed write and failed sources, in each language', () => {
  const write: Notice = { kind: 'write_failed', what: 'MinimumSocLimit = 25', reason: 'no read-back within 10 s.' };
  assert.deepEqual(noticeText(write, 'en'), {
    title: 'Victron: write failed',
    message: 'Writing MinimumSocLimit = 25 to the GX failed: no read-back within 10 s. The battery plan may not be in place; please check the GX.',
  });
  assert.deepEqual(noticeText(write, 'fr'), {
    title: "Victron : échec d'écriture",
    message: "L'écriture de MinimumSocLimit = 25 sur le GX a échoué : no read-back within 10 s. Le plan batterie n'est peut-être pas en place ; vérifiez le GX.",
  });
  assert.deepEqual(noticeText(write, 'de'), {
    title: 'Victron: Schreiben fehlgeschlagen',
    message: 'Das Schreiben von MinimumSocLimit = 25 auf das GX-Gerät ist fehlgeschlagen: no read-back within 10 s. Der Batterieplan ist möglicherweise nicht aktiv; bitte das GX-Gerät prüfen.',
  });
  const sources: Notice = { kind: 'sources_failed', reasons: 'api-couleur-tempo: HTTP 503; RTE: no credentials' };
  assert.deepEqual(noticeText(sources, 'en'), {
    title: "Tempo: tomorrow's colour unknown",
    message: "No Tempo source gave tomorrow's colour (api-couleur-tempo: HTTP 503; RTE: no credentials). The battery settings stay as they are.",
  });
  assert.deepEqual(noticeText(sources, 'fr'), {
    title: 'Tempo : couleur de demain inconnue',
    message: "Aucune source Tempo n'a donné la couleur de demain (api-couleur-tempo: HTTP 503; RTE: no credentials). Les réglages de la batterie restent inchangés.",
  });
  assert.deepEqual(noticeText(sources, 'de'), {
    title: 'Tempo: Farbe für morgen unbekannt',
    message: 'Keine Tempo-Quelle hat die Farbe für morgen geliefert (api-couleur-tempo: HTTP 503; RTE: no credentials). Die Batterieeinstellungen bleiben unverändert.',
  });
});

test('free text from elsewhere stays on one line and is cut; a bad date is shown as given', () => {
  const long = `line one\nline two ${'x'.repeat(1000)}`;
  for (const language of LANGUAGES) {
    const { message } = noticeText({ kind: 'write_failed', what: 'State', reason: long }, language);
    assert.ok(!message.includes('\n'), message);
    assert.ok(message.includes('line one\\nline two'), message);
    assert.ok(message.length < 600, `${message.length} characters`);
  }
  assert.equal(formatDate('2026-02-30', 'en'), '2026-02-30');
  assert.equal(formatDate('tomorrow', 'fr'), 'tomorrow');
  assert.equal(formatDate('2028-02-29', 'de'), 'Dienstag, 29. Februar');
});

test('options: defaults, a Prowl key list, HA service names, and access outside the add-on', () => {
  assert.deepEqual(notificationOptions.parse({}), { prowl_priority: 0, prowl_url: 'https://api.prowlapp.com/publicapi', ha_services: [], language: 'en' });
  const key = 'a'.repeat(40);
  const two = `${key}, ${'B1'.repeat(20)}`;
  assert.equal(notificationOptions.parse({ prowl_api_key: two }).prowl_api_key, two);
  assert.deepEqual(notificationOptions.parse({ ha_services: ['notify.mobile_app_pixel_7', 'persistent_notification'], language: 'fr' }).ha_services, ['notify.mobile_app_pixel_7', 'persistent_notification']);

  const problem = (raw: unknown) => {
    const result = notificationOptions.safeParse(raw);
    assert.ok(!result.success, `accepted ${JSON.stringify(raw)}`);
    const issue = result.error.issues[0]!;
    return `${issue.path.join('.')}: ${describeIssue(issue)}`;
  };
  const wrongKey = 'f'.repeat(39) + '!';
  const sentence = problem({ prowl_api_key: wrongKey });
  assert.match(sentence, /^prowl_api_key: the key is not a Prowl API key: a key is 40 letters and digits \(it has 40 characters\)/);
  assert.ok(!sentence.includes(wrongKey.slice(0, 20)), 'the key is not repeated');
  assert.match(problem({ prowl_api_key: `${key},${'c'.repeat(12)}` }), /^prowl_api_key: key 2 of 2 is not a Prowl API key.*it has 12 characters/);
  assert.match(problem({ prowl_api_key: ' , ' }), /^prowl_api_key: is empty/);
  assert.match(problem({ prowl_priority: 3 }), /^prowl_priority: must be at most 2/);
  assert.match(problem({ prowl_url: 'ftp://example.com' }), /^prowl_url: must be an http/);
  assert.match(problem({ ha_services: ['notify'] }), /^ha_services\.0: "notify" is not a Home Assistant service: use domain\.service/);
  assert.match(problem({ ha_services: ['notify.Mobile App'] }), /^ha_services\.0: .*is not a Home Assistant service/);
  assert.match(problem({ ha_services: ['persistent_notification', 'persistent_notification.create'] }), /^ha_services\.1: is the same service as ha_services\.0/);
  assert.match(problem({ ha_api_url: 'http://homeassistant.local:8123/api' }), /^ha_api_url: needs ha_token as well/);
  assert.match(problem({ ha_token: 'x'.repeat(30) }), /^ha_token: needs ha_api_url as well/);
  assert.match(problem({ language: 'es' }), /^language: must be one of en, fr, de/);
  assert.match(problem({ prowl_key: key }), /unrecognized|Unrecognized/);
});
