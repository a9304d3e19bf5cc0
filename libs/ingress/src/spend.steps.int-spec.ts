import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryEventBus } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ServiceMetrics } from '@asc/service-kit';
import { SimulatorHandle, startSimulator } from '@asc/simulator';
import { budgetLines, connectSpendRedis, RedisBudgetStore, type SpendPolicy } from '@asc/spend';
import { hashApiKey } from '@asc/tenancy';
import { infra, missingInfra } from '@asc/testing';
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

  async function startReplicas(p: SpendPolicy): Promise<void> {
    policy = p;
    prefix = `asc-test-${randomBytes(6).toString('hex')}:`;
    const deployment: Deployment = {
      id: 'dep_r', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', baseUrl: `${sim.url}/openai/v1`, credentialId: 'cred_1',
      price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2, cachedInputPerMtokUsd: 0.5 }, weight: 100, priority: 100, operations: [], timeouts: undefined, tenantOwned: false,
    };
    replicas = [];
    for (let i = 0; i < 2; i++) {
      const spend = await createSpendSteps(
        { ASC_REDIS_URL: infra.redisUrl, INGRESS_REDIS_KEY_PREFIX: prefix, INGRESS_REDIS_COMMAND_TIMEOUT_MS: 2000, INGRESS_CACHE_MAX_BYTES: 1 << 20, INGRESS_BUDGET_DEFAULT_MAX_OUTPUT_TOKENS: 32 },
        { events: bus, policyOf: () => policy },
      );
      assert.equal(spend.mode, 'redis');
      const metrics = new IngressMetrics(new ServiceMetrics('ingress', false), bus);
      const runner = new RequestRunner(new FakeControlPlane([deployment]), bus, upstream, { resilience: { ...DEFAULT_RESILIENCE, backoffBaseMs: 1 } }, spend.steps, metrics);
      replicas.push({ runner, spend });
    }
  }

  async function stopReplicas(): Promise<void> {
    const redis = await connectSpendRedis(infra.redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
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
      assert.ok(served.length >= 19, `served ${served.length}`);
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

  it('share the response cache per tenant: a prompt answered on one replica is a hit on the other', { skip }, async () => {
    await startReplicas({ budgets: [], cacheEnabled: true, cacheTtlSeconds: 60, limitsFailureMode: '' });
    try {
      sim.reset();
      const first = await call(0, { temperature: 0, messages: [{ role: 'user', content: 'same prompt' }] });
      const second = await call(1, { temperature: 0, messages: [{ role: 'user', content: 'same prompt' }] });
      assert.equal(first.sink.headers['x-asc-cache'], 'miss');
      assert.equal(second.sink.headers['x-asc-cache'], 'hit');
      assert.equal(second.event.cacheHit, true);
      assert.equal(sim.stats().total, 1);
    } finally {
      await stopReplicas();
    }
  });
});
