import { z } from 'zod';

/**
 * A faster check of the same zod schema, for the consumers' hot path (zod's safeParse was
 * ~75 % of the metering consumer's CPU, docs/benchmarks.md). It is compiled from the schema
 * itself, so there is no second copy of the rules to drift: objects (unknown keys stripped),
 * strings with min/max/length/regex/datetime, numbers with int/min/max/finite, booleans, enums,
 * arrays with length bounds, optional and default are checked here; any other node (a
 * union, a lazy, a datetime or uuid string, a transform) is handed to zod itself.
 *
 * Contract: `ok: true` only when zod's safeParse succeeds, with a value deep-equal to zod's
 * output. `ok: false` means "not proven valid here": the caller then runs zod, which gives
 * the verdict and the error text. So a gap in this checker can cost speed, never validity.
 */
export type FastCheck = (value: unknown) => { ok: true; value: unknown } | { ok: false };

const FAIL = { ok: false } as const;

type Def = { typeName?: string } & Record<string, unknown>;

function defOf(schema: z.ZodTypeAny): Def {
  return schema._def as Def;
}

/** Hands the node to zod: always right, slower. */
function viaZod(schema: z.ZodTypeAny): FastCheck {
  return (value) => {
    const r = schema.safeParse(value);
    return r.success ? { ok: true, value: r.data } : FAIL;
  };
}

function stringCheck(schema: z.ZodTypeAny, def: Def): FastCheck {
  if (def.coerce) return viaZod(schema);
  let min = 0;
  let max = Infinity;
  const patterns: RegExp[] = [];
  for (const check of (def.checks as Array<{ kind: string; value?: number; regex?: RegExp }>) ?? []) {
    if (check.kind === 'min') min = Math.max(min, check.value ?? 0);
    else if (check.kind === 'max') max = Math.min(max, check.value ?? Infinity);
    else if (check.kind === 'length') {
      min = Math.max(min, check.value ?? 0);
      max = Math.min(max, check.value ?? Infinity);
    } else if (check.kind === 'regex' && check.regex) patterns.push(check.regex);
    // zod builds this regex anew on every parse; built once here, with zod's own function
    else if (check.kind === 'datetime') patterns.push(z.datetimeRegex(check as Parameters<typeof z.datetimeRegex>[0]));
    else return viaZod(schema); // uuid, trim, …: zod's own code
  }
  return (value) => {
    if (typeof value !== 'string' || value.length < min || value.length > max) return FAIL;
    for (const re of patterns) {
      re.lastIndex = 0; // as zod does (a /g regex keeps state)
      if (!re.test(value)) return FAIL;
    }
    return { ok: true, value };
  };
}

function numberCheck(schema: z.ZodTypeAny, def: Def): FastCheck {
  if (def.coerce) return viaZod(schema);
  let int = false;
  let finite = false;
  const bounds: Array<{ min: boolean; value: number; inclusive: boolean }> = [];
  for (const check of (def.checks as Array<{ kind: string; value?: number; inclusive?: boolean }>) ?? []) {
    if (check.kind === 'int') int = true;
    else if (check.kind === 'finite') finite = true;
    else if ((check.kind === 'min' || check.kind === 'max') && typeof check.value === 'number') {
      bounds.push({ min: check.kind === 'min', value: check.value, inclusive: check.inclusive !== false });
    } else return viaZod(schema); // multipleOf, …
  }
  return (value) => {
    if (typeof value !== 'number' || Number.isNaN(value)) return FAIL;
    if (int && !Number.isInteger(value)) return FAIL;
    if (finite && !Number.isFinite(value)) return FAIL;
    for (const b of bounds) {
      if (b.min ? (b.inclusive ? value < b.value : value <= b.value) : b.inclusive ? value > b.value : value >= b.value) return FAIL;
    }
    return { ok: true, value };
  };
}

function objectCheck(schema: z.ZodTypeAny, def: Def): FastCheck {
  const catchall = def.catchall as z.ZodTypeAny | undefined;
  if (def.unknownKeys !== 'strip' || !catchall || defOf(catchall).typeName !== 'ZodNever') return viaZod(schema);
  const shape = (def.shape as () => Record<string, z.ZodTypeAny>)();
  const fields = Object.keys(shape).map((key) => ({ key, check: compileFastCheck(shape[key]) }));
  return (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return FAIL;
    if (value instanceof Date || value instanceof Map || value instanceof Set || value instanceof Promise) return FAIL;
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const { key, check } of fields) {
      const r = check(input[key]);
      if (!r.ok) return FAIL;
      // zod keeps a key whose result is undefined only when the input had it
      if (key !== '__proto__' && (r.value !== undefined || key in input)) out[key] = r.value;
    }
    return { ok: true, value: out };
  };
}

function arrayCheck(def: Def): FastCheck {
  const element = compileFastCheck(def.type as z.ZodTypeAny);
  const exact = (def.exactLength as { value: number } | null)?.value;
  const min = (def.minLength as { value: number } | null)?.value ?? 0;
  const max = (def.maxLength as { value: number } | null)?.value ?? Infinity;
  return (value) => {
    if (!Array.isArray(value) || value.length < min || value.length > max) return FAIL;
    if (exact !== undefined && value.length !== exact) return FAIL;
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const r = element(value[i]);
      if (!r.ok) return FAIL;
      out[i] = r.value;
    }
    return { ok: true, value: out };
  };
}

const compiled = new WeakMap<z.ZodTypeAny, FastCheck>();

/** The fast check of `schema` (compiled once per schema object). */
export function compileFastCheck(schema: z.ZodTypeAny): FastCheck {
  const known = compiled.get(schema);
  if (known) return known;
  const def = defOf(schema);
  let check: FastCheck;
  switch (def.typeName) {
    case 'ZodString':
      check = stringCheck(schema, def);
      break;
    case 'ZodNumber':
      check = numberCheck(schema, def);
      break;
    case 'ZodBoolean':
      check = def.coerce ? viaZod(schema) : (value) => (typeof value === 'boolean' ? { ok: true, value } : FAIL);
      break;
    case 'ZodEnum': {
      const values = new Set(def.values as string[]);
      check = (value) => (typeof value === 'string' && values.has(value) ? { ok: true, value } : FAIL);
      break;
    }
    case 'ZodUnknown':
    case 'ZodAny':
      check = (value) => ({ ok: true, value });
      break;
    case 'ZodOptional': {
      const inner = compileFastCheck(def.innerType as z.ZodTypeAny);
      check = (value) => (value === undefined ? { ok: true, value } : inner(value));
      break;
    }
    case 'ZodDefault': {
      const inner = compileFastCheck(def.innerType as z.ZodTypeAny);
      const fallback = def.defaultValue as () => unknown;
      check = (value) => inner(value === undefined ? fallback() : value);
      break;
    }
    case 'ZodObject':
      check = objectCheck(schema, def);
      break;
    case 'ZodArray':
      check = arrayCheck(def);
      break;
    default:
      check = viaZod(schema);
  }
  compiled.set(schema, check);
  return check;
}
