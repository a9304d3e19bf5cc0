export { auditConfigShape, loadAuditConfig } from './audit.config';
export type { AuditConfig } from './audit.config';
export { AuditTrailService } from './audit-trail.service';
export { startAuditService } from './start-audit';
export type { AuditDependencies } from './start-audit';
