import type { BudgetReservation, BudgetReserveRequest, BudgetState, BudgetStore, ReserveResult, ThresholdCrossing } from './budget-store.port';
import type { RateLimitDecision, RateLimitGrant, RateLimitRequest, RateLimitStore } from './rate-limit-store.port';

export type SpendAdmission =
  | { ok: true; rate: RateLimitDecision; reservation: BudgetReservation | undefined; degraded: boolean }
  /** Over a rate limit: 429 with Retry-After and the x-ratelimit-* headers (rateLimitHeaders). */
  | { ok: false; reason: 'rate_limited'; rate: RateLimitDecision }
  /** The request's maximum cost does not fit a budget: OpenAI 429 insufficient_quota, before any upstream call. */
  | { ok: false; reason: 'insufficient_quota'; rate: RateLimitDecision; refusedBy: BudgetState };

/**
 * The rate-limit check and the budget reservation of one request, issued together: with
 * the Redis stores' auto-pipelining both scripts leave in one write and return in one
 * round trip. Each is atomic by itself; when one refuses, the other is undone (the hold
 * released, the token estimate refunded; the request still counts against RPM, as a
 * refused request does at OpenAI). A fail-closed outage rethrows SpendError after undoing.
 */
export async function admitRequest(
  limits: RateLimitStore,
  budgets: BudgetStore,
  rateLimit: RateLimitRequest,
  budget: BudgetReserveRequest | undefined,
): Promise<SpendAdmission> {
  const [rate, reserved] = await Promise.allSettled([
    limits.consume(rateLimit),
    budget && budget.lines.length ? budgets.reserve(budget) : Promise.resolve(undefined),
  ]);
  return resolveAdmission(limits, budgets, rate, reserved);
}

/** The admission from the two outcomes: when one refused or failed, what the other took is given back. */
export async function resolveAdmission(
  limits: RateLimitStore,
  budgets: BudgetStore,
  rate: PromiseSettledResult<RateLimitDecision>,
  reserved: PromiseSettledResult<ReserveResult | undefined>,
): Promise<SpendAdmission> {
  const reservation = reserved.status === 'fulfilled' && reserved.value?.ok ? reserved.value.reservation : undefined;
  const rateOk = rate.status === 'fulfilled' && rate.value.allowed;
  const budgetOk = reserved.status === 'fulfilled' && (!reserved.value || reserved.value.ok);
  if (rateOk && budgetOk) {
    const degraded = rate.value.degraded || (reserved.status === 'fulfilled' && !!reserved.value?.degraded);
    return { ok: true, rate: rate.value, reservation, degraded };
  }
  if (reservation) await budgets.release(reservation);
  if (rate.status === 'fulfilled' && rate.value.allowed) await limits.correct(rate.value.grant, 0);
  if (rate.status === 'rejected') throw rate.reason;
  if (reserved.status === 'rejected') throw reserved.reason;
  if (!rate.value.allowed) return { ok: false, reason: 'rate_limited', rate: rate.value };
  const refused = reserved.value;
  if (!refused || refused.ok) throw new Error('unreachable: budget refused without a refusal');
  return { ok: false, reason: 'insufficient_quota', rate: rate.value, refusedBy: refused.refusedBy };
}

/**
 * A request's spend bookkeeping with the stores: admitted before the upstream call, settled
 * after it (TPM corrected to the provider's usage, the budget hold replaced by the cost).
 */
export interface SpendAdmissions {
  admit(rateLimit: RateLimitRequest, budget: BudgetReserveRequest | undefined): Promise<SpendAdmission>;
  /**
   * Corrects the grant's tokens to `actualTokens` and settles the reservation at `costUsd`
   * (0 releases it); returns the budget thresholds crossed. Never throws on an outage.
   */
  settle(grant: RateLimitGrant, actualTokens: number, reservation: BudgetReservation | undefined, costUsd: number): Promise<ThresholdCrossing[]>;
  /** Grows a running request's hold (StreamBudgetGuard), when the admissions hold it themselves; otherwise the budget store does. */
  extend?(reservation: BudgetReservation, additionalUsd: number): Promise<BudgetReservation | undefined>;
}

/** Admissions over any pair of stores: each operation is a call on each store, issued together. */
export function pairedAdmissions(limits: RateLimitStore, budgets: BudgetStore): SpendAdmissions {
  return {
    admit: (rateLimit, budget) => admitRequest(limits, budgets, rateLimit, budget),
    settle: async (grant, actualTokens, reservation, costUsd) => {
      const settling: Promise<ThresholdCrossing[]> = !reservation
        ? Promise.resolve([])
        : costUsd <= 0
          ? budgets.release(reservation).then(() => [])
          : budgets.settle(reservation, costUsd);
      const [, crossings] = await Promise.all([limits.correct(grant, actualTokens), settling]);
      return crossings;
    },
  };
}
