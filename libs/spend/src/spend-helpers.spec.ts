import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from '@asc/audit-proof';
import { budgetKey, budgetLines, parseBudgetKey, periodBoundsMs, periodKeyOf } from './budget-period';
import { gcraAdjust, gcraStep } from './gcra';
import { usdToNano, usdToNanoCeil } from './money';
import { formatDuration, rateLimitCounters, rateLimitHeaders } from './rate-limit-counters';
import type { RateLimitCounterState, RateLimitDecision } from './rate-limit-store.port';
import { CACHE_NEUTRAL_FIELDS, cacheBypassRequested, responseCacheKey } from './response-cache-key';
import type { SpendPolicy } from './spend-policy';

const policy = (p: Partial<SpendPolicy>): SpendPolicy => ({ budgets: [], cacheEnabled: false, cacheTtlSeconds: 0, limitsFailureMode: '', ...p });

describe('rate-limit counters from a policy', () => {
  it('charges every scope with a limit, skips 0 = unlimited and a request without an end user', () => {
    const counters = rateLimitCounters(
      policy({ tenantLimit: { rpm: 100, tpm: 0 }, keyLimit: { rpm: 10, tpm: 5000 }, endUserLimit: { rpm: 1, tpm: 1 }, modelLimit: { rpm: 0, tpm: 900 } }),
      { tenantId: 't', appId: 'a', keyId: 'k', endUserId: '', model: 'fast' },
    );
    assert.deepEqual(
      counters.map((c) => `${c.scope}:${c.id}:${c.kind}:${c.limit}`),
      ['tenant:t:requests:100', 'key:k:requests:10', 'key:k:tokens:5000', 'model:fast:tokens:900'],
    );
  });
});

describe('GCRA', () => {
  it('admits no more than limit units in any window, whatever the arrival pattern', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 10 })), { maxLength: 200 }), (limit, arrivals) => {
        const windowMs = 1000;
        let tat: number | undefined;
        let now = 0;
        const admitted: Array<[number, number]> = [];
        for (const [gap, cost] of arrivals) {
          now += gap % 50;
          const s = gcraStep(tat, now, limit, cost, windowMs);
          if (s.allowed) {
            tat = s.tat;
            admitted.push([now, cost]);
          }
        }
        // Token bucket: in any interval of length d, at most limit + d·limit/window units.
        for (const [t0] of admitted) {
          const inWindow = admitted.filter(([t]) => t >= t0 && t < t0 + windowMs).reduce((a, [, c]) => a + c, 0);
          assert.ok(inWindow <= 2 * limit, `${inWindow} units within a window of limit ${limit}`);
        }
        const total = admitted.reduce((a, [, c]) => a + c, 0);
        assert.ok(total <= limit + (now * limit) / windowMs + 1e-6);
      }),
    );
  });

  it('refunds a correction but never before now', () => {
    assert.equal(gcraAdjust(5000, 1000, 10, -100, 1000), 1000);
    assert.equal(gcraAdjust(1500, 1000, 10, 2, 1000), 1700);
  });
});

describe('budget periods', () => {
  it('uses UTC calendar days and months', () => {
    const ms = Date.parse('2026-11-30T23:59:59.999Z');
    assert.equal(periodKeyOf('day', ms), '2026-11-30');
    assert.equal(periodKeyOf('month', ms), '2026-11');
    assert.equal(periodKeyOf('day', ms + 1), '2026-12-01');
    assert.deepEqual(periodBoundsMs('month', '2026-12'), { startMs: Date.parse('2026-12-01T00:00:00Z'), endMs: Date.parse('2027-01-01T00:00:00Z') });
  });

  it('names the right period whichever was asked last (the current one is remembered)', () => {
    const newYear = Date.parse('2027-01-01T00:00:00Z');
    assert.equal(periodKeyOf('month', newYear), '2027-01');
    assert.equal(periodKeyOf('month', newYear - 1), '2026-12'); // a late settlement of the month before
    assert.equal(periodKeyOf('month', newYear), '2027-01');
    assert.equal(periodKeyOf('day', newYear - 1), '2026-12-31');
    assert.equal(periodKeyOf('day', newYear + 86_399_999), '2027-01-01');
    assert.equal(periodKeyOf('day', newYear + 86_400_000), '2027-01-02');
    assert.deepEqual(periodBoundsMs('day', '2027-01-02'), { startMs: newYear + 86_400_000, endMs: newYear + 2 * 86_400_000 });
    assert.deepEqual(periodBoundsMs('day', '2027-01-02'), { startMs: newYear + 86_400_000, endMs: newYear + 2 * 86_400_000 });
  });

  it('names each line by the scope id from the key, and keys round-trip (hostile ids too)', () => {
    const lines = budgetLines(
      [{ scope: 'tenant', period: 'day', usd: 1 }, { scope: 'app', period: 'month', usd: 2 }, { scope: 'key', period: 'day', usd: 3 }],
      { tenantId: 'te{n}:a*nt', appId: 'ap:p', keyId: 'k%ey', endUserId: '', model: 'm' },
      Date.parse('2026-11-30T12:00:00Z'),
    );
    assert.deepEqual(lines.map((l) => l.ref.id), ['te{n}:a*nt', 'ap:p', 'k%ey']);
    for (const l of lines) assert.deepEqual(parseBudgetKey('p:', budgetKey('p:', l.ref)), l.ref);
  });
});

