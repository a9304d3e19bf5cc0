import type { LimitsFailureMode } from './spend-policy';

export type RateLimitScope = 'tenant' | 'app' | 'key' | 'end_user' | 'model';
export type RateLimitKind = 'requests' | 'tokens';

/** One counter: RPM or TPM of one scope. `limit` is per minute (per `windowMs` of the store). */
export interface RateLimitCounter {
  scope: RateLimitScope;
  /** The scope's id (app id, key id, end-user id, model alias; the tenant id for 'tenant'). */
  id: string;
  kind: RateLimitKind;
  /** Positive integer (0 = unlimited is filtered out before reaching a store: see rateLimitCounters). */
  limit: number;
}

export interface RateLimitRequest {
  tenantId: string;
  counters: readonly RateLimitCounter[];
  /** Input-token estimate charged to every 'tokens' counter now (corrected after the call). */
  tokens: number;
  failureMode: LimitsFailureMode;
}

/** The state of one counter after the decision (what the x-ratelimit-* headers need). */
export interface RateLimitCounterState {
  counter: RateLimitCounter;
  /** Whole units still available right now. */
  remaining: number;
  /** Milliseconds until the counter is back to its full limit. */
  resetMs: number;
  /** Milliseconds until this request would fit (0 when it did). */
  retryAfterMs: number;
  /** True when this counter alone refused the request. */
  exceeded: boolean;
}

/**
 * What a consume decided. All-or-nothing: when `allowed` is false nothing was charged.
 * `tooLarge` is set when a counter's cost exceeds its whole limit (never fits; OpenAI
 * answers such a request "Request too large").
 */
export interface RateLimitDecision {
  allowed: boolean;
  states: RateLimitCounterState[];
  /** The longest wait among the refusing counters (0 when allowed): Retry-After. */
  retryAfterMs: number;
  tooLarge: boolean;
  /** True when the shared store was down and a per-replica local store decided (fail-open). */
  degraded: boolean;
  /** Hand back to `correct` after the provider's usage is known. */
  grant: RateLimitGrant;
}

/** What was charged, so tokens can be corrected later (opaque to the runner). */
export interface RateLimitGrant {
  readonly tenantId: string;
  readonly counters: readonly RateLimitCounter[];
  readonly tokens: number;
  /** 'local' when the fail-open fallback charged it; 'lease' when a replica's slice did (spend-leases.ts). */
  readonly origin: 'shared' | 'local' | 'lease';
}

/**
 * Rate-limit counters shared by every ingress replica (Redis) or kept in process
 * (embedded). Algorithm: GCRA, a token bucket of `limit` units refilling continuously
 * over the window (docs/spend.md says why not fixed or sliding windows).
 */
export interface RateLimitStore {
  /**
   * Checks every counter and, only if all fit, charges them at once (atomic across
   * replicas): requests counters by 1, tokens counters by `tokens`.
   * Throws SpendError('spend_store_unavailable') only in fail-closed mode.
   */
  consume(request: RateLimitRequest): Promise<RateLimitDecision>;
  /**
   * Replaces the grant's token estimate by the actual count (refunds or charges the
   * difference on every tokens counter). Never refuses; never throws on an outage
   * (a correction lost to an outage only errs by the estimate's error).
   */
  correct(grant: RateLimitGrant, actualTokens: number): Promise<void>;
  /** Releases connections/timers. Idempotent. */
  close(): Promise<void>;
}
