import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { ClickHouseHttpStore, insertRequestsIdempotent, migrate, type RequestEventRow } from '@asc/analytics';
import { freePort } from '@asc/service-kit';
import { dropRedisKeys, eventually, infra, missingInfra, tcpReachable } from '@asc/testing';
import { ClickHouseSettledSpend, reconcileBudgets } from './budget-reconciler';
import { RedisBudgetStore } from './redis-budget.adapter';
import { connectSpendRedis } from './redis-client';
import { RedisRateLimitStore } from './redis-rate-limit.adapter';
import { RedisResponseCache } from './redis-response-cache.adapter';
import { RedisSpendAdmissions } from './redis-spend-admission';
import { responseCacheKey } from './response-cache-key';
import { pairedAdmissions } from './spend-admission';
import { SpendError } from './spend.error';
import { StreamBudgetGuard } from './stream-budget-guard';
import { budgetStoreContract, line, rid } from './testing/budget-store.contract';
import { rateLimitStoreContract } from './testing/rate-limit-store.contract';
import { answer, responseCacheContract } from './testing/response-cache.contract';
import { spendAdmissionsContract } from './testing/spend-admissions.contract';

/** A key prefix no other run uses; `drop` deletes every key under it. */
function testPrefix(): string {
  return `asc-test-${randomBytes(6).toString('hex')}:`;
}

/**
 * Two replicas' caches with a write delay no test waits for (each writes when the test flushes,
 * or when the bound on what waits is reached); returned once b listens — its subscription and
 * first SCAN are done when it serves a probe a stored.
 */
async function listeningPair(r: { clients: Redis[]; prefix: string }, caches: RedisResponseCache[]): Promise<[RedisResponseCache, RedisResponseCache]> {
  const [a, b] = r.clients.map((c) => {
    const cache = new RedisResponseCache(c, { keyPrefix: r.prefix, subscriber: c.duplicate(), writeDelayMs: 60_000 });
    caches.push(cache);
    return cache;
  });
  const probe = responseCacheKey({ tenantId: 'ta', modelAlias: 'fast', request: { messages: [{ role: 'user', content: 'probe' }] } });
  await a.set(probe, answer('probe'), 60);
  await a.flush();
  await eventually(async () => assert.deepEqual(await b.get(probe), answer('probe')), 2000, 5);
  return [a, b];
}

/** Opens one client per "replica" under a shared prefix; `close` drops the keys and quits. */
async function replicas(n: number): Promise<{ clients: Redis[]; prefix: string; close(): Promise<void> }> {
  const prefix = testPrefix();
  const clients = await Promise.all(Array.from({ length: n }, () => connectSpendRedis(infra.redisUrl)));
  return {
    clients,
    prefix,
    close: async () => {
      await dropRedisKeys(clients[0], prefix);
      await Promise.all(clients.map((c) => c.quit()));
    },
  };
}

