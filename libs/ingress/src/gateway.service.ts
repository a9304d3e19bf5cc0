import { Inject, Injectable, Logger } from '@nestjs/common';
import { policyV1 } from '@asc/contracts';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, EventPublisher } from '@asc/events';
import { OpenAICompatibleClient, UpstreamError } from '@asc/providers';
import { hashApiKey, isWellFormedApiKey } from '@asc/tenancy';
import { CONTROL_PLANE, ControlPlane, CredentialLease, Deployment, Principal } from './control-plane.port';
import { IngressError } from './ingress.error';
import { IngressMetrics } from './ingress.metrics';
import { INGRESS_OPTIONS, IngressOptions, EVENT_PUBLISHER, UPSTREAM_CLIENT } from './ingress.tokens';
import { ChatCompletionRequest } from './openai-chat.schema';
import { openAIError, toIngressError } from './openai-error';
import { RequestRecord, toEventPayload } from './request-record';
import { costUsd, openAIUsage, TokenUsage } from './usage';

/** A request that passed authentication, policy, routing and got its credential lease. */
export interface GovernedCall {
  principal: Principal;
  deployment: Deployment;
  lease: CredentialLease;
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

const OPERATION = 'chat.completions';
const NO_CREDENTIAL: CredentialLease = { leaseId: '', credentialId: '', version: 0, secret: '', expiresAtMs: 0 };

/**
 * The governed chat completion: authenticate → decide → plan → lease → call → meter.
 * Every request that reached a tenant ends in exactly one event (see `finish`).
 */
@Injectable()
export class ChatCompletionsService {
  private readonly logger = new Logger('ChatCompletions');

  constructor(
    @Inject(CONTROL_PLANE) private readonly controlPlane: ControlPlane,
    @Inject(EVENT_PUBLISHER) private readonly events: EventPublisher,
    @Inject(UPSTREAM_CLIENT) private readonly upstream: OpenAICompatibleClient,
    @Inject(INGRESS_OPTIONS) private readonly options: IngressOptions,
    private readonly metrics: IngressMetrics,
  ) {}

  /** Accepts `Authorization: Bearer <key>` (OpenAI SDKs) or `x-api-key` (Anthropic SDKs). */
  async authenticate(record: RequestRecord, authorization: string | undefined, xApiKey: string | undefined): Promise<Principal> {
    const key = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : xApiKey?.trim();
    if (!key) throw new IngressError('missing_api_key', 'no API key provided: send it as "Authorization: Bearer <key>"', 401);
    const principal = isWellFormedApiKey(key) ? await this.controlPlane.authenticate(hashApiKey(key)) : undefined;
    if (!principal) throw new IngressError('invalid_api_key', 'the API key is not valid', 401);
    record.tenantId = principal.tenantId;
    record.appId = principal.appId;
    record.keyId = principal.keyId;
    return principal;
  }

  async authorize(record: RequestRecord, principal: Principal, model: string): Promise<GovernedCall> {
    record.requestedModel = model;
    const decision = await this.controlPlane.decide(principal, model, OPERATION);
    record.policyId = decision.policyId;
    record.policyVersion = decision.policyVersion;
    if (decision.decision !== policyV1.Decision.DECISION_ALLOW) {
      record.decision = 'deny';
      throw new IngressError(decision.reasonCode || 'denied', decision.reason || `model ${model} is not allowed`, 403, 'model');
    }
    const plan = await this.controlPlane.plan(principal, model, decision.allowedRegions, OPERATION);
    const deployment = plan.deployments[0];
    if (!deployment) {
      throw new IngressError('model_not_found', `the model ${model} does not exist or has no deployment in the regions allowed to you`, 404, 'model');
    }
    record.deploymentId = deployment.id;
    record.provider = deployment.provider;
    record.region = deployment.region;
    record.servedModel = deployment.upstreamModel;
    record.credentialId = deployment.credentialId;
    // A self-hosted model without a key (local vLLM, Ollama) has no credential to lease.
    const lease = deployment.credentialId
      ? await this.controlPlane.lease(principal, deployment.credentialId, deployment.id)
      : NO_CREDENTIAL;
    record.credentialVersion = lease.version;
    return { principal, deployment, lease };
  }

