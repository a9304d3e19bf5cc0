import { AnalyticsStore, BUDGET_EVENTS_TABLE, chSql, ident, insertRequestsIdempotent, RequestEventRow, sqlTuple } from '@asc/analytics';
import { EventOnTopic, mapInSlices, TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1 } from '@asc/events';

type RequestEvent = EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>;
type BudgetEvent = EventOnTopic<typeof TOPIC_SPEND_BUDGET_V1>;

/** One request event as a ClickHouse row (integers rounded: the columns are UInt). */
export function toRequestRow(event: RequestEvent): RequestEventRow {
  const d = event.data;
  return {
    event_id: event.id,
    request_id: d.requestId,
    tenant_id: event.tenantId,
    app_id: d.appId,
    key_id: d.keyId,
    end_user_id: d.endUserId ?? '',
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
    trace_id: d.traceId ?? '',
    // Detector, action and count only: the event never carries matched text.
    guardrail_actions: JSON.stringify(d.guardrails ?? []),
    guardrail_action_count: (d.guardrails ?? []).reduce((n, g) => n + (g.action === 'allow' ? 0 : g.count), 0),
    cache_hit: d.cacheHit ? 1 : 0,
    cost_saved_usd: d.costSavedUsd ?? 0,
    budget_reserved_usd: d.budgetReservedUsd ?? 0,
  };
}

/**
 * Writes a batch of request events to ClickHouse. Idempotent on event id, so a batch
 * redelivered after a crash (at-least-once) is not counted twice.
 */
export async function recordRequestEvents(store: AnalyticsStore, database: string, events: RequestEvent[]): Promise<void> {
  if (!events.length) return;
  await insertRequestsIdempotent(store, database, await mapInSlices(events, toRequestRow));
}

/**
 * Writes budget.threshold events to ClickHouse, skipping event ids already stored (a
 * redelivered batch); a duplicate that slips past the check collapses in the
 * ReplacingMergeTree (same sorting key), read with FINAL.
 */
export async function recordBudgetEvents(store: AnalyticsStore, database: string, events: BudgetEvent[]): Promise<void> {
  if (!events.length) return;
  const ids = [...new Set(events.map((e) => e.id))];
  const present = new Set(
    (
      await store.query<{ event_id: string }>(
        chSql`SELECT DISTINCT event_id FROM ${ident(database, BUDGET_EVENTS_TABLE)} WHERE event_id IN ${sqlTuple(ids)}`,
      )
    ).map((r) => r.event_id),
  );
  const insertedAt = Date.now();
  const rows = new Map<string, Record<string, unknown>>();
  for (const e of events) {
    if (present.has(e.id) || rows.has(e.id)) continue;
    rows.set(e.id, {
      event_id: e.id,
      tenant_id: e.tenantId,
      scope: e.data.scope,
      scope_id: e.data.scopeId,
      period: e.data.period,
      period_key: e.data.periodKey,
      threshold: e.data.threshold,
      limit_usd: e.data.limitUsd,
      spent_usd: e.data.spentUsd,
      occurred_at_ms: Date.parse(e.time) || insertedAt,
      inserted_at_ms: insertedAt,
    });
  }
  await store.insert(`${database}.${BUDGET_EVENTS_TABLE}`, [...rows.values()]);
}
