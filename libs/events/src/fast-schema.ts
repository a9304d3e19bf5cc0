import { z } from 'zod';
import { fitNumber, truncateText } from './payload-fit';

/**
 * A zod schema compiled once into a plain function that fits a value (as fitPayload does)
 * and checks it in the same pass, returning what `schema.safeParse(fitPayload(schema, v))`
 * returns on success: unknown keys stripped, defaults filled, keys in the schema's order.
 *
 * Why: the request event is created and read once per request, and zod v3 walks its
 * schema generically on each parse (≈ 40 µs per request event on the ingress thread,
 * with fitPayload another ≈ 25 µs; see docs/benchmarks.md). The schema stays the single
 * source of truth: this only knows the node types the event payloads use, and anything it
 * does not know — or any value that fails a check — is handed back to zod (`undefined`),
 * which then gives the verdict and the error. `fast-schema.spec.ts` checks it agrees with
 * zod on generated payloads.
 */
export type FastFit = (value: unknown) => { value: unknown } | undefined;

/** zod's own uuid pattern (zod v3 keeps it private). */
const UUID = /^[0-9a-fA-F]{8}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{12}$/i;

/** A check of one node: returns FAIL for "let zod decide", else the (fitted) value. */
type Node = (value: unknown) => unknown;
const FAIL = Symbol('fail');

const caches = { fit: new WeakMap<z.ZodTypeAny, FastFit | null>(), check: new WeakMap<z.ZodTypeAny, FastFit | null>() };

/**
 * The compiled form of `schema`, or undefined when it uses something only zod knows.
 * mode 'fit' first brings oversize values inside their bounds (createEvent); 'check' only
 * checks, as `schema.safeParse` does (a consumer reading the log).
 */
export function compileFastFit(schema: z.ZodTypeAny, mode: 'fit' | 'check' = 'fit'): FastFit | undefined {
  const cache = caches[mode];
  const known = cache.get(schema);
  if (known !== undefined) return known ?? undefined;
  const node = compile(schema, mode === 'fit');
  const fit: FastFit | null = node
    ? (value) => {
        const out = node(value);
        return out === FAIL ? undefined : { value: out };
      }
    : null;
  cache.set(schema, fit);
  return fit ?? undefined;
}

type Check = { kind: string; value?: number; inclusive?: boolean; regex?: RegExp; offset?: boolean; local?: boolean; precision?: number | null };

function compile(schema: z.ZodTypeAny, fit: boolean): Node | undefined {
  if (schema instanceof z.ZodDefault) {
    const inner = compile(schema._def.innerType as z.ZodTypeAny, fit);
    const defaultValue = schema._def.defaultValue as () => unknown;
    return inner && ((v) => inner(v === undefined ? defaultValue() : v));
  }
  if (schema instanceof z.ZodOptional) {
    const inner = compile(schema._def.innerType as z.ZodTypeAny, fit);
    return inner && ((v) => (v === undefined ? undefined : inner(v)));
  }
  if (schema instanceof z.ZodNullable) {
    const inner = compile(schema._def.innerType as z.ZodTypeAny, fit);
    return inner && ((v) => (v === null ? null : inner(v)));
  }
  if (schema instanceof z.ZodObject) return compileObject(schema, fit);
  if (schema instanceof z.ZodString) return compileString(schema._def.checks as Check[], fit);
  if (schema instanceof z.ZodNumber) return compileNumber(schema._def.checks as Check[], fit);
  if (schema instanceof z.ZodUnknown) return (v) => v;
  if (schema instanceof z.ZodBoolean) return (v) => (typeof v === 'boolean' ? v : FAIL);
  if (schema instanceof z.ZodEnum) {
    const values = new Set<unknown>(schema._def.values as string[]);
    return (v) => (values.has(v) ? v : FAIL);
  }
  if (schema instanceof z.ZodArray) return compileArray(schema, fit);
  return undefined; // effects, unions, lazy, records…: zod's
}

