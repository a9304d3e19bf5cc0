import { randomBytes } from 'node:crypto';
import { RequestCompletedV1 } from '@asc/events';

/** What ingress learns about one request as it moves along the path; becomes its event. */
export interface RequestRecord extends RequestCompletedV1 {
  /** Monotonic start, for latency. */
  readonly t0: number;
  traceparent?: string;
}

export function newRequestId(): string {
  return `req_${randomBytes(12).toString('hex')}`;
}

export function beginRecord(api: string, traceparent?: string): RequestRecord {
  return {
    t0: performance.now(),
    traceparent,
    requestId: newRequestId(),
    tenantId: '',
    appId: '',
    keyId: '',
    api,
    stream: false,
    requestedModel: '',
    servedModel: '',
    provider: '',
    deploymentId: '',
    region: '',
    credentialId: '',
    credentialVersion: 0,
    policyId: '',
    policyVersion: 0,
    decision: 'allow',
    reasonCode: '',
    status: 'ok',
    httpStatus: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    usageEstimated: false,
    costUsd: 0,
    latencyMs: 0,
    ttftMs: 0,
    startedAtMs: Date.now(),
  };
}

/** The event payload: the record without ingress-internal fields. */
export function toEventPayload(record: RequestRecord): RequestCompletedV1 {
  const { t0: _t0, traceparent: _tp, ...payload } = record;
  return payload;
}
