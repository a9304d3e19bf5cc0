// Produces a deterministic value that satisfies a JSON schema, for tool-call arguments and
// structured outputs. Covers what tool and response_format schemas use in practice (objects,
// arrays, scalars, enum/const, anyOf/oneOf/allOf, nullable types, local $refs).

type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

const STRING_FORMATS: Record<string, string> = {
  date: '2024-01-01',
  'date-time': '2024-01-01T00:00:00Z',
  time: '12:00:00',
  email: 'user@example.com',
  uri: 'https://example.com',
  url: 'https://example.com',
  uuid: '00000000-0000-4000-8000-000000000000',
  hostname: 'example.com',
  ipv4: '192.0.2.1',
};

/**
 * A word from the prompt to fill string fields: the last capitalised word that does not
 * start the text (a name or place, e.g. "Paris"), else the last word of 3+ letters.
 */
export function pickSubject(prompt: string): string {
  const words = prompt.split(/\s+/).map((w) => w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')).filter(Boolean);
  for (let i = words.length - 1; i > 0; i--) if (/^\p{Lu}/u.test(words[i])) return words[i];
  for (let i = words.length - 1; i >= 0; i--) if (words[i].length >= 3) return words[i];
  return 'example';
}

export function sampleJsonSchema(schema: unknown, subject: string): unknown {
  const root = isObject(schema) ? schema : {};
  return sample(root, root, subject, 0);
}

function resolveRef(ref: string, root: Schema): Schema | undefined {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const key of ref.slice(2).split('/')) {
    if (!isObject(node)) return undefined;
    node = node[key.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return isObject(node) ? node : undefined;
}

function sample(schema: Schema, root: Schema, subject: string, depth: number): unknown {
  if (depth > 12) return null;
  if (typeof schema.$ref === 'string') {
    const target = resolveRef(schema.$ref, root);
    return target ? sample(target, root, subject, depth + 1) : {};
  }
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if ('default' in schema && schema.default !== undefined) return schema.default;
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length) {
      const chosen = options.find((o) => isObject(o) && o.type !== 'null') ?? options[0];
      return sample(isObject(chosen) ? chosen : {}, root, subject, depth + 1);
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length) {
    const merged: Schema = {};
    const properties: Schema = {};
    for (const part of schema.allOf) {
      const p = isObject(part) && typeof part.$ref === 'string' ? resolveRef(part.$ref, root) : part;
      if (!isObject(p)) continue;
      Object.assign(merged, p);
      if (isObject(p.properties)) Object.assign(properties, p.properties);
    }
    delete merged.allOf;
    if (Object.keys(properties).length) merged.properties = properties;
    return sample(merged, root, subject, depth + 1);
  }

  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (type === undefined) type = isObject(schema.properties) ? 'object' : schema.items ? 'array' : 'string';

  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = isObject(schema.properties) ? schema.properties : {};
      for (const [name, sub] of Object.entries(props)) {
        out[name] = sample(isObject(sub) ? sub : {}, root, subject, depth + 1);
      }
      return out;
    }
    case 'array': {
      const items = Array.isArray(schema.prefixItems) ? schema.prefixItems : undefined;
      if (items) return items.map((s) => sample(isObject(s) ? s : {}, root, subject, depth + 1));
      const count = Math.max(1, typeof schema.minItems === 'number' ? schema.minItems : 1);
      const item = isObject(schema.items) ? schema.items : {};
      return Array.from({ length: count }, () => sample(item, root, subject, depth + 1));
    }
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : undefined;
      const max = typeof schema.maximum === 'number' ? schema.maximum : typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum - 1 : undefined;
      let v = min ?? (type === 'integer' ? 1 : 42.5);
      if (max !== undefined && v > max) v = max;
      return type === 'integer' ? Math.ceil(v) : v;
    }
    case 'boolean':
      return true;
    case 'null':
      return null;
    default: {
      const fmt = typeof schema.format === 'string' ? STRING_FORMATS[schema.format] : undefined;
      let s = fmt ?? subject;
      const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
      while (s.length < minLength) s += 'x';
      if (typeof schema.maxLength === 'number' && s.length > schema.maxLength) s = s.slice(0, schema.maxLength);
      return s;
    }
  }
}
