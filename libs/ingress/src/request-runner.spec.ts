import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, it } from 'node:test';
import { policyV1 } from '@asc/contracts';
import { EventOnTopic, MemoryEventBus, TOPIC_GATEWAY_REQUEST_V1 } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ServiceMetrics } from '@asc/service-kit';
import { SimulatorHandle, startSimulator } from '@asc/simulator';
import { hashApiKey } from '@asc/tenancy';
import { eventually } from '@asc/testing';
import { ControlPlane, Deployment, Principal } from './control-plane.port';
import { allowDecision } from './decision.fixture';
import { IngressError } from './ingress.error';
import { IngressMetrics } from './ingress.metrics';
import { DEFAULT_RESILIENCE, ResilienceOptions } from './ingress.tokens';
import { Operation, toRequestEvent } from './request-context';
import { RequestRunner } from './request-runner';
import { ResponseSink, RunnerStep } from './runner.types';
import { InboundApi } from './wire-apis';

const KEY = 'asc_data-plane-test-key-0001';
const OTHER_KEY = 'asc_data-plane-test-key-0002';
const NO_KEY_LIMITS = { modelScopes: [], operationScopes: [], expiresAtMs: 0 };
const principal: Principal = { tenantId: 'acme', appId: 'app_1', keyId: 'key_1', scopes: ['inference'], ...NO_KEY_LIMITS };
const other: Principal = { tenantId: 'globex', appId: 'app_2', keyId: 'key_2', scopes: ['inference'], ...NO_KEY_LIMITS };

/**
 * The data plane on its own: a fake of the control-plane port (no policy, routing or
 * secrets service running), the real provider client against simulators (one per
 * deployment, so faults are per deployment), and the in-memory event bus.
 */
class FakeControlPlane implements ControlPlane {
  down = false;
  deployments: Deployment[] = [];
  authentications = 0;
  async authenticate(keyHash: string) {
    this.authentications++;
    return keyHash === hashApiKey(KEY) ? principal : keyHash === hashApiKey(OTHER_KEY) ? other : undefined;
  }
  async decide(_p: Principal, model: string) {
    const allowed = model === 'support-chat';
    return allowDecision({
      decision: allowed ? policyV1.Decision.DECISION_ALLOW : policyV1.Decision.DECISION_DENY,
      reasonCode: allowed ? 'allowed' : 'model_not_allowed',
      reason: allowed ? '' : `model ${model} is not allowed`,
      allowedRegions: ['eu-west-1'],
      policyVersion: 3,
      appId: _p.appId,
    });
  }
  async plan() {
    if (this.down) throw new IngressError('control_plane_unavailable', 'the routing service is unavailable', 503);
    return { deployments: this.deployments, configVersion: 7 };
  }
  async listModels() {
    return [{ model: 'support-chat', tenantOwned: true, providers: ['openai'], regions: ['eu-west-1'], createdUnix: 1 }];
  }
  async lease() {
    return { leaseId: 'lease_1', credentialId: 'cred_1', version: 2, secret: 'sk-provider-secret', expiresAtMs: Date.now() + 60_000 };
  }
  invalidate(): void {
    // the fake caches nothing
  }
  async close(): Promise<void> {
    // nothing to release: the fake holds no connections
  }
}

type TestSink = Omit<ResponseSink, 'closed' | 'started'> & { closed: boolean; started: boolean; status: number; body: unknown; headers: Record<string, string>; text: string; ended: boolean; closeNow(): void };

function testSink(): TestSink {
  const listeners: Array<() => void> = [];
  const sink: TestSink = {
    status: 0,
    body: undefined,
    headers: {},
    text: '',
    ended: false,
    started: false,
    closed: false,
    json(status, body, headers) {
      Object.assign(sink, { status, body: typeof body === 'string' ? JSON.parse(body) : body, headers, started: true });
    },
    openStream(headers) {
      Object.assign(sink, { status: 200, headers, started: true });
    },
    write(t) {
      sink.text += t;
    },
    end() {
      sink.ended = true;
    },
    onClose(l) {
      listeners.push(l);
    },
    closeNow() {
      sink.closed = true;
      listeners.forEach((l) => l());
    },
  };
  return sink;
}

