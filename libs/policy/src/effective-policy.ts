import { policyV1 } from '@asc/contracts';
import {
  BUDGET_SCOPES,
  BUILTIN_DETECTORS,
  BudgetInput,
  GuardrailActionName,
  NarrowingPolicyDocument,
  RateLimitInput,
  TenantPolicyDocument,
} from './policy-document';

/** What a key was issued for (empty list = no restriction beyond its app and tenant). */
export interface KeyScopes {
  models: string[];
  operations: string[];
}

export interface EffectiveGuardrails {
  detectors: Partial<Record<(typeof BUILTIN_DETECTORS)[number], GuardrailActionName>>;
  medicalRecordPatterns: string[];
  customPatterns: Array<{ name: string; pattern: string; action: GuardrailActionName }>;
  denyTerms: string[];
  denyTermsAction: GuardrailActionName;
  injectionPatterns: string[];
  builtinInjectionPatterns: boolean;
  injectionAction: GuardrailActionName;
  applyToResponse: boolean;
}

export interface EffectiveLimits {
  tenant: RateLimitInput;
  app: RateLimitInput;
  key: RateLimitInput;
  endUser: RateLimitInput;
  model: RateLimitInput;
}

/** The policy one key works under: tenant ∩ app ∩ key ∩ the key's scopes. */
export interface EffectivePolicy {
  /** "*" alone = any. */
  allowedModels: string[];
  allowedRegions: string[];
  allowedOperations: string[];
  /** 0 = no cap. */
  maxInputTokens: number;
  maxOutputTokens: number;
  guardrails: EffectiveGuardrails;
  limits: EffectiveLimits;
  budgets: BudgetInput[];
  cacheEnabled: boolean;
  cacheTtlSeconds: number;
  limitsFailureMode: 'open' | 'closed';
  spoolOverflowMode: 'shed' | 'count';
  /** Models/operations removed by the key's own scopes (kept apart so a deny can say which). */
  keyModelScopes: string[];
  keyOperationScopes: string[];
}

const ANY = '*';
const STRICTNESS: Record<GuardrailActionName, number> = { allow: 0, redact: 1, block: 2 };

/** Intersection of allowlists where ["*"] means "everything"; `undefined` = inherit. */
export function intersectAllowlists(upper: string[], lower: string[] | undefined): string[] {
  if (lower === undefined) return upper;
  const upperAny = upper.includes(ANY);
  const lowerAny = lower.includes(ANY);
  if (upperAny) return lowerAny ? [ANY] : [...new Set(lower)];
  if (lowerAny) return upper;
  const allowed = new Set(lower);
  return upper.filter((v) => allowed.has(v));
}

export function allows(list: string[], value: string): boolean {
  return list.includes(ANY) || list.includes(value);
}

/** Minimum of two caps where 0 means "no cap". */
export function minCap(a: number, b: number | undefined): number {
  if (!b) return a;
  if (!a) return b;
  return Math.min(a, b);
}

function stricter(a: GuardrailActionName, b: GuardrailActionName | undefined): GuardrailActionName {
  return b !== undefined && STRICTNESS[b] > STRICTNESS[a] ? b : a;
}

function narrowLimit(a: RateLimitInput, b: RateLimitInput | undefined): RateLimitInput {
  return { rpm: minCap(a.rpm, b?.rpm), tpm: minCap(a.tpm, b?.tpm) };
}

const union = (a: string[], b: string[] | undefined) => [...new Set([...a, ...(b ?? [])])];

function narrowGuardrails(g: EffectiveGuardrails, doc: NarrowingPolicyDocument['guardrails']): EffectiveGuardrails {
  if (!doc) return g;
  const detectors = { ...g.detectors };
  for (const [detector, action] of Object.entries(doc.detectors ?? {}) as Array<[keyof EffectiveGuardrails['detectors'], GuardrailActionName]>) {
    // A detector the level above left off can be switched on below (that narrows); one it
    // set can only become stricter.
    const current = detectors[detector];
    detectors[detector] = current === undefined ? action : stricter(current, action);
  }
  // Custom patterns of the same name: the stricter action wins; new names add rules.
  const custom = new Map(g.customPatterns.map((p) => [`${p.name}\u0000${p.pattern}`, p]));
  for (const p of doc.customPatterns ?? []) {
    const k = `${p.name}\u0000${p.pattern}`;
    const current = custom.get(k);
    custom.set(k, current ? { ...current, action: stricter(current.action, p.action) } : p);
  }
  return {
    detectors,
    medicalRecordPatterns: union(g.medicalRecordPatterns, doc.medicalRecordPatterns),
    customPatterns: [...custom.values()],
    denyTerms: union(g.denyTerms, doc.denyTerms),
    denyTermsAction: stricter(g.denyTermsAction, doc.denyTermsAction),
    injectionPatterns: union(g.injectionPatterns, doc.injectionPatterns),
    builtinInjectionPatterns: g.builtinInjectionPatterns || doc.builtinInjectionPatterns === true,
    injectionAction: stricter(g.injectionAction, doc.injectionAction),
    applyToResponse: g.applyToResponse || doc.applyToResponse === true,
  };
}

