// The noisy tenant's clients, run in a worker thread so that their work does not sit on the
// event loop that times the quiet tenant's requests. Closed loop: each of `workers` clients
// sends its next request when the previous one is answered; a 429/503 is retried either after
// its Retry-After (as the official OpenAI and Anthropic SDKs do) or at once (the worst case).
// Posts one NoisyCounts message when done.
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';

export type RetryPolicy = 'retry-after' | 'immediate';

export interface NoisyClientOptions {
  url: string;
  key: string;
  body: string;
  workers: number;
  retry: RetryPolicy;
  /** Load runs for warmMs + windowMs; only answers that arrive in the window are counted. */
  warmMs: number;
  windowMs: number;
}

export interface NoisyCounts {
  /** Answers in the window by HTTP status ('transport' for a failed connection). */
  statuses: Record<string, number>;
  windowMs: number;
}

async function run(o: NoisyClientOptions): Promise<NoisyCounts> {
  const url = new URL(o.url);
  const pool = new Pool(url.origin, { connections: o.workers, pipelining: 1, keepAliveTimeout: 60_000 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${o.key}` };
  const statuses: Record<string, number> = {};
  const start = performance.now();
  const windowStart = start + o.warmMs;
  const end = windowStart + o.windowMs;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, Math.min(ms, end - performance.now()))));
  // Clients start over the first half of the warm-up, not all in the same millisecond.
  await Promise.all(
    Array.from({ length: o.workers }, async (_, i) => {
      await sleep((i * o.warmMs) / 2 / o.workers);
      while (performance.now() < end) {
        let status = 'transport';
        let retryAfterMs = 0;
        try {
          const res = await pool.request({ method: 'POST', path: url.pathname, headers, body: o.body });
          status = String(res.statusCode);
          const ra = Number(res.headers['retry-after']);
          if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1000;
          await res.body.dump();
        } catch {
          retryAfterMs = 100; // a refused connection: do not spin
        }
        const now = performance.now();
        if (now >= windowStart && now < end) statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === '429' || status === '503') await sleep(o.retry === 'retry-after' ? retryAfterMs : 0);
        else if (status === 'transport') await sleep(retryAfterMs);
      }
    }),
  );
  await pool.close();
  return { statuses, windowMs: o.windowMs };
}

// A failure rejects unhandled, which ends the worker with an 'error' event for the scenario.
if (parentPort && workerData) void run(workerData as NoisyClientOptions).then((counts) => parentPort?.postMessage(counts));
