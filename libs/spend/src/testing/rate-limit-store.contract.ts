// The behaviour every RateLimitStore adapter must show, run by memory-rate-limit.adapter.spec.ts
// (in process) and redis-spend.adapters.int-spec.ts (real Redis). Not exported from the library.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { eventually } from '@asc/testing';
import { rateLimitHeaders } from '../rate-limit-counters';
import type { RateLimitCounter, RateLimitRequest, RateLimitStore } from '../rate-limit-store.port';
import { SpendError } from '../spend.error';

export interface RateLimitStoreUnderTest {
  store: RateLimitStore;
  dispose(): Promise<void>;
}

/** `make(windowMs)`: a fresh store (its own key space) whose limits count over windowMs. */
export function rateLimitStoreContract(name: string, make: (windowMs: number) => Promise<RateLimitStoreUnderTest>): void {
  const rpm = (id: string, limit: number, scope: RateLimitCounter['scope'] = 'key'): RateLimitCounter => ({ scope, id, kind: 'requests', limit });
  const tpm = (id: string, limit: number, scope: RateLimitCounter['scope'] = 'key'): RateLimitCounter => ({ scope, id, kind: 'tokens', limit });
  const req = (counters: RateLimitCounter[], tokens = 0, tenantId = 't1'): RateLimitRequest => ({ tenantId, counters, tokens, failureMode: 'open' });

  async function withStore(fn: (store: RateLimitStore) => Promise<void>, windowMs = 60_000): Promise<void> {
    const s = await make(windowMs);
    try {
      await fn(s.store);
    } finally {
      await s.dispose();
    }
  }

  describe(`RateLimitStore contract: ${name}`, () => {
    it('admits exactly the RPM limit, then refuses with a Retry-After and zero remaining', () =>
      withStore(async (store) => {
        const results = [];
        for (let i = 0; i < 4; i++) results.push(await store.consume(req([rpm('k1', 3)])));
        assert.deepEqual(results.map((r) => r.allowed), [true, true, true, false]);
        assert.deepEqual(results.slice(0, 3).map((r) => r.states[0].remaining), [2, 1, 0]);
        const refused = results[3];
        assert.equal(refused.states[0].exceeded, true);
        assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 20_000, `retry after ${refused.retryAfterMs}`);
        const headers = rateLimitHeaders(refused);
        assert.equal(headers['x-ratelimit-limit-requests'], '3');
        assert.equal(headers['x-ratelimit-remaining-requests'], '0');
        assert.ok(Number(headers['retry-after']) >= 1);
        assert.equal(headers['x-ratelimit-limit-tokens'], undefined);
      }));

    it('charges all counters or none: a refusal by one leaves the others untouched', () =>
      withStore(async (store) => {
        assert.equal((await store.consume(req([rpm('narrow', 1)]))).allowed, true);
        const refused = await store.consume(req([rpm('wide', 5, 'app'), rpm('narrow', 1)]));
        assert.equal(refused.allowed, false);
        assert.deepEqual(refused.states.map((s) => s.exceeded), [false, true]);
        // 'wide' was not charged by the refused request: 5 still fit.
        for (let i = 0; i < 5; i++) assert.equal((await store.consume(req([rpm('wide', 5, 'app')]))).allowed, true, `request ${i}`);
        assert.equal((await store.consume(req([rpm('wide', 5, 'app')]))).allowed, false);
      }));

    it('counts the token estimate up front and corrects it to the actual usage', () =>
      withStore(async (store) => {
        const first = await store.consume(req([tpm('k', 1000)], 800));
        assert.equal(first.allowed, true);
        assert.equal(first.states[0].remaining, 200);
        assert.equal((await store.consume(req([tpm('k', 1000)], 300))).allowed, false);
        await store.correct(first.grant, 100); // the provider used 100, not 800
        const after = await store.consume(req([tpm('k', 1000)], 300));
        assert.equal(after.allowed, true);
        assert.ok(after.states[0].remaining >= 599 && after.states[0].remaining <= 600, `remaining ${after.states[0].remaining}`);
        await store.correct(after.grant, 900); // and this one used more than estimated
        assert.equal((await store.consume(req([tpm('k', 1000)], 1))).allowed, false);
      }));

    it('marks a request larger than the whole limit as too large', () =>
      withStore(async (store) => {
        const d = await store.consume(req([tpm('k', 100)], 101));
        assert.equal(d.allowed, false);
        assert.equal(d.tooLarge, true);
      }));

    it('keeps tenants apart: the same key id in two tenants has two counters', () =>
      withStore(async (store) => {
        assert.equal((await store.consume(req([rpm('same', 1)], 0, 'tenant-a'))).allowed, true);
        assert.equal((await store.consume(req([rpm('same', 1)], 0, 'tenant-a'))).allowed, false);
        assert.equal((await store.consume(req([rpm('same', 1)], 0, 'tenant-b'))).allowed, true);
      }));

    it('admits exactly the limit out of many concurrent requests', () =>
      withStore(async (store) => {
        const all = await Promise.all(Array.from({ length: 50 }, () => store.consume(req([rpm('hot', 20), tpm('hot', 10_000)], 10))));
        assert.equal(all.filter((d) => d.allowed).length, 20);
      }));

    it('refills over the window (continuously, not at a boundary)', () =>
      withStore(async (store) => {
        assert.equal((await store.consume(req([rpm('r', 2)]))).allowed, true);
        assert.equal((await store.consume(req([rpm('r', 2)]))).allowed, true);
        const refused = await store.consume(req([rpm('r', 2)]));
        assert.equal(refused.allowed, false);
        assert.ok(refused.retryAfterMs <= 1000);
        await eventually(async () => assert.equal((await store.consume(req([rpm('r', 2)]))).allowed, true), 5000, 50);
      }, 1000));

    it('sends rate-limit headers on success too', () =>
      withStore(async (store) => {
        const d = await store.consume(req([rpm('h', 10), tpm('h', 500), tpm('h', 200, 'app')], 50));
        const h = rateLimitHeaders(d);
        assert.equal(h['x-ratelimit-limit-requests'], '10');
        assert.equal(h['x-ratelimit-remaining-requests'], '9');
        assert.equal(h['x-ratelimit-limit-tokens'], '200', 'the tightest tokens counter');
        assert.equal(h['x-ratelimit-remaining-tokens'], '150');
        assert.match(h['x-ratelimit-reset-tokens'], /^\d+(\.\d+)?(ms|s)$/);
        assert.equal(h['retry-after'], undefined);
      }));

    it('refuses malformed counters with spend_invalid_input', () =>
      withStore(async (store) => {
        for (const bad of [req([rpm('k', 0)]), req([rpm('', 1)]), req([rpm('k', 1)], -1), req([rpm('k', 1)], 0, '')]) {
          await assert.rejects(store.consume(bad), (e: unknown) => e instanceof SpendError && e.code === 'spend_invalid_input');
        }
      }));
  });
}