function narrowBudgets(budgets: BudgetInput[], doc: BudgetInput[] | undefined): BudgetInput[] {
  const byKey = new Map(budgets.map((b) => [`${b.scope}/${b.period}`, b]));
  for (const b of doc ?? []) {
    const k = `${b.scope}/${b.period}`;
    const current = byKey.get(k);
    byKey.set(k, current && current.usd <= b.usd ? current : b);
  }
  return [...byKey.values()].sort((a, b) => BUDGET_SCOPES.indexOf(a.scope) - BUDGET_SCOPES.indexOf(b.scope) || a.period.localeCompare(b.period));
}

const NO_LIMIT: RateLimitInput = { rpm: 0, tpm: 0 };

function fromTenant(doc: TenantPolicyDocument): EffectivePolicy {
  const g = doc.guardrails;
  const l = doc.limits;
  return {
    allowedModels: [...new Set(doc.allowedModels)],
    allowedRegions: [...new Set(doc.allowedRegions)],
    // A tenant document that does not name operations allows every one (documents from
    // before operations existed keep working).
    allowedOperations: doc.allowedOperations ? [...new Set(doc.allowedOperations)] : [ANY],
    maxInputTokens: doc.maxInputTokens ?? 0,
    maxOutputTokens: doc.maxOutputTokens ?? 0,
    guardrails: {
      detectors: { ...(g?.detectors ?? {}) },
      medicalRecordPatterns: g?.medicalRecordPatterns ?? [],
      customPatterns: g?.customPatterns ?? [],
      denyTerms: g?.denyTerms ?? [],
      denyTermsAction: g?.denyTermsAction ?? 'block',
      injectionPatterns: g?.injectionPatterns ?? [],
      builtinInjectionPatterns: g?.builtinInjectionPatterns ?? false,
      injectionAction: g?.injectionAction ?? 'block',
      applyToResponse: g?.applyToResponse ?? false,
    },
    limits: {
      tenant: l?.tenant ?? NO_LIMIT,
      app: l?.app ?? NO_LIMIT,
      key: l?.key ?? NO_LIMIT,
      endUser: l?.endUser ?? NO_LIMIT,
      model: l?.model ?? NO_LIMIT,
    },
    budgets: narrowBudgets([], doc.budgets),
    cacheEnabled: doc.cache?.enabled ?? false,
    cacheTtlSeconds: doc.cache?.ttlSeconds ?? 0,
    limitsFailureMode: doc.limitsFailureMode ?? 'open',
    spoolOverflowMode: doc.spoolOverflowMode ?? 'shed',
    keyModelScopes: [ANY],
    keyOperationScopes: [ANY],
  };
}

function narrow(p: EffectivePolicy, doc: NarrowingPolicyDocument | null | undefined): EffectivePolicy {
  if (!doc) return p;
  return {
    ...p,
    allowedModels: intersectAllowlists(p.allowedModels, doc.allowedModels),
    allowedRegions: intersectAllowlists(p.allowedRegions, doc.allowedRegions),
    allowedOperations: intersectAllowlists(p.allowedOperations, doc.allowedOperations),
    maxInputTokens: minCap(p.maxInputTokens, doc.maxInputTokens),
    maxOutputTokens: minCap(p.maxOutputTokens, doc.maxOutputTokens),
    guardrails: narrowGuardrails(p.guardrails, doc.guardrails),
    limits: {
      tenant: narrowLimit(p.limits.tenant, doc.limits?.tenant),
      app: narrowLimit(p.limits.app, doc.limits?.app),
      key: narrowLimit(p.limits.key, doc.limits?.key),
      endUser: narrowLimit(p.limits.endUser, doc.limits?.endUser),
      model: narrowLimit(p.limits.model, doc.limits?.model),
    },
    budgets: narrowBudgets(p.budgets, doc.budgets),
    // A lower level may switch the cache off or shorten it, never switch it on.
    cacheEnabled: p.cacheEnabled && (doc.cache?.enabled ?? true),
    cacheTtlSeconds: minCap(p.cacheTtlSeconds, doc.cache?.ttlSeconds),
  };
}

/**
 * Folds tenant → app → key → key scopes. `null` tenant = no policy = default deny (the
 * caller answers `no_policy`). Every step only intersects, takes minima or the stricter
 * action, so the result never allows what a level above refused.
 */
export function effectivePolicy(
  tenant: TenantPolicyDocument,
  app: NarrowingPolicyDocument | null | undefined,
  key: NarrowingPolicyDocument | null | undefined,
  scopes: KeyScopes = { models: [], operations: [] },
): EffectivePolicy {
  const folded = narrow(narrow(fromTenant(tenant), app), key);
  const keyModelScopes = scopes.models.length ? scopes.models : [ANY];
  const keyOperationScopes = scopes.operations.length ? scopes.operations : [ANY];
  return {
    ...folded,
    allowedModels: intersectAllowlists(folded.allowedModels, keyModelScopes),
    allowedOperations: intersectAllowlists(folded.allowedOperations, keyOperationScopes),
    keyModelScopes,
    keyOperationScopes,
  };
}

