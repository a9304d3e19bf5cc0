import type { RequestRecord } from '@asc/analytics';

/** One step of a request's life, with the time it happened (epoch ms, UTC). */
export interface TimelineStep {
  atMs: number;
  step: string;
  /** What the step decided or produced (ids, versions, reasons, counts; never secrets). */
  detail: Record<string, string | number | boolean>;
}

export interface RequestTimeline {
  requestId: string;
  tenantId: string;
  traceId: string;
  steps: TimelineStep[];
  /**
   * Steps not known (yet): 'audit_record_written' while the audit consumer has not written
   * the record, or when the audit service could not be asked. Empty when the timeline is complete.
   */
  pending: string[];
}

/** A step list an event may carry (the request runner's attempts/steps): any array of objects with a time. */
type StepLike = Record<string, unknown> & { atMs?: unknown; startedAtMs?: unknown; name?: unknown; step?: unknown };

/** A step list as stored: an array, or the JSON text of one (ClickHouse String columns). */
function parseList(value: unknown): unknown[] | undefined {
  if (Array.isArray(value)) return value;
  if (typeof value !== 'string' || !value.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function flat(detail: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(detail)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/** The list steps of a row: column → the step name of an item without its own. */
const LIST_STEPS: Record<string, string> = { guardrail_actions: 'guardrail_action', attempts: 'routing_attempt', steps: 'step' };

/**
 * One ordered timeline of a request: from the stored request row received, authenticated,
 * policy decision (version, reason), guardrail actions, budget reservation, each routing
 * attempt (deployment, region, status, latency, whether it was a fallback), the credential
 * lease, first token, completion, usage and cost, and when the metering row was written;
 * from the audit service (`audit`) when its record was written. Steps a list carries
 * without a time of their own sit at the start of the request. Sorted by time, ties kept in
 * the order of the request's life. `audit` undefined: that step is listed in `pending`.
 */
export function buildTimeline(record: RequestRecord, audit?: { eventId: string; recordedAtMs: number }): RequestTimeline {
  const row = record as RequestRecord & Record<string, unknown>; // columns later migrations add are read by name
  const t0 = Number(row.started_at_ms);
  const steps: TimelineStep[] = [
    { atMs: t0, step: 'received', detail: { api: row.api, stream: row.stream === 1, requestedModel: row.requested_model } },
    { atMs: t0, step: 'authenticated', detail: { appId: row.app_id, keyId: row.key_id } },
    {
      atMs: t0,
      step: 'policy_decision',
      detail: { decision: row.decision, policyId: row.policy_id, policyVersion: Number(row.policy_version), reasonCode: row.reason_code },
    },
  ];
  steps.push({ atMs: t0, step: 'budget_reservation', detail: { reservedUsd: Number(row.budget_reserved_usd ?? 0) } });
  for (const [key, fallbackName] of Object.entries(LIST_STEPS)) {
    const list = parseList(row[key]);
    if (!Array.isArray(list)) continue;
    list.forEach((item: unknown, i) => {
      if (typeof item !== 'object' || item === null) return;
      const s = item as StepLike;
      const at = typeof s.atMs === 'number' ? s.atMs : typeof s.startedAtMs === 'number' ? s.startedAtMs : t0;
      const name = typeof s.step === 'string' ? s.step : typeof s.name === 'string' ? s.name : fallbackName;
      // A routing attempt after the first is a fallback (the previous one failed).
      steps.push({ atMs: at, step: name, detail: { index: i, ...flat(s), ...(key === 'attempts' ? { fallback: i > 0 } : {}) } });
    });
  }
  if (row.decision === 'allow' && row.deployment_id) {
    steps.push({
      atMs: t0,
      step: 'routed',
      detail: {
        deploymentId: row.deployment_id,
        provider: row.provider,
        region: row.region,
        servedModel: row.served_model,
        credentialId: row.credential_id,
        credentialVersion: row.credential_version,
        fallbacks: Number(row.fallback_count ?? 0),
      },
    });
  }
  if (row.credential_id) {
    // The deployment's credential, leased from secrets for the upstream call (id and version, never the secret).
    steps.push({ atMs: t0, step: 'credential_lease', detail: { credentialId: row.credential_id, credentialVersion: Number(row.credential_version) } });
  }
  if (Number(row.ttft_ms) > 0) steps.push({ atMs: t0 + Number(row.ttft_ms), step: 'first_token', detail: { ttftMs: Number(row.ttft_ms) } });
  steps.push({
    atMs: t0 + Number(row.latency_ms),
    step: 'completed',
    detail: { status: row.status, httpStatus: row.http_status, latencyMs: Number(row.latency_ms) },
  });
  steps.push({
    atMs: t0 + Number(row.latency_ms),
    step: 'usage',
    detail: {
      inputTokens: row.input_tokens,
      outputTokens: row.output_tokens,
      cachedInputTokens: row.cached_input_tokens,
      reasoningTokens: row.reasoning_tokens,
      usageEstimated: row.usage_estimated === 1,
      costUsd: row.cost_usd,
    },
  });
  steps.push({ atMs: Number(row.inserted_at_ms), step: 'metering_row_written', detail: { eventId: row.event_id } });
  if (audit) steps.push({ atMs: audit.recordedAtMs, step: 'audit_record_written', detail: { eventId: audit.eventId } });
  const order = new Map(steps.map((s, i) => [s, i]));
  steps.sort((a, b) => a.atMs - b.atMs || (order.get(a) ?? 0) - (order.get(b) ?? 0));
  return { requestId: row.request_id, tenantId: row.tenant_id, traceId: String(row.trace_id ?? ''), steps, pending: audit ? [] : ['audit_record_written'] };
}
