export { loadMeteringConfig, meteringConfigShape } from './metering.config';
export type { MeteringConfig } from './metering.config';
export { scheduleRetention, startMeteringService } from './start-metering';
export { buildTimeline, type RequestTimeline, type TimelineStep } from './request-timeline';
export type { MeteringDependencies } from './start-metering';
export { recordRequestEvents, toRequestRow } from './usage-recorder';
export { grpcAuditLookup, type AuditLookup, type AuditRecordRef } from './audit-lookup';
