import { Pool } from 'undici';

export interface LoadResult {
  /** Completed requests per second. */
  rps: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
}

export interface Target {
  url: string;
  key: string;
  body: string;
}

/**
 * A small load generator with microsecond latency resolution (autocannon rounds to whole
 * milliseconds, too coarse for sub-millisecond gateway overhead). Closed loop: N workers
 * each send the next request when the previous answer arrived. Open loop: requests start
 * on a uniform schedule at a fixed rate, whatever the latency (no coordinated omission).
 */
export class LoadGenerator {
  private readonly pool: Pool;
  private readonly path: string;

  constructor(private readonly target: Target, connections: number) {
    const url = new URL(target.url);
    this.path = url.pathname;
    this.pool = new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  async closedLoop(workers: number, durationMs: number): Promise<LoadResult> {
    const latencies: number[] = [];
    let errors = 0;
    const end = performance.now() + durationMs;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          if (await this.send()) latencies.push(performance.now() - t);
          else errors++;
        }
      }),
    );
    return summarize(latencies, errors, performance.now() - start);
  }

  async openLoop(rate: number, durationMs: number): Promise<LoadResult> {
    const latencies: number[] = [];
    let errors = 0;
    const inflight: Promise<void>[] = [];
    const start = performance.now();
    const total = Math.round((rate * durationMs) / 1000);
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      // Latency counts from the scheduled start, so a late send is charged to the target.
      inflight.push(
        this.send().then((ok) => {
          if (ok) latencies.push(performance.now() - due);
          else errors++;
        }),
      );
    }
    await Promise.all(inflight);
    return summarize(latencies, errors, performance.now() - start);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async send(): Promise<boolean> {
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: this.path,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.target.key}` },
        body: this.target.body,
      });
      await res.body.dump();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }
}

function summarize(latencies: number[], errors: number, elapsedMs: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
  return { rps: (latencies.length * 1000) / elapsedMs, mean, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), errors };
}
