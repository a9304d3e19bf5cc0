import { policyV1 } from '@asc/contracts';
import type { PolicyDecision, Principal } from './control-plane.port';

/** Test fixtures: a principal and an allowing decision with every field of the contract filled. */
const NO_LIMIT: policyV1.RateLimit = { rpm: 0, tpm: 0 };

export function testPrincipal(p: Pick<Principal, 'tenantId' | 'appId' | 'keyId'> & Partial<Principal>): Principal {
  return { scopes: ['inference'], modelScopes: [], operationScopes: [], expiresAtMs: 0, ...p };
}

export function allowDecision(overrides: Partial<PolicyDecision> = {}): PolicyDecision {
  return {
    decision: policyV1.Decision.DECISION_ALLOW,
    reasonCode: 'allowed',
    reason: '',
    allowedRegions: ['*'],
    policyId: 'pol_1',
    policyVersion: 1,
    allowedOperations: ['*'],
    maxInputTokens: 0,
    maxOutputTokens: 0,
    guardrails: undefined,
    tenantLimit: NO_LIMIT,
    appLimit: NO_LIMIT,
    keyLimit: NO_LIMIT,
    endUserLimit: NO_LIMIT,
    modelLimit: NO_LIMIT,
    budgets: [],
    cacheEnabled: false,
    cacheTtlSeconds: 0,
    limitsFailureMode: 'open',
    spoolOverflowMode: 'shed',
    appId: '',
    ...overrides,
  };
}