describe('spend stores on Redis', async () => {
  const skip = await missingInfra('redis');

  describe('contracts', { skip }, () => {
    rateLimitStoreContract('redis', async (windowMs) => {
      const r = await replicas(1);
      const store = new RedisRateLimitStore(r.clients[0], { keyPrefix: r.prefix, windowMs });
      return { store, dispose: async () => (await store.close(), await r.close()) };
    });
    budgetStoreContract('redis', async ({ leaseMs }) => {
      const r = await replicas(1);
      const store = new RedisBudgetStore(r.clients[0], { keyPrefix: r.prefix, leaseMs });
      return { store, dispose: async () => (await store.close(), await r.close()) };
    });
    for (const [name, combined] of [['redis, one script per phase', true], ['redis, one call on each store', false]] as const) {
      spendAdmissionsContract(name, async () => {
        const r = await replicas(1);
        const limits = new RedisRateLimitStore(r.clients[0], { keyPrefix: r.prefix });
        const budgets = new RedisBudgetStore(r.clients[0], { keyPrefix: r.prefix });
        const admissions = combined ? new RedisSpendAdmissions(r.clients[0], limits, budgets) : pairedAdmissions(limits, budgets);
        return { admissions, budgets, dispose: async () => (await limits.close(), await budgets.close(), await r.close()) };
      });
    }
    responseCacheContract('redis', async () => {
      const r = await replicas(1);
      const cache = new RedisResponseCache(r.clients[0], { keyPrefix: r.prefix });
      return { cache, dispose: () => r.close() };
    });
    responseCacheContract('redis, with the presence filter', async () => {
      const r = await replicas(1);
      const cache = new RedisResponseCache(r.clients[0], { keyPrefix: r.prefix, subscriber: r.clients[0].duplicate() });
      return { cache, dispose: async () => (await cache.close(), await r.close()) };
    });
  });

  describe('two ingress replicas sharing one Redis', { skip }, () => {
    it('admit exactly the RPM limit between them', async () => {
      const r = await replicas(2);
      try {
        const stores = r.clients.map((c) => new RedisRateLimitStore(c, { keyPrefix: r.prefix }));
        const counters = [{ scope: 'tenant' as const, id: 'shared', kind: 'requests' as const, limit: 30 }];
        const all = await Promise.all(
          Array.from({ length: 80 }, (_, i) => stores[i % 2].consume({ tenantId: 'shared', counters, tokens: 0, failureMode: 'open' })),
        );
        assert.equal(all.filter((d) => d.allowed).length, 30);
        assert.ok(all.every((d) => !d.degraded));
      } finally {
        await r.close();
      }
    });

    it('100 concurrent requests on one budget: spend ≤ budget, every settlement counted', async () => {
      const r = await replicas(2);
      try {
        const stores = r.clients.map((c) => new RedisBudgetStore(c, { keyPrefix: r.prefix }));
        const l = line(1, 'app', 'app-1');
        // Max cost 0.04 each; actual costs vary below it, as real responses do.
        const settled = await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const store = stores[i % 2];
            const res = await store.reserve({ tenantId: 't1', requestId: rid(), lines: [l], amountUsd: 0.04, failureMode: 'open' });
            if (!res.ok) return 0;
            const cost = 0.01 + (i % 4) * 0.01;
            await store.settle(res.reservation, cost);
            return cost;
          }),
        );
        const [s] = await stores[0].status([l]);
        const total = settled.reduce((a, b) => a + b, 0);
        assert.ok(settled.filter((c) => c > 0).length >= 25, 'at least budget / max cost served');
        assert.ok(s.spentUsd <= 1 + 1e-9, `spent ${s.spentUsd} > budget`);
        assert.ok(Math.abs(s.spentUsd - total) < 1e-9, `counter ${s.spentUsd} ≠ settled ${total}: a settlement was lost`);
        assert.equal(s.reservedUsd, 0);
      } finally {
        await r.close();
      }
    });

    it('100 concurrent streams cut at the cap: spend ≤ budget + 100 × one chunk', async () => {
      const r = await replicas(2);
      try {
        const stores = r.clients.map((c) => new RedisBudgetStore(c, { keyPrefix: r.prefix }));
        const l = line(0.5, 'key', 'key-1');
        const price = 0.0001; // per output token
        const chunk = 4; // tokens per streamed chunk = check granularity g
        const results = await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const store = stores[i % 2];
            // No max_tokens: hold input (0.0002) + 16 tokens, grow as the stream runs.
            const res = await store.reserve({ tenantId: 't1', requestId: rid(), lines: [l], amountUsd: 0.0002 + 16 * price, failureMode: 'open' });
            if (!res.ok) return { spent: 0, cut: false };
            const guard = new StreamBudgetGuard(store, res.reservation, { inputCostUsd: 0.0002, outputUsdPerToken: price, extendTokens: 32 });
            let tokens = 0;
            let cut = false;
            while (tokens < 200) {
              if (guard.observe(tokens + chunk) === 'cut') {
                cut = true;
                break;
              }
              tokens += chunk;
              await guard.idle();
            }
            // A cut stream is billed for the chunk it received but did not forward.
            const spent = guard.spentUsd(cut ? tokens + chunk : tokens);
            await store.settle(guard.reservation, spent);
            return { spent, cut };
          }),
        );
        const [s] = await stores[0].status([l]);
        const total = results.reduce((a, b) => a + b.spent, 0);
        assert.ok(results.some((x) => x.cut), 'the budget ran out mid-stream');
        assert.ok(s.spentUsd <= 0.5 + 100 * chunk * price + 1e-9, `spent ${s.spentUsd} beyond the bound`);
        assert.ok(Math.abs(s.spentUsd - total) < 1e-9, 'every stream metered exactly');
        assert.equal(s.reservedUsd, 0);
      } finally {
        await r.close();
      }
    });

    it('cache entries written by one replica serve the other, per tenant only', async () => {
      const r = await replicas(2);
      try {
        const [a, b] = r.clients.map((c) => new RedisResponseCache(c, { keyPrefix: r.prefix }));
        const request = { messages: [{ role: 'user', content: 'same prompt' }] };
        await a.set(responseCacheKey({ tenantId: 'ta', modelAlias: 'fast', request }), answer('for ta'), 60);
        assert.deepEqual(await b.get(responseCacheKey({ tenantId: 'ta', modelAlias: 'fast', request })), answer('for ta'));
        assert.equal(await b.get(responseCacheKey({ tenantId: 'tb', modelAlias: 'fast', request })), undefined);
      } finally {
        await r.close();
      }
    });

    it('with the presence filter: a miss asks Redis nothing; keys stored by the other replica, or before this one started, are found', async () => {
      const r = await replicas(2);
      const caches: RedisResponseCache[] = [];
      try {
        const open = (c: Redis) => {
          const cache = new RedisResponseCache(c, { keyPrefix: r.prefix, subscriber: c.duplicate() });
          caches.push(cache);
          return cache;
        };
        const key = (prompt: string, tenantId = 'ta') => responseCacheKey({ tenantId, modelAlias: 'fast', request: { messages: [{ role: 'user', content: prompt }] } });
        const a = open(r.clients[0]);
        await a.set(key('stored before b started'), answer('early'), 60);
        await a.flush();
        const b = open(r.clients[1]);
        let gets = 0;
        const get = r.clients[1].get.bind(r.clients[1]);
        r.clients[1].get = ((k: string) => (gets++, get(k))) as typeof get;
        // b learns what is already stored (SCAN at start), then what a stores (announced).
        await eventually(async () => assert.deepEqual(await b.get(key('stored before b started')), answer('early')), 2000, 10);
        await a.set(key('same prompt'), answer('for ta'), 60);
        await eventually(async () => assert.deepEqual(await b.get(key('same prompt')), answer('for ta')), 2000, 5);
        const before = gets;
        for (let i = 0; i < 100; i++) assert.equal(await b.get(key(`never stored ${i}`)), undefined);
        assert.equal(await b.get(key('same prompt', 'tb')), undefined, 'never another tenant’s entry');
        assert.equal(gets, before, 'a key no replica stored is a miss without a round trip');
      } finally {
        for (const c of caches) await c.close();
        await r.close();
      }
    });
    it('a burst of answers of several tenants is written in one flush (a script per tenant and 64 answers) and each is served with its TTL', async () => {
      const r = await replicas(2);
      const caches: RedisResponseCache[] = [];
      try {
        const [a, b] = await listeningPair(r, caches);
        const key = (i: number, tenantId: string) => responseCacheKey({ tenantId, modelAlias: 'fast', request: { messages: [{ role: 'user', content: `prompt ${i}` }] } });
        const stored = [...Array.from({ length: 150 }, (_, i) => ({ k: key(i, 'ta'), ttl: 60 })), ...Array.from({ length: 30 }, (_, i) => ({ k: key(i, 'tb'), ttl: 5 }))];
        for (const [i, s] of stored.entries()) await a.set(s.k, answer(`answer ${i}`), s.ttl);
        await a.flush();
        await eventually(async () => assert.deepEqual(await b.get(stored[179].k), answer('answer 179')), 2000, 5); // announced
        const served = await Promise.all(stored.map((s) => b.get(s.k)));
        assert.deepEqual(served.flatMap((v, i) => (v ? [] : [i])), [], 'every answer is served by the other replica');
        for (const [i, v] of served.entries()) assert.deepEqual(v, answer(`answer ${i}`));
        const ttl = async (k: string) => r.clients[0].pttl(`${r.prefix}rc:{${k.slice(0, k.indexOf(':'))}}${k.slice(k.indexOf(':'))}`);
        const [long, short] = [await ttl(stored[0].k), await ttl(stored[150].k)];
        assert.ok(long > 55_000 && long <= 60_000, `ttl ${long}`);
        assert.ok(short > 0 && short <= 5_000, `ttl ${short}`);
      } finally {
        for (const c of caches) await c.close();
        await r.close();
      }
    });
    it('writes the waiting answers at once when they pass 4 MiB, whatever the write delay (what a replica holds is bounded)', async () => {
      const r = await replicas(2);
      const caches: RedisResponseCache[] = [];
      try {
        const [a, b] = await listeningPair(r, caches);
        const key = (i: number) => responseCacheKey({ tenantId: 'ta', modelAlias: 'fast', request: { messages: [{ role: 'user', content: `large ${i}` }] } });
        const large = (i: number) => answer(`${i}:${'x'.repeat(900 * 1024)}`);
        for (let i = 0; i < 4; i++) await a.set(key(i), large(i), 60);
        await new Promise((res) => setTimeout(res, 300));
        assert.equal(await b.get(key(0)), undefined, 'below the bound, the answers wait for the delay (60 s here)');
        await a.set(key(4), large(4), 60); // 4.4 MiB waiting: written now
        await eventually(async () => assert.deepEqual(await b.get(key(4)), large(4)), 3000, 10);
        for (let i = 0; i < 5; i++) assert.deepEqual(await b.get(key(i)), large(i));
      } finally {
        for (const c of caches) await c.close();
        await r.close();
      }
    });
  });

  describe('a Redis outage', { skip }, () => {
    let server: ChildProcess | undefined;
    let url = '';

    before(async () => {
      // A private redis-server (never the shared 6379) that the test can kill, on a port the OS
      // says is free (a random pick once collided with another suite's port and never came up).
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        url = `redis://127.0.0.1:${port}`;
        const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
        server = child;
        const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(false)));
        const up = (async () => {
          const deadline = Date.now() + 10_000;
          while (Date.now() < deadline) {
            if (await tcpReachable(`127.0.0.1:${port}`)) return true;
            await new Promise((r) => setTimeout(r, 50));
          }
          return false;
        })();
        if (await Promise.race([up, exited])) break;
        child.kill('SIGKILL');
        if (attempt === 3) assert.fail(`redis-server did not start on a free port in 3 attempts (last: ${port})`);
      }
    });
    after(() => {
      server?.kill('SIGKILL');
    });

    it('fail-open limits per replica, fail-closed refuses, the cache misses; all without waiting', async () => {
      const redis = await connectSpendRedis(url);
      const degraded: unknown[] = [];
      const limits = new RedisRateLimitStore(redis, { keyPrefix: 'o:', onDegraded: (e) => degraded.push(e) });
      const budgets = new RedisBudgetStore(redis, { keyPrefix: 'o:', onDegraded: (e) => degraded.push(e) });
      const cache = new RedisResponseCache(redis, { keyPrefix: 'o:' });
      const counters = [{ scope: 'key' as const, id: 'k', kind: 'requests' as const, limit: 2 }];
      const l = line(1);
      try {
        const key = responseCacheKey({ tenantId: 't1', modelAlias: 'm', request: { q: 1 } });
        await cache.set(key, answer('cached'), 60);
        assert.ok(await cache.get(key));
        const up = await limits.consume({ tenantId: 't1', counters, tokens: 0, failureMode: 'closed' });
        assert.equal(up.degraded, false);
        const admissions = new RedisSpendAdmissions(redis, limits, budgets, { onDegraded: (e) => degraded.push(e) });
        const t2 = line(1, 'tenant', 't2', 't2');
        const admitT2 = (failureMode: 'open' | 'closed') =>
          admissions.admit({ tenantId: 't2', counters, tokens: 10, failureMode }, { tenantId: 't2', requestId: rid(), lines: [t2], amountUsd: 0.1, failureMode });
        const shared = await admitT2('closed');
        assert.ok(shared.ok && shared.reservation?.origin === 'shared' && !shared.degraded);

        server!.kill('SIGKILL');
        await eventually(() => assert.notEqual(redis.status, 'ready'), 10_000, 20);

        const t0 = Date.now();
        // fail open: this replica's own counters apply, with the full limit.
        const open = [];
        for (let i = 0; i < 3; i++) open.push(await limits.consume({ tenantId: 't1', counters, tokens: 0, failureMode: 'open' }));
        assert.deepEqual(open.map((d) => [d.allowed, d.degraded]), [[true, true], [true, true], [false, true]]);
        const held = await budgets.reserve({ tenantId: 't1', requestId: rid(), lines: [l], amountUsd: 0.6, failureMode: 'open' });
        assert.ok(held.ok && held.degraded && held.reservation.origin === 'local');
        const over = await budgets.reserve({ tenantId: 't1', requestId: rid(), lines: [l], amountUsd: 0.6, failureMode: 'open' });
        assert.equal(over.ok, false, 'the local fallback still enforces the budget on this replica');
        if (held.ok) await budgets.settle(held.reservation, 0.5);
        // fail closed: refused with a stable code.
        await assert.rejects(
          limits.consume({ tenantId: 't1', counters, tokens: 0, failureMode: 'closed' }),
          (e: unknown) => e instanceof SpendError && e.code === 'spend_store_unavailable',
        );
        await assert.rejects(
          budgets.reserve({ tenantId: 't1', requestId: rid(), lines: [l], amountUsd: 0.1, failureMode: 'closed' }),
          (e: unknown) => e instanceof SpendError && e.code === 'spend_store_unavailable',
        );
        // One script for limits and budget: the same fallbacks, and a settlement that cannot reach Redis is dropped, not thrown.
        const local = await admitT2('open');
        assert.ok(local.ok && local.degraded && local.reservation?.origin === 'local');
        assert.deepEqual(await admissions.settle(local.rate.grant, 12, local.reservation, 0.05), []);
        await assert.rejects(admitT2('closed'), (e: unknown) => e instanceof SpendError && e.code === 'spend_store_unavailable');
        if (shared.ok) assert.deepEqual(await admissions.settle(shared.rate.grant, 12, shared.reservation, 0.05), []);
        assert.equal(await cache.get(key), undefined, 'an unreachable cache is a miss');
        await cache.set(key, answer('dropped'), 60);
        assert.ok(Date.now() - t0 < 5000, 'no request waited for a reconnect');
        assert.ok(degraded.length >= 5);
      } finally {
        await limits.close();
        await budgets.close();
        redis.disconnect();
      }
    });
  });

  describe('reconciliation with ClickHouse', { skip: skip ?? (await missingInfra('clickhouse')) }, () => {
    it('raises a counter that missed spend to the settled spend, never lowers one', async () => {
      const r = await replicas(1);
      const analytics = new ClickHouseHttpStore({ url: infra.clickhouseUrl });
      const database = `asc_test_${randomBytes(4).toString('hex')}`;
      try {
        await migrate(analytics, database);
        const now = Date.now();
        const row = (i: number, keyId: string, cost: number): RequestEventRow => ({
          event_id: `e${i}`, request_id: `r${i}`, tenant_id: 't1', app_id: 'a1', key_id: keyId, end_user_id: '', guardrail_actions: '[]', api: 'openai.chat.completions',
          stream: false, requested_model: 'm', served_model: 'm', provider: 'openai', deployment_id: 'd', region: 'eu',
          credential_id: 'c', credential_version: 1, policy_id: 'p', policy_version: 1, decision: 'allow', reason_code: '',
          status: 'ok', http_status: 200, input_tokens: 1, output_tokens: 1, cached_input_tokens: 0, reasoning_tokens: 0,
          usage_estimated: false, cost_usd: cost, latency_ms: 1, ttft_ms: 0, started_at_ms: now, occurred_at_ms: now,
        });
        await insertRequestsIdempotent(analytics, database, [row(1, 'k1', 0.25), row(2, 'k1', 0.5), row(3, 'k2', 2)]);
        const store = new RedisBudgetStore(r.clients[0], { keyPrefix: r.prefix });
        const k1 = line(10, 'key', 'k1');
        const k2 = line(10, 'key', 'k2');
        // k1's counter lost its spend (e.g. settled on a replica during an outage); k2's counter is ahead of ClickHouse.
        const res1 = await store.reserve({ tenantId: 't1', requestId: rid(), lines: [k1], amountUsd: 0.1, failureMode: 'closed' });
        assert.ok(res1.ok);
        await store.settle(res1.reservation, 0.1);
        const res2 = await store.reserve({ tenantId: 't1', requestId: rid(), lines: [k2], amountUsd: 3, failureMode: 'closed' });
        assert.ok(res2.ok);
        await store.settle(res2.reservation, 3);

        const result = await reconcileBudgets(store, new ClickHouseSettledSpend(analytics, database));
        assert.equal(result.checked, 2);
        assert.deepEqual(result.raised.map((x) => x.id), ['k1']);
        const [s1, s2] = await store.status([k1, k2]);
        assert.equal(s1.spentUsd, 0.75);
        assert.equal(s2.spentUsd, 3);
      } finally {
        await analytics.command(`DROP DATABASE IF EXISTS ${database}`);
        await analytics.close();
        await r.close();
      }
    });
  });
});
