import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MemoryEventBus } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ServiceMetrics } from '@asc/service-kit';
import { SimulatorHandle, startSimulator } from '@asc/simulator';
import { budgetLines, connectSpendRedis, RedisBudgetStore, type SpendPolicy } from '@asc/spend';
import { hashApiKey } from '@asc/tenancy';
import { dropRedisKeysAt, eventually, infra, missingInfra } from '@asc/testing';
import { ControlPlane, Deployment, Principal } from './control-plane.port';
import { allowDecision, testPrincipal } from './decision.fixture';
import { IngressMetrics } from './ingress.metrics';
import { DEFAULT_RESILIENCE } from './ingress.tokens';
import { toRequestEvent } from './request-context';
import { RequestRunner } from './request-runner';
import { ResponseSink } from './runner.types';
import { createSpendSteps, type SpendSteps } from './spend-steps.factory';

// Two ingress replicas (two runners, each with its own Redis connection and stores) sharing
// one Redis: limits and budgets hold across them, as they must behind a load balancer.
const KEY = 'asc_spend-int-key-000000001';
const principal: Principal = testPrincipal({ tenantId: 'tenant_r', appId: 'app_r', keyId: 'key_r' });

class FakeControlPlane implements ControlPlane {
  constructor(private readonly deployments: Deployment[]) {}
  async authenticate(keyHash: string) {
    return keyHash === hashApiKey(KEY) ? principal : undefined;
  }
  async decide() {
    return allowDecision({ allowedRegions: ['eu-west-1'], policyId: 'pol_r' });
  }
  async plan() {
    return { deployments: this.deployments, configVersion: 1 };
  }
  async listModels() {
    return [];
  }
  async lease() {
    return { leaseId: 'l', credentialId: 'cred_1', version: 1, secret: 'sk-provider-secret', expiresAtMs: Date.now() + 60_000 };
  }
  invalidate(): void {
    // nothing cached
  }
  async close(): Promise<void> {
    // nothing held
  }
}

function sink(): ResponseSink & { status: number; text: string; headers: Record<string, string> } {
  const s = {
    status: 0,
    text: '',
    headers: {} as Record<string, string>,
    started: false,
    closed: false,
    json(status: number, _body: unknown, headers: Record<string, string>) {
      Object.assign(s, { status, headers, started: true });
    },
    openStream(headers: Record<string, string>) {
      Object.assign(s, { status: 200, headers, started: true });
    },
    write(t: string) {
      s.text += t;
    },
    end() {
      // nothing to flush
    },
    onClose() {
      // never hangs up
    },
  };
  return s;
}

