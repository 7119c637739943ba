// Every secret the add-on knows (option passwords, tokens, keys, and tokens it obtains later).
// Every log line passes through scrub(); in MQTT only free text does (text states, events that
// echo a payload), so a secret that is also a word cannot rewrite discovery or a select's state.

const SECRET_KEYS = /^(password|pass|passwd|token|access_token|refresh_token|api_key|apikey|secret|client_secret|[a-z]+_(client_secret|api_key|token|password))$/i;
const MASK = '***';

export class Secrets {
  private values = new Set<string>();

  add(value: string | undefined | null): void {
    if (typeof value === 'string' && value.length >= 3) {
      // In JSON (a log line quoting a payload, then JSON-encoded by the logger) the secret may
      // appear escaped once or twice; mask those spellings too.
      let spelling = value;
      for (let level = 0; level < 3; level++) {
        this.values.add(spelling);
        spelling = JSON.stringify(spelling).slice(1, -1);
      }
    }
  }

  /** Collects the values of every password/token-like key in an options tree. */
  addFromOptions(tree: unknown): void {
    if (Array.isArray(tree)) tree.forEach((item) => this.addFromOptions(item));
    else if (tree && typeof tree === 'object') {
      for (const [key, value] of Object.entries(tree)) {
        if (typeof value === 'string' && SECRET_KEYS.test(key)) this.add(value);
        else this.addFromOptions(value);
      }
    }
  }

  get size(): number {
    return this.values.size;
  }

  scrub(text: string): string {
    if (this.values.size === 0) return text;
    let out = text;
    for (const secret of this.values) if (out.includes(secret)) out = out.split(secret).join(MASK);
    return out;
  }
}
