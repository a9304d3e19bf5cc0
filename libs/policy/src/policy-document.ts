import { z } from 'zod';

/**
 * The policy documents an operator writes. A tenant's document is the ceiling; an app's
 * and a key's documents may only narrow it (every field optional: absent = inherit).
 * `effectivePolicy` folds tenant → app → key by intersection / minimum / strictest action,
 * so no document lower in the chain can widen what is above it.
 */

import { BUILTIN_DETECTORS } from '@asc/guardrails';

// The detectors a policy may configure are the ones the guardrails library implements.
export { BUILTIN_DETECTORS } from '@asc/guardrails';
export type { BuiltinDetector } from '@asc/guardrails';

export const GUARDRAIL_ACTIONS = ['allow', 'redact', 'block'] as const;
export type GuardrailActionName = (typeof GUARDRAIL_ACTIONS)[number];

export const BUDGET_SCOPES = ['tenant', 'app', 'key'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];

const name = z.string().min(1).max(200);
const nameList = (max: number) => z.array(name).max(max);
const tokens = z.number().int().min(0).max(10_000_000);
const OPERATION = /^(\*|[a-z][a-z0-9_.]{0,63})$/;
const operation = z.string().regex(OPERATION, 'must be "*" or an operation name such as "chat.completions"');
const action = z.enum(GUARDRAIL_ACTIONS);

/** A JavaScript regular expression the guardrails compile with flags "gu"; checked here so a bad one is a 400, not a failed request. */
const regexSource = z
  .string()
  .min(1)
  .max(1000)
  .superRefine((source, ctx) => {
    try {
      new RegExp(source, 'gu');
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

const rateLimit = z
  .object({
    rpm: z.number().int().min(0).max(100_000_000).default(0),
    tpm: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  })
  .strict();
export type RateLimitInput = z.infer<typeof rateLimit>;

const limits = z
  .object({
    tenant: rateLimit.optional(),
    app: rateLimit.optional(),
    key: rateLimit.optional(),
    endUser: rateLimit.optional(),
    model: rateLimit.optional(),
  })
  .strict();
export type LimitsInput = z.infer<typeof limits>;

const budget = z
  .object({
    scope: z.enum(BUDGET_SCOPES),
    period: z.enum(['day', 'month']),
    usd: z.number().finite().nonnegative().max(1e12),
  })
  .strict();
export type BudgetInput = z.infer<typeof budget>;

const customPattern = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be 1-40 chars of a-z, 0-9, "_" starting with a letter'),
    pattern: regexSource,
    action,
  })
  .strict();

const guardrails = z
  .object({
    /** Action per built-in detector; a detector not named is off (or inherited). */
    detectors: z.record(z.enum(BUILTIN_DETECTORS), action).optional(),
    medicalRecordPatterns: z.array(regexSource).max(20).optional(),
    customPatterns: z.array(customPattern).max(50).optional(),
    denyTerms: z.array(z.string().min(1).max(200)).max(1000).optional(),
    denyTermsAction: action.optional(),
    injectionPatterns: z.array(regexSource).max(100).optional(),
    builtinInjectionPatterns: z.boolean().optional(),
    injectionAction: action.optional(),
    applyToResponse: z.boolean().optional(),
  })
  .strict();
export type GuardrailsInput = z.infer<typeof guardrails>;

const common = {
  allowedModels: nameList(1000).optional(),
  allowedRegions: nameList(100).optional(),
  allowedOperations: z.array(operation).max(50).optional(),
  maxInputTokens: tokens.optional(),
  maxOutputTokens: tokens.optional(),
  guardrails: guardrails.optional(),
  limits: limits.optional(),
  budgets: z.array(budget).max(20).optional(),
  cache: z.object({ enabled: z.boolean(), ttlSeconds: z.number().int().min(0).max(30 * 86_400).default(0) }).strict().optional(),
};

function uniqueBudgets(value: { budgets?: BudgetInput[] }, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  value.budgets?.forEach((b, i) => {
    const k = `${b.scope}/${b.period}`;
    if (seen.has(k)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['budgets', i], message: `a second ${b.scope} budget per ${b.period}` });
    seen.add(k);
  });
}

/** The tenant's policy: the ceiling. Models and regions are required (default deny). */
export const tenantPolicyDocument = z
  .object({
    ...common,
    allowedModels: nameList(1000),
    allowedRegions: nameList(100).min(1),
    /** What the data plane does when the limit/budget store is unreachable. */
    limitsFailureMode: z.enum(['open', 'closed']).optional(),
    /** What the data plane does when its event spool is full. */
    spoolOverflowMode: z.enum(['shed', 'count']).optional(),
  })
  .strict()
  .superRefine(uniqueBudgets);
export type TenantPolicyDocument = z.infer<typeof tenantPolicyDocument>;

/** An app's or a key's narrowing: any field may be left out (inherited). */
function narrowingDocument(allowedBudgetScopes: readonly BudgetScope[]) {
  return z
    .object(common)
    .strict()
    .superRefine(uniqueBudgets)
    .superRefine((value, ctx) => {
      value.budgets?.forEach((b, i) => {
        if (!allowedBudgetScopes.includes(b.scope)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['budgets', i, 'scope'],
            message: `must be one of ${allowedBudgetScopes.join(', ')} at this level (a budget counts its own level)`,
          });
        }
      });
    });
}
export const appPolicyDocument = narrowingDocument(['app', 'key']);
export const keyPolicyDocument = narrowingDocument(['key']);
export type NarrowingPolicyDocument = z.infer<typeof appPolicyDocument>;

export type PolicyScope = 'tenant' | 'app' | 'key';
export type PolicyDocument = TenantPolicyDocument | NarrowingPolicyDocument;

/** Body of a PUT: the document plus an optional optimistic-concurrency guard. */
export const expectedVersion = z.number().int().min(0).optional();

export function documentSchema(scope: PolicyScope) {
  return scope === 'tenant' ? tenantPolicyDocument : scope === 'app' ? appPolicyDocument : keyPolicyDocument;
}
