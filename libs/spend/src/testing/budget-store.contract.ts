// The behaviour every BudgetStore adapter must show, run by memory-budget.adapter.spec.ts (in
// process) and redis-spend.adapters.int-spec.ts (real Redis). Not exported from the library.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { eventually } from '@asc/testing';
import { periodKeyOf } from '../budget-period';
import type { BudgetLine, BudgetReservation, BudgetStore } from '../budget-store.port';
import type { BudgetScope } from '../spend-policy';
import { SpendError } from '../spend.error';
import { StreamBudgetGuard } from '../stream-budget-guard';

export interface BudgetStoreUnderTest {
  store: BudgetStore;
  dispose(): Promise<void>;
}

export function line(limitUsd: number, scope: BudgetScope = 'tenant', id = 't1', tenantId = 't1', period: 'day' | 'month' = 'day'): BudgetLine {
  return { ref: { tenantId, scope, id, period, periodKey: periodKeyOf(period, Date.now()) }, limitUsd };
}

let seq = 0;
export const rid = (): string => `req-${process.pid}-${++seq}`;

/** `make({ leaseMs })`: a fresh store with its own key space. */
export function budgetStoreContract(name: string, make: (options: { leaseMs?: number }) => Promise<BudgetStoreUnderTest>): void {
  async function withStore(fn: (store: BudgetStore) => Promise<void>, leaseMs?: number): Promise<void> {
    const s = await make({ leaseMs });
    try {
      await fn(s.store);
    } finally {
      await s.dispose();
    }
  }

  async function reserve(store: BudgetStore, lines: BudgetLine[], amountUsd: number, tenantId = 't1'): Promise<BudgetReservation | undefined> {
    const r = await store.reserve({ tenantId, requestId: rid(), lines, amountUsd, failureMode: 'open' });
    return r.ok ? r.reservation : undefined;
  }

  describe(`BudgetStore contract: ${name}`, () => {
    it('holds the maximum cost, settles the exact cost and releases the rest', () =>
      withStore(async (store) => {
        const l = line(1);
        const r = await reserve(store, [l], 0.3);
        assert.ok(r);
        assert.deepEqual(
          (await store.status([l])).map((s) => [s.spentUsd, s.reservedUsd, s.remainingUsd]),
          [[0, 0.3, 0.7]],
        );
        await store.settle(r, 0.125);
        const [s] = await store.status([l]);
        assert.deepEqual([s.spentUsd, s.reservedUsd, s.remainingUsd], [0.125, 0, 0.875]);
      }));

    it('refuses a reservation that does not fit, naming the line, and holds nothing anywhere', () =>
      withStore(async (store) => {
        const roomy = line(10, 'tenant');
        const tight = line(0.5, 'key', 'key-1');
        assert.ok(await reserve(store, [roomy, tight], 0.4));
        const refused = await store.reserve({ tenantId: 't1', requestId: rid(), lines: [roomy, tight], amountUsd: 0.2, failureMode: 'open' });
        assert.equal(refused.ok, false);
        if (refused.ok) return;
        assert.equal(refused.refusedBy.line.ref.scope, 'key');
        assert.equal(refused.refusedBy.reservedUsd, 0.4);
        assert.ok(Math.abs(refused.refusedBy.remainingUsd - 0.1) < 1e-9);
        const [s] = await store.status([roomy]);
        assert.equal(s.reservedUsd, 0.4, 'the tenant line kept only the first hold');
      }));

    it('release drops the hold without spending', () =>
      withStore(async (store) => {
        const l = line(1);
        const r = await reserve(store, [l], 1);
        assert.ok(r);
        assert.equal(await reserve(store, [l], 0.01), undefined);
        await store.release(r);
        const [s] = await store.status([l]);
        assert.deepEqual([s.spentUsd, s.reservedUsd], [0, 0]);
        assert.ok(await reserve(store, [l], 1));
      }));

    it('extends a hold only while it fits', () =>
      withStore(async (store) => {
        const l = line(1);
        const r = await reserve(store, [l], 0.5);
        assert.ok(r);
        const grown = await store.extend(r, 0.4);
        assert.ok(grown);
        assert.equal(await store.extend(grown, 0.2), undefined);
        await store.settle(grown, 0.9);
        const [s] = await store.status([l]);
        assert.deepEqual([s.spentUsd, s.reservedUsd], [0.9, 0]);
      }));

    it('reports the 80 % and 100 % thresholds once per period', () =>
      withStore(async (store) => {
        const l = line(1);
        const crossings: number[] = [];
        const seen: number[][] = [];
        for (let i = 0; i < 12; i++) {
          const r = await reserve(store, [l], 0.1);
          if (!r) break;
          crossings.push(...(await store.settle(r, 0.1)).map((c) => c.threshold));
          seen.push((await store.status([l]))[0].thresholdsCrossed);
        }
        assert.deepEqual(crossings, [0.8, 1]);
        // The status view shows what was reported: nothing until 80 %, then 0.8, then both.
        assert.deepEqual(seen[6], []);
        assert.deepEqual(seen[7], [0.8]);
        assert.deepEqual(seen[9], [0.8, 1]);
      }));

    it('releases a hold whose lease ran out (its replica died)', () =>
      withStore(async (store) => {
        const l = line(1);
        assert.ok(await reserve(store, [l], 1));
        await eventually(async () => assert.ok(await reserve(store, [l], 1)), 5000, 50);
      }, 200));

    it('keeps tenants apart', () =>
      withStore(async (store) => {
        assert.ok(await reserve(store, [line(1, 'tenant', 'a', 'a')], 1, 'a'));
        assert.ok(await reserve(store, [line(1, 'tenant', 'b', 'b')], 1, 'b'));
        await assert.rejects(
          store.reserve({ tenantId: 'a', requestId: rid(), lines: [line(1, 'tenant', 'b', 'b')], amountUsd: 0, failureMode: 'open' }),
          (e: unknown) => e instanceof SpendError && e.code === 'spend_invalid_input',
        );
      }));

    it('never overspends under 100 concurrent requests, and loses none', () =>
      withStore(async (store) => {
        const l = line(1);
        // Each request holds 0.05 and spends 0.03: at most 20 holds fit at once.
        const outcomes = await Promise.all(
          Array.from({ length: 100 }, async () => {
            const r = await reserve(store, [l], 0.05);
            if (!r) return false;
            await store.settle(r, 0.03);
            return true;
          }),
        );
        const served = outcomes.filter(Boolean).length;
        const [s] = await store.status([l]);
        assert.ok(served >= 20, `served ${served}`);
        assert.ok(s.spentUsd <= 1 + 1e-9, `spent ${s.spentUsd}`);
        assert.ok(Math.abs(s.spentUsd - served * 0.03) < 1e-9, 'every settled request is counted');
        assert.equal(s.reservedUsd, 0);
      }));

    it('lists its counters and raises (never lowers) one to a settled spend', () =>
      withStore(async (store) => {
        const l = line(5, 'app', 'app-9');
        const r = await reserve(store, [l], 1);
        assert.ok(r);
        await store.settle(r, 1);
        const refs = await store.counters();
        assert.ok(refs.some((x) => x.scope === 'app' && x.id === 'app-9' && x.periodKey === l.ref.periodKey));
        assert.equal(await store.raiseSpent(l.ref, 0.5), false);
        assert.equal(await store.raiseSpent(l.ref, 2.5), true);
        assert.equal((await store.status([l]))[0].spentUsd, 2.5);
      }));

    it('cuts a stream at the cap: spend ≤ budget + one chunk', () =>
      withStore(async (store) => {
        const l = line(0.01);
        const price = 0.0001; // USD per output token: the budget covers 100 tokens
        const r = await reserve(store, [l], 0.001); // input 0.0005 + 5 tokens
        assert.ok(r);
        const guard = new StreamBudgetGuard(store, r, { inputCostUsd: 0.0005, outputUsdPerToken: price, extendTokens: 16 });
        const chunk = 3;
        let tokens = 0;
        while (guard.observe(tokens + chunk) === 'continue') {
          tokens += chunk;
          await guard.idle(); // tokens arrive slower than a store round trip
        }
        await store.settle(guard.reservation, guard.spentUsd(tokens + chunk)); // the refused chunk is billed too
        const [s] = await store.status([l]);
        assert.ok(tokens >= 90 && tokens <= 95, `forwarded ${tokens} tokens`);
        assert.ok(s.spentUsd <= 0.01 + chunk * price + 1e-12, `spent ${s.spentUsd}`);
        assert.equal(s.reservedUsd, 0);
      }));

    it('reports 100 % for a stream cut at its last token, though the spend stops short of the limit', () =>
      withStore(async (store) => {
        const l = line(0.01);
        const price = 0.0001;
        // Input 0.00055: the limit is not a whole number of tokens past it, as with most prices.
        const r = await reserve(store, [l], 0.00105);
        assert.ok(r);
        const guard = new StreamBudgetGuard(store, r, { inputCostUsd: 0.00055, outputUsdPerToken: price, extendTokens: 16 });
        let tokens = 0;
        while (guard.observe(tokens + 1) === 'continue') {
          tokens += 1;
          await guard.idle();
        }
        assert.equal(guard.reachedBudget, true);
        // What the client got: the refused token is neither sent nor metered.
        const crossed = (await store.settle(guard.reservation, guard.spentUsd(tokens))).map((c) => c.threshold);
        assert.ok((await store.status([l]))[0].spentUsd < 0.01);
        assert.deepEqual([...crossed, ...(await store.markReached(guard.reservation, price)).map((c) => c.threshold)], [0.8, 1]);
        assert.deepEqual(await store.markReached(guard.reservation, price), [], 'once per period');
        assert.deepEqual((await store.status([l]))[0].thresholdsCrossed, [0.8, 1]);
      }));

    it('does not report 100 % while more than the margin is left', () =>
      withStore(async (store) => {
        const l = line(1);
        const r = await reserve(store, [l], 0.5);
        assert.ok(r);
        await store.settle(r, 0.5);
        assert.deepEqual(await store.markReached(r, 0.01), []);
        assert.deepEqual((await store.status([l]))[0].thresholdsCrossed, []);
      }));
  });
}
