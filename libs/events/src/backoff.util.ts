export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** Cap for the doubling delay. */
  maxMs: number;
}

/** Exponential delay for retry number `attempt` (1-based), with ±20 % jitter so retries of many processes spread out. */
export function backoffDelay(attempt: number, { initialMs, maxMs }: BackoffOptions): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
}

/** Waits `ms`, or less if the signal aborts (resolves, never rejects: callers re-check their state). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
