import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { dropRedisKeys, infra, missingInfra } from '@asc/testing';
import type { BudgetLine, BudgetState, ThresholdCrossing } from './budget-store.port';
import { RedisBudgetStore } from './redis-budget.adapter';
import { connectSpendRedis } from './redis-client';
import { RedisRateLimitStore } from './redis-rate-limit.adapter';
import type { RateLimitCounter } from './rate-limit-store.port';
import { RedisSpendAdmissions } from './redis-spend-admission';
import type { SpendAdmission } from './spend-admission';
import { SpendError } from './spend.error';
import { LeasedSpendAdmissions, type SpendLeasesOptions } from './spend-leases';
import { line, rid } from './testing/budget-store.contract';

const HOUR = 3_600_000;

/** Two ingress replicas, each with its own Redis client and slices, on one key space. */
async function twoReplicas(options: Partial<SpendLeasesOptions> = {}) {
  const keyPrefix = `asc-test-${randomBytes(6).toString('hex')}:`;
  const crossings: ThresholdCrossing[] = [];
  const replicas = await Promise.all(
    [0, 1].map(async () => {
      const redis: Redis = await connectSpendRedis(infra.redisUrl);
      const limits = new RedisRateLimitStore(redis, { keyPrefix, windowMs: options.windowMs ?? HOUR });
      const budgets = new RedisBudgetStore(redis, { keyPrefix });
      const shared = new RedisSpendAdmissions(redis, limits, budgets);
      const leased = new LeasedSpendAdmissions(redis, shared, budgets, { keyPrefix, windowMs: HOUR, onCrossings: (c) => crossings.push(...c), ...options });
      return { redis, limits, budgets, leased };
    }),
  );
  return {
    replicas,
    crossings,
    async close() {
      for (const r of replicas) await r.leased.close().catch(() => undefined);
      await dropRedisKeys(replicas[1].redis, keyPrefix); // replica 0 may have been cut off Redis
      for (const r of replicas) r.redis.disconnect();
    },
  };
}

/**
 * Admits and settles (at `cost` each) until a request is admitted from the slices (the
 * counters are busy once a tick has seen them); returns that admission, not settled, and the
 * cost settled on the way.
 */
async function untilSliced(leased: LeasedSpendAdmissions, admit: () => Promise<SpendAdmission>, cost: number): Promise<{ sliced: SpendAdmission; settled: number }> {
  let settled = 0;
  for (let i = 0; i < 300; i++) {
    const a = await admit();
    assert.ok(a.ok);
    if (a.reservation?.origin === 'lease' && a.rate.grant.origin === 'lease') return { sliced: a, settled };
    await leased.settle(a.rate.grant, 1, a.reservation, cost);
    settled += cost;
    await sleep(2);
  }
  assert.fail('no request was admitted from a slice');
}

type Replicas = Awaited<ReturnType<typeof twoReplicas>>;

/** One request of tenant t1: `counters` charged `tokens`; with a budget line, `amountUsd` held on it. */
function request(leased: LeasedSpendAdmissions, counters: RateLimitCounter[], tokens: number, budget?: BudgetLine, amountUsd = 0, failureMode: 'open' | 'closed' = 'open'): Promise<SpendAdmission> {
  return leased.admit({ tenantId: 't1', counters, tokens, failureMode }, budget ? { tenantId: 't1', requestId: rid(), lines: [budget], amountUsd, failureMode } : undefined);
}

/** Every replica's settled spend written and its slices given back: the line as Redis holds it then, nothing reserved. */
async function writtenBack(t: Replicas, budget: BudgetLine): Promise<BudgetState> {
  for (const r of t.replicas) await r.leased.flush();
  const [state] = await t.replicas[1].budgets.status([budget]);
  assert.equal(state.reservedUsd, 0, 'every slice given back');
  return state;
}

