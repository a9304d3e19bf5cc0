import { z } from 'zod';

/** Cuts a string to at most `max` UTF-16 units without leaving half a surrogate pair. */
export function truncateText(value: string, max: number): string {
  if (value.length <= max) return value;
  let cut = value.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut;
}

/** A number brought into [lo, hi]: NaN → lo or 0, ±∞ → hi/lo or 0, rounded when an integer is wanted. */
export function fitNumber(value: number, lo: number | undefined, hi: number | undefined, isInt: boolean): number {
  let n = Number.isFinite(value) ? value : Number.isNaN(value) ? (lo ?? 0) : value > 0 ? (hi ?? 0) : (lo ?? 0);
  if (isInt) n = Math.round(n);
  if (lo !== undefined && n < lo) n = lo;
  if (hi !== undefined && n > hi) n = hi;
  return n;
}

function check<K extends string>(checks: ReadonlyArray<{ kind: string }>, kind: K): { kind: K; value: number } | undefined {
  return checks.find((c): c is { kind: K; value: number } => c.kind === kind && typeof (c as { value?: unknown }).value === 'number');
}

/**
 * Brings a payload inside the bounds of its schema where that can be done without
 * inventing facts: strings longer than their max are truncated (a 300-character model
 * name a client sent), numbers are clamped into their range (a negative latency from a
 * clock step, a NaN) and rounded when the field is an integer, arrays cut to their max
 * length. Required-but-empty fields, enums and types are left for validation: those are
 * bugs of the emitter, not oversize input. This is what lets createEvent never refuse
 * the event of a request that was served.
 */
export function fitPayload(schema: z.ZodTypeAny, value: unknown): unknown {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    return value === undefined || value === null ? value : fitPayload(schema._def.innerType as z.ZodTypeAny, value);
  }
  if (schema instanceof z.ZodEffects) return fitPayload(schema._def.schema as z.ZodTypeAny, value);
  if (schema instanceof z.ZodObject) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const shape = schema.shape as Record<string, z.ZodTypeAny>;
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const [key, child] of Object.entries(shape)) {
      if (key in out) out[key] = fitPayload(child, out[key]);
    }
    return out;
  }
  if (schema instanceof z.ZodString) {
    if (typeof value !== 'string') return value;
    const max = check(schema._def.checks, 'max');
    return max ? truncateText(value, max.value) : value;
  }
  if (schema instanceof z.ZodNumber) {
    if (typeof value !== 'number') return value;
    const min = check(schema._def.checks, 'min');
    const max = check(schema._def.checks, 'max');
    return fitNumber(value, min?.value, max?.value, schema._def.checks.some((c) => c.kind === 'int'));
  }
  if (schema instanceof z.ZodArray) {
    if (!Array.isArray(value)) return value;
    const max = schema._def.maxLength?.value;
    const items = max !== undefined && value.length > max ? value.slice(0, max) : value;
    return items.map((item: unknown) => fitPayload(schema._def.type as z.ZodTypeAny, item));
  }
  return value;
}
