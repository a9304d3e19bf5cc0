/**
 * A retry budget per deployment, as in Envoy and Finagle: the retries and fallbacks caused by
 * a deployment's failures may add at most `ratio` of the requests sent to it over a sliding
 * window (plus a small floor so a quiet deployment can still retry), so an outage cannot
 * multiply the load on the providers that are left.
 */
export interface RetryBudgetOptions {
  /** Share of requests that may be retried (0.2 = 20 %). */
  ratio: number;
  /** Retries always allowed per window, whatever the traffic. */
  minPerWindow: number;
  windowMs: number;
}

const BUCKETS = 10;

class SlidingCount {
  private readonly counts = new Float64Array(BUCKETS);
  private readonly stamps = new Float64Array(BUCKETS);
  constructor(private readonly bucketMs: number) {}

  add(now: number): void {
    const slot = Math.floor(now / this.bucketMs);
    const i = slot % BUCKETS;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.counts[i] = 0;
    }
    this.counts[i]++;
  }

  total(now: number): number {
    const current = Math.floor(now / this.bucketMs);
    let sum = 0;
    for (let i = 0; i < BUCKETS; i++) if (current - this.stamps[i] < BUCKETS) sum += this.counts[i];
    return sum;
  }
}

export class RetryBudget {
  private readonly requests = new Map<string, SlidingCount>();
  private readonly retries = new Map<string, SlidingCount>();

  constructor(private readonly options: RetryBudgetOptions) {}

  /** Counts one request (first attempt or retry) sent to `deploymentId`. */
  recordRequest(deploymentId: string, now = Date.now()): void {
    this.counter(this.requests, deploymentId).add(now);
  }

  /** Takes one retry from the budget of the deployment that failed; false when it is spent. */
  tryAcquire(failedDeploymentId: string, now = Date.now()): boolean {
    const sent = this.counter(this.requests, failedDeploymentId).total(now);
    const retries = this.counter(this.retries, failedDeploymentId);
    const allowed = Math.max(this.options.minPerWindow, Math.floor(sent * this.options.ratio));
    if (retries.total(now) + 1 > allowed) return false;
    retries.add(now);
    return true;
  }

  private counter(map: Map<string, SlidingCount>, id: string): SlidingCount {
    let c = map.get(id);
    if (!c) {
      c = new SlidingCount(this.options.windowMs / BUCKETS);
      map.set(id, c);
    }
    return c;
  }
}

/** Exponential backoff with full jitter (AWS architecture blog), honouring a provider's Retry-After. */
export function backoffMs(retry: number, baseMs: number, maxMs: number, retryAfter?: string, random = Math.random): number {
  const fromHeader = retryAfterMs(retryAfter);
  if (fromHeader !== undefined) return Math.min(fromHeader, maxMs);
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** retry));
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
