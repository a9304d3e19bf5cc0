import { auditV1 } from '@asc/contracts';
import { createGrpcClient, type GrpcSecurity } from '@asc/service-kit';

/** What the timeline needs of a request's audit record. */
export interface AuditRecordRef {
  eventId: string;
  recordedAtMs: number;
}

/**
 * The audit record of one request, or undefined when none is written yet. Throws when the
 * audit service cannot be asked (the timeline then reports the step as unknown, not absent).
 */
export interface AuditLookup {
  find(tenantId: string, requestId: string): Promise<AuditRecordRef | undefined>;
  close(): void;
}

/** Asks the audit service over gRPC (ListRecords of the request, as identity metering). */
export function grpcAuditLookup(target: string, security: GrpcSecurity): AuditLookup {
  const handle = createGrpcClient(auditV1.AuditServiceService, target, { security, service: 'audit' }, { deadlineMs: 2_000 });
  return {
    async find(tenantId, requestId) {
      const { records } = await handle.client.listRecords({ tenantId, requestId, limit: 1 });
      const record = records[0];
      return record ? { eventId: record.eventId, recordedAtMs: Number(record.recordedAtMs) } : undefined;
    },
    close: () => handle.close(),
  };
}
