import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { MemoryBudgetStore } from './memory-budget.adapter';
import { MemoryRateLimitStore } from './memory-rate-limit.adapter';
import { MemoryResponseCache } from './memory-response-cache.adapter';
import { admitRequest, pairedAdmissions } from './spend-admission';
import { budgetStoreContract, line, rid } from './testing/budget-store.contract';
import { rateLimitStoreContract } from './testing/rate-limit-store.contract';
import { spendAdmissionsContract } from './testing/spend-admissions.contract';
import { answer, responseCacheContract } from './testing/response-cache.contract';

// The same contracts as the Redis adapters (redis-spend.adapters.int-spec.ts), in process.
rateLimitStoreContract('in-process', async (windowMs) => {
  const store = new MemoryRateLimitStore({ windowMs });
  return { store, dispose: () => store.close() };
});
budgetStoreContract('in-process', async ({ leaseMs }) => {
  const store = new MemoryBudgetStore({ leaseMs });
  return { store, dispose: () => store.close() };
});
spendAdmissionsContract('in-process, one call on each store', async () => {
  const limits = new MemoryRateLimitStore();
  const budgets = new MemoryBudgetStore();
  return { admissions: pairedAdmissions(limits, budgets), budgets, dispose: async () => (await limits.close(), await budgets.close()) };
});
responseCacheContract('in-process LRU', async () => {
  const cache = new MemoryResponseCache();
  return { cache, dispose: () => cache.close() };
});

describe('MemoryResponseCache byte cap', () => {
  it('evicts the least recently used entries to stay under its byte cap', async () => {
    const one = Buffer.byteLength(JSON.stringify(answer('x'.repeat(100)))) + 2;
    const cache = new MemoryResponseCache({ maxBytes: one * 3 });
    for (const k of ['k1', 'k2', 'k3']) await cache.set(k, answer('x'.repeat(100)), 60);
    assert.ok(await cache.get('k1')); // k1 is now the most recently used
    await cache.set('k4', answer('x'.repeat(100)), 60);
    assert.equal(await cache.get('k2'), undefined, 'the least recently used went first');
    assert.ok(await cache.get('k1'));
    assert.ok(await cache.get('k4'));
    assert.ok(cache.sizeBytes <= one * 3);
    await cache.set('huge', answer('x'.repeat(one * 4)), 60);
    assert.equal(await cache.get('huge'), undefined, 'an entry larger than the cap is not stored');
  });
});

describe('admitRequest', () => {
  it('undoes the budget hold when the rate limit refuses, and the token charge when the budget refuses', async () => {
    const limits = new MemoryRateLimitStore();
    const budgets = new MemoryBudgetStore();
    const l = line(1);
    const rate = (tokens: number) => ({ tenantId: 't1', counters: [{ scope: 'key' as const, id: 'k', kind: 'tokens' as const, limit: 100 }], tokens, failureMode: 'open' as const });
    const budget = (amountUsd: number) => ({ tenantId: 't1', requestId: rid(), lines: [l], amountUsd, failureMode: 'open' as const });

    const tooManyTokens = await admitRequest(limits, budgets, rate(101), budget(0.5));
    assert.equal(tooManyTokens.ok, false);
    assert.equal(tooManyTokens.ok ? '' : tooManyTokens.reason, 'rate_limited');
    assert.equal((await budgets.status([l]))[0].reservedUsd, 0, 'hold released');

    const tooExpensive = await admitRequest(limits, budgets, rate(60), budget(2));
    assert.equal(tooExpensive.ok ? '' : tooExpensive.reason, 'insufficient_quota');
    const fits = await admitRequest(limits, budgets, rate(100), budget(0.5));
    assert.equal(fits.ok, true, 'the refused request left its 60 tokens refunded');
    assert.equal((await budgets.status([l]))[0].reservedUsd, 0.5);
  });
});
