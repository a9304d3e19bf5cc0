import { AuditEntry } from './audit-entry';
import { JsonValue } from './canonical-json';
import { SignedCheckpoint } from './checkpoint';

/**
 * How the audit service stores the trail in PostgreSQL (schema `audit`), shared by the service
 * and the verifier's database mode, so both read a record the same way.
 */

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

/** A row of audit.checkpoints. */
export interface CheckpointRow {
  tenant_id: string;
  checkpoint_seq: string;
  from_seq: string;
  to_seq: string;
  record_count: string;
  merkle_root: string;
  chain_head: string;
  prev_checkpoint_hash: string;
  signed_at: string;
  key_id: string;
  signature: string;
}

export function rowToCheckpoint(r: CheckpointRow): SignedCheckpoint {
  return {
    tenantId: r.tenant_id,
    checkpointSeq: Number(r.checkpoint_seq),
    fromSeq: Number(r.from_seq),
    toSeq: Number(r.to_seq),
    recordCount: Number(r.record_count),
    merkleRoot: r.merkle_root,
    chainHead: r.chain_head,
    prevCheckpointHash: r.prev_checkpoint_hash,
    signedAt: r.signed_at,
    keyId: r.key_id,
    signature: r.signature,
  };
}

/** Anything with pg's query signature (a Client, a Pool). */
export interface SqlQueryable {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * Reads a tenant's whole trail from the audit database, in chain order, for the verifier.
 * Records come by (tenant_id, chain_seq), the unique index; gaps and reordering are the
 * verifier's to find.
 */
export async function readTrailFromDatabase(db: SqlQueryable, tenantId: string): Promise<{ entries: AuditEntry[]; checkpoints: SignedCheckpoint[] }> {
  const entries: AuditEntry[] = [];
  for (let after = -1; ; ) {
    const { rows } = await db.query<RecordRow>('SELECT * FROM audit.records WHERE tenant_id = $1 AND chain_seq > $2 ORDER BY chain_seq LIMIT 10000', [tenantId, after]);
    if (!rows.length) break;
    entries.push(...rows.map(rowToEntry));
    after = Number(rows[rows.length - 1].chain_seq);
  }
  const { rows } = await db.query<CheckpointRow>('SELECT * FROM audit.checkpoints WHERE tenant_id = $1 ORDER BY checkpoint_seq', [tenantId]);
  return { entries, checkpoints: rows.map(rowToCheckpoint) };
}
