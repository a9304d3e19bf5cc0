import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { compileFastCheck } from './fast-check';
import { EVENT_BUDGET_THRESHOLD, EVENT_CONTROL_CONFIG_CHANGED, EVENT_GATEWAY_REQUEST_COMPLETED, eventCatalog } from './event-map';
import { requestCompleted } from './request-completed.fixture';

const samples: Array<[z.ZodTypeAny, Record<string, unknown>]> = [
  [eventCatalog[EVENT_GATEWAY_REQUEST_COMPLETED].schema, { ...requestCompleted() }],
  [
    eventCatalog[EVENT_GATEWAY_REQUEST_COMPLETED].schema,
    {
      ...requestCompleted(),
      attempts: [{ deploymentId: 'd1', provider: 'openai', region: 'eu', status: 'error', reasonCode: 'upstream_5xx', latencyMs: 12.5 }],
      guardrails: [{ detector: 'email', action: 'redact', count: 2 }],
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    },
  ],
  [eventCatalog[EVENT_BUDGET_THRESHOLD].schema, { tenantId: 't', scope: 'key', scopeId: 'k1', period: 'month', periodKey: '2026-11', threshold: 0.8, limitUsd: 100, spentUsd: 80.5 }],
  [eventCatalog[EVENT_CONTROL_CONFIG_CHANGED].schema, { tenantId: 't', kind: 'policy', entityId: 'p1', keyHash: '' }],
  [
    z.object({ id: z.string().uuid(), time: z.string().datetime({ offset: true }), n: z.number().positive().max(1), o: z.string().optional() }),
    { id: '0190f1c2-3b4d-7e5f-8a9b-0c1d2e3f4a5b', time: '2026-11-30T17:00:00.000Z', n: 1 },
  ],
];

/** Values that sit on or just past the edges zod checks. */
const edge = fc.oneof(
  fc.constantFrom(undefined, null, '', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(256), 'x'.repeat(257), '2026-11', '2026-11-30', 'November'),
  fc.constantFrom(0, -0, -1, 0.5, 1, 1.5, 599, 600, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2),
  fc.constantFrom(true, false, 'allow', 'deny', 'ok', 'block', 'key', 'month', 'policy', '2026-11-30T17:00:00Z', '2026-11-30 17:00'),
  fc.constantFrom([], [{}], {}, [{ detector: 'e', action: 'allow', count: 1 }], new Array(17).fill({ deploymentId: '', provider: '', region: '', status: '', reasonCode: '', latencyMs: 0 })),
  fc.anything(),
);

describe('compileFastCheck', () => {
  it('accepts every valid sample with exactly the value zod returns (defaults filled, unknown keys dropped)', () => {
    for (const [schema, sample] of samples) {
      const input = { ...sample, extraField: 'dropped' };
      const fast = compileFastCheck(schema)(input);
      assert.ok(fast.ok, 'a valid payload must take the fast path');
      assert.deepEqual(fast.value, schema.parse(input));
    }
    const older: Record<string, unknown> = { ...requestCompleted() };
    delete older.cacheHit;
    delete older.attempts;
    const fast = compileFastCheck(eventCatalog[EVENT_GATEWAY_REQUEST_COMPLETED].schema)(older);
    assert.ok(fast.ok);
    assert.deepEqual(fast.value, eventCatalog[EVENT_GATEWAY_REQUEST_COMPLETED].schema.parse(older));
  });

  it('never accepts what zod rejects, and agrees with zod on the value (random mutations)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: samples.length - 1 }),
        fc.array(fc.tuple(fc.nat(), edge, fc.boolean()), { minLength: 1, maxLength: 4 }),
        (which, mutations) => {
          const [schema, sample] = samples[which];
          const keys = Object.keys(sample);
          const input: Record<string, unknown> = { ...sample };
          for (const [k, value, remove] of mutations) {
            const key = keys[k % keys.length];
            if (remove) delete input[key];
            else input[key] = value;
          }
          const fast = compileFastCheck(schema)(input);
          const slow = schema.safeParse(input);
          if (fast.ok) {
            assert.ok(slow.success, `fast check accepted what zod rejects: ${JSON.stringify(Object.keys(input))}`);
            assert.deepEqual(fast.value, slow.data);
          }
          return true;
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('rejects non-objects and wrong types at the root', () => {
    const check = compileFastCheck(eventCatalog[EVENT_GATEWAY_REQUEST_COMPLETED].schema);
    for (const v of [null, undefined, 1, 'x', [], [requestCompleted()], new Date()]) assert.equal(check(v).ok, false);
  });
});
