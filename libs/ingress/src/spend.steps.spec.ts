import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, it } from 'node:test';
import { EventOnTopic, MemoryEventBus, TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1 } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ServiceMetrics } from '@asc/service-kit';
import { SimulatorHandle, startSimulator } from '@asc/simulator';
import { MemoryBudgetStore, MemoryRateLimitStore, MemoryResponseCache, type SpendPolicy } from '@asc/spend';
import { hashApiKey } from '@asc/tenancy';
import { eventually } from '@asc/testing';
import { ControlPlane, Deployment, Principal } from './control-plane.port';
import { allowDecision, testPrincipal } from './decision.fixture';
import { IngressMetrics } from './ingress.metrics';
import { DEFAULT_RESILIENCE } from './ingress.tokens';
import { toRequestEvent } from './request-context';
import { RequestRunner } from './request-runner';
import { ResponseSink } from './runner.types';
import { ResponseCacheStep, SpendStep } from './spend.steps';
import { InboundApi } from './wire-apis';

// The spend steps inside the real runner, with in-process stores (the Redis adapters pass
// the same contract in libs/spend), a fake of the control-plane port and a simulator.
const KEYS: Record<string, Principal> = {
  'asc_spend-key-tenant-a-000001': testPrincipal({ tenantId: 'tenant_a', appId: 'app_a', keyId: 'key_a' }),
  'asc_spend-key-tenant-b-000001': testPrincipal({ tenantId: 'tenant_b', appId: 'app_b', keyId: 'key_b' }),
};
const KEY_A = 'asc_spend-key-tenant-a-000001';
const KEY_B = 'asc_spend-key-tenant-b-000001';

