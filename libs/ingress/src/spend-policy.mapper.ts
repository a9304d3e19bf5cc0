import type { BudgetSetting, RateLimitSetting, SpendPolicy } from '@asc/spend';
import type { PolicyDecision } from './control-plane.port';

/**
 * The spend fields of a policy decision as issue 8 adds them to DecideResponse
 * (RateLimit tenant_limit … model_limit, repeated Budget budgets, cache_enabled,
 * cache_ttl_seconds, limits_failure_mode). Read structurally so this compiles before and
 * after that change lands: a decision without them carries no spend controls.
 */
interface DecisionSpendFields {
  tenantLimit?: RateLimitSetting;
  appLimit?: RateLimitSetting;
  keyLimit?: RateLimitSetting;
  endUserLimit?: RateLimitSetting;
  modelLimit?: RateLimitSetting;
  budgets?: Array<{ scope: string; period: string; usd: number }>;
  cacheEnabled?: boolean;
  cacheTtlSeconds?: number;
  limitsFailureMode?: string;
}

const SCOPES = new Set(['tenant', 'app', 'key']);
const PERIODS = new Set(['day', 'month']);

/**
 * Policies already mapped, by decision: ingress caches a decision (TTL) and every request it
 * covers asks twice (spend step, cache step). The policy is frozen: it is shared.
 */
const mapped = new WeakMap<PolicyDecision, SpendPolicy | null>();

/** Maps a decision to the spend policy of its request; undefined when it sets no limit, budget or cache. */
export function spendPolicyOfDecision(decision: PolicyDecision | undefined): SpendPolicy | undefined {
  if (!decision) return undefined;
  let policy = mapped.get(decision);
  if (policy === undefined) {
    policy = mapPolicy(decision) ?? null;
    mapped.set(decision, policy);
  }
  return policy ?? undefined;
}

function mapPolicy(decision: PolicyDecision): SpendPolicy | undefined {
  const d = decision as PolicyDecision & DecisionSpendFields;
  const budgets: BudgetSetting[] = (d.budgets ?? []).flatMap((b) =>
    SCOPES.has(b.scope) && PERIODS.has(b.period) && Number.isFinite(b.usd) && b.usd >= 0
      ? [{ scope: b.scope as BudgetSetting['scope'], period: b.period as BudgetSetting['period'], usd: b.usd }]
      : [],
  );
  const limits = [d.tenantLimit, d.appLimit, d.keyLimit, d.endUserLimit, d.modelLimit];
  const anyLimit = limits.some((l) => !!l && (l.rpm > 0 || l.tpm > 0));
  if (!anyLimit && !budgets.length && !d.cacheEnabled) return undefined;
  return Object.freeze({
    tenantLimit: d.tenantLimit,
    appLimit: d.appLimit,
    keyLimit: d.keyLimit,
    endUserLimit: d.endUserLimit,
    modelLimit: d.modelLimit,
    budgets,
    cacheEnabled: !!d.cacheEnabled,
    cacheTtlSeconds: d.cacheTtlSeconds ?? 0,
    limitsFailureMode: d.limitsFailureMode === 'closed' ? 'closed' : d.limitsFailureMode === 'open' ? 'open' : '',
  });
}
