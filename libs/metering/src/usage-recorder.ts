import { AnalyticsStore, insertRequestsIdempotent, RequestEventRow } from '@asc/analytics';
import { EventOnTopic, TOPIC_GATEWAY_REQUEST_V1 } from '@asc/events';

type RequestEvent = EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>;

/** One request event as a ClickHouse row (integers rounded: the columns are UInt). */
export function toRequestRow(event: RequestEvent): RequestEventRow {
  const d = event.data;
  return {
    event_id: event.id,
    request_id: d.requestId,
    tenant_id: event.tenantId,
    app_id: d.appId,
    key_id: d.keyId,
    api: d.api,
    stream: d.stream ? 1 : 0,
    requested_model: d.requestedModel,
    served_model: d.servedModel,
    provider: d.provider,
    deployment_id: d.deploymentId,
    region: d.region,
    credential_id: d.credentialId,
    credential_version: d.credentialVersion,
    policy_id: d.policyId,
    policy_version: d.policyVersion,
    decision: d.decision,
    reason_code: d.reasonCode,
    status: d.status,
    http_status: d.httpStatus,
    input_tokens: d.inputTokens,
    output_tokens: d.outputTokens,
    cached_input_tokens: d.cachedInputTokens,
    // Parsing fills both for an event from an older ingress; `??` covers a hand-built one.
    reasoning_tokens: d.reasoningTokens ?? 0,
    usage_estimated: d.usageEstimated ? 1 : 0,
    fallback_count: d.fallbackCount ?? 0,
    attempts: JSON.stringify(d.attempts ?? []),
    cost_usd: d.costUsd,
    latency_ms: Math.round(d.latencyMs),
    ttft_ms: Math.round(d.ttftMs),
    started_at_ms: d.startedAtMs,
    occurred_at_ms: Date.parse(event.time) || d.startedAtMs,
    routing_version: d.routingVersion ?? 0,
  };
}

/**
 * Writes a batch of request events to ClickHouse. Idempotent on event id, so a batch
 * redelivered after a crash (at-least-once) is not counted twice.
 */
export async function recordRequestEvents(store: AnalyticsStore, database: string, events: RequestEvent[]): Promise<void> {
  if (!events.length) return;
  await insertRequestsIdempotent(store, database, events.map(toRequestRow));
}