class FakeControlPlane implements ControlPlane {
  deployments: Deployment[] = [];
  async authenticate(keyHash: string) {
    return Object.entries(KEYS).find(([k]) => hashApiKey(k) === keyHash)?.[1];
  }
  async decide() {
    return allowDecision({ allowedRegions: ['eu-west-1'] });
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

interface Sink extends ResponseSink {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  text: string;
}

function sink(): Sink {
  const s = {
    status: 0,
    body: undefined as unknown,
    headers: {} as Record<string, string>,
    text: '',
    started: false,
    closed: false,
    json(status: number, body: unknown, headers: Record<string, string>) {
      Object.assign(s, { status, body: typeof body === 'string' ? JSON.parse(body) : body, headers, started: true });
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
      // the test client never hangs up
    },
  };
  return s;
}

describe('spend steps in the request runner', () => {
  let sim: SimulatorHandle;
  let bus: MemoryEventBus;
  let requests: Array<EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>>;
  let thresholds: Array<EventOnTopic<typeof TOPIC_SPEND_BUDGET_V1>>;
  let controlPlane: FakeControlPlane;
  let upstream: OpenAICompatibleClient;
  let metrics: IngressMetrics;
  let policy: SpendPolicy;
  let runner: RequestRunner;

  const basePolicy = (): SpendPolicy => ({ budgets: [], cacheEnabled: false, cacheTtlSeconds: 60, limitsFailureMode: '' });

  before(async () => {
    sim = await startSimulator({ port: 0, acceptedKeys: ['sk-provider-secret'] });
    bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
    requests = [];
    thresholds = [];
    await bus.subscribe({ groupId: 'spec', topics: [TOPIC_GATEWAY_REQUEST_V1], handleBatch: async (b) => void requests.push(...b) });
    await bus.subscribe({ groupId: 'spec-b', topics: [TOPIC_SPEND_BUDGET_V1], handleBatch: async (b) => void thresholds.push(...b) });
    controlPlane = new FakeControlPlane();
    upstream = new OpenAICompatibleClient();
    metrics = new IngressMetrics(new ServiceMetrics('ingress', false), bus);
  });

  beforeEach(() => {
    requests.length = 0;
    thresholds.length = 0;
    sim.configure({ replyWords: 20, tokensPerSec: 0 });
    sim.reset();
    controlPlane.deployments = [
      {
        id: 'dep_1', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', baseUrl: `${sim.url}/openai/v1`, credentialId: 'cred_1',
        price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2, cachedInputPerMtokUsd: 0.5 }, weight: 100, priority: 100, operations: [], timeouts: undefined, tenantOwned: false,
      },
    ];
    policy = basePolicy();
    const steps = [
      new SpendStep({ limits: new MemoryRateLimitStore(), budgets: new MemoryBudgetStore(), events: bus, policyOf: () => policy, defaultMaxOutputTokens: 16, extendTokens: 8 }),
      new ResponseCacheStep({ cache: new MemoryResponseCache(), policyOf: () => policy }),
    ];
    runner = new RequestRunner(controlPlane, bus, upstream, { resilience: { ...DEFAULT_RESILIENCE, backoffBaseMs: 1 } }, steps, metrics);
  });

  after(async () => {
    await upstream.close();
    await bus.close();
    await sim.close();
  });

  async function run(body: Record<string, unknown>, options: { key?: string; api?: InboundApi; headers?: Record<string, string> } = {}) {
    const s = sink();
    const headers: Record<string, string> = { authorization: `Bearer ${options.key ?? KEY_A}`, 'x-api-key': options.key ?? KEY_A, 'anthropic-version': '2023-06-01', ...options.headers };
    const api = options.api ?? 'openai';
    const ctx = await runner.run({ api, operation: 'chat.completions', recordApi: `${api}.chat`, body: { model: 'support-chat', messages: [{ role: 'user', content: 'hello there' }], ...body }, header: (n) => headers[n] }, s);
    return { sink: s, event: toRequestEvent(ctx) };
  }
  const errorOf = (s: Sink) => (s.body as { error: { code?: string; type: string; message: string } }).error;

  it('answers 429 over the RPM limit with Retry-After and the x-ratelimit headers, which successes carry too', async () => {
    policy = { ...basePolicy(), keyLimit: { rpm: 2, tpm: 100_000 } };
    const first = await run({});
    assert.equal(first.sink.status, 200);
    assert.equal(first.sink.headers['x-ratelimit-limit-requests'], '2');
    assert.equal(first.sink.headers['x-ratelimit-remaining-requests'], '1');
    assert.equal(first.sink.headers['x-ratelimit-limit-tokens'], '100000');
    await run({});
    const third = await run({});
    assert.equal(third.sink.status, 429);
    assert.equal(errorOf(third.sink).code, 'rate_limit_exceeded');
    assert.ok(Number(third.sink.headers['retry-after']) >= 1);
    assert.equal(third.sink.headers['x-ratelimit-remaining-requests'], '0');
    assert.equal(sim.stats().total, 2, 'the refused request never reached the provider');
  });

  it('refuses a request whose maximum cost does not fit the budget before any upstream call (OpenAI insufficient_quota; Anthropic shape too)', async () => {
    policy = { ...basePolicy(), budgets: [{ scope: 'key', period: 'day', usd: 0.0001 }] };
    const openai = await run({ max_tokens: 1000 });
    assert.equal(openai.sink.status, 429);
    assert.equal(errorOf(openai.sink).code, 'insufficient_quota');
    const anthropic = await run({ max_tokens: 1000 }, { api: 'anthropic' });
    assert.equal(anthropic.sink.status, 429);
    assert.equal((anthropic.sink.body as { type: string }).type, 'error');
    assert.equal(sim.stats().total, 0);
    assert.equal(openai.event.reasonCode, 'insufficient_quota');
  });

  it('cuts a stream in-band when its spend reaches the budget, meters it exactly, and reports the thresholds', async () => {
    // 0.0001 USD covers ~45 output tokens at 2 USD/Mtok; the reply is much longer.
    policy = { ...basePolicy(), budgets: [{ scope: 'tenant', period: 'month', usd: 0.0001 }] };
    sim.configure({ replyWords: 400, tokensPerSec: 1000 }); // paced like a provider: the cut lands mid-generation
    const { sink: s, event } = await run({ stream: true, stream_options: { include_usage: true } });
    assert.equal(s.status, 200);
    assert.match(s.text, /insufficient_quota/);
    assert.equal(event.reasonCode, 'insufficient_quota');
    const chunkTokens = 4; // the simulator streams a word or so per chunk
    assert.ok(event.costUsd <= 0.0001 + chunkTokens * 2e-6 + 1e-12, `cost ${event.costUsd} in ${event.inputTokens} out ${event.outputTokens} est ${event.usageEstimated}`);
    assert.ok(event.outputTokens >= 30, `output ${event.outputTokens}`);
    // 80 % always; 100 % too when the last chunk took the spend to the cap.
    const expected = event.costUsd >= 0.0001 ? [0.8, 1] : [0.8];
    await eventually(() => assert.deepEqual(thresholds.map((t) => t.data.threshold).sort(), expected), 5000, 20);
    assert.ok(thresholds.every((t) => t.data.scope === 'tenant' && t.data.scopeId === 'tenant_a' && t.data.period === 'month'));
    const next = await run({ stream: true });
    assert.equal(next.sink.status, 429, 'nothing left for the next request');
  });

  it('serves a repeated prompt from the tenant cache (streamed or not), never across tenants, and honours no-cache', async () => {
    policy = { ...basePolicy(), cacheEnabled: true };
    const miss = await run({ temperature: 0 });
    assert.equal(miss.sink.headers['x-asc-cache'], 'miss');
    const hit = await run({ temperature: 0 });
    assert.equal(hit.sink.headers['x-asc-cache'], 'hit');
    assert.deepEqual(
      (hit.sink.body as { choices: unknown[] }).choices,
      (miss.sink.body as { choices: unknown[] }).choices,
    );
    assert.equal(hit.event.cacheHit, true);
    assert.equal(hit.event.costUsd, 0);
    assert.equal(hit.event.costSavedUsd, miss.event.costUsd);
    const streamed = await run({ temperature: 0, stream: true });
    assert.equal(streamed.sink.headers['x-asc-cache'], 'hit');
    assert.match(streamed.sink.text, /data: \[DONE\]/);
    const otherTenant = await run({ temperature: 0 }, { key: KEY_B });
    assert.equal(otherTenant.sink.headers['x-asc-cache'], 'miss');
    const bypass = await run({ temperature: 0 }, { headers: { 'cache-control': 'no-cache' } });
    assert.equal(bypass.sink.headers['x-asc-cache'], 'bypass');
    assert.equal(sim.stats().total, 3, 'miss, other tenant and bypass reached the provider');
  });
});
