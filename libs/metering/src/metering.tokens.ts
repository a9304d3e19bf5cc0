export const ANALYTICS_STORE = Symbol('ANALYTICS_STORE');
export const METERING_DATABASE = Symbol('METERING_DATABASE');
/** (tenantId, requestId) → the request's audit record, if written: see AuditLookup. */
export const AUDIT_LOOKUP = Symbol('AUDIT_LOOKUP');
