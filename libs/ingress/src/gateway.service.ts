import { Inject, Injectable, Logger } from '@nestjs/common';
import { policyV1 } from '@asc/contracts';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, EventPublisher } from '@asc/events';
import {
  CanonicalResponse,
  CanonicalUsage,
  estimateRequestInputTokens,
  estimateTokens,
  OpenAICompatibleClient,
  SseEvent,
  StreamUsageTracker,
  UpstreamTarget,
  WIRE_CODECS,
  WireApi,
} from '@asc/providers';
import { hashApiKey, isWellFormedApiKey } from '@asc/tenancy';
import { CONTROL_PLANE, ControlPlane, CredentialLease, Deployment, Principal } from './control-plane.port';
import { INBOUND, InboundChat, upstreamApiOf } from './inbound-apis';
import { IngressError, toIngressError } from './ingress.error';
import { IngressMetrics } from './ingress.metrics';
import { INGRESS_OPTIONS, IngressOptions, EVENT_PUBLISHER, UPSTREAM_CLIENT } from './ingress.tokens';
import { RequestRecord, toEventPayload } from './request-record';
import { costUsd } from './usage';

/** A request that passed authentication, policy, routing and got its credential lease. */
export interface GovernedCall {
  principal: Principal;
  deployment: Deployment;
  lease: CredentialLease;
  /** The wire API of the deployment's provider. */
  upstreamApi: WireApi;
}

/** Where a stream goes: the HTTP edge implements it over SSE. */
export interface StreamSink {
  /** Sends the response head; called once, before the first event. */
  open(): void;
  write(text: string): void;
  end(): void;
  /** True once the client went away. */
  readonly closed: boolean;
  /** Fires when the client goes away. */
  onClose(listener: () => void): void;
}

/** Policy and routing operations (a deployment may serve chat, embeddings or both). */
export type Operation = 'chat.completions' | 'embeddings' | 'models' | 'count_tokens';

const NO_CREDENTIAL: CredentialLease = { leaseId: '', credentialId: '', version: 0, secret: '', expiresAtMs: 0 };

/**
 * The governed request path: authenticate → decide → plan → lease → call → meter, for every
 * inbound API. A request is forwarded unchanged when the deployment speaks the client's API,
 * and translated through the canonical model otherwise. Every request that reached a tenant
 * ends in exactly one event (see `finish`).
 */
@Injectable()
export class GatewayService {
  private readonly logger = new Logger('Gateway');

  constructor(
    @Inject(CONTROL_PLANE) readonly controlPlane: ControlPlane,
    @Inject(EVENT_PUBLISHER) private readonly events: EventPublisher,
    @Inject(UPSTREAM_CLIENT) readonly upstream: OpenAICompatibleClient,
    @Inject(INGRESS_OPTIONS) private readonly options: IngressOptions,
    private readonly metrics: IngressMetrics,
  ) {}

  /** Accepts `Authorization: Bearer <key>` (OpenAI, Mistral SDKs) or `x-api-key` (Anthropic SDKs). */
  async authenticate(record: RequestRecord, authorization: string | undefined, xApiKey: string | undefined): Promise<Principal> {
    const key = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : xApiKey?.trim();
    if (!key) throw new IngressError('missing_api_key', 'no API key provided: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"', 401);
    const principal = isWellFormedApiKey(key) ? await this.controlPlane.authenticate(hashApiKey(key)) : undefined;
    if (!principal) throw new IngressError('invalid_api_key', 'the API key is not valid', 401);
    record.tenantId = principal.tenantId;
    record.appId = principal.appId;
    record.keyId = principal.keyId;
    return principal;
  }

  async authorize(record: RequestRecord, principal: Principal, model: string, operation: Operation = 'chat.completions'): Promise<GovernedCall> {
    record.requestedModel = model;
    const decision = await this.controlPlane.decide(principal, model, operation);
    record.policyId = decision.policyId;
    record.policyVersion = decision.policyVersion;
    if (decision.decision !== policyV1.Decision.DECISION_ALLOW) {
      record.decision = 'deny';
      throw new IngressError(decision.reasonCode || 'denied', decision.reason || `model ${model} is not allowed`, 403, 'model');
    }
    const plan = await this.controlPlane.plan(principal, model, decision.allowedRegions, operation);
    const deployment = plan.deployments[0];
    if (!deployment) {
      throw new IngressError('model_not_found', `the model ${model} does not exist or has no deployment in the regions allowed to you`, 404, 'model');
    }
    record.deploymentId = deployment.id;
    record.provider = deployment.provider;
    record.region = deployment.region;
    record.servedModel = deployment.upstreamModel;
    record.credentialId = deployment.credentialId;
    const upstreamApi = upstreamApiOf(deployment.provider);
    // A self-hosted model without a key (local vLLM, Ollama) has no credential to lease.
    const lease = deployment.credentialId ? await this.controlPlane.lease(principal, deployment.credentialId, deployment.id) : NO_CREDENTIAL;
    record.credentialVersion = lease.version;
    return { principal, deployment, lease, upstreamApi };
  }

