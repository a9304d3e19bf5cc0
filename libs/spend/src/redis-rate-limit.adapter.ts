import type { Redis } from 'ioredis';
import { decisionOf, MemoryRateLimitStore } from './memory-rate-limit.adapter';
import { checkActualTokens, checkCounters, counterKey } from './rate-limit-counters';
import { RATE_LIMIT_CONSUME_LUA, RATE_LIMIT_CORRECT_LUA } from './rate-limit.lua';
import { LuaScript, numbers, type ScriptCall } from './redis-client';
import type { RateLimitDecision, RateLimitGrant, RateLimitRequest, RateLimitStore } from './rate-limit-store.port';
import { SpendError } from './spend.error';

export interface RedisRateLimitStoreOptions {
  /** Prepended to every key (e.g. 'asc:'; tests use a unique one per run). */
  keyPrefix: string;
  windowMs?: number;
  /** Told when Redis failed and the tenant's mode decided instead (log/metric it). */
  onDegraded?: (err: unknown) => void;
}

const CONSUME = new LuaScript(RATE_LIMIT_CONSUME_LUA);
const CORRECT = new LuaScript(RATE_LIMIT_CORRECT_LUA);

/**
 * Rate limits shared by every ingress replica: one EVALSHA per request checks and
 * charges all of its counters atomically on the Redis server.
 * Redis unreachable: fail-open tenants are limited by this replica's own in-process
 * counters (each replica enforces the full limit, so the fleet admits at most
 * replicas × limit while Redis is down); fail-closed tenants get SpendError
 * 'spend_store_unavailable' (the runner answers 503).
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly windowMs: number;
  private readonly local: MemoryRateLimitStore;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisRateLimitStoreOptions,
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.local = new MemoryRateLimitStore({ windowMs: this.windowMs });
  }

  async consume(request: RateLimitRequest): Promise<RateLimitDecision> {
    checkCounters(request.tenantId, request.counters, request.tokens);
    if (!request.counters.length) return decisionOf(request, [], true, false, 'shared');
    const call = this.consumeCall(request);
    let reply: number[];
    try {
      reply = numbers(await CONSUME.run(this.redis, call.keys, call.args));
    } catch (err) {
      return this.degraded(request, err);
    }
    return consumeDecision(request, reply);
  }

  async correct(grant: RateLimitGrant, actualTokens: number): Promise<void> {
    checkActualTokens(actualTokens);
    if (grant.origin === 'local') return this.local.correct(grant, actualTokens);
    const call = this.correctCall(grant, actualTokens);
    if (!call) return;
    try {
      await CORRECT.run(this.redis, call.keys, call.args);
    } catch (err) {
      // A lost correction errs by the estimate's error only; the request itself is done.
      this.options.onDegraded?.(err);
    }
  }

  /** The keys and arguments of RATE_LIMIT_CONSUME_LUA for a request (also run inside the combined admission). */
  consumeCall(request: RateLimitRequest): ScriptCall {
    const keys = request.counters.map((c) => counterKey(this.options.keyPrefix, request.tenantId, c));
    const args: Array<string | number> = [this.windowMs, request.tokens];
    for (const c of request.counters) args.push(c.limit, c.kind === 'tokens' ? 1 : 0);
    return { keys, args };
  }

  /** The keys and arguments of RATE_LIMIT_CORRECT_LUA for a shared grant, or undefined when nothing moves. */
  correctCall(grant: RateLimitGrant, actualTokens: number): ScriptCall | undefined {
    const delta = actualTokens - grant.tokens;
    const counters = grant.counters.filter((c) => c.kind === 'tokens');
    if (delta === 0 || !counters.length) return undefined;
    return { keys: counters.map((c) => counterKey(this.options.keyPrefix, grant.tenantId, c)), args: [this.windowMs, delta, ...counters.map((c) => c.limit)] };
  }

  /** Redis failed: this replica's own counters decide (fail-open), or SpendError (fail-closed). */
  degraded(request: RateLimitRequest, err: unknown): RateLimitDecision {
    this.options.onDegraded?.(err);
    if (request.failureMode === 'closed') {
      throw new SpendError('spend_store_unavailable', 'rate-limit store unavailable (fail-closed)', { cause: err });
    }
    return this.local.consumeNow(request, 'local', true);
  }

  async close(): Promise<void> {
    await this.local.close();
  }
}

/** A consume reply (allowed, then five numbers per counter) as the decision it stands for. */
export function consumeDecision(request: RateLimitRequest, reply: readonly number[]): RateLimitDecision {
  const steps = request.counters.map((_, i) => {
    const o = 1 + i * 5;
    return { allowed: reply[o] === 1, tooLarge: reply[o + 1] === 1, remaining: reply[o + 2], resetMs: reply[o + 3], retryAfterMs: reply[o + 4] };
  });
  return decisionOf(request, steps, reply[0] === 1, false, 'shared');
}
