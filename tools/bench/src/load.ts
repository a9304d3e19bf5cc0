import { Pool } from 'undici';

/** Latency figures of one run, in milliseconds. */
export interface LatencyStats {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadResult extends LatencyStats {
  /** Completed requests per second. */
  rps: number;
  /** Completed requests. */
  requests: number;
  errors: number;
  /** Streams only: time from the request's start to the first SSE event that carries content. */
  ttft?: LatencyStats;
}

/** Which wire format a streamed answer is in, to recognise its first content event. */
export type StreamWire = 'openai' | 'anthropic';

export interface Target {
  url: string;
  key: string;
  body: string;
  /** Extra request headers (e.g. anthropic-version for a direct Anthropic call). */
  headers?: Record<string, string>;
  /** Set for `stream: true` bodies: the answer is read as SSE and time to first token is measured. */
  stream?: StreamWire;
  /** Every `{{n}}` in the body becomes a number unique to the request (e.g. so a response cache misses). */
  unique?: boolean;
}

/** One answered request: total latency and, for a stream, time to the first content event. */
interface Sample {
  latency: number;
  ttft?: number;
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
  private readonly headers: Record<string, string>;
  private sent = 0;
  /** The first failure seen (status and the start of the body), for the report. */
  firstError?: string;

  constructor(private readonly target: Target, connections: number) {
    const url = new URL(target.url);
    this.path = url.pathname;
    this.pool = new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
    this.headers = { 'content-type': 'application/json', authorization: `Bearer ${target.key}`, ...target.headers };
  }

  /**
   * Closed loop for `durationMs`. With `warmupMs`, the workers run that long first and only
   * what starts after it counts: the target is measured in steady state (its background work,
   * such as a consumer flushing once a second, already running), not from a cold start.
   * `onMeasureStart` is called when the counted window opens (e.g. to read CPU counters).
   */
  async closedLoop(workers: number, durationMs: number, options: { warmupMs?: number; onMeasureStart?: () => void } = {}): Promise<LoadResult> {
    const samples: Sample[] = [];
    let errors = 0;
    const warmupMs = options.warmupMs ?? 0;
    const measureFrom = performance.now() + warmupMs;
    const end = measureFrom + durationMs;
    let started = warmupMs === 0;
    if (started) options.onMeasureStart?.();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          if (!started && t0 >= measureFrom) {
            started = true;
            options.onMeasureStart?.();
          }
          const s = await this.send(t0);
          if (t0 < measureFrom) continue;
          if (s) samples.push(s);
          else errors++;
        }
      }),
    );
    return summarize(samples, errors, performance.now() - measureFrom);
  }

  async openLoop(rate: number, durationMs: number): Promise<LoadResult> {
    const samples: Sample[] = [];
    let errors = 0;
    const start = performance.now();
    // Latency counts from the scheduled start, so a late send is charged to the target.
    await uniformSchedule(rate, durationMs, async (due) => {
      const s = await this.send(due);
      if (s) samples.push(s);
      else errors++;
    });
    return summarize(samples, errors, performance.now() - start);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** Sends one request timed from `t0`; undefined when it failed (status, transport, or a stream without content). */
  private async send(t0: number): Promise<Sample | undefined> {
    try {
      const body = this.target.unique ? this.target.body.replaceAll('{{n}}', String(this.sent++)) : this.target.body;
      const res = await this.pool.request({ method: 'POST', path: this.path, headers: this.headers, body });
      if (res.statusCode !== 200) {
        const text = await res.body.text();
        this.firstError ??= `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
        return undefined;
      }
      if (!this.target.stream) {
        await res.body.dump();
        return { latency: performance.now() - t0 };
      }
      const first = new FirstContent(this.target.stream);
      let ttft: number | undefined;
      for await (const chunk of res.body) {
        if (ttft === undefined && first.push(chunk as Buffer)) ttft = performance.now() - t0;
      }
      if (ttft === undefined) this.firstError ??= 'a stream without content';
      return ttft === undefined ? undefined : { latency: performance.now() - t0, ttft };
    } catch (err) {
      this.firstError ??= `transport: ${(err as Error).message}`;
      return undefined;
    }
  }
}

/**
 * Finds the first SSE event that carries generated text: an OpenAI chunk with a non-empty
 * `delta.content`, or an Anthropic `content_block_delta` with non-empty text. Only the events
 * before it are parsed, so the rest of the stream costs the client nothing but reading.
 */
class FirstContent {
  private buffer = '';

  constructor(private readonly wire: StreamWire) {}

  /** Feeds bytes; true once the first content event has been seen in them. */
  push(chunk: Buffer): boolean {
    this.buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line.startsWith('data:') && this.hasContent(line.slice(5).trim())) return true;
    }
    return false;
  }

  private hasContent(data: string): boolean {
    if (data === '[DONE]' || !data.startsWith('{')) return false;
    const ev = JSON.parse(data) as { type?: string; delta?: { text?: string }; choices?: Array<{ delta?: { content?: string | null } }> };
    if (this.wire === 'anthropic') return ev.type === 'content_block_delta' && !!ev.delta?.text;
    return !!ev.choices?.some((c) => !!c.delta?.content);
  }
}

/**
 * Open loop: calls `fire(due)` `rate` times a second for `durationMs` on a uniform schedule,
 * whatever the latency (no coordinated omission); resolves once every call has settled.
 */
export async function uniformSchedule(rate: number, durationMs: number, fire: (due: number) => Promise<void>): Promise<void> {
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = Math.round((rate * durationMs) / 1000);
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(fire(due));
  }
  await Promise.all(inflight);
}

/** Mean and quantiles of latencies in ms. */
export function stats(values: number[]): LatencyStats {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
  return { mean, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

function summarize(samples: Sample[], errors: number, elapsedMs: number): LoadResult {
  const ttfts = samples.flatMap((s) => (s.ttft === undefined ? [] : [s.ttft]));
  return {
    rps: (samples.length * 1000) / elapsedMs,
    requests: samples.length,
    ...stats(samples.map((s) => s.latency)),
    errors,
    ...(ttfts.length ? { ttft: stats(ttfts) } : {}),
  };
}
