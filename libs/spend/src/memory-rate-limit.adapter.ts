import { gcraAdjust, gcraStep, type GcraStep } from './gcra';
import { checkActualTokens, checkCounters, counterCost, counterKey } from './rate-limit-counters';
import type { RateLimitDecision, RateLimitGrant, RateLimitRequest, RateLimitStore } from './rate-limit-store.port';
import { SpendError } from './spend.error';

export interface MemoryRateLimitStoreOptions {
  /** The window a limit is counted over; 60 000 (per minute) unless a test shortens it. */
  windowMs?: number;
  /** Clock (epoch ms); tests inject one. */
  now?: () => number;
}

const SWEEP_EVERY = 4096;

/**
 * Rate limits in process (embedded mode, and the per-replica fallback of the Redis store
 * in fail-open mode). Atomic because JavaScript runs one consume at a time: the check and
 * the charge happen in one synchronous block.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly tats = new Map<string, number>();
  private readonly windowMs: number;
  private readonly now: () => number;
  private ops = 0;
  private closed = false;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async consume(request: RateLimitRequest): Promise<RateLimitDecision> {
    return this.consumeNow(request, 'local');
  }

  /** Synchronous consume: the Redis adapter's fail-open path reuses it. */
  consumeNow(request: RateLimitRequest, origin: RateLimitGrant['origin'], degraded = false): RateLimitDecision {
    if (this.closed) throw new SpendError('spend_store_unavailable', 'rate-limit store is closed');
    checkCounters(request.tenantId, request.counters, request.tokens);
    const now = this.now();
    this.sweep(now);
    const keys = request.counters.map((c) => counterKey('', request.tenantId, c));
    const steps: GcraStep[] = request.counters.map((c, i) =>
      gcraStep(this.tats.get(keys[i]), now, c.limit, counterCost(c, request.tokens), this.windowMs),
    );
    const allowed = steps.every((s) => s.allowed);
    if (allowed) steps.forEach((s, i) => this.tats.set(keys[i], s.tat));
    return decisionOf(request, steps, allowed, degraded, origin);
  }

  async correct(grant: RateLimitGrant, actualTokens: number): Promise<void> {
    this.correctNow(grant, actualTokens);
  }

  correctNow(grant: RateLimitGrant, actualTokens: number): void {
    if (this.closed) return;
    checkActualTokens(actualTokens);
    const delta = actualTokens - grant.tokens;
    if (delta === 0) return;
    const now = this.now();
    for (const c of grant.counters) {
      if (c.kind !== 'tokens') continue;
      const key = counterKey('', grant.tenantId, c);
      this.tats.set(key, gcraAdjust(this.tats.get(key), now, c.limit, delta, this.windowMs));
    }
  }

  close(): Promise<void> {
    this.closed = true;
    this.tats.clear();
    return Promise.resolve();
  }

  /** Forgets counters whose bucket is full again (a TAT in the past means "as if never used"): memory stays bounded by active counters. */
  private sweep(now: number): void {
    if (++this.ops % SWEEP_EVERY !== 0) return;
    for (const [k, tat] of this.tats) if (tat <= now) this.tats.delete(k);
  }
}

/** Builds the decision both adapters return from per-counter GCRA results. */
export function decisionOf(
  request: RateLimitRequest,
  steps: ReadonlyArray<Pick<GcraStep, 'allowed' | 'tooLarge' | 'remaining' | 'resetMs' | 'retryAfterMs'>>,
  allowed: boolean,
  degraded: boolean,
  origin: RateLimitGrant['origin'],
): RateLimitDecision {
  const states = request.counters.map((counter, i) => ({
    counter,
    remaining: steps[i].remaining,
    resetMs: steps[i].resetMs,
    retryAfterMs: steps[i].allowed ? 0 : steps[i].retryAfterMs,
    exceeded: !steps[i].allowed,
  }));
  return {
    allowed,
    states,
    retryAfterMs: allowed ? 0 : Math.max(0, ...states.map((s) => s.retryAfterMs)),
    tooLarge: steps.some((s) => s.tooLarge),
    degraded,
    grant: { tenantId: request.tenantId, counters: request.counters, tokens: allowed ? request.tokens : 0, origin },
  };
}