function compileObject(schema: z.AnyZodObject, fit: boolean): Node | undefined {
  if (schema._def.unknownKeys !== 'strip' || !(schema._def.catchall instanceof z.ZodNever)) return undefined;
  const shape = schema.shape as Record<string, z.ZodTypeAny>;
  const keys = Object.keys(shape);
  const nodes: Node[] = [];
  for (const key of keys) {
    if (key === '__proto__') return undefined;
    const node = compile(shape[key], fit);
    if (!node) return undefined;
    nodes.push(node);
  }
  const literal = objectLiteral(keys);
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return FAIL;
    const input = v as Record<string, unknown>;
    const values = new Array<unknown>(keys.length);
    let every = true;
    for (let i = 0; i < keys.length; i++) {
      const value = nodes[i](input[keys[i]]);
      if (value === FAIL) return FAIL;
      // zod keeps a key whose value is undefined only when the input had it.
      if (value === undefined && !(keys[i] in input)) every = false;
      values[i] = value;
    }
    if (every) return literal(values);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) if (values[i] !== undefined || keys[i] in input) out[keys[i]] = values[i];
    return out;
  };
}

/**
 * `(values) => ({ [keys[0]]: values[0], … })` as an object literal, compiled once per
 * schema. Filled key by key (`out[key] = …`), an object of more than a dozen fields falls
 * into V8's dictionary mode, which everything downstream pays for: the request event's
 * payload (38 fields) took 9.0 µs to JSON.stringify against 6.5 µs for the same payload
 * with fast properties (docs/benchmarks.md). The keys are the schema's own (never `__proto__`), quoted as JSON.
 */
function objectLiteral(keys: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  return new Function('v', `return {${keys.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(', ')}};`) as (values: unknown[]) => Record<string, unknown>;
}

function compileString(checks: Check[], fit: boolean): Node | undefined {
  let min = -1;
  let max = -1;
  const patterns: RegExp[] = [];
  for (const c of checks) {
    if (c.kind === 'min' && c.value !== undefined) min = c.value;
    else if (c.kind === 'max' && c.value !== undefined) max = c.value;
    else if (c.kind === 'regex' && c.regex) patterns.push(c.regex);
    else if (c.kind === 'uuid') patterns.push(UUID);
    // zod builds this pattern on every parse; built once here.
    else if (c.kind === 'datetime') patterns.push(z.datetimeRegex({ offset: c.offset, local: c.local, precision: c.precision }));
    else return undefined;
  }
  // Several max checks: fitPayload cuts to the first, zod checks them all (rare: zod's).
  if (checks.filter((c) => c.kind === 'max').length > 1) return undefined;
  return (v) => {
    if (typeof v !== 'string') return FAIL;
    const s = fit && max >= 0 ? truncateText(v, max) : v;
    if (s.length < min || (max >= 0 && s.length > max)) return FAIL;
    for (const p of patterns) {
      p.lastIndex = 0;
      if (!p.test(s)) return FAIL;
    }
    return s;
  };
}

function compileNumber(checks: Check[], fit: boolean): Node | undefined {
  let min: Check | undefined;
  let max: Check | undefined;
  let isInt = false;
  let finite = false;
  for (const c of checks) {
    if (c.kind === 'min') {
      if (min) return undefined;
      min = c;
    } else if (c.kind === 'max') {
      if (max) return undefined;
      max = c;
    } else if (c.kind === 'int') isInt = true;
    else if (c.kind === 'finite') finite = true;
    else return undefined;
  }
  const lo = min?.value;
  const hi = max?.value;
  const loInclusive = min?.inclusive !== false;
  const hiInclusive = max?.inclusive !== false;
  return (v) => {
    if (typeof v !== 'number') return FAIL;
    const n = fit ? fitNumber(v, lo, hi, isInt) : v;
    // zod's checks on the fitted number.
    if (Number.isNaN(n)) return FAIL;
    if (isInt && !Number.isInteger(n)) return FAIL;
    if (finite && !Number.isFinite(n)) return FAIL;
    if (lo !== undefined && (loInclusive ? n < lo : n <= lo)) return FAIL;
    if (hi !== undefined && (hiInclusive ? n > hi : n >= hi)) return FAIL;
    return n;
  };
}

function compileArray(schema: z.ZodArray<z.ZodTypeAny>, fit: boolean): Node | undefined {
  const item = compile(schema._def.type as z.ZodTypeAny, fit);
  if (!item) return undefined;
  const max = schema._def.maxLength?.value as number | undefined;
  const min = schema._def.minLength?.value as number | undefined;
  if (schema._def.exactLength) return undefined;
  return (v) => {
    if (!Array.isArray(v)) return FAIL;
    if (!fit && max !== undefined && v.length > max) return FAIL;
    const n = max !== undefined && v.length > max ? max : v.length;
    if (min !== undefined && n < min) return FAIL;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const x = item(v[i]);
      if (x === FAIL) return FAIL;
      out[i] = x;
    }
    return out;
  };
}
