import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { auditV1 } from '@asc/contracts';
import { EventOnTopic, TOPIC_GATEWAY_REQUEST_V1 } from '@asc/events';

export const AUDIT_DATA_SOURCE = Symbol('AUDIT_DATA_SOURCE');

type RequestEvent = EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>;

const COLUMNS = [
  'event_id', 'event_type', 'tenant_id', 'request_id', 'app_id', 'key_id', 'decision', 'reason_code', 'requested_model',
  'served_model', 'provider', 'deployment_id', 'region', 'credential_id', 'credential_version', 'policy_id',
  'policy_version', 'status', 'http_status', 'traceparent', 'occurred_at', 'end_user_id', 'guardrail_actions',
] as const;

interface RecordRow {
  event_id: string;
  tenant_id: string;
  request_id: string;
  app_id: string;
  key_id: string;
  decision: string;
  reason_code: string;
  requested_model: string;
  served_model: string;
  provider: string;
  region: string;
  credential_id: string;
  credential_version: number;
  policy_id: string;
  policy_version: string;
  status: string;
  occurred_at: Date;
  end_user_id: string;
  guardrail_actions: Array<{ detector: string; action: string; count: number }>;
}

/** Appends decisions to the audit trail and answers who-used-what questions per tenant. */
@Injectable()
export class AuditTrailService {
  constructor(@Inject(AUDIT_DATA_SOURCE) private readonly dataSource: DataSource) {}

  /** Appends a batch in one statement; a redelivered event (same id) is ignored. */
  async append(events: RequestEvent[]): Promise<number> {
    if (!events.length) return 0;
    const values: unknown[] = [];
    const tuples = events.map((event, i) => {
      const d = event.data;
      values.push(
        event.id, event.type, event.tenantId, d.requestId, d.appId, d.keyId, d.decision, d.reasonCode, d.requestedModel,
        d.servedModel, d.provider, d.deploymentId, d.region, d.credentialId, d.credentialVersion, d.policyId,
        d.policyVersion, d.status, d.httpStatus, event.traceparent ?? null, event.time, d.endUserId ?? '',
        JSON.stringify(d.guardrails ?? []),
      );
      const base = i * COLUMNS.length;
      return `(${COLUMNS.map((_, j) => `$${base + j + 1}`).join(',')})`;
    });
    const inserted: unknown[] = await this.dataSource.query(
      `INSERT INTO audit.records (${COLUMNS.join(',')}) VALUES ${tuples.join(',')} ON CONFLICT (event_id) DO NOTHING RETURNING seq`,
      values,
    );
    return inserted.length;
  }

  async list(tenantId: string, options: { requestId?: string; limit?: number }): Promise<auditV1.AuditRecord[]> {
    const limit = Math.min(Math.max(options.limit || 100, 1), 1000);
    const rows: RecordRow[] = options.requestId
      ? await this.dataSource.query(
          'SELECT * FROM audit.records WHERE tenant_id = $1 AND request_id = $2 ORDER BY occurred_at DESC, seq DESC LIMIT $3',
          [tenantId, options.requestId, limit],
        )
      : await this.dataSource.query('SELECT * FROM audit.records WHERE tenant_id = $1 ORDER BY occurred_at DESC, seq DESC LIMIT $2', [
          tenantId,
          limit,
        ]);
    return rows.map((r) => ({
      eventId: r.event_id,
      tenantId: r.tenant_id,
      requestId: r.request_id,
      appId: r.app_id,
      keyId: r.key_id,
      decision: r.decision,
      reasonCode: r.reason_code,
      requestedModel: r.requested_model,
      servedModel: r.served_model,
      provider: r.provider,
      region: r.region,
      credentialId: r.credential_id,
      credentialVersion: r.credential_version,
      policyId: r.policy_id,
      policyVersion: Number(r.policy_version),
      status: r.status,
      occurredAtMs: new Date(r.occurred_at).getTime(),
      endUserId: r.end_user_id,
      guardrails: r.guardrail_actions.map((g) => ({ detector: g.detector, action: g.action, count: g.count })),
    }));
  }
}