const rpm = (limit: number): RateLimitCounter => ({ scope: 'tenant', id: 't1', kind: 'requests', limit });
const tpm = (limit: number): RateLimitCounter => ({ scope: 'tenant', id: 't1', kind: 'tokens', limit });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('spend slices (per-replica leases) on Redis', async () => {
  const skip = await missingInfra('redis');

  it('two replicas admit at most the limit between them, most of it from their slices, and give the rest back', { skip }, async () => {
    const t = await twoReplicas();
    try {
      const counters = [rpm(2000), tpm(10_000_000)];
      let admitted = 0;
      let fromSlices = 0;
      const started = Date.now();
      // 3 000 requests, 20 at a time, spread over both replicas and ~1.5 s (slices are taken once a counter is busy).
      for (let wave = 0; wave < 150; wave++) {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => request(t.replicas[i % 2].leased, counters, 10)),
        );
        for (const [i, a] of results.entries()) {
          if (!a.ok) continue;
          admitted++;
          if (a.rate.grant.origin === 'lease') fromSlices++;
          await t.replicas[i % 2].leased.settle(a.rate.grant, 12, undefined, 0);
        }
        await sleep(10);
      }
      // GCRA refills the bucket continuously: one request per 1.8 s at 2 000 an hour.
      const refill = Math.ceil((Date.now() - started) / 1800);
      assert.ok(admitted <= 2000 + refill, `admitted ${admitted} of a limit of 2000 (+${refill} refilled)`);
      assert.ok(admitted >= 1990, `the limit is usable to within the refill and rounding: ${admitted}`);
      assert.ok(fromSlices > admitted / 2, `most admissions came from slices: ${fromSlices} of ${admitted}`);
      // Slices given back: the counter in Redis holds exactly what was admitted.
      for (const r of t.replicas) await r.leased.flush();
      const probe = await t.replicas[0].limits.consume({ tenantId: 't1', counters: [tpm(10_000_000)], tokens: 0, failureMode: 'open' });
      const usedTokens = 10_000_000 - probe.states[0].remaining;
      // Every admitted request corrected from 10 to 12 tokens; the window refills ~2 800 tokens a second.
      assert.ok(Math.abs(usedTokens - admitted * 12) <= 10_000, `tokens counted ${usedTokens}, admitted × 12 = ${admitted * 12}`);
    } finally {
      await t.close();
    }
  });

  it('100 concurrent requests at a time on one budget: spend never exceeds it, it is usable to the end, the status view exact once written back', { skip }, async () => {
    const t = await twoReplicas();
    try {
      const budget = line(10, 'tenant', 't1', 't1', 'month'); // 2 500 holds: about 25 waves
      const counters = [rpm(1_000_000)];
      let spent = 0;
      let refused = 0;
      let fromSlices = 0;
      const admit = (i: number): Promise<[number, SpendAdmission]> =>
        request(t.replicas[i % 2].leased, counters, 10, budget, 0.004).then((a) => [i, a]);
      for (let wave = 0; wave < 60 && refused < 300; wave++) {
        const results = await Promise.all(Array.from({ length: 100 }, (_, i) => admit(i)));
        await Promise.all(
          results.map(async ([i, a]) => {
            if (!a.ok) return void refused++;
            if (a.reservation?.origin === 'lease') fromSlices++;
            const cost = 0.002 + (i % 5) * 0.0005; // at most the hold: no estimate error in this test
            spent += cost;
            t.crossings.push(...(await t.replicas[i % 2].leased.settle(a.rate.grant, 10, a.reservation, cost)));
          }),
        );
        await sleep(20);
      }
      assert.ok(fromSlices >= 50, `requests admitted from the replicas' slices of the budget: ${fromSlices}`);
      for (const r of t.replicas) await r.leased.flush();
      // The tail after every slice is back: requests fit until the budget does not.
      for (let i = 0; i < 3000; i++) {
        const [, a] = await admit(i);
        if (!a.ok) break;
        spent += 0.004;
        t.crossings.push(...(await t.replicas[i % 2].leased.settle(a.rate.grant, 10, a.reservation, 0.004)));
      }
      const state = await writtenBack(t, budget);
      assert.ok(Math.abs(state.spentUsd - spent) < 1e-6, `status ${state.spentUsd} = settled ${spent}`);
      assert.ok(state.spentUsd <= 10 + 1e-9, `spent ${state.spentUsd} of a 10 USD budget`);
      assert.ok(state.spentUsd > 10 - 0.004, `usable to within one request's hold: ${state.spentUsd}`);
      assert.deepEqual(
        t.crossings.map((c) => c.threshold).sort(),
        state.spentUsd >= 10 ? [0.8, 1] : [0.8],
        'each threshold reported once across both replicas',
      );
    } finally {
      await t.close();
    }
  });

  it('a slice being resized keeps admitting from the part it keeps (no request waits for, or bypasses, a resize)', { skip }, async () => {
    const t = await twoReplicas();
    try {
      const budget = line(10, 'tenant', 't1', 't1', 'month');
      const a = t.replicas[0].leased;
      const counters = [rpm(1_000_000)];
      const admit = () => request(a, counters, 1, budget, 0.001);
      const { sliced } = await untilSliced(a, admit, 0.001);
      assert.ok(sliced.ok);
      await a.settle(sliced.rate.grant, 1, sliced.reservation, 0.001);
      // Resize every slice now, and admit while the scripts are in flight.
      const internals = a as unknown as { rates: Map<string, unknown>; budgets: Map<string, unknown>; rollRate(s: unknown, want: number): Promise<void>; rollBudget(s: unknown, want: number): Promise<void> };
      const resizing = [
        ...[...internals.rates.values()].map((s) => internals.rollRate(s, 1000)),
        ...[...internals.budgets.values()].map((s) => internals.rollBudget(s, 1_000_000_000)),
      ];
      const during = await admit();
      await Promise.all(resizing);
      assert.ok(during.ok && during.rate.grant.origin === 'lease' && during.reservation?.origin === 'lease', 'admitted from the slices during their resize');
      await a.settle(during.rate.grant, 1, during.reservation, 0.001);
      await writtenBack(t, budget);
    } finally {
      await t.close();
    }
  });

  it('a budget lowered below a slice: the slice shrinks at the next resize, and spend stops at the new limit', { skip }, async () => {
    const t = await twoReplicas();
    try {
      const a = t.replicas[0].leased;
      const admitOn = (limitUsd: number) =>
        request(a, [], 0, line(limitUsd, 'tenant', 't1', 't1', 'month'), 0.004);
      const { sliced, settled } = await untilSliced(a, () => admitOn(10), 0.004);
      assert.ok(sliced.ok);
      await a.settle(sliced.rate.grant, 1, sliced.reservation, 0.004);
      let spent = settled + 0.004;
      const [before] = await t.replicas[1].budgets.status([line(10, 'tenant', 't1', 't1', 'month')]);
      const lowered = spent + 0.1;
      assert.ok(before.reservedUsd > 0.2, `the slice holds more than the new limit leaves: ${before.reservedUsd}`);
      // The operator lowers the budget; the next request carries the new limit, the next tick resizes.
      const first = await admitOn(lowered);
      if (first.ok) {
        spent += 0.004;
        await a.settle(first.rate.grant, 1, first.reservation, 0.004);
      }
      await sleep(250);
      for (let i = 0; i < 1000; i++) {
        const r = await admitOn(lowered);
        if (!r.ok) break;
        spent += 0.004;
        await a.settle(r.rate.grant, 1, r.reservation, 0.004);
      }
      const state = await writtenBack(t, line(lowered, 'tenant', 't1', 't1', 'month'));
      assert.ok(Math.abs(state.spentUsd - spent) < 1e-9);
      assert.ok(state.spentUsd <= lowered + 0.004 + 1e-9, `spent ${state.spentUsd} of a budget lowered to ${lowered} (+ one request admitted before the resize)`);
    } finally {
      await t.close();
    }
  });

  it('a stream admitted from a slice grows its hold in the slice, then in Redis past it; its cost is spent exactly once', { skip }, async () => {
    const t = await twoReplicas();
    try {
      const budget = line(10, 'tenant', 't1', 't1', 'month');
      const a = t.replicas[0].leased;
      const admit = () => request(a, [], 0, budget, 0.01);
      const { sliced: stream, settled } = await untilSliced(a, admit, 0.01);
      let spent = settled;
      assert.ok(stream.ok && stream.reservation?.origin === 'lease', 'admitted from a slice');
      const small = await a.extend(stream.reservation, 0.001);
      assert.ok(small && small.heldNano === stream.reservation.heldNano + 1_000_000, 'a small extension fits the slice');
      const [before] = await t.replicas[1].budgets.status([budget]);
      const large = await a.extend(small, 5); // more than any slice holds (at most 1/8 of the room)
      assert.ok(large, 'the rest of the budget can hold it');
      const [after] = await t.replicas[1].budgets.status([budget]);
      assert.ok(Math.abs(after.reservedUsd - before.reservedUsd - 5) < 1e-9, 'held in Redis under the request');
      assert.equal(await a.extend(large, 9), undefined, 'refused past the budget');
      await a.settle(stream.rate.grant, 0, large, 3); // spent 3: 0.011 from the slice, the rest in Redis
      spent += 3;
      const state = await writtenBack(t, budget);
      assert.ok(Math.abs(state.spentUsd - spent) < 1e-9, `spent ${state.spentUsd}, settled ${spent}`);
    } finally {
      await t.close();
    }
  });

  it('a replica that dies with a slice: its hold is released when the slice lease ends', { skip }, async () => {
    const t = await twoReplicas({ leaseTtlMs: 300 });
    try {
      const budget = line(1, 'tenant', 't1', 't1', 'month');
      const a = t.replicas[0].leased;
      for (let i = 0; i < 30; i++) {
        const r = await request(a, [], 0, budget, 0.001);
        assert.ok(r.ok);
        await a.settle(r.rate.grant, 0, r.reservation, 0.001);
        await sleep(5);
      }
      const [held] = await t.replicas[1].budgets.status([budget]);
      assert.ok(held.reservedUsd > 0, 'the replica holds a slice');
      // The replica stops renewing (as if killed): its timer is stopped without giving anything back.
      (a as unknown as { timer: NodeJS.Timeout }).timer.unref();
      clearInterval((a as unknown as { timer: NodeJS.Timeout }).timer);
      await sleep(400);
      const [after] = await t.replicas[1].budgets.status([budget]);
      assert.equal(after.reservedUsd, 0, 'the next reader released the expired slice');
    } finally {
      await t.close();
    }
  });

  it('Redis unreachable: a slice keeps admitting what it holds; then the tenant’s failure mode decides', { skip }, async () => {
    const t = await twoReplicas();
    try {
      const r = t.replicas[0];
      const counters = [rpm(1_000_000)];
      const admit = (failureMode: 'open' | 'closed') => request(r.leased, counters, 1, undefined, 0, failureMode);
      for (let i = 0; i < 40; i++) {
        const a = await admit('closed');
        assert.ok(a.ok);
        await r.leased.settle(a.rate.grant, 1, undefined, 0);
        await sleep(5);
      }
      r.redis.disconnect(); // no offline queue: every command fails at once
      const during = await admit('closed');
      assert.ok(during.ok && during.rate.grant.origin === 'lease', 'admitted from the slice without Redis');
      // Drain the slice: past it, a fail-closed tenant is refused (503), as without slices.
      let error: unknown;
      for (let i = 0; i < 100_000 && !error; i++) {
        try {
          await admit('closed');
        } catch (err) {
          error = err;
        }
      }
      assert.ok(error instanceof SpendError && error.code === 'spend_store_unavailable');
      const open = await admit('open');
      assert.ok(open.ok && open.degraded, 'fail-open: this replica’s own counters decide');
    } finally {
      await t.close();
    }
  });
});
