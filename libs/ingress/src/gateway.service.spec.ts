import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, it } from 'node:test';
import { policyV1 } from '@asc/contracts';
import { EventOnTopic, MemoryEventBus, TOPIC_GATEWAY_REQUEST_V1 } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ServiceMetrics } from '@asc/service-kit';
import { SimulatorHandle, startSimulator } from '@asc/simulator';
import { hashApiKey } from '@asc/tenancy';
import { eventually } from '@asc/testing';
import { GatewayService, StreamSink } from './gateway.service';
import { ControlPlane, Deployment, Principal } from './control-plane.port';
import { IngressError, toIngressError } from './ingress.error';
import { IngressMetrics } from './ingress.metrics';
import { InboundApi, parseInboundChat } from './inbound-apis';
import { beginRecord, RequestRecord } from './request-record';

const KEY = 'asc_data-plane-test-key-0001';
const principal: Principal = { tenantId: 'acme', appId: 'app_1', keyId: 'key_1', scopes: ['inference'], modelScopes: [], operationScopes: [], expiresAtMs: 0 };
const NO_LIMIT: policyV1.RateLimit = { rpm: 0, tpm: 0 };

/**
 * The data plane on its own: a fake of the control-plane port (no policy, routing or
 * secrets service running), the real provider client against the simulator, and the
 * in-memory event bus.
 */
