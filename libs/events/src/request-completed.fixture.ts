import { createEvent, type EventEnvelope } from './envelope';
import { EVENT_GATEWAY_REQUEST_COMPLETED, type RequestCompletedV1 } from './event-map';

/** A plausible completed request (test data only; not exported from the library). */
export function requestCompleted(overrides: Partial<RequestCompletedV1> = {}): RequestCompletedV1 {
  return {
    requestId: 'req_1',
    tenantId: 'tenant_a',
    appId: 'app_1',
    keyId: 'key_1',
    api: 'openai.chat.completions',
    stream: true,
    requestedModel: 'gpt-4o-mini',
    servedModel: 'gpt-4o-mini-2024-07-18',
    provider: 'openai',
    deploymentId: 'dep_eu_1',
    region: 'eu-west-1',
    credentialId: 'cred_1',
    credentialVersion: 3,
    policyId: 'pol_1',
    policyVersion: 7,
    decision: 'allow',
    reasonCode: '',
    status: 'ok',
    httpStatus: 200,
    inputTokens: 120,
    outputTokens: 48,
    cachedInputTokens: 0,
    reasoningTokens: 16,
    usageEstimated: false,
    costUsd: 0.000123,
    latencyMs: 812.5,
    ttftMs: 140,
    startedAtMs: 1_760_000_000_000,
    routingVersion: 0,
    ...overrides,
  };
}

/** An envelope for tenant `tenantId` whose requestId carries `seq`, to check order and loss. */
export function requestEvent(tenantId: string, seq: number): EventEnvelope<typeof EVENT_GATEWAY_REQUEST_COMPLETED> {
  return createEvent(
    EVENT_GATEWAY_REQUEST_COMPLETED,
    { tenantId, source: 'asc/test' },
    requestCompleted({ tenantId, requestId: `${tenantId}:${seq}` }),
  );
}

/** The sequence number requestEvent put into the requestId. */
export function seqOf(event: { data: object }): number {
  const requestId = 'requestId' in event.data && typeof event.data.requestId === 'string' ? event.data.requestId : '';
  return Number(requestId.slice(requestId.lastIndexOf(':') + 1));
}
