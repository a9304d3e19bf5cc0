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
import { IngressError } from './ingress.error';
import { IngressMetrics } from './ingress.metrics';
import { parseInboundChat } from './inbound-apis';
import { toIngressError } from './openai-error';
import { beginRecord, RequestRecord } from './request-record';

const KEY = 'asc_data-plane-test-key-0001';
const principal: Principal = { tenantId: 'acme', appId: 'app_1', keyId: 'key_1', scopes: ['inference'] };

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
  async function run(body: unknown, options: { key?: string; sink?: StreamSink } = {}) {
    const record: RequestRecord = beginRecord('openai.chat.completions');
    let failure: IngressError | undefined;
    let result: unknown;
    try {
      const p = await service.authenticate(record, `Bearer ${options.key ?? KEY}`, undefined);
      const request = parseInboundChat('openai', body);
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
});
