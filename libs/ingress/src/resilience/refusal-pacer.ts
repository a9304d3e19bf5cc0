/**
 * Holds a shed refusal (429/503 with Retry-After, see load-shedder.ts) for a connection that comes back before the
 * Retry-After of its previous refusal ran out, until it has: a client that retries at once
 * is then paced like one that honours Retry-After (as the official SDKs do), instead of
 * spinning on refusals and taking the replica's CPU from everyone else. A client that waited
 * is answered at once. Per connection, so other clients (and other tenants) behind the same
 * address are not held.
 */
export class RefusalPacer<Connection extends object> {
  private readonly until = new WeakMap<Connection, number>();

  constructor(
    /** Never hold an answer longer than this. */
    private readonly maxHoldMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a refusal on `conn` with Retry-After `retryAfterSec`; returns how long to hold it (ms, 0 = answer now). */
  hold(conn: Connection, retryAfterSec: number): number {
    const now = this.now();
    const wait = Math.min(this.maxHoldMs, Math.max(0, (this.until.get(conn) ?? 0) - now));
    this.until.set(conn, now + wait + retryAfterSec * 1000);
    return wait;
  }
}
