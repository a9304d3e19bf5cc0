export const SECRETS_DATA_SOURCE = Symbol('SECRETS_DATA_SOURCE');
export const SECRETS_OPTIONS = Symbol('SECRETS_OPTIONS');
/** Called for every lease granted (the audit hook; see docs/security.md). */
export const LEASE_LISTENER = Symbol('LEASE_LISTENER');
