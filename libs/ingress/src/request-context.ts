import { randomUUID } from 'node:crypto';
import type { RequestCompletedV1 } from '@asc/events';
import type { CanonicalRequest, CanonicalResponse, CanonicalUsage } from '@asc/providers';
import type { Deployment, PolicyDecision, Principal } from './control-plane.port';
import type { InboundApi, InboundChat } from './wire-apis';
import type { CanonicalEmbeddingsRequest } from '@asc/providers';
import { costUsd } from './usage';

/**
 * A request id as callers see it (`x-request-id`), also on answers given before the runner
 * (body errors). randomUUID draws from a cached entropy pool: no syscall per request.
 */
export function newRequestId(): string {
  return `req_${randomUUID().replace(/-/g, '')}`;
}

/** The operations the data plane serves; policy and routing see the same names. */
export type Operation = 'chat.completions' | 'embeddings' | 'count_tokens' | 'models';

/** One try of one deployment. */
export interface Attempt {
  deploymentId: string;
  provider: string;
  region: string;
  /** 'ok', or why it failed ('upstream_error', 'timeout_ttft', 'skipped_budget'…). */
  status: string;
  reasonCode: string;
  latencyMs: number;
}

/** How a request ended, as the event, the metrics and the client see it. */
export type RequestStatus = RequestCompletedV1['status'];

/**
 * Everything the runner learns about one request, in one place. Steps read it and add to
 * it; the request's single event, its metrics and its response headers are derived from
 * it (`toRequestEvent`), never assembled alongside.
 */
export class RequestContext {
  readonly requestId = newRequestId();
  readonly t0 = performance.now();
  readonly startedAtMs = Date.now();
  principal?: Principal;
  decision?: PolicyDecision;
  model = '';
  stream = false;
  /** Set for chat requests once the body is decoded. */
  chat?: InboundChat;
  /** count_tokens: the body, forwarded as is. */
  requestBody: Record<string, unknown> = {};
  embeddings?: { body: Record<string, unknown>; request: CanonicalEmbeddingsRequest };
  /** The deployment that served (or the last one tried). */
  deployment?: Deployment;
  credentialId = '';
  credentialVersion = 0;
  routingVersion = 0;
  readonly attempts: Attempt[] = [];
  usage: CanonicalUsage = { inputTokens: 0, outputTokens: 0 };
  usageEstimated = false;
  ttftMs = 0;
  status: RequestStatus = 'ok';
  reasonCode = '';
  httpStatus = 0;
  /** The tenant's end user ('' when none was named; see endUserOf in request-runner.ts). */
  endUserId = '';
  /** Headers a step wants on the response (rate-limit headers, cache status…). */
  readonly responseHeaders: Record<string, string> = {};
  /** Extra event fields a step contributes (merged into the event as they are). */
  readonly eventExtras: Record<string, unknown> = {};
  /** A request header (lower-case name), for steps that honour one (cache-control). */
  requestHeader: (name: string) => string | undefined = () => undefined;
  /** The decoded answer of a non-streamed chat that succeeded (what the response cache stores). */
  response?: CanonicalResponse;

  constructor(
    readonly api: InboundApi,
    /** The API shape the client called, e.g. 'openai.chat.completions'. */
    readonly recordApi: string,
    readonly operation: Operation,
    readonly traceparent: string | undefined,
  ) {}

  get canonical(): CanonicalRequest | undefined {
    return this.chat?.canonical;
  }

  /** The headers every answer carries: the request id for each SDK, and what routing did. */
  headers(): Record<string, string> {
    const h: Record<string, string> = { 'x-request-id': this.requestId, 'request-id': this.requestId, ...this.responseHeaders };
    if (this.deployment) h['x-asc-deployment'] = this.deployment.id;
    if (this.attempts.length) h['x-asc-attempts'] = String(this.attempts.length);
    return h;
  }

  meter(usage: CanonicalUsage, estimated: boolean): void {
    this.usage = usage;
    this.usageEstimated = estimated;
  }

  elapsedMs(): number {
    return performance.now() - this.t0;
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The request's one event, derived from its context. */
export function toRequestEvent(ctx: RequestContext): RequestCompletedV1 {
  const d = ctx.deployment;
  return {
    requestId: ctx.requestId,
    tenantId: ctx.principal?.tenantId ?? '',
    appId: ctx.principal?.appId ?? '',
    keyId: ctx.principal?.keyId ?? '',
    api: ctx.recordApi,
    stream: ctx.stream,
    requestedModel: ctx.model,
    servedModel: d?.upstreamModel ?? '',
    provider: d?.provider ?? '',
    deploymentId: d?.id ?? '',
    region: d?.region ?? '',
    credentialId: ctx.credentialId,
    credentialVersion: ctx.credentialVersion,
    policyId: ctx.decision?.policyId ?? '',
    policyVersion: ctx.decision?.policyVersion ?? 0,
    decision: ctx.status === 'denied' ? 'deny' : 'allow',
    reasonCode: ctx.reasonCode,
    status: ctx.status,
    httpStatus: ctx.httpStatus,
    inputTokens: ctx.usage.inputTokens,
    outputTokens: ctx.usage.outputTokens,
    cachedInputTokens: ctx.usage.cachedInputTokens ?? 0,
    reasoningTokens: ctx.usage.reasoningTokens ?? 0,
    usageEstimated: ctx.usageEstimated,
    costUsd: d ? costUsd(ctx.usage, d.price) : 0,
    latencyMs: round2(ctx.elapsedMs()),
    ttftMs: round2(ctx.ttftMs),
    startedAtMs: ctx.startedAtMs,
    attempts: ctx.attempts,
    fallbackCount: Math.max(0, ctx.attempts.length - 1),
    endUserId: ctx.endUserId,
    ...ctx.eventExtras,
  };
}
