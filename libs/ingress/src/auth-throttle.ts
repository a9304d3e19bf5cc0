export interface AuthThrottleOptions {
  /** Failed authentications from one address allowed per window before it is blocked. */
  maxFailures: number;
  windowMs: number;
  /** How long a blocked address gets 429 without its key being looked up at all. */
  blockMs: number;
  /** Bound on the addresses remembered (oldest forgotten first): memory stays flat under a flood. */
  maxAddresses: number;
}

export const DEFAULT_AUTH_THROTTLE: AuthThrottleOptions = { maxFailures: 20, windowMs: 60_000, blockMs: 60_000, maxAddresses: 50_000 };

interface Entry {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

/**
 * Throttles repeated authentication failures per client address, in memory, so a
 * key-guessing client is answered 429 without a key lookup (no cache miss, no database
 * query) per attempt. Per replica: N ingress replicas allow N × maxFailures per window,
 * which still turns guessing a 256-bit key from hopeless into more hopeless.
 *
 *   const wait = throttle.retryAfterMs(ip);      // > 0: answer 429 with Retry-After
 *   ... authenticate ...
 *   ok ? throttle.recordSuccess(ip) : throttle.recordFailure(ip);
 */
export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly options: AuthThrottleOptions;

  constructor(
    options: Partial<AuthThrottleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...DEFAULT_AUTH_THROTTLE, ...options };
  }

  /** Milliseconds until this address may try again; 0 when it is not blocked. */
  retryAfterMs(address: string): number {
    const entry = this.entries.get(address);
    if (!entry) return 0;
    return Math.max(0, entry.blockedUntil - this.now());
  }

  /** A failed authentication (unknown, revoked or malformed key) from this address. */
  recordFailure(address: string): void {
    const now = this.now();
    let entry = this.entries.get(address);
    if (!entry || now - entry.windowStart >= this.options.windowMs) {
      entry = { failures: 0, windowStart: now, blockedUntil: entry?.blockedUntil ?? 0 };
    }
    entry.failures++;
    if (entry.failures >= this.options.maxFailures) {
      entry.blockedUntil = now + this.options.blockMs;
      entry.failures = 0;
      entry.windowStart = now;
    }
    // Re-inserted last: the map's order is least recently failing first, evicted first.
    this.entries.delete(address);
    if (this.entries.size >= this.options.maxAddresses) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(address, entry);
  }

  /** A successful authentication: the address's failures are forgotten. */
  recordSuccess(address: string): void {
    const entry = this.entries.get(address);
    if (entry && entry.blockedUntil <= this.now()) this.entries.delete(address);
  }

  get size(): number {
    return this.entries.size;
  }
}
