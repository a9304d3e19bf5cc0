import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { eventCatalog, EVENT_BUDGET_THRESHOLD, EVENT_CONTROL_CONFIG_CHANGED, EVENT_GATEWAY_REQUEST_COMPLETED } from './event-map';
import { compileFastFit } from './fast-schema';
import { fitPayload } from './payload-fit';
import { requestCompleted } from './request-completed.fixture';

/** What zod says, the reference the compiled form must agree with. */
function reference(schema: z.ZodTypeAny, value: unknown, mode: 'fit' | 'check') {
  return schema.safeParse(mode === 'fit' ? fitPayload(schema, value) : value);
}

/** Numbers at and around the bounds: NaN, ±∞, negatives, fractions, over UInt32 and the safe range. */
const edgyNumber = fc.oneof(
  fc.double({ min: -10, max: 1000, noNaN: true }),
  fc.double(),
  fc.integer(),
  fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, 0.5, 1, 1.5, 599, 599.6, 600, 2 ** 32, Number.MAX_SAFE_INTEGER + 2),
);
/** Strings: empty, short, over 256/128/64, a surrogate pair cut at the bound, enum values. */
const edgyString = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ minLength: 60, maxLength: 300 }),
  fc.constantFrom('', 'a'.repeat(255) + '\ud83d\ude00', 'x'.repeat(5000), 'allow', 'deny', 'ok', 'cancelled', 'redact', 'block', 'api_key', 'day', '2026-11', '0'.repeat(64)),
);
/** Anything of the wrong type. */
const wrongType = fc.oneof(fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(fc.integer(), { maxLength: 3 }), fc.constant({}), edgyNumber, edgyString);
/** Mostly the field's own type (so zod accepts and the fitted values are compared), sometimes not. */
const edgyLike = (sample: unknown) =>
  fc.oneof(
    { weight: 4, arbitrary: typeof sample === 'number' ? edgyNumber : typeof sample === 'string' ? edgyString : typeof sample === 'boolean' ? fc.boolean() : wrongType },
    { weight: 1, arbitrary: wrongType },
  );
const edgy = edgyLike(undefined);

const attempt = fc.record({ deploymentId: edgyString, provider: edgyString, region: edgyString, status: edgyString, reasonCode: edgyString, latencyMs: edgyNumber }, { requiredKeys: [] });
const finding = fc.record({ detector: edgyString, action: edgyString, count: edgyNumber }, { requiredKeys: [] });

/** A valid request event with a few fields replaced, removed or added. */
const base = requestCompleted();
const mutatedRequest = fc
  .tuple(
    fc.array(fc.constantFrom(...Object.keys(base)).chain((k) => edgyLike((base as unknown as Record<string, unknown>)[k]).map((v) => [k, v] as const)), { maxLength: 4 }),
    fc.array(fc.constantFrom(...Object.keys(base)), { maxLength: 2 }),
    fc.option(fc.array(attempt, { maxLength: 20 })),
    fc.option(fc.array(finding, { maxLength: 3 })),
    fc.dictionary(fc.string({ maxLength: 6 }), edgy, { maxKeys: 2 }),
  )
  .map(([replaced, removed, attempts, guardrails, extra]) => {
    const value: Record<string, unknown> = { ...extra, ...base };
    for (const [k, v] of replaced) value[k] = v;
    if (attempts) value.attempts = attempts;
    if (guardrails) value.guardrails = guardrails;
    for (const k of removed) delete value[k];
    return value;
  });

function agree(schema: z.ZodTypeAny, value: unknown, mode: 'fit' | 'check'): void {
  const fast = compileFastFit(schema, mode);
  assert.ok(fast, 'the schema compiles');
  const ref = reference(schema, value, mode);
  const got = fast(value);
  if (got) {
    assert.ok(ref.success, `compiled accepted what zod refuses: ${JSON.stringify(value)?.slice(0, 300)}`);
    assert.deepEqual(got.value, ref.data);
    assert.equal(JSON.stringify(got.value), JSON.stringify(ref.data), 'same keys in the same order');
  } else {
    // Falling back is always correct; for these schemas it only happens when zod refuses too.
    assert.ok(!ref.success, `compiled fell back on a value zod accepts: ${JSON.stringify(value)?.slice(0, 300)}`);
  }
}

