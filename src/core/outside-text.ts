// Text that comes from outside (MQTT payloads, HTTP bodies and URLs, other systems' error texts)
// is shown in log lines and events only quoted, escaped and cut: a payload must not be able to
// start a new, real-looking log line, nor turn one log line into 100 kB.

/** How much of an outside text a log line or an event shows. */
export const SHOWN_CHARS = 200;

/** The text cut to `max` characters, saying how long it was: `abc… (100000 chars)`. */
export function clip(text: string, max = SHOWN_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/** Payload bytes as text for an event (JSON escapes it there), or a note that they are binary. */
export function shownPayload(payload: Buffer | string, max = SHOWN_CHARS): string {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD') || /[\u0000-\u0008\u000e-\u001f]/.test(text)) return `<${bytes.length} bytes of binary data>`;
  return clip(text, max);
}

/** For a log line or a sentence: in single quotes, escaped (quotes, backslashes, newlines) and cut. */
export function quote(text: string | Buffer, max = SHOWN_CHARS): string {
  const shown = typeof text === 'string' ? text : shownPayload(text, Number.MAX_SAFE_INTEGER);
  const escape = (t: string) => `'${oneLine(t.replace(/\\/g, '\\\\').replace(/'/g, "\\'"))}'`;
  return shown.length <= max ? escape(shown) : `${escape(shown.slice(0, max))}… (${shown.length} chars)`;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Escapes control characters (newlines included) so one message stays one line. */
export function oneLine(text: string): string {
  return text.replace(CONTROL, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