describe('spend steps: two ingress replicas sharing Redis', async () => {
  const skip = await missingInfra('redis');
  let sim: SimulatorHandle;
  let bus: MemoryEventBus;
  let upstream: OpenAICompatibleClient;
  let replicas: Array<{ runner: RequestRunner; spend: SpendSteps }> = [];
  let prefix = '';
  let policy: SpendPolicy = { budgets: [], cacheEnabled: false, cacheTtlSeconds: 60, limitsFailureMode: '' };

  async function startReplicas(p: SpendPolicy, redisUrl = infra.redisUrl, leases = true): Promise<void> {
    policy = p;
    prefix = `asc-test-${randomBytes(6).toString('hex')}:`;
    const deployment: Deployment = {
      id: 'dep_r', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', baseUrl: `${sim.url}/openai/v1`, credentialId: 'cred_1',
      price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2, cachedInputPerMtokUsd: 0.5 }, weight: 100, priority: 100, operations: [], timeouts: undefined, tenantOwned: false,
    };
    replicas = [];
    for (let i = 0; i < 2; i++) {
      const spend = await createSpendSteps(
        { ASC_REDIS_URL: redisUrl, INGRESS_REDIS_KEY_PREFIX: prefix, INGRESS_REDIS_COMMAND_TIMEOUT_MS: 2000, INGRESS_CACHE_MAX_BYTES: 1 << 20, INGRESS_BUDGET_DEFAULT_MAX_OUTPUT_TOKENS: 32, INGRESS_SPEND_LEASES: leases },
        { events: bus, policyOf: () => policy },
      );
      assert.equal(spend.mode, 'redis');
      const metrics = new IngressMetrics(new ServiceMetrics('ingress', false), bus);
      const runner = new RequestRunner(new FakeControlPlane([deployment]), bus, upstream, { resilience: { ...DEFAULT_RESILIENCE, backoffBaseMs: 1 } }, spend.steps, metrics);
      replicas.push({ runner, spend });
    }
  }

  async function stopReplicas(): Promise<void> {
    await dropRedisKeysAt(infra.redisUrl, prefix);
    for (const r of replicas) await r.spend.close();
  }

  async function call(i: number, body: Record<string, unknown>) {
    const s = sink();
    const headers: Record<string, string> = { authorization: `Bearer ${KEY}` };
    const ctx = await replicas[i % 2].runner.run(
      { api: 'openai', operation: 'chat.completions', recordApi: 'openai.chat', body: { model: 'support-chat', messages: [{ role: 'user', content: `hello ${i}` }], ...body }, header: (n) => headers[n] },
      s,
    );
    return { sink: s, event: toRequestEvent(ctx) };
  }

  before(async () => {
    if (skip) return;
    sim = await startSimulator({ port: 0, acceptedKeys: ['sk-provider-secret'] });
    bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
    upstream = new OpenAICompatibleClient();
  });
  after(async () => {
    if (skip) return;
    await upstream.close();
    await bus.close();
    await sim.close();
  });

  it('100 concurrent requests on one budget: spend ≤ budget, every cost settled, refusals before any upstream call', { skip }, async () => {
    await startReplicas({ budgets: [{ scope: 'app', period: 'day', usd: 0.002 }], cacheEnabled: false, cacheTtlSeconds: 0, limitsFailureMode: '' });
    try {
      sim.configure({ replyWords: 20, tokensPerSec: 0 });
      sim.reset();
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => call(i, { max_tokens: 50 })));
      const served = results.filter((r) => r.sink.status === 200);
      const refused = results.filter((r) => r.sink.status === 429);
      assert.equal(served.length + refused.length, 100);
      assert.ok(refused.every((r) => r.event.reasonCode === 'insufficient_quota'));
      assert.equal(sim.stats().total, served.length, 'no refused request reached the provider');
      const spent = served.reduce((a, r) => a + r.event.costUsd, 0);
      // Each holds 50 output tokens + the input estimate (≈ 0.000109 USD): 18 fit at once.
      assert.ok(served.length >= 18, `served ${served.length}`);
      assert.ok(spent <= 0.002 + 1e-12, `spent ${spent}`);
      const redis = await connectSpendRedis(infra.redisUrl);
      const store = new RedisBudgetStore(redis, { keyPrefix: prefix });
      const [state] = await store.status(budgetLines(policy.budgets, { ...principal, endUserId: '', model: 'support-chat' }, Date.now()));
      await redis.quit();
      assert.ok(Math.abs(state.spentUsd - spent) < 1e-9, `store ${state.spentUsd} ≠ metered ${spent}: a settlement was lost`);
      assert.equal(state.reservedUsd, 0);
    } finally {
      await stopReplicas();
    }
  });

  it('hold one RPM limit between them', { skip }, async () => {
    await startReplicas({ keyLimit: { rpm: 10, tpm: 0 }, budgets: [], cacheEnabled: false, cacheTtlSeconds: 0, limitsFailureMode: '' });
    try {
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i, {})));
      assert.equal(results.filter((r) => r.sink.status === 200).length, 10);
      assert.ok(results.filter((r) => r.sink.status === 429).every((r) => Number(r.sink.headers['retry-after']) >= 1));
    } finally {
      await stopReplicas();
    }
  });

  it('cut concurrent streams at the shared budget: spend ≤ budget + one chunk per stream', { skip }, async () => {
    await startReplicas({ budgets: [{ scope: 'tenant', period: 'month', usd: 0.0005 }], cacheEnabled: false, cacheTtlSeconds: 0, limitsFailureMode: '' });
    try {
      sim.configure({ replyWords: 200, tokensPerSec: 2000 });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i, { stream: true })));
      const spent = results.reduce((a, r) => a + r.event.costUsd, 0);
      const cut = results.filter((r) => r.event.reasonCode === 'insufficient_quota' && r.sink.text.includes('insufficient_quota') && r.sink.status === 200);
      assert.ok(cut.length >= 1, 'some stream reached the cap mid-way');
      const chunkTokens = 4;
      assert.ok(spent <= 0.0005 + 20 * chunkTokens * 2e-6 + 1e-12, `spent ${spent}`);
    } finally {
      sim.configure({ replyWords: 20, tokensPerSec: 0 });
      await stopReplicas();
    }
  });

  it('without slices: one Redis round trip before the upstream call, with limits, budgets and the cache on', { skip }, async () => {
    // A proxy in front of Redis counts what the replica sends: one write = one round trip
    // (auto-pipelining puts the commands issued in one tick in one write), and the commands in it.
    const counter = await redisCountingProxy(infra.redisUrl);
    await startReplicas(
      BUSY_TENANT,
      counter.url,
      false,
    );
    try {
      sim.configure({ replyWords: 20, tokensPerSec: 0 });
      // Warm: the scripts are loaded (a NOSCRIPT costs one more trip, once per Redis restart).
      for (let i = 0; i < 3; i++) await call(0, { messages: [{ role: 'user', content: `warm ${i}` }] });
      await call(0, { stream: true });
      await new Promise((res) => setTimeout(res, 100)); // the warm-up's settlements and stored answers are sent
      const measure = async (label: string, body: Record<string, unknown>) => {
        const before = counter.snapshot();
        const r = await call(0, body);
        await new Promise((res) => setTimeout(res, 150)); // the settlement runs after the answer; a stored answer is written within 50 ms
        const after = counter.snapshot();
        const trips = { label, writes: after.writes - before.writes, commands: after.commands - before.commands, cache: r.sink.headers['x-asc-cache'] };
        console.log(`[spend] Redis per request, ${label}: ${trips.writes} round trips, ${trips.commands} commands`);
        return trips;
      };
      const miss = await measure('cache miss', { messages: [{ role: 'user', content: 'count me' }] });
      const hit = await measure('cache hit', { messages: [{ role: 'user', content: 'count me' }] });
      const stream = await measure('stream (not cached)', { stream: true, messages: [{ role: 'user', content: 'count my stream' }] });
      assert.deepEqual([miss.cache, hit.cache], ['miss', 'hit']);
      // Before the upstream call, one round trip: the RPM/TPM check and budget hold (one script;
      // the lookup of a key no replica stored costs none). After the answer: TPM correction +
      // settlement (one script), and the answer stored with its announcement (SET + PUBLISH).
      assert.deepEqual([miss.writes, miss.commands], [3, 4]);
      // A hit: the admission and the GET in one round trip, then the hold released (its TPM estimate stays charged).
      assert.deepEqual([hit.writes, hit.commands], [2, 3]);
      // A stream is not stored; its hold may be extended once in the background (32-token default hold here).
      assert.ok(stream.writes >= 2 && stream.writes <= 3, `stream: ${stream.writes}`);
    } finally {
      await stopReplicas();
      await counter.close();
    }
  });

  it('share the response cache per tenant: a prompt answered on one replica is a hit on the other once announced', { skip }, async () => {
    await startReplicas({ budgets: [], cacheEnabled: true, cacheTtlSeconds: 60, limitsFailureMode: '' });
    try {
      sim.reset();
      const first = await call(0, { temperature: 0, messages: [{ role: 'user', content: 'same prompt' }] });
      // Stored answers are written and announced every 50 ms (INGRESS_CACHE_WRITE_DELAY_MS): the other replica knows it right after.
      await new Promise((res) => setTimeout(res, 250));
      const second = await call(1, { temperature: 0, messages: [{ role: 'user', content: 'same prompt' }] });
      assert.equal(first.sink.headers['x-asc-cache'], 'miss');
      assert.equal(second.sink.headers['x-asc-cache'], 'hit');
      assert.equal(second.event.cacheHit, true);
      assert.equal(sim.stats().total, 1);
    } finally {
      await stopReplicas();
    }
  });
  it('with slices (the default): no Redis round trip before the upstream call of a cache miss; the spend reaches Redis within a tick', { skip }, async () => {
    const counter = await redisCountingProxy(infra.redisUrl);
    await startReplicas(
      BUSY_TENANT,
      counter.url,
    );
    try {
      sim.configure({ replyWords: 20, tokensPerSec: 0 });
      for (let i = 0; i < 20; i++) await call(0, { messages: [{ role: 'user', content: `warm ${i}` }] }); // the counters get busy: slices taken
      await new Promise((res) => setTimeout(res, 250));
      const before = counter.snapshot();
      let metered = 0;
      const n = 200;
      for (let i = 0; i < n; i++) {
        const r = await call(0, { messages: [{ role: 'user', content: `count me ${i}` }] });
        assert.equal(r.sink.status, 200);
        assert.equal(r.sink.headers['x-asc-cache'], 'miss');
        assert.ok(Number(r.sink.headers['x-ratelimit-remaining-requests']) > 0);
        metered += r.event.costUsd;
      }
      await new Promise((res) => setTimeout(res, 50));
      const after = counter.snapshot();
      const perRequest = (after.commands - before.commands) / n;
      console.log(`[spend] Redis per request with slices: ${perRequest.toFixed(2)} commands, ${((after.writes - before.writes) / n).toFixed(2)} writes`);
      // A SET per request, and a PUBLISH and a slice resize per counter a tick at most, a few
      // writes for many requests. Without slices and the presence filter: 4 commands, 2 writes.
      assert.ok(perRequest < 2, `${perRequest} commands a request`);
      assert.ok((after.writes - before.writes) / n < 0.75, `${after.writes - before.writes} writes for ${n} requests`);
      const redis = await connectSpendRedis(infra.redisUrl);
      try {
        const store = new RedisBudgetStore(redis, { keyPrefix: prefix });
        const lines = budgetLines(policy.budgets, { ...principal, endUserId: '', model: 'support-chat' }, Date.now());
        // Once the slices are idle they are given back: spent as metered (the warm-up's included), nothing held.
        await eventually(async () => {
          const states = await store.status(lines);
          for (const st of states) {
            assert.ok(st.spentUsd >= metered - 1e-9, `spent ${st.spentUsd} < metered ${metered}`);
            assert.equal(st.reservedUsd, 0);
          }
        }, 5000);
      } finally {
        await redis.quit();
      }
    } finally {
      await stopReplicas();
      await counter.close();
    }
  });
});