describe('compiled event schemas', () => {
  const requestSchema = eventCatalog[EVENT_GATEWAY_REQUEST_COMPLETED].schema as z.ZodTypeAny;

  it('agree with zod on the request event, fitted (createEvent) and checked (consumers)', () => {
    fc.assert(
      fc.property(mutatedRequest, fc.constantFrom<'fit' | 'check'>('fit', 'check'), (value, mode) => agree(requestSchema, value, mode)),
      { numRuns: 3000 },
    );
  });

  it('agree with zod on the config-change and budget events', () => {
    for (const type of [EVENT_CONTROL_CONFIG_CHANGED, EVENT_BUDGET_THRESHOLD] as const) {
      const schema = eventCatalog[type].schema as z.ZodTypeAny;
      const keys = Object.keys((schema as z.AnyZodObject).shape);
      fc.assert(
        fc.property(fc.dictionary(fc.constantFrom(...keys), edgy), fc.constantFrom<'fit' | 'check'>('fit', 'check'), (value, mode) => agree(schema, value, mode)),
        { numRuns: 1000 },
      );
    }
  });

  it('fits an oversize request event instead of refusing it, and checks without fitting', () => {
    const oversize = requestCompleted({ requestedModel: 'm'.repeat(5000), latencyMs: -3, inputTokens: 1.6 });
    const fitted = compileFastFit(requestSchema, 'fit')!(oversize);
    assert.ok(fitted);
    const data = fitted.value as Record<string, unknown>;
    assert.equal((data.requestedModel as string).length, 256);
    assert.equal(data.latencyMs, 0);
    assert.equal(data.inputTokens, 2);
    assert.equal(compileFastFit(requestSchema, 'check')!(oversize), undefined, 'a consumer does not fit: zod refuses it');
  });

  it('checks (consumers) the envelope-style schemas too: uuid, datetime, exclusive bounds, optional keys, defaults of an older producer', () => {
    const schema = z.object({ id: z.string().uuid(), time: z.string().datetime({ offset: true }), n: z.number().positive().max(1), o: z.string().optional() });
    const valid = { id: '0190f1c2-3b4d-7e5f-8a9b-0c1d2e3f4a5b', time: '2026-11-30T17:00:00.000Z', n: 1 };
    const check = compileFastFit(schema, 'check')!;
    assert.deepEqual(check({ ...valid, extra: 1 })?.value, schema.parse({ ...valid, extra: 1 }));
    for (const bad of [{ ...valid, id: 'nope' }, { ...valid, time: '2026-11-30 17:00' }, { ...valid, time: '2026-02-30T00:00:00Z' }, { ...valid, n: 0 }, { ...valid, o: 3 }]) {
      assert.equal(check(bad), undefined, JSON.stringify(bad));
      assert.equal(schema.safeParse(bad).success, false);
    }
    const older: Record<string, unknown> = { ...requestCompleted() };
    delete older.cacheHit;
    delete older.attempts;
    const requestCheck = compileFastFit(requestSchema, 'check')!;
    assert.deepEqual(requestCheck(older)?.value, requestSchema.parse(older), 'defaults filled as zod fills them');
    for (const v of [null, undefined, 1, 'x', [], [requestCompleted()]]) assert.equal(requestCheck(v), undefined);
  });

  it('leaves to zod what it does not know (lazy, unions)', () => {
    assert.equal(compileFastFit(z.lazy(() => z.string())), undefined);
    assert.equal(compileFastFit(z.object({ a: z.union([z.string(), z.number()]) })), undefined);
  });
});
