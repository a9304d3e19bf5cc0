export { assertOneSigningKey, auditConfigShape, loadAuditConfig } from './audit.config';
export type { AuditConfig } from './audit.config';
export { AuditTrailService } from './audit-trail.service';
export type { AuditedEvent, UsageQuery, UsageRow } from './audit-trail.service';
export { AuditSigningKey } from './signing-key';
export { AUDIT_MIGRATIONS, startAuditService } from './start-audit';
export type { AuditDependencies } from './start-audit';
