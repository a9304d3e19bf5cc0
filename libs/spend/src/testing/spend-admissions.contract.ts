// The behaviour every SpendAdmissions must show, whether it calls each store (pairedAdmissions,
// in process and on Redis) or runs one script for both (RedisSpendAdmissions). Run by
// memory-spend.adapters.spec.ts and redis-spend.adapters.int-spec.ts. Not exported from the library.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { BudgetStore } from '../budget-store.port';
import type { RateLimitCounter } from '../rate-limit-store.port';
import type { SpendAdmissions } from '../spend-admission';
import { line, rid } from './budget-store.contract';

export interface SpendAdmissionsUnderTest {
  admissions: SpendAdmissions;
  budgets: BudgetStore;
  dispose(): Promise<void>;
}

const rpm = (limit: number): RateLimitCounter => ({ scope: 'key', id: 'k1', kind: 'requests', limit });
const tpm = (limit: number): RateLimitCounter => ({ scope: 'tenant', id: 't1', kind: 'tokens', limit });

export function spendAdmissionsContract(name: string, make: () => Promise<SpendAdmissionsUnderTest>): void {
  async function withAdmissions(fn: (s: SpendAdmissionsUnderTest) => Promise<void>): Promise<void> {
    const s = await make();
    try {
      await fn(s);
    } finally {
      await s.dispose();
    }
  }

  const admit = (s: SpendAdmissionsUnderTest, counters: RateLimitCounter[], tokens: number, amountUsd?: number) =>
    s.admissions.admit(
      { tenantId: 't1', counters, tokens, failureMode: 'open' },
      amountUsd === undefined ? undefined : { tenantId: 't1', requestId: rid(), lines: [line(1)], amountUsd, failureMode: 'open' },
    );

  describe(`SpendAdmissions contract: ${name}`, () => {
    it('admits within limits and budget: the counters are charged and the hold is taken', () =>
      withAdmissions(async (s) => {
        const a = await admit(s, [rpm(10), tpm(1000)], 100, 0.25);
        assert.ok(a.ok && a.reservation && !a.degraded);
        assert.deepEqual(a.rate.states.map((st) => st.remaining), [9, 900]);
        const [state] = await s.budgets.status([line(1)]);
        assert.equal(state.reservedUsd, 0.25);
      }));

    it('over a rate limit: refused, and nothing is held on the budget', () =>
      withAdmissions(async (s) => {
        assert.ok((await admit(s, [rpm(1)], 0, 0.25)).ok);
        const refused = await admit(s, [rpm(1)], 0, 0.25);
        assert.ok(!refused.ok && refused.reason === 'rate_limited' && refused.rate.retryAfterMs > 0);
        const [state] = await s.budgets.status([line(1)]);
        assert.equal(state.reservedUsd, 0.25, 'only the admitted request holds');
      }));

    it('over the budget: refused, its token estimate refunded, its request still counted', () =>
      withAdmissions(async (s) => {
        assert.ok((await admit(s, [rpm(10), tpm(1000)], 100, 0.75)).ok);
        const refused = await admit(s, [rpm(10), tpm(1000)], 200, 0.5);
        assert.ok(!refused.ok && refused.reason === 'insufficient_quota');
        assert.equal(refused.refusedBy.remainingUsd, 0.25);
        const next = await admit(s, [rpm(10), tpm(1000)], 50);
        assert.ok(next.ok);
        // RPM: three requests counted; TPM: 100 + 50, the refused 200 given back.
        assert.deepEqual(next.rate.states.map((st) => st.remaining), [7, 850]);
      }));

    it('settles: the tokens corrected to the usage, the hold replaced by the cost, thresholds reported once', () =>
      withAdmissions(async (s) => {
        const a = await admit(s, [tpm(1000)], 100, 0.9);
        assert.ok(a.ok && a.reservation);
        const crossings = await s.admissions.settle(a.rate.grant, 300, a.reservation, 0.85);
        assert.deepEqual(crossings.map((c) => c.threshold), [0.8]);
        const [state] = await s.budgets.status([line(1)]);
        assert.deepEqual([state.spentUsd, state.reservedUsd], [0.85, 0]);
        const next = await admit(s, [tpm(1000)], 0, 0.1);
        assert.ok(next.ok && next.reservation);
        assert.equal(next.rate.states[0].remaining, 700, 'TPM counts the 300 used, not the 100 estimated');
        // A release (cost 0) gives the hold back and reports nothing.
        assert.deepEqual(await s.admissions.settle(next.rate.grant, 0, next.reservation, 0), []);
        const [after] = await s.budgets.status([line(1)]);
        assert.deepEqual([after.spentUsd, after.reservedUsd], [0.85, 0]);
      }));
  });
}