/** Limits for the tenant and the key, a tenant and a key budget, the cache on: every spend control of a busy tenant. */
const BUSY_TENANT: SpendPolicy = {
  tenantLimit: { rpm: 100_000, tpm: 10_000_000 },
  keyLimit: { rpm: 100_000, tpm: 10_000_000 },
  budgets: [{ scope: 'tenant', period: 'month', usd: 1000 }, { scope: 'key', period: 'day', usd: 100 }],
  cacheEnabled: true,
  cacheTtlSeconds: 60,
  limitsFailureMode: '',
};

/** A TCP proxy in front of Redis that counts the client's writes and the RESP commands in them. */
async function redisCountingProxy(target: string): Promise<{ url: string; snapshot(): { writes: number; commands: number }; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  let writes = 0;
  let commands = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      writes++;
      pending = Buffer.concat([pending, chunk]);
      // Count complete top-level arrays (*N then N bulk strings).
      for (;;) {
        const n = respCommandLength(pending);
        if (n === 0) break;
        commands++;
        pending = pending.subarray(n);
      }
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${address.port}`,
    snapshot: () => ({ writes, commands }),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Bytes of the first complete RESP command in buf (0 when incomplete). */
function respCommandLength(buf: Buffer): number {
  const line = (from: number) => {
    const end = buf.indexOf('\r\n', from);
    return end < 0 ? undefined : { text: buf.toString('latin1', from, end), next: end + 2 };
  };
  const head = line(0);
  if (!head || head.text[0] !== '*') return 0;
  let at = head.next;
  for (let i = 0; i < Number(head.text.slice(1)); i++) {
    const len = line(at);
    if (!len) return 0;
    at = len.next + Number(len.text.slice(1)) + 2;
    if (at > buf.length) return 0;
  }
  return at;
}