describe('money', () => {
  it('rounds reservations up and never loses a nano-dollar summing request costs', () => {
    assert.equal(usdToNanoCeil(0.0000001234), 124);
    assert.equal(usdToNano(0.3), 300_000_000);
    let sum = 0;
    for (let i = 0; i < 1000; i++) sum += usdToNano(0.000015);
    assert.equal(sum, 15_000_000);
  });
});

describe('OpenAI rate-limit durations', () => {
  it('formats like OpenAI', () => {
    assert.equal(formatDuration(20), '20ms');
    assert.equal(formatDuration(1000), '1s');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(360_000), '6m0s');
  });
});

describe('x-ratelimit headers', () => {
  const state = (scope: 'tenant' | 'key' | 'end_user', kind: 'requests' | 'tokens', limit: number, remaining: number, exceeded = false): RateLimitCounterState => ({
    counter: { scope, id: scope, kind, limit },
    remaining,
    resetMs: 1500,
    retryAfterMs: exceeded ? 2500 : 0,
    exceeded,
  });
  const decision = (states: RateLimitCounterState[]): RateLimitDecision => {
    const allowed = !states.some((s) => s.exceeded);
    return { allowed, states, retryAfterMs: allowed ? 0 : 2500, tooLarge: false, degraded: false, grant: { tenantId: 't', counters: states.map((s) => s.counter), tokens: 0, origin: 'shared' } };
  };

  it('reports, per kind, the counter that binds: the refusing one, else the least remaining, else the lower limit', () => {
    const h = rateLimitHeaders(
      decision([state('tenant', 'requests', 1000, 40), state('key', 'requests', 100, 40), state('end_user', 'requests', 10, 60), state('tenant', 'tokens', 9000, 5, true), state('key', 'tokens', 500, 0)]),
    );
    assert.deepEqual(h, {
      'x-ratelimit-limit-requests': '100',
      'x-ratelimit-remaining-requests': '40',
      'x-ratelimit-reset-requests': '1.5s',
      'x-ratelimit-limit-tokens': '9000',
      'x-ratelimit-remaining-tokens': '5',
      'x-ratelimit-reset-tokens': '1.5s',
      'retry-after': '3',
    });
  });

  it('sends only the kinds a request was counted in, and no Retry-After when it was admitted', () => {
    assert.deepEqual(rateLimitHeaders(decision([state('tenant', 'tokens', 9000, 10), state('key', 'tokens', 500, 20)])), {
      'x-ratelimit-limit-tokens': '9000',
      'x-ratelimit-remaining-tokens': '10',
      'x-ratelimit-reset-tokens': '1.5s',
    });
    assert.deepEqual(rateLimitHeaders(decision([])), {});
  });
});

describe('response cache key', () => {
  it('is independent of key order and delivery fields, and starts with the tenant', () => {
    const a = responseCacheKey({ tenantId: 't', modelAlias: 'm', request: { messages: [{ role: 'user', content: 'hi' }], temperature: 0 } });
    const b = responseCacheKey({ tenantId: 't', modelAlias: 'm', request: { temperature: 0, stream: true, user: 'u1', messages: [{ content: 'hi', role: 'user' }] } });
    assert.equal(a, b);
    assert.match(a, /^t:[0-9a-f]{64}$/);
    assert.notEqual(a, responseCacheKey({ tenantId: 't', modelAlias: 'other', request: { messages: [{ role: 'user', content: 'hi' }], temperature: 0 } }));
    assert.notEqual(a, responseCacheKey({ tenantId: 't', modelAlias: 'm', request: { messages: [{ role: 'user', content: 'hi' }], temperature: 0 }, options: { redaction: 2 } }));
  });

  it('keeps its definition, so entries stored by an earlier release are still found: SHA-256 of canonical JSON of { t, m, r, o }', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }),
        (tenantId, modelAlias, request, options) => {
          const r = Object.fromEntries(Object.entries(request).filter(([k]) => !CACHE_NEUTRAL_FIELDS.has(k)));
          const expected = `${encodeURIComponent(tenantId)}:${createHash('sha256').update(canonicalJson({ t: tenantId, m: modelAlias, r, o: options ?? {} })).digest('hex')}`;
          assert.equal(responseCacheKey({ tenantId, modelAlias, request, options }), expected);
        },
      ),
    );
  });

  it('honours the client asking to bypass', () => {
    assert.equal(cacheBypassRequested('no-cache'), true);
    assert.equal(cacheBypassRequested('max-age=0, No-Store'), true);
    assert.equal(cacheBypassRequested('max-age=60'), false);
    assert.equal(cacheBypassRequested(undefined), false);
  });
});