  /** A non-streamed chat request; returns the body in the client's API shape. */
  async complete(record: RequestRecord, call: GovernedCall, chat: InboundChat): Promise<unknown> {
    const passthrough = INBOUND[chat.api].native === call.upstreamApi;
    const codec = WIRE_CODECS[call.upstreamApi];
    const response = await this.upstream.postJson(this.target(call), codec.chatPath, this.upstreamBody(call, chat, passthrough), this.callOptions(record, passthrough ? chat.providerHeaders : undefined));
    let decoded: CanonicalResponse | undefined;
    try {
      decoded = codec.decodeResponse(response.body);
    } catch (err) {
      // Passthrough still answers the client; only the metering is lost, and said so.
      if (!passthrough) throw err;
      this.logger.warn(`request ${record.requestId}: cannot read usage from the ${call.upstreamApi} response: ${(err as Error).message}`);
    }
    if (decoded) this.meter(record, call, decoded.usage, false);
    return passthrough ? response.body : INBOUND[chat.api].encodeResponse(decoded as CanonicalResponse, chat);
  }

  /**
   * Streams a chat request to the client in its own API's SSE. The upstream's events are
   * always decoded (usage, time to first token, a clean end); they are re-encoded only when
   * the upstream speaks another API. Usage is metered exactly as the provider reported it;
   * a stream cut before the provider's report is metered from what was produced, flagged
   * as estimated.
   */
  async stream(record: RequestRecord, call: GovernedCall, chat: InboundChat, sink: StreamSink): Promise<void> {
    record.stream = true;
    const passthrough = INBOUND[chat.api].native === call.upstreamApi;
    const codec = WIRE_CODECS[call.upstreamApi];
    const abort = new AbortController();
    sink.onClose(() => abort.abort());
    const events = await this.upstream.postStream(this.target(call), codec.chatPath, this.upstreamBody(call, chat, passthrough), {
      ...this.callOptions(record, passthrough ? chat.providerHeaders : undefined),
      signal: abort.signal,
    });
    const decoder = codec.streamDecoder();
    // Translates when the APIs differ; in passthrough it only ever reports a failure.
    const encoder = INBOUND[chat.api].streamEncoder(chat);
    // Only needed when a stream is cut before the provider reports input: computed then.
    const canonical = chat.canonical;
    const tracker = new StreamUsageTracker(() =>
      canonical ? estimateRequestInputTokens(canonical) : estimateTokens(JSON.stringify(chat.body.messages ?? chat.body.input ?? '')),
    );
    const hideUsage = passthrough && chat.api === 'openai' && !chat.streamUsage;
    let opened = false;
    let upstreamFailure: { code: string } | undefined;
    const write = (text: string) => {
      if (!text || sink.closed) return;
      if (!opened) {
        sink.open();
        opened = true;
      }
      sink.write(text);
    };
    try {
      for await (const sse of events) {
        let out = '';
        let usageReported = false;
        let produced = false;
        for (const ev of decoder.push(sse)) {
          tracker.observe(ev);
          if (ev.type === 'usage') usageReported = true;
          else if (ev.type !== 'start') produced = true;
          if (!record.ttftMs && (ev.type === 'text_delta' || ev.type === 'tool_call_start')) record.ttftMs = performance.now() - record.t0;
          if (ev.type === 'error') upstreamFailure ??= { code: ev.code };
          if (!passthrough) out += encoder.push(ev);
        }
        if (passthrough) out = hideUsage && usageReported ? withoutUsage(sse, produced) : rawEvent(sse);
        write(out);
        if (decoder.done) break;
      }
    } catch (err) {
      // Before the first byte, the edge answers with a plain error response instead.
      if (!opened && !sink.closed) throw err;
      if (!sink.closed) {
        const error = toIngressError(err);
        upstreamFailure ??= { code: error.code };
        write(encoder.push({ type: 'error', status: error.httpStatus, code: error.code, message: error.message }));
      }
    }
    const usage = tracker.usage();
    this.meter(record, call, usage, usage.estimated);
    if (sink.closed && !decoder.done) {
      record.status = 'cancelled';
      record.reasonCode = 'client_closed';
      return;
    }
    if (!upstreamFailure && !decoder.done) {
      // The upstream closed the stream without finishing it: say so in the client's shape.
      upstreamFailure = { code: 'upstream_incomplete' };
      if (passthrough) {
        write(encoder.push({ type: 'error', status: 502, code: 'upstream_incomplete', message: 'the upstream stream ended before it finished' }));
      }
    }
    if (!passthrough) write(encoder.end());
    if (upstreamFailure) {
      record.status = 'upstream_error';
      record.reasonCode = upstreamFailure.code;
    }
    if (!opened) sink.open();
    sink.end();
  }