function deployment(sim: SimulatorHandle, id: string, provider: 'openai' | 'anthropic' | 'mistral' = 'openai', extra: Partial<Deployment> = {}): Deployment {
  return {
    id,
    provider,
    upstreamModel: provider === 'anthropic' ? 'claude-sonnet-4-5' : provider === 'mistral' ? 'mistral-small-latest' : 'gpt-4o-mini',
    region: 'eu-west-1',
    baseUrl: `${sim.url}/${provider}/v1`,
    credentialId: 'cred_1',
    price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2, cachedInputPerMtokUsd: 0.5 },
    weight: 100,
    priority: 100,
    operations: [],
    timeouts: undefined,
    tenantOwned: false,
    ...extra,
  };
}

describe('RequestRunner (data plane without the control plane)', () => {
  let primary: SimulatorHandle;
  let secondary: SimulatorHandle;
  let bus: MemoryEventBus;
  let events: Array<EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>>;
  let controlPlane: FakeControlPlane;
  let upstream: OpenAICompatibleClient;
  let metrics: IngressMetrics;
  let runner: RequestRunner;

  function makeRunner(resilience: Partial<ResilienceOptions> = {}, steps: RunnerStep[] = []): RequestRunner {
    return new RequestRunner(controlPlane, bus, upstream, { resilience: { ...DEFAULT_RESILIENCE, backoffBaseMs: 1, ...resilience } }, steps, metrics);
  }

  before(async () => {
    primary = await startSimulator({ port: 0, acceptedKeys: ['sk-provider-secret'] });
    secondary = await startSimulator({ port: 0, acceptedKeys: ['sk-provider-secret'] });
    bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
    events = [];
    await bus.subscribe({ groupId: 'spec', topics: [TOPIC_GATEWAY_REQUEST_V1], handleBatch: async (batch) => void events.push(...batch) });
    controlPlane = new FakeControlPlane();
    upstream = new OpenAICompatibleClient();
    metrics = new IngressMetrics(new ServiceMetrics('ingress', false), bus);
  });

  beforeEach(() => {
    events.length = 0;
    controlPlane.down = false;
    controlPlane.deployments = [deployment(primary, 'dep_1')];
    for (const s of [primary, secondary]) {
      s.configure({ fail: undefined, failRate: undefined, ttftMs: 0, tokensPerSec: 0, replyWords: undefined, latencyMs: 0 });
      s.reset();
    }
    runner = makeRunner();
  });

  after(async () => {
    await upstream.close();
    await bus.close();
    await primary.close();
    await secondary.close();
  });

  async function run(body: unknown, options: { key?: string; api?: InboundApi; operation?: Operation; sink?: TestSink; headers?: Record<string, string>; clientAddress?: string; connection?: object } = {}) {
    const sink = options.sink ?? testSink();
    const asSink: ResponseSink = sink;
    const headers: Record<string, string> = { authorization: `Bearer ${options.key ?? KEY}`, 'anthropic-version': '2023-06-01', ...options.headers };
    const api = options.api ?? 'openai';
    const ctx = await runner.run({ api, operation: options.operation ?? 'chat.completions', recordApi: `${api}.chat`, body, header: (n) => headers[n], clientAddress: options.clientAddress, connection: options.connection }, asSink);
    return { ctx, sink, event: toRequestEvent(ctx) };
  }

  const chat = (extra: Record<string, unknown> = {}) => ({ model: 'support-chat', messages: [{ role: 'user', content: 'hello there' }], ...extra });
  const errorOf = (sink: TestSink) => (sink.body as { error: { code: string; param?: string; message: string } }).error;

  it('serves a completion and emits one event with exact usage, cost, the credential version and the serving deployment', async () => {
    const { sink, ctx } = await run(chat());
    assert.equal(sink.status, 200);
    const usage = (sink.body as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    const event = await eventually(() => {
      assert.equal(events.length, 1);
      return events[0];
    });
    assert.equal(event.tenantId, 'acme');
    assert.equal(event.data.requestId, ctx.requestId);
    assert.equal(event.data.inputTokens, usage.prompt_tokens);
    assert.equal(event.data.outputTokens, usage.completion_tokens);
    assert.equal(event.data.costUsd, (usage.prompt_tokens * 1 + usage.completion_tokens * 2) / 1e6);
    assert.equal(event.data.credentialVersion, 2);
    assert.equal(event.data.policyVersion, 3);
    assert.equal(event.data.status, 'ok');
    assert.equal(event.data.fallbackCount, 0);
    assert.deepEqual(event.data.attempts?.map((a) => [a.deploymentId, a.status]), [['dep_1', 'ok']]);
    assert.equal(sink.headers['x-request-id'], ctx.requestId);
    assert.equal(sink.headers['x-asc-deployment'], 'dep_1');
    assert.equal(sink.headers['x-asc-attempts'], '1');
    assert.doesNotMatch(JSON.stringify(event), /sk-provider-secret/);
  });

  it('refuses an unknown key (401 with x-request-id) without emitting an unattributable event', async () => {
    const { sink } = await run(chat(), { key: 'asc_someone-elses-key-000' });
    assert.equal(sink.status, 401);
    assert.equal(errorOf(sink).code, 'invalid_api_key');
    assert.ok(sink.headers['x-request-id']);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.length, 0);
  });

  it('throttles an address after repeated auth failures with 429, without a key lookup per attempt', async () => {
    for (let i = 0; i < 20; i++) assert.equal((await run(chat(), { key: `asc_guess-number-${i}-000000`, clientAddress: '10.9.9.9' })).sink.status, 401);
    const lookups = controlPlane.authentications;
    const blocked = await run(chat(), { clientAddress: '10.9.9.9' });
    assert.equal(blocked.sink.status, 429);
    assert.equal(errorOf(blocked.sink).code, 'too_many_auth_failures');
    assert.ok(Number(blocked.sink.headers['retry-after']) > 0, JSON.stringify(blocked.sink.headers));
    assert.equal(controlPlane.authentications, lookups, 'no lookup while blocked, not even of a valid key');
    const served = await run(chat(), { clientAddress: '10.9.9.10' });
    assert.equal(served.sink.status, 200, 'other addresses are served');
    // Its event is delivered before the next test starts counting.
    await eventually(() => assert.ok(events.some((e) => e.data.requestId === served.ctx.requestId)));
  });

  it('denies a model outside the policy and records the denial', async () => {
    const { sink } = await run(chat({ model: 'gpt-4o' }));
    assert.equal(sink.status, 403);
    assert.equal(errorOf(sink).code, 'model_not_allowed');
    const event = await eventually(() => events[0] ?? assert.fail('no event'));
    assert.equal(event.data.decision, 'deny');
    assert.equal(event.data.status, 'denied');
    assert.equal(event.data.deploymentId, '');
  });

  it('answers 503 when the control plane is unreachable and nothing is cached', async () => {
    controlPlane.down = true;
    const { sink } = await run(chat());
    assert.equal(sink.status, 503);
  });

  it('maps a provider failure to 502 after retrying a lone deployment, and records every attempt', async () => {
    primary.configure({ fail: 500 });
    const { sink, event } = await run(chat());
    assert.equal(sink.status, 502);
    assert.equal(event.status, 'upstream_error');
    assert.equal(event.attempts?.length, 3, 'the lone deployment is retried up to maxAttempts');
    assert.ok(event.attempts?.every((a) => a.reasonCode === 'upstream_500'));
    assert.equal(sink.headers['x-asc-attempts'], '3');
  });

  it('does not retry a request the provider rejects as the caller’s fault (400)', async () => {
    primary.configure({ fail: 400 });
    const { sink, event } = await run(chat());
    assert.equal(sink.status, 400);
    assert.equal(event.attempts?.length, 1);
  });

  describe('fallback along the plan', () => {
    it('serves every request from the fallback when the primary is down, translating to its API', async () => {
      controlPlane.deployments = [deployment(primary, 'dep_primary', 'openai', { priority: 1 }), deployment(secondary, 'dep_backup', 'anthropic', { priority: 2 })];
      primary.configure({ fail: 'disconnect' });
      for (let i = 0; i < 10; i++) {
        const { sink, event } = await run(chat());
        assert.equal(sink.status, 200, `request ${i}`);
        assert.equal(sink.headers['x-asc-deployment'], 'dep_backup');
        assert.equal(event.deploymentId, 'dep_backup');
        assert.equal(event.provider, 'anthropic');
        assert.equal((sink.body as { object: string }).object, 'chat.completion', 'the client keeps its API shape');
        if (i === 0) {
          assert.equal(event.fallbackCount, 1);
          assert.deepEqual(event.attempts?.map((a) => [a.deploymentId, a.status, a.reasonCode]), [
            ['dep_primary', 'failed', 'upstream_protocol'],
            ['dep_backup', 'ok', ''],
          ]);
        }
      }
      // After 5 consecutive failures the primary is ejected: later requests go straight to the backup.
      assert.equal(runner.outliers.state('dep_primary'), 'ejected');
      const last = await run(chat());
      assert.equal(last.event.attempts?.length, 1);
    });

    it('falls back on 429 and Anthropic’s 529, honouring nothing the client has seen', async () => {
      for (const status of [429, 529, 503]) {
        runner = makeRunner();
        controlPlane.deployments = [deployment(primary, 'dep_primary', 'anthropic', { priority: 1 }), deployment(secondary, 'dep_backup', 'openai', { priority: 2 })];
        primary.configure({ fail: status, retryAfterSec: 0 });
        const { sink, event } = await run(chat());
        assert.equal(sink.status, 200, `after ${status}`);
        assert.equal(event.attempts?.[0].reasonCode, `upstream_${status}`);
      }
    });

    it('falls back when the first token does not come in time (TTFT timeout), streamed', async () => {
      runner = makeRunner({ timeouts: { ...DEFAULT_RESILIENCE.timeouts, ttftMs: 150 } });
      controlPlane.deployments = [deployment(primary, 'dep_slow', 'openai', { priority: 1 }), deployment(secondary, 'dep_fast', 'openai', { priority: 2 })];
      primary.configure({ ttftMs: 2_000 });
      const { sink, event } = await run(chat({ stream: true }));
      assert.equal(sink.status, 200);
      assert.match(sink.text, /\[DONE\]/);
      assert.deepEqual(event.attempts?.map((a) => [a.deploymentId, a.reasonCode]), [
        ['dep_slow', 'timeout_ttft'],
        ['dep_fast', ''],
      ]);
      assert.equal(sink.headers['x-asc-deployment'], 'dep_fast');
    });

    it('honours a deployment’s own TTFT timeout over the default (non-streamed: time to the response)', async () => {
      controlPlane.deployments = [
        deployment(primary, 'dep_slow', 'openai', { priority: 1, timeouts: { connectMs: 0, ttftMs: 100, idleMs: 0, totalMs: 0 } }),
        deployment(secondary, 'dep_fast', 'openai', { priority: 2 }),
      ];
      primary.configure({ latencyMs: 1_000 });
      const { sink, event } = await run(chat());
      assert.equal(sink.status, 200);
      assert.equal(event.attempts?.[0].reasonCode, 'timeout_ttft');
    });

    it('never falls back once the stream reached the client: a stall becomes an in-band error (idle timeout)', async () => {
      runner = makeRunner({ timeouts: { ...DEFAULT_RESILIENCE.timeouts, idleMs: 200 } });
      controlPlane.deployments = [deployment(primary, 'dep_1', 'openai', { priority: 1 }), deployment(secondary, 'dep_2', 'openai', { priority: 2 })];
      primary.configure({ tokensPerSec: 2, replyWords: 20 });
      const { sink, event } = await run(chat({ stream: true }));
      assert.equal(sink.status, 200);
      assert.match(sink.text, /"error":\{/);
      assert.equal(event.attempts?.length, 1, 'no second attempt after the first byte');
      assert.equal(event.status, 'upstream_error');
      assert.equal(event.reasonCode, 'timeout_idle');
    });

    it('never chooses a deployment that cannot serve the operation', async () => {
      controlPlane.deployments = [deployment(primary, 'dep_claude', 'anthropic', { priority: 1 }), deployment(secondary, 'dep_embed', 'openai', { priority: 2, operations: ['embeddings'] })];
      const { sink, event } = await run({ model: 'support-chat', input: 'hello' }, { operation: 'embeddings' });
      assert.equal(sink.status, 200);
      assert.equal(event.deploymentId, 'dep_embed');
      assert.equal(primary.stats().total, 0);
    });
  });

  describe('retry budget and outlier ejection', () => {
    it('keeps total upstream attempts within 1.2× requests when half the calls fail', async () => {
      runner = makeRunner({ outlier: { ...DEFAULT_RESILIENCE.outlier, consecutiveFailures: 1_000, failureRate: 1.1 }, retryBudget: { ratio: 0.2, minPerWindow: 0, windowMs: 60_000 } });
      controlPlane.deployments = [deployment(primary, 'dep_a', 'openai', { priority: 1 }), deployment(secondary, 'dep_b', 'openai', { priority: 1 })];
      primary.configure({ fail: 500, failRate: 0.5 });
      secondary.configure({ fail: 500, failRate: 0.5 });
      const requests = 200;
      let ok = 0;
      for (let i = 0; i < requests; i++) if ((await run(chat())).sink.status === 200) ok++;
      const attempts = primary.stats().total + secondary.stats().total;
      assert.ok(attempts <= 1.2 * requests, `attempts ${attempts} for ${requests} requests`);
      assert.ok(ok > requests / 2, `served ${ok}`);
    });

    it('ejects a dark deployment for a growing interval and brings it back through a half-open probe', async () => {
      let now = 1_000_000;
      runner = makeRunner({ outlier: { ...DEFAULT_RESILIENCE.outlier, consecutiveFailures: 3, baseEjectionMs: 1_000 } });
      (runner.outliers as unknown as { now: () => number }).now = () => now;
      controlPlane.deployments = [deployment(primary, 'dep_dark', 'openai', { priority: 1 }), deployment(secondary, 'dep_ok', 'openai', { priority: 2 })];
      primary.configure({ fail: 503 });
      for (let i = 0; i < 3; i++) assert.equal((await run(chat())).sink.status, 200);
      assert.equal(runner.outliers.state('dep_dark'), 'ejected');
      const tried = primary.stats().total;
      await run(chat());
      assert.equal(primary.stats().total, tried, 'an ejected deployment is not called');
      now += 1_001; // ejection over: one probe; it fails → ejected again, for twice as long
      await run(chat());
      assert.equal(primary.stats().total, tried + 1);
      assert.equal(runner.outliers.view().find((d) => d.deploymentId === 'dep_dark')?.ejections, 2);
      now += 1_500;
      assert.equal(runner.outliers.state('dep_dark'), 'ejected', 'second ejection lasts 2 s');
      now += 600;
      primary.configure({ fail: undefined });
      const probe = await run(chat());
      assert.equal(probe.event.deploymentId, 'dep_dark', 'the recovered deployment serves the probe');
      assert.equal(runner.outliers.state('dep_dark'), 'healthy');
    });
  });

  it('splits traffic by weight within a priority (90/10 within ±3 % over 2,000 draws) and sticks one end user to one deployment', async () => {
    const { orderByWeight } = await import('./resilience/plan-order');
    const ds = [deployment(primary, 'stable', 'openai', { weight: 90 }), deployment(secondary, 'canary', 'openai', { weight: 10 })];
    let canary = 0;
    for (let i = 0; i < 2_000; i++) if (orderByWeight(ds)[0].id === 'canary') canary++;
    assert.ok(Math.abs(canary / 2_000 - 0.1) <= 0.03, `canary share ${canary / 2_000}`);
    const first = orderByWeight(ds, 'user-42')[0].id;
    for (let i = 0; i < 50; i++) assert.equal(orderByWeight(ds, 'user-42')[0].id, first);
  });

  it('streams, strips the usage chunk the client did not ask for, and still meters exactly', async () => {
    const { sink, ctx } = await run(chat({ stream: true }));
    assert.ok(sink.started && sink.ended);
    assert.match(sink.text, /data: \[DONE\]\n\n$/);
    const chunks = sink.text.split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { usage?: unknown });
    assert.ok(chunks.every((c) => !c.usage));
    assert.ok(ctx.usage.outputTokens > 0 && ctx.usage.inputTokens > 0);
    assert.ok(ctx.ttftMs > 0);
  });

  it('sends the first token of a stream at once, before translating the rest of the read that carried it', async () => {
    // With no pacing the simulator writes the whole stream at once: one read holds every event.
    primary.configure({ replyWords: 60 });
    const sink = testSink();
    const flushed: string[] = [];
    sink.flush = () => flushed.push(sink.text);
    await run(chat({ stream: true }), { sink });
    assert.equal(flushed.length, 1, 'flushed once, when the stream opened');
    const deltas = (text: string) => text.split('\n\n').filter((l) => l.includes('"delta"')).length;
    assert.ok(/"content":"[^"]+"/.test(flushed[0]), 'the first token was in what was flushed');
    assert.ok(deltas(flushed[0]) < deltas(sink.text) / 4, `flushed ${deltas(flushed[0])} of ${deltas(sink.text)} chunks`);
    assert.match(sink.text, /data: \[DONE\]\n\n$/);
  });

  it('ends a stream the provider cuts midway with an in-band error, never a crash', async () => {
    primary.configure({ fail: 'disconnect-midstream', replyWords: 60 });
    const { sink, event } = await run(chat({ stream: true }));
    assert.equal(sink.status, 200, 'headers were already sent: the error travels in the stream');
    assert.ok(sink.ended);
    assert.match(sink.text, /"error":\{"message":"[^"]+","type":"api_error"/);
    assert.doesNotMatch(sink.text, /\[DONE\]/);
    assert.equal(event.status, 'upstream_error');
  });

  it('marks a stream the client abandons as cancelled and stops the upstream call', async () => {
    primary.configure({ tokensPerSec: 50, replyWords: 200 });
    const sink = testSink();
    setTimeout(() => sink.closeNow(), 150);
    const { event } = await run(chat({ stream: true }), { sink });
    assert.equal(event.status, 'cancelled');
    assert.equal(event.httpStatus, 0);
    await eventually(() => assert.equal(primary.requests().at(-1)?.outcome, 'aborted'));
  });

  it('cancels a non-streamed upstream call when the client hangs up, metered as cancelled', async () => {
    primary.configure({ latencyMs: 2_000 });
    const sink = testSink();
    setTimeout(() => sink.closeNow(), 100);
    const t = performance.now();
    const { event } = await run(chat(), { sink });
    assert.ok(performance.now() - t < 1_500, 'the runner did not wait for the upstream');
    assert.equal(event.status, 'cancelled');
    assert.equal(event.attempts?.length, 1, 'a client that left is not retried');
    await eventually(() => assert.equal(primary.requests().at(-1)?.outcome, 'aborted'));
  });

  describe('overload and shutdown', () => {
    it('sheds at the in-flight cap (503) and refuses a tenant over its fair share (429), with Retry-After, before any upstream call', async () => {
      runner = makeRunner({ shedding: { maxInFlight: 6, softShare: 0.5 } });
      primary.configure({ latencyMs: 400 });
      const base = primary.stats().inFlight;
      const noisy = Array.from({ length: 4 }, () => run(chat())); // alone, a tenant may use the whole cap
      await eventually(() => assert.equal(primary.stats().inFlight - base, 4));
      const quiet = run(chat(), { key: OTHER_KEY });
      await eventually(() => assert.equal(primary.stats().inFlight - base, 5));
      const overShare = await run(chat());
      assert.equal(overShare.sink.status, 429, 'acme holds 4 of 6 with two tenants active: over its share of 3');
      assert.equal(errorOf(overShare.sink).code, 'tenant_over_share');
      assert.equal(overShare.sink.headers['retry-after'], '1');
      assert.equal(overShare.event.attempts?.length ?? 0, 0, 'refused before any upstream call');
      const quietAgain = run(chat(), { key: OTHER_KEY }); // globex is within its share
      await eventually(() => assert.equal(primary.stats().inFlight - base, 6));
      const full = await run(chat(), { key: OTHER_KEY });
      assert.equal(full.sink.status, 503);
      assert.equal(errorOf(full.sink).code, 'overloaded');
      for (const r of await Promise.all([...noisy, quiet, quietAgain])) assert.equal(r.sink.status, 200);
    });

    it('holds a shed refusal for a connection that retries before its Retry-After, and only for it', async () => {
      runner = makeRunner({ shedding: { maxInFlight: 1, softShare: 0.5 } });
      primary.configure({ latencyMs: 1_500 });
      const held = run(chat());
      await eventually(() => assert.equal(primary.stats().inFlight, 1));
      const spinner = {};
      const timed = async (connection: object) => {
        const t = performance.now();
        const r = await run(chat(), { key: OTHER_KEY, connection });
        return { status: r.sink.status, ms: performance.now() - t, retryAfter: r.sink.headers['retry-after'] };
      };
      const first = await timed(spinner);
      assert.equal(first.status, 503);
      assert.ok(first.ms < 500, `a first refusal is answered at once (${first.ms.toFixed(0)} ms)`);
      const again = await timed(spinner);
      assert.equal(again.status, 503);
      assert.equal(again.retryAfter, '1');
      assert.ok(again.ms >= 800, `retried at once: held until its Retry-After ran out (${again.ms.toFixed(0)} ms)`);
      const other = await timed({});
      assert.ok(other.ms < 500, `another connection is not held (${other.ms.toFixed(0)} ms)`);
      assert.equal((await held).sink.status, 200);
    });

    it('drains: refuses new requests with 503, lets short ones finish and ends long streams in-band, all metered', async () => {
      primary.configure({ tokensPerSec: 20, replyWords: 400 });
      const streams = Array.from({ length: 5 }, () => run(chat({ stream: true })));
      await eventually(() => assert.equal(primary.stats().streams, 5));
      const drained = runner.drain(200);
      const refused = await run(chat());
      assert.equal(refused.sink.status, 503);
      assert.equal(errorOf(refused.sink).code, 'shutting_down');
      await drained;
      for (const { sink, event } of await Promise.all(streams)) {
        assert.ok(sink.ended, 'never a silent cut');
        assert.match(sink.text, /shutting down/);
        assert.equal(event.reasonCode, 'shutting_down');
        assert.ok(event.outputTokens > 0, 'metered with what was produced');
      }
    });
  });

  it('refuses with 503 before any upstream call when the event spool is full and the tenant sheds', async () => {
    const full = Object.assign(Object.create(bus) as MemoryEventBus, { accepting: (tenantId: string) => tenantId !== 'acme' });
    runner = new RequestRunner(controlPlane, full, upstream, { resilience: DEFAULT_RESILIENCE }, [], metrics);
    const { sink } = await run(chat());
    assert.equal(sink.status, 503);
    assert.equal(errorOf(sink).code, 'events_backlogged');
    assert.equal(primary.stats().total, 0);
    assert.equal((await run(chat(), { key: OTHER_KEY })).sink.status, 200, 'a tenant whose policy is count keeps being served');
  });

  it('lets a step refuse before any upstream call, end a stream in-band, and see the outcome', async () => {
    const seen: string[] = [];
    const capped: RunnerStep = {
      name: 'cap',
      before: (ctx) => void seen.push(`before:${ctx.model}`),
      onOutput: (_ctx, usage) => (usage().outputTokens >= 5 ? new IngressError('budget_exceeded', 'the budget ran out mid-stream', 429) : undefined),
      after: (ctx) => void seen.push(`after:${ctx.status}`),
    };
    runner = makeRunner({}, [capped]);
    primary.configure({ replyWords: 100 });
    const { sink, event } = await run(chat({ stream: true }));
    assert.match(sink.text, /the budget ran out mid-stream/);
    assert.equal(event.reasonCode, 'budget_exceeded');
    assert.deepEqual(seen, ['before:support-chat', 'after:upstream_error']);
    const refusing: RunnerStep = { name: 'refuse', before: () => { throw new IngressError('rate_limited', 'slow down', 429, undefined, '3'); } };
    runner = makeRunner({}, [refusing]);
    const refused = await run(chat());
    assert.equal(refused.sink.status, 429);
    assert.equal(refused.sink.headers['retry-after'], '3');
    assert.equal(primary.stats().total, 1, 'only the first request reached the provider');
  });

  describe('served by another provider (translation)', () => {
    const useProvider = (provider: 'anthropic' | 'mistral' | 'openai') => {
      controlPlane.deployments = [deployment(primary, `dep_${provider}`, provider)];
    };

    it('answers an OpenAI client from an Anthropic deployment in OpenAI’s shape, metering Anthropic’s usage', async () => {
      useProvider('anthropic');
      const { sink, ctx, event } = await run(chat());
      assert.equal(sink.status, 200);
      const body = sink.body as { object: string; model: string; choices: Array<{ finish_reason: string }>; usage: { prompt_tokens: number; completion_tokens: number } };
      assert.equal(body.object, 'chat.completion');
      assert.equal(body.model, 'support-chat', 'the client sees the model it asked for');
      assert.equal(body.choices[0].finish_reason, 'stop');
      const up = primary.requests();
      assert.equal(up[0].route, 'anthropic.messages');
      assert.equal(up[0].headers['anthropic-version'], '2023-06-01');
      assert.equal((up[0].body as { model: string }).model, 'claude-sonnet-4-5');
      const reported = up[0].reportedUsage!;
      assert.deepEqual([body.usage.prompt_tokens, body.usage.completion_tokens], [reported.inputTokens, reported.outputTokens]);
      assert.deepEqual([ctx.usage.inputTokens, ctx.usage.outputTokens, ctx.usageEstimated], [reported.inputTokens, reported.outputTokens, false]);
      assert.equal(event.provider, 'anthropic');
    });

    it('streams an Anthropic client’s request from an OpenAI deployment as Anthropic events', async () => {
      useProvider('openai');
      const { sink, event } = await run({ model: 'support-chat', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello' }] }, { api: 'anthropic' });
      const names = [...sink.text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
      assert.equal(names[0], 'message_start');
      assert.deepEqual(names.slice(-2), ['message_delta', 'message_stop']);
      assert.doesNotMatch(sink.text, /\[DONE\]|chat\.completion/);
      assert.ok(event.outputTokens > 0 && !event.usageEstimated);
      assert.equal(event.status, 'ok');
    });

    it('forwards anthropic-beta to an Anthropic deployment only', async () => {
      const body = { model: 'support-chat', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] };
      useProvider('anthropic');
      await run(body, { api: 'anthropic', headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
      assert.equal(primary.requests().at(-1)?.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
      useProvider('openai');
      await run(body, { api: 'anthropic', headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
      assert.equal(primary.requests().at(-1)?.headers['anthropic-beta'], undefined, 'never to another provider');
    });

    it('passes a feature only the client’s own API has to that API, and refuses it elsewhere with the param named', async () => {
      useProvider('openai');
      assert.equal((await run(chat({ logprobs: true }))).sink.status, 200, 'OpenAI upstream: forwarded unchanged');
      useProvider('anthropic');
      const refused = await run(chat({ logprobs: true }));
      assert.equal(refused.sink.status, 400);
      assert.equal(errorOf(refused.sink).code, 'unsupported_parameter');
      assert.equal(errorOf(refused.sink).param, 'logprobs');
    });

    it('meters an abandoned translated stream: Anthropic’s input exactly, output up to the cut, flagged estimated', async () => {
      useProvider('anthropic');
      primary.configure({ tokensPerSec: 100, replyWords: 300 });
      const sink = testSink();
      setTimeout(() => sink.closeNow(), 250);
      const { event } = await run(chat({ stream: true }), { sink });
      assert.equal(event.status, 'cancelled');
      assert.ok(event.inputTokens > 0, 'input comes from message_start');
      assert.ok(event.outputTokens > 0 && event.outputTokens < 300, `output ${event.outputTokens}`);
      assert.equal(event.usageEstimated, true);
    });

    it('reports an upstream that drops a translated stream midway in the client’s shape', async () => {
      useProvider('mistral');
      primary.configure({ fail: 'disconnect-midstream', replyWords: 60 });
      const { sink, event } = await run({ model: 'support-chat', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello' }] }, { api: 'anthropic' });
      assert.match(sink.text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/);
      assert.doesNotMatch(sink.text, /message_stop/);
      assert.equal(event.status, 'upstream_error');
    });
  });
});
