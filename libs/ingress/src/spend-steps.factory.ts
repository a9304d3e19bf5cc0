import type { EventPublisher } from '@asc/events';
import {
  connectSpendRedis,
  MemoryBudgetStore,
  MemoryRateLimitStore,
  MemoryResponseCache,
  RedisBudgetStore,
  RedisRateLimitStore,
  RedisResponseCache,
  RedisSpendAdmissions,
  LeasedSpendAdmissions,
  type BudgetStore,
  type RateLimitStore,
  type ResponseCache,
  type SpendAdmissions,
} from '@asc/spend';
import type { IngressConfig } from './ingress.config';
import type { RequestContext } from './request-context';
import type { RunnerStep } from './runner.types';
import { spendPolicyOfDecision } from './spend-policy.mapper';
import { publishCrossings, ResponseCacheStep, SpendStep, type SpendPolicyOf } from './spend.steps';

export interface SpendSteps {
  /** In runner order: limits and budget, then the cache. */
  steps: RunnerStep[];
  /** 'redis' when the stores are shared across replicas. */
  mode: 'redis' | 'memory';
  /** The budget counters (read by the budget-status admin view). */
  budgets: BudgetStore;
  close(): Promise<void>;
}

/**
 * The spend steps with their stores: Redis (shared by every replica) when ASC_REDIS_URL is
 * set, in process otherwise. Degradations (Redis down) are reported through `warn`.
 */
export async function createSpendSteps(
  config: Pick<IngressConfig, 'ASC_REDIS_URL' | 'INGRESS_REDIS_KEY_PREFIX' | 'INGRESS_REDIS_COMMAND_TIMEOUT_MS' | 'INGRESS_CACHE_MAX_BYTES' | 'INGRESS_BUDGET_DEFAULT_MAX_OUTPUT_TOKENS'> &
    Partial<Pick<IngressConfig, 'INGRESS_SPEND_LEASES' | 'INGRESS_CACHE_WRITE_DELAY_MS'>>,
  deps: { events: EventPublisher; warn?: (message: string) => void; policyOf?: SpendPolicyOf },
): Promise<SpendSteps> {
  const policyOf = deps.policyOf ?? ((ctx: RequestContext) => spendPolicyOfDecision(ctx.decision));
  const warn = deps.warn ?? (() => undefined);
  let lastWarn = 0;
  // One line per second at most while Redis is down, never the URL (it may hold a password).
  const onDegraded = (err: unknown) => {
    if (Date.now() - lastWarn < 1000) return;
    lastWarn = Date.now();
    warn(`spend store degraded: ${(err as Error)?.message ?? String(err)}`);
  };
  const common = { events: deps.events, policyOf, defaultMaxOutputTokens: config.INGRESS_BUDGET_DEFAULT_MAX_OUTPUT_TOKENS, onError: warn };
  // The cache lookup leaves with the limits-and-budget admission (one Redis round trip for both).
  const steps = (limits: RateLimitStore, budgets: BudgetStore, cache: ResponseCache, admissions?: SpendAdmissions): RunnerStep[] => {
    const cacheStep = new ResponseCacheStep({ cache, policyOf });
    return [new SpendStep({ ...common, limits, budgets, admissions, prefetch: (ctx) => cacheStep.prefetch(ctx) }), cacheStep];
  };
  if (!config.ASC_REDIS_URL) {
    const limits = new MemoryRateLimitStore();
    const budgets = new MemoryBudgetStore();
    const cache = new MemoryResponseCache({ maxBytes: config.INGRESS_CACHE_MAX_BYTES });
    return {
      mode: 'memory',
      budgets,
      steps: steps(limits, budgets, cache),
      close: async () => {
        await Promise.all([limits.close(), budgets.close(), cache.close()]);
      },
    };
  }
  const redis = await connectSpendRedis(config.ASC_REDIS_URL, { commandTimeoutMs: config.INGRESS_REDIS_COMMAND_TIMEOUT_MS, onError: onDegraded });
  const keyPrefix = config.INGRESS_REDIS_KEY_PREFIX;
  const limits = new RedisRateLimitStore(redis, { keyPrefix, onDegraded });
  const budgets = new RedisBudgetStore(redis, { keyPrefix, onDegraded });
  // A second connection hears which keys every replica stores: a miss costs no round trip.
  const cache = new RedisResponseCache(redis, { keyPrefix, onDegraded, subscriber: redis.duplicate(), writeDelayMs: config.INGRESS_CACHE_WRITE_DELAY_MS });
  // Limits and budget in one script per phase (admission, settlement), not one per store;
  // busy counters admitted from this replica's slices of them, with no script on the path.
  const shared = new RedisSpendAdmissions(redis, limits, budgets, { onDegraded });
  const leased =
    config.INGRESS_SPEND_LEASES === false
      ? undefined
      : new LeasedSpendAdmissions(redis, shared, budgets, { keyPrefix, onDegraded, onCrossings: (c) => publishCrossings(deps.events, c, undefined, warn) });
  return {
    mode: 'redis',
    budgets,
    steps: steps(limits, budgets, cache, leased ?? shared),
    close: async () => {
      await leased?.close().catch(onDegraded);
      await Promise.all([limits.close(), budgets.close(), cache.close()]);
      redis.disconnect();
    },
  };
}