  /** Records the outcome and emits the request's one event (when a tenant is known). */
  finish(record: RequestRecord, httpStatus: number, error?: IngressError): void {
    record.httpStatus = httpStatus;
    record.latencyMs = Math.round((performance.now() - record.t0) * 100) / 100;
    record.ttftMs = Math.round(record.ttftMs * 100) / 100;
    if (error) {
      record.reasonCode = error.code;
      record.status = record.decision === 'deny' ? 'denied' : error.httpStatus >= 500 || error.code.startsWith('upstream') ? 'upstream_error' : 'client_error';
    }
    this.metrics.observe(record);
    if (!record.tenantId) return; // unauthenticated: nothing to attribute, counted in metrics only
    try {
      this.events.publish(
        createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: record.tenantId, source: 'asc-ingress', traceparent: record.traceparent }, toEventPayload(record)),
      );
    } catch (err) {
      this.logger.error(`could not enqueue the event of request ${record.requestId}: ${(err as Error).message}`);
    }
  }

  /** Meters usage the provider reported (or, for a cut stream, what we estimated). */
  meter(record: RequestRecord, call: GovernedCall, usage: CanonicalUsage, estimated: boolean): void {
    record.inputTokens = usage.inputTokens;
    record.outputTokens = usage.outputTokens;
    record.cachedInputTokens = usage.cachedInputTokens ?? 0;
    record.reasoningTokens = usage.reasoningTokens ?? 0;
    record.usageEstimated = estimated;
    record.costUsd = costUsd(usage, call.deployment.price);
  }

  target(call: GovernedCall): UpstreamTarget {
    return { baseUrl: call.deployment.baseUrl, apiKey: call.lease.secret, auth: call.upstreamApi === 'anthropic' ? 'anthropic' : 'bearer' };
  }

  callOptions(record: RequestRecord, providerHeaders?: Record<string, string>) {
    return {
      headersTimeoutMs: this.options.upstreamTimeoutMs,
      bodyTimeoutMs: this.options.upstreamTimeoutMs,
      headers: record.traceparent ? { ...providerHeaders, traceparent: record.traceparent } : providerHeaders,
    };
  }

  private upstreamBody(call: GovernedCall, chat: InboundChat, passthrough: boolean): Record<string, unknown> {
    const model = call.deployment.upstreamModel;
    if (!passthrough) {
      if (!chat.canonical) throw chat.blocker ?? new IngressError('invalid_request', 'the request cannot be translated', 400);
      return WIRE_CODECS[call.upstreamApi].encodeRequest({ ...chat.canonical, stream: chat.stream }, model);
    }
    const body: Record<string, unknown> = { ...chat.body, model };
    if (call.upstreamApi === 'openai') {
      // Usage is always requested upstream so it is metered exactly; forwardRaw hides it from a client that did not ask.
      if (chat.stream) body.stream_options = { ...((chat.body.stream_options as object | null) ?? {}), include_usage: true };
      else delete body.stream_options;
    }
    return body;
  }
}

/** One upstream SSE event as the client gets it when both speak the same API. */
function rawEvent(sse: SseEvent): string {
  return sse.event ? `event: ${sse.event}\ndata: ${sse.data}\n\n` : `data: ${sse.data}\n\n`;
}

/**
 * An OpenAI chunk carrying usage the client did not ask for (ingress always asks, to meter):
 * the usage-only chunk is dropped, usage is stripped from a chunk that also carries output.
 */
function withoutUsage(sse: SseEvent, produced: boolean): string {
  if (!produced) return '';
  const chunk = JSON.parse(sse.data) as { usage?: unknown };
  delete chunk.usage;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}