  async complete(record: RequestRecord, call: GovernedCall, request: ChatCompletionRequest): Promise<unknown> {
    const response = await this.upstream.postJson(this.target(call), '/chat/completions', this.upstreamBody(call, request, false), this.callOptions(record));
    this.meter(record, call, openAIUsage((response.body as { usage?: unknown }).usage));
    return response.body;
  }

  /**
   * Streams the provider's SSE to the client. Usage is always requested upstream so it is
   * metered exactly; the usage chunk is forwarded only if the client asked for it.
   */
  async stream(record: RequestRecord, call: GovernedCall, request: ChatCompletionRequest, sink: StreamSink): Promise<void> {
    record.stream = true;
    const abort = new AbortController();
    sink.onClose(() => abort.abort());
    const events = await this.upstream.postStream(this.target(call), '/chat/completions', this.upstreamBody(call, request, true), {
      ...this.callOptions(record),
      signal: abort.signal,
    });
    const clientWantsUsage = request.stream_options?.include_usage === true;
    let usage: TokenUsage | undefined;
    let opened = false;
    let failure: unknown;
    try {
      for await (const event of events) {
        if (event.data === '[DONE]') break;
        let chunk: { choices?: Array<{ delta?: { content?: unknown; tool_calls?: unknown } }>; usage?: unknown };
        try {
          chunk = JSON.parse(event.data) as typeof chunk;
        } catch {
          throw new UpstreamError('protocol', 'the provider sent a malformed stream chunk');
        }
        const chunkUsage = openAIUsage(chunk.usage);
        if (chunkUsage) usage = chunkUsage;
        const isUsageOnly = !chunk.choices?.length && chunkUsage !== undefined;
        if (isUsageOnly && !clientWantsUsage) continue;
        if (!opened) {
          sink.open();
          opened = true;
        }
        if (!record.ttftMs && chunk.choices?.some((c) => c.delta?.content || c.delta?.tool_calls)) {
          record.ttftMs = performance.now() - record.t0;
        }
        sink.write(`data: ${clientWantsUsage || !chunk.usage ? event.data : JSON.stringify({ ...chunk, usage: undefined })}\n\n`);
      }
    } catch (err) {
      // Before the first byte, the edge answers with a plain error response instead.
      if (!opened && !sink.closed) throw err;
      failure = err;
    }
    this.meter(record, call, usage);
    if (sink.closed && (failure !== undefined || !usage)) {
      record.status = 'cancelled';
      record.reasonCode = 'client_closed';
      return;
    }
    if (failure !== undefined) {
      // Headers are gone: report the failure the way OpenAI does mid-stream, then close.
      const error = toIngressError(failure);
      record.status = 'upstream_error';
      record.reasonCode = error.code;
      sink.write(`data: ${JSON.stringify(openAIError(error.httpStatus, error.code, error.message))}\n\n`);
      sink.end();
      return;
    }
    if (!opened) sink.open();
    sink.write('data: [DONE]\n\n');
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

  private meter(record: RequestRecord, call: GovernedCall, usage: TokenUsage | undefined): void {
    if (!usage) return;
    record.inputTokens = usage.inputTokens;
    record.outputTokens = usage.outputTokens;
    record.cachedInputTokens = usage.cachedInputTokens;
    record.costUsd = costUsd(usage, call.deployment.price);
  }

  private target(call: GovernedCall) {
    return { baseUrl: call.deployment.baseUrl, apiKey: call.lease.secret };
  }

  private upstreamBody(call: GovernedCall, request: ChatCompletionRequest, stream: boolean): Record<string, unknown> {
    const body: Record<string, unknown> = { ...request, model: call.deployment.upstreamModel };
    if (stream) body.stream_options = { ...(request.stream_options ?? {}), include_usage: true };
    else delete body.stream_options;
    return body;
  }

  private callOptions(record: RequestRecord) {
    return {
      headersTimeoutMs: this.options.upstreamTimeoutMs,
      bodyTimeoutMs: this.options.upstreamTimeoutMs,
      headers: record.traceparent ? { traceparent: record.traceparent } : undefined,
    };
  }
}