const ACTION_TO_PROTO: Record<GuardrailActionName, policyV1.GuardrailAction> = {
  allow: policyV1.GuardrailAction.GUARDRAIL_ACTION_ALLOW,
  redact: policyV1.GuardrailAction.GUARDRAIL_ACTION_REDACT,
  block: policyV1.GuardrailAction.GUARDRAIL_ACTION_BLOCK,
};

export function guardrailsToProto(g: EffectiveGuardrails): policyV1.GuardrailConfig {
  return {
    detectors: BUILTIN_DETECTORS.filter((d) => g.detectors[d] !== undefined).map((d) => ({ detector: d, action: ACTION_TO_PROTO[g.detectors[d] ?? 'allow'] })),
    medicalRecordPatterns: g.medicalRecordPatterns,
    customPatterns: g.customPatterns.map((p) => ({ name: p.name, pattern: p.pattern, action: ACTION_TO_PROTO[p.action] })),
    denyTerms: g.denyTerms,
    denyTermsAction: ACTION_TO_PROTO[g.denyTermsAction],
    injectionPatterns: g.injectionPatterns,
    builtinInjectionPatterns: g.builtinInjectionPatterns,
    injectionAction: ACTION_TO_PROTO[g.injectionAction],
    applyToResponse: g.applyToResponse,
  };
}

export interface DecisionContext {
  policyId: string;
  policyVersion: number;
  appId: string;
}

const EMPTY_LIMIT: policyV1.RateLimit = { rpm: 0, tpm: 0 };

/** A deny that carries no effective policy (the data plane must not use one). */
export function denyResponse(reasonCode: string, reason: string, ctx: Partial<DecisionContext> = {}): policyV1.DecideResponse {
  return {
    decision: policyV1.Decision.DECISION_DENY,
    reasonCode,
    reason,
    allowedRegions: [],
    policyId: ctx.policyId ?? '',
    policyVersion: ctx.policyVersion ?? 0,
    allowedOperations: [],
    maxInputTokens: 0,
    maxOutputTokens: 0,
    guardrails: undefined,
    tenantLimit: EMPTY_LIMIT,
    appLimit: EMPTY_LIMIT,
    keyLimit: EMPTY_LIMIT,
    endUserLimit: EMPTY_LIMIT,
    modelLimit: EMPTY_LIMIT,
    budgets: [],
    cacheEnabled: false,
    cacheTtlSeconds: 0,
    limitsFailureMode: 'open',
    spoolOverflowMode: 'shed',
    appId: ctx.appId ?? '',
  };
}

/** Default deny: allow only a model and an operation the effective policy names, in some region. */
export function decideWith(policy: EffectivePolicy, model: string, operation: string, ctx: DecisionContext): policyV1.DecideResponse {
  if (!allows(policy.keyModelScopes, model)) {
    return denyResponse('model_not_in_key_scope', `this API key is not scoped to model ${model}`, ctx);
  }
  if (!allows(policy.allowedModels, model)) {
    return denyResponse('model_not_allowed', `model ${model} is not allowed for this tenant, app or key`, ctx);
  }
  if (operation && !allows(policy.keyOperationScopes, operation)) {
    return denyResponse('operation_not_in_key_scope', `this API key is not scoped to the ${operation} operation`, ctx);
  }
  if (operation && !allows(policy.allowedOperations, operation)) {
    return denyResponse('operation_not_allowed', `the ${operation} operation is not allowed for this tenant, app or key`, ctx);
  }
  if (policy.allowedRegions.length === 0) {
    return denyResponse('no_region', 'the tenant, app and key policies leave no region in common', ctx);
  }
  return {
    decision: policyV1.Decision.DECISION_ALLOW,
    reasonCode: 'allowed',
    reason: '',
    allowedRegions: policy.allowedRegions,
    policyId: ctx.policyId,
    policyVersion: ctx.policyVersion,
    allowedOperations: policy.allowedOperations,
    maxInputTokens: policy.maxInputTokens,
    maxOutputTokens: policy.maxOutputTokens,
    guardrails: guardrailsToProto(policy.guardrails),
    tenantLimit: policy.limits.tenant,
    appLimit: policy.limits.app,
    keyLimit: policy.limits.key,
    endUserLimit: policy.limits.endUser,
    modelLimit: policy.limits.model,
    budgets: policy.budgets,
    cacheEnabled: policy.cacheEnabled,
    cacheTtlSeconds: policy.cacheTtlSeconds,
    limitsFailureMode: policy.limitsFailureMode,
    spoolOverflowMode: policy.spoolOverflowMode,
    appId: ctx.appId,
  };
}