class FakeControlPlane implements ControlPlane {
  down = false;
  deployment!: Deployment;
  async authenticate(keyHash: string) {
    return keyHash === hashApiKey(KEY) ? principal : undefined;
  }
  async decide(_p: Principal, model: string) {
    const allowed = model === 'support-chat';
    return {
      decision: allowed ? policyV1.Decision.DECISION_ALLOW : policyV1.Decision.DECISION_DENY,
      reasonCode: allowed ? 'allowed' : 'model_not_allowed',
      reason: allowed ? '' : `model ${model} is not allowed`,
      allowedRegions: ['eu-west-1'],
      policyId: 'pol_1',
      policyVersion: 3,
      allowedOperations: ['*'],
      maxInputTokens: 0,
      maxOutputTokens: 0,
      guardrails: undefined,
      tenantLimit: NO_LIMIT,
      appLimit: NO_LIMIT,
      keyLimit: NO_LIMIT,
      endUserLimit: NO_LIMIT,
      modelLimit: NO_LIMIT,
      budgets: [],
      cacheEnabled: false,
      cacheTtlSeconds: 0,
      limitsFailureMode: 'open',
      spoolOverflowMode: 'shed',
      appId: 'app_1',
    };
  }
  async plan() {
    if (this.down) throw new IngressError('control_plane_unavailable', 'the routing service is unavailable', 503);
    return { deployments: [this.deployment], configVersion: 1 };
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

function collectingSink(): StreamSink & { text: string; opened: boolean; ended: boolean; closeNow(): void } {
  const listeners: Array<() => void> = [];
  const sink = {
    text: '',
    opened: false,
    ended: false,
    closed: false,
    open() {
      sink.opened = true;
    },
    write(t: string) {
      sink.text += t;
    },
    end() {
      sink.ended = true;
    },
    onClose(l: () => void) {
      listeners.push(l);
    },
    closeNow() {
      sink.closed = true;
      listeners.forEach((l) => l());
    },
  };
  return sink;
}

describe('GatewayService (data plane without the control plane)', () => {
  let simulator: SimulatorHandle;
  let bus: MemoryEventBus;
  let events: Array<EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>>;
  let controlPlane: FakeControlPlane;
  let service: GatewayService;
  let upstream: OpenAICompatibleClient;

  before(async () => {
    simulator = await startSimulator({ port: 0, acceptedKeys: ['sk-provider-secret'] });
    bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
    events = [];
    await bus.subscribe({ groupId: 'spec', topics: [TOPIC_GATEWAY_REQUEST_V1], handleBatch: async (batch) => void events.push(...batch) });
    controlPlane = new FakeControlPlane();
    controlPlane.deployment = {
      id: 'dep_1',
      provider: 'openai',
      upstreamModel: 'gpt-4o-mini',
      region: 'eu-west-1',
      baseUrl: `${simulator.url}/v1`,
      credentialId: 'cred_1',
      price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2, cachedInputPerMtokUsd: 0.5 },
      weight: 100,
    };
    upstream = new OpenAICompatibleClient();
    const metrics = new IngressMetrics(new ServiceMetrics('ingress', false), bus);
    service = new GatewayService(controlPlane, bus, upstream, { upstreamTimeoutMs: 5_000 }, metrics);
  });

  beforeEach(() => {
    events.length = 0;
    controlPlane.down = false;
    simulator.configure({ fail: undefined });
  });

  after(async () => {
    await upstream.close();
    await bus.close();
    await simulator.close();
  });

  /** Runs the controller's sequence and returns the record and the outcome. */
  async function run(body: unknown, options: { key?: string; sink?: StreamSink; api?: InboundApi } = {}) {
    const record: RequestRecord = beginRecord(`${options.api ?? 'openai'}.chat`);
    let failure: IngressError | undefined;
    let result: unknown;
    try {
      const p = await service.authenticate(record, `Bearer ${options.key ?? KEY}`, undefined);
      const request = parseInboundChat(options.api ?? 'openai', body);
      const call = await service.authorize(record, p, request.model);
      if (options.sink) await service.stream(record, call, request, options.sink);
      else result = await service.complete(record, call, request);
    } catch (err) {
      failure = toIngressError(err);
    }
    service.finish(record, failure?.httpStatus ?? 200, failure);
    return { record, failure, result };
  }

  const chat = (extra: Record<string, unknown> = {}) => ({ model: 'support-chat', messages: [{ role: 'user', content: 'hello there' }], ...extra });

  it('serves a completion and emits one event with exact usage, cost and the credential version', async () => {
    const { result, record } = await run(chat());
    const usage = (result as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    const event = await eventually(() => {
      assert.equal(events.length, 1);
      return events[0];
    });
    assert.equal(event.tenantId, 'acme');
    assert.equal(event.data.requestId, record.requestId);
    assert.equal(event.data.inputTokens, usage.prompt_tokens);
    assert.equal(event.data.outputTokens, usage.completion_tokens);
    assert.equal(event.data.costUsd, (usage.prompt_tokens * 1 + usage.completion_tokens * 2) / 1e6);
    assert.equal(event.data.credentialVersion, 2);
    assert.equal(event.data.policyVersion, 3);
    assert.equal(event.data.status, 'ok');
    assert.doesNotMatch(JSON.stringify(event), /sk-provider-secret/);
  });

  it('refuses an unknown key without emitting an unattributable event', async () => {
    const { failure } = await run(chat(), { key: 'asc_someone-elses-key-000' });
    assert.equal(failure?.httpStatus, 401);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.length, 0);
  });

  it('denies a model outside the policy and records the denial', async () => {
    const { failure } = await run(chat({ model: 'gpt-4o' }));
    assert.equal(failure?.httpStatus, 403);
    assert.equal(failure?.code, 'model_not_allowed');
    const event = await eventually(() => events[0] ?? assert.fail('no event'));
    assert.equal(event.data.decision, 'deny');
    assert.equal(event.data.status, 'denied');
    assert.equal(event.data.deploymentId, '');
  });

  it('answers 503 when the control plane is unreachable and nothing is cached', async () => {
    controlPlane.down = true;
    const { failure } = await run(chat());
    assert.equal(failure?.httpStatus, 503);
  });

  it('maps a provider failure to 502 and records it as an upstream error', async () => {
    simulator.configure({ fail: 500 });
    const { failure } = await run(chat());
    assert.equal(failure?.httpStatus, 502);
    const event = await eventually(() => events[0] ?? assert.fail('no event'));
    assert.equal(event.data.status, 'upstream_error');
  });

  it('streams, strips the usage chunk the client did not ask for, and still meters exactly', async () => {
    const sink = collectingSink();
    const { record } = await run(chat({ stream: true }), { sink });
    assert.ok(sink.opened && sink.ended);
    assert.match(sink.text, /data: \[DONE\]\n\n$/);
    const chunks = sink.text.split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { usage?: unknown });
    assert.ok(chunks.every((c) => !c.usage));
    assert.ok(record.outputTokens > 0 && record.inputTokens > 0);
    assert.ok(record.ttftMs > 0);
  });

  it('ends a stream the provider cuts midway with an in-band error, never a crash', async () => {
    simulator.configure({ fail: 'disconnect-midstream', replyWords: 60 });
    const sink = collectingSink();
    const { record, failure } = await run(chat({ stream: true }), { sink });
    simulator.configure({ fail: undefined, replyWords: undefined });
    assert.equal(failure, undefined, 'headers were already sent: the error travels in the stream');
    assert.ok(sink.opened && sink.ended);
    assert.match(sink.text, /"error":\{"message":"[^"]+","type":"api_error"/);
    assert.doesNotMatch(sink.text, /\[DONE\]/);
    assert.equal(record.status, 'upstream_error');
  });

  it('marks a stream the client abandons as cancelled', async () => {
    simulator.configure({ tokensPerSec: 50, replyWords: 200 });
    const sink = collectingSink();
    setTimeout(() => sink.closeNow(), 150);
    const { record } = await run(chat({ stream: true }), { sink });
    simulator.configure({ tokensPerSec: 0, replyWords: undefined });
    assert.equal(record.status, 'cancelled');
  });

  describe('served by another provider (translation)', () => {
    let openaiDeployment: Deployment;
    before(() => {
      openaiDeployment = controlPlane.deployment;
    });
    const useProvider = (provider: 'anthropic' | 'mistral' | 'openai') => {
      controlPlane.deployment = {
        ...openaiDeployment,
        id: `dep_${provider}`,
        provider,
        upstreamModel: provider === 'anthropic' ? 'claude-sonnet-4-5' : provider === 'mistral' ? 'mistral-small-latest' : 'gpt-4o-mini',
        baseUrl: `${simulator.url}/${provider}/v1`,
      };
    };
    after(() => {
      controlPlane.deployment = openaiDeployment;
    });

    it('answers an OpenAI client from an Anthropic deployment in OpenAI’s shape, metering Anthropic’s usage', async () => {
      useProvider('anthropic');
      const before = simulator.requests().length;
      const { result, record, failure } = await run(chat());
      assert.equal(failure, undefined);
      const body = result as { object: string; model: string; choices: Array<{ message: { content: string }; finish_reason: string }>; usage: { prompt_tokens: number; completion_tokens: number } };
      assert.equal(body.object, 'chat.completion');
      assert.equal(body.model, 'support-chat', 'the client sees the model it asked for');
      assert.equal(body.choices[0].finish_reason, 'stop');
      const upstream = simulator.requests().slice(before);
      assert.equal(upstream[0].route, 'anthropic.messages');
      assert.equal(upstream[0].headers['anthropic-version'], '2023-06-01');
      assert.equal((upstream[0].body as { model: string }).model, 'claude-sonnet-4-5');
      const reported = upstream[0].reportedUsage!;
      assert.deepEqual([body.usage.prompt_tokens, body.usage.completion_tokens], [reported.inputTokens, reported.outputTokens]);
      assert.deepEqual([record.inputTokens, record.outputTokens, record.usageEstimated], [reported.inputTokens, reported.outputTokens, false]);
      assert.equal(record.provider, 'anthropic');
    });

    it('streams an Anthropic client’s request from an OpenAI deployment as Anthropic events', async () => {
      useProvider('openai');
      const sink = collectingSink();
      const { record, failure } = await run({ model: 'support-chat', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello' }] }, { sink, api: 'anthropic' });
      assert.equal(failure, undefined);
      const events = [...sink.text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
      assert.equal(events[0], 'message_start');
      assert.deepEqual(events.slice(-2), ['message_delta', 'message_stop']);
      assert.doesNotMatch(sink.text, /\[DONE\]|chat\.completion/);
      assert.ok(record.outputTokens > 0 && !record.usageEstimated);
      assert.equal(record.status, 'ok');
    });

    it('forwards anthropic-beta to an Anthropic deployment only', async () => {
      useProvider('anthropic');
      const body = { model: 'support-chat', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] };
      const chatWithBeta = () => ({ ...parseInboundChat('anthropic', body), providerHeaders: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
      const record = beginRecord('anthropic.messages');
      const p = await service.authenticate(record, undefined, KEY);
      await service.complete(record, await service.authorize(record, p, 'support-chat'), chatWithBeta());
      assert.equal(simulator.requests().at(-1)?.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
      useProvider('openai');
      await service.complete(record, await service.authorize(record, p, 'support-chat'), chatWithBeta());
      assert.equal(simulator.requests().at(-1)?.headers['anthropic-beta'], undefined, 'never to another provider');
    });

    it('passes a feature only the client’s own API has to that API, and refuses it elsewhere with the param named', async () => {
      useProvider('openai');
      const ok = await run(chat({ logprobs: true }));
      assert.equal(ok.failure, undefined, 'OpenAI upstream: forwarded unchanged');
      useProvider('anthropic');
      const refused = await run(chat({ logprobs: true }));
      assert.equal(refused.failure?.httpStatus, 400);
      assert.equal(refused.failure?.code, 'unsupported_parameter');
      assert.equal(refused.failure?.param, 'logprobs');
    });

    it('meters an abandoned translated stream: Anthropic’s input exactly, output up to the cut, flagged estimated', async () => {
      useProvider('anthropic');
      simulator.configure({ tokensPerSec: 100, replyWords: 300 });
      try {
        const sink = collectingSink();
        setTimeout(() => sink.closeNow(), 250);
        const { record } = await run(chat({ stream: true }), { sink });
        assert.equal(record.status, 'cancelled');
        assert.ok(record.inputTokens > 0, 'input comes from message_start');
        assert.ok(record.outputTokens > 0 && record.outputTokens < 300, `output ${record.outputTokens}`);
        assert.equal(record.usageEstimated, true);
      } finally {
        simulator.configure({ tokensPerSec: 0, replyWords: undefined });
      }
    });

    it('reports an upstream that drops a translated stream midway in the client’s shape', async () => {
      useProvider('mistral');
      simulator.configure({ fail: 'disconnect-midstream', replyWords: 60 });
      try {
        const sink = collectingSink();
        const { record } = await run({ model: 'support-chat', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello' }] }, { sink, api: 'anthropic' });
        assert.match(sink.text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/);
        assert.doesNotMatch(sink.text, /message_stop/);
        assert.equal(record.status, 'upstream_error');
      } finally {
        simulator.configure({ fail: undefined, replyWords: undefined });
      }
    });
  });
});
