// Derives config.yaml's `options` and `schema` from the zod schema in src/options.ts, using the
// Supervisor's option types. `npx tsx scripts/addon-schema.ts` prints them; the test compares.
import { z } from 'zod';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { optionsSchema } from '../src/options.js';

type Json = Record<string, any>;
const SECRET = /^(password|token|api_key)$|_(secret|token|api_key)$/;

function typeOf(key: string, s: Json): string {
  // A type zod cannot say (a host device, `device(subsystem=tty)`), given with .meta({ supervisor }).
  if (typeof s.supervisor === 'string') return s.supervisor;
  if (s.enum) return `list(${(s.enum as string[]).join('|')})`;
  if (s.const !== undefined) return `list(${String(s.const)})`;
  if (s.anyOf) {
    // zod's .nullable() shows as anyOf [T, null]; the Supervisor has no null, the ? covers it.
    const real = (s.anyOf as Json[]).find((x) => x.type !== 'null');
    return real ? typeOf(key, real) : 'str';
  }
  switch (s.type) {
    case 'string':
      if (SECRET.test(key)) return 'password';
      if (s.format === 'email') return 'email';
      if (s.format === 'uri' || s.format === 'url') return 'url';
      if (s.pattern) return `match(${s.pattern})`;
      if (s.minLength !== undefined || s.maxLength !== undefined) return `str(${s.minLength ?? ''},${s.maxLength ?? ''})`;
      return 'str';
    case 'integer':
      if (key === 'port' || (s.minimum === 1 && s.maximum === 65535)) return 'port';
      return s.minimum !== undefined || s.maximum !== undefined ? `int(${s.minimum ?? ''},${s.maximum ?? ''})` : 'int';
    case 'number':
      return s.minimum !== undefined || s.maximum !== undefined ? `float(${s.minimum ?? ''},${s.maximum ?? ''})` : 'float';
    case 'boolean':
      return 'bool';
    default:
      throw new Error(`no Supervisor type for ${key} (${JSON.stringify(s)})`);
  }
}

/** A union of objects (rule types) as one dict: every key, required only where all variants require it. */
function mergeVariants(s: Json): Json {
  const variants = (s.oneOf ?? s.anyOf) as Json[] | undefined;
  if (!variants || !variants.every((v) => v.type === 'object')) return s;
  const properties: Json = {};
  for (const v of variants) {
    for (const [key, prop] of Object.entries<Json>(v.properties ?? {})) {
      const seen = properties[key] as Json | undefined;
      const values = (p: Json | undefined) => (p?.const !== undefined ? [p.const] : (p?.enum as unknown[] | undefined));
      if (seen && values(seen) && values(prop)) properties[key] = { enum: [...new Set([...values(seen)!, ...values(prop)!])] };
      // A block another rule type merely tolerates (z.unknown()) gives way to its real shape.
      else if (!seen || (seen.type === undefined && prop.type !== undefined)) properties[key] = prop;
    }
  }
  const required = (variants[0]!.required as string[] ?? []).filter((k) => variants.every((v) => (v.required as string[] ?? []).includes(k)));
  return { type: 'object', properties, required };
}

function schemaOf(input: Json, depth: number): unknown {
  const s = mergeVariants(input);
  const out: Json = {};
  const required = new Set<string>(s.required ?? []);
  for (const [key, prop] of Object.entries<Json>(s.properties ?? {})) {
    const optional = !required.has(key) || prop.default !== undefined;
    if (prop.type === 'object') {
      out[key] = schemaOf(prop, depth + 1);
    } else if (prop.type === 'array') {
      const item = mergeVariants(prop.items as Json);
      out[key] = [item.type === 'object' ? schemaOf(item, depth + 1) : typeOf(key, item) + '?'];
    } else {
      // The Supervisor requires every key that has a value in `options`; the rest are optional.
      const topLevelDefault = depth === 0 && prop.default !== undefined;
      out[key] = typeOf(key, prop) + (optional && !topLevelDefault ? '?' : '');
    }
  }
  return out;
}

/**
 * The defaults config.yaml offers: top-level values with a default, and the skeleton of every
 * nested object and list (the Supervisor refuses options that leave a nested one out).
 */
function optionsOf(s: Json, depth = 0): Json {
  const out: Json = {};
  for (const [key, prop] of Object.entries<Json>(s.properties ?? {})) {
    if (prop.type === 'object') out[key] = optionsOf(prop, depth + 1);
    else if (prop.type === 'array') out[key] = [];
    else if (depth === 0 && prop.default !== undefined) out[key] = prop.default;
  }
  return out;
}

/** What config.yaml must hold for the zod schema. */
export function addonSchema(): { options: Json; schema: Json } {
  const json = z.toJSONSchema(optionsSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  return { options: optionsOf(json), schema: schemaOf(json, 0) as Json };
}

/**
 * Every option as a dotted path (`givenergy.host`, `automation.rules.target.mqtt.state_topic`;
 * list items without an index), groups included: what DOCS.md must describe.
 */
export function optionPaths(): string[] {
  const paths = new Set<string>();
  const walk = (input: Json, path: string): void => {
    const s = mergeVariants(input);
    if (s.type === 'object' && s.properties) {
      if (path) paths.add(path);
      for (const [key, prop] of Object.entries<Json>(s.properties)) walk(prop, path ? `${path}.${key}` : key);
    } else if (s.type === 'array' && mergeVariants(s.items as Json).type === 'object') {
      walk(s.items as Json, path);
    } else {
      paths.add(path);
    }
  };
  walk(z.toJSONSchema(optionsSchema, { io: 'input', unrepresentable: 'any' }) as Json, '');
  return [...paths];
}

// `npx tsx scripts/addon-schema.ts` prints them; `--write` puts them into config.yaml.
if (import.meta.url === `file://${process.argv[1]}`) {
  const generated = addonSchema();
  if (process.argv.includes('--write')) {
    const doc = parseDocument(readFileSync('config.yaml', 'utf8'));
    doc.set('options', doc.createNode(generated.options));
    doc.set('schema', doc.createNode(generated.schema));
    writeFileSync('config.yaml', doc.toString({ lineWidth: 100 }));
    console.log('config.yaml updated');
  } else {
    console.log(JSON.stringify(generated, null, 2));
  }
}
