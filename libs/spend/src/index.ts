export { SpendError, type SpendErrorCode } from './spend.error';
export {
  DEFAULT_CACHE_TTL_SECONDS,
  failureModeOf,
  type BudgetPeriod,
  type BudgetScope,
  type BudgetSetting,
  type LimitsFailureMode,
  type RateLimitSetting,
  type SpendPolicy,
  type SpendSubject,
} from './spend-policy';
export { NANO_PER_USD, nanoToUsd, usdToNano, usdToNanoCeil } from './money';
export type {
  RateLimitCounter,
  RateLimitCounterState,
  RateLimitDecision,
  RateLimitGrant,
  RateLimitKind,
  RateLimitRequest,
  RateLimitScope,
  RateLimitStore,
} from './rate-limit-store.port';
export { formatDuration, rateLimitCounters, rateLimitHeaders } from './rate-limit-counters';
export { MemoryRateLimitStore, type MemoryRateLimitStoreOptions } from './memory-rate-limit.adapter';
export { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './redis-rate-limit.adapter';
export type {
  BudgetCounterRef,
  BudgetLine,
  BudgetReservation,
  BudgetReserveRequest,
  BudgetState,
  BudgetStore,
  ReserveResult,
  ThresholdCrossing,
} from './budget-store.port';
export { budgetLines, periodBoundsMs, periodKeyOf } from './budget-period';
export { MemoryBudgetStore, type MemoryBudgetStoreOptions } from './memory-budget.adapter';
export { RedisBudgetStore, type RedisBudgetStoreOptions } from './redis-budget.adapter';
export { StreamBudgetGuard, type StreamBudgetGuardOptions, type StreamVerdict } from './stream-budget-guard';
export { admitRequest, pairedAdmissions, type SpendAdmission, type SpendAdmissions } from './spend-admission';
export { RedisSpendAdmissions, type RedisSpendAdmissionsOptions } from './redis-spend-admission';
export { LeasedSpendAdmissions, type SpendLeasesOptions } from './spend-leases';
export {
  BudgetReconciler,
  ClickHouseSettledSpend,
  reconcileBudgets,
  type ReconcileResult,
  type SettledSpendSource,
} from './budget-reconciler';
export type { CachedResponse, CachedUsage, ResponseCache } from './response-cache.port';
export { cacheBypassRequested, CACHE_NEUTRAL_FIELDS, responseCacheKey, type ResponseCacheKeyInput } from './response-cache-key';
export { MemoryResponseCache, type MemoryResponseCacheOptions } from './memory-response-cache.adapter';
export { RedisResponseCache, type RedisResponseCacheOptions } from './redis-response-cache.adapter';
export { connectSpendRedis, type SpendRedisOptions } from './redis-client';
