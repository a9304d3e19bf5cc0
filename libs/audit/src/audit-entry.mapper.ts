import { AuditEntry, JsonValue } from '@asc/audit-proof';

/** A row of audit.records as the pg driver returns it (bigint columns arrive as strings). */
export interface RecordRow {
  seq: string;
  event_id: string;
  kind: 'request' | 'admin_change';
  tenant_id: string;
  request_id: string;
  app_id: string;
  key_id: string;
  decision: string;
  reason_code: string;
  requested_model: string;
  served_model: string;
  provider: string;
  deployment_id: string;
  region: string;
  credential_id: string;
  credential_version: number;
  policy_id: string;
  policy_version: string;
  routing_version: string;
  status: string;
  http_status: number;
  details: { [key: string]: JsonValue } | null;
  occurred_at: Date;
  chain_seq: string;
  prev_hash: string;
  hash: string;
}

/**
 * What a request record says, from its columns. The hash covers exactly these fields, so
 * the columns the point-in-time query reads are the ones the chain protects.
 */
export function requestFields(r: Pick<RecordRow, 'app_id' | 'key_id' | 'decision' | 'reason_code' | 'requested_model' | 'served_model' | 'provider' | 'deployment_id' | 'region' | 'credential_id' | 'credential_version' | 'policy_id' | 'policy_version' | 'routing_version' | 'status' | 'http_status'>): { [key: string]: JsonValue } {
  return {
    appId: r.app_id,
    keyId: r.key_id,
    decision: r.decision,
    reasonCode: r.reason_code,
    requestedModel: r.requested_model,
    servedModel: r.served_model,
    provider: r.provider,
    deploymentId: r.deployment_id,
    region: r.region,
    credentialId: r.credential_id,
    credentialVersion: Number(r.credential_version),
    policyId: r.policy_id,
    policyVersion: Number(r.policy_version),
    routingVersion: Number(r.routing_version),
    status: r.status,
    httpStatus: Number(r.http_status),
  };
}

export function rowToEntry(r: RecordRow): AuditEntry {
  return {
    tenantId: r.tenant_id,
    seq: Number(r.chain_seq),
    prevHash: r.prev_hash,
    eventId: r.event_id,
    kind: r.kind,
    occurredAt: new Date(r.occurred_at).toISOString(),
    requestId: r.request_id,
    fields: r.kind === 'request' ? requestFields(r) : (r.details ?? {}),
    hash: r.hash,
  };
}
