/**
 * The spend settings of one request, as the policy decision carries them (issue 8's
 * DecideResponse fields, same names in camelCase). The runner maps the decision into
 * this shape; nothing here comes from the client's request (limits set by a header the
 * client controls would be no limits at all).
 */
export interface RateLimitSetting {
  /** Requests per minute; 0 = unlimited. */
  rpm: number;
  /** Tokens (input estimate, corrected to the provider's usage) per minute; 0 = unlimited. */
  tpm: number;
}

export type BudgetScope = 'tenant' | 'app' | 'key';
export type BudgetPeriod = 'day' | 'month';

export interface BudgetSetting {
  scope: BudgetScope;
  /** UTC calendar day or month. */
  period: BudgetPeriod;
  usd: number;
}

/** What the store does when Redis does not answer (see docs/spend.md, "Redis outage"). */
export type LimitsFailureMode = 'open' | 'closed';

export interface SpendPolicy {
  tenantLimit?: RateLimitSetting;
  appLimit?: RateLimitSetting;
  keyLimit?: RateLimitSetting;
  endUserLimit?: RateLimitSetting;
  modelLimit?: RateLimitSetting;
  budgets: BudgetSetting[];
  cacheEnabled: boolean;
  cacheTtlSeconds: number;
  /** '' (unset) means the default, 'open'. */
  limitsFailureMode: LimitsFailureMode | '';
}

/** Who a request is, for picking counters: every id comes from the authenticated key. */
export interface SpendSubject {
  tenantId: string;
  appId: string;
  keyId: string;
  /** The end user the request is for ('' when none: the end-user limit is then skipped). */
  endUserId: string;
  /** The model alias the client asked for (the model limit counts per tenant and alias). */
  model: string;
}

export const DEFAULT_CACHE_TTL_SECONDS = 3600;

export function failureModeOf(policy: Pick<SpendPolicy, 'limitsFailureMode'>): LimitsFailureMode {
  return policy.limitsFailureMode === 'closed' ? 'closed' : 'open';
}
