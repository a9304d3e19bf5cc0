// Noisy tenant (issue 7, load shedding): does a tenant offering 20× its fair share of the
// ingress in-flight cap move a quiet tenant's p99?
//
// Two tenants, one API key each, through one ingress replica with a small INGRESS_MAX_IN_FLIGHT
// (default 64) and a simulator answering after a fixed latency (default 50 ms), so requests are
// bound by in-flight slots as with a real provider. With both tenants in flight a tenant's fair
// share is cap ÷ 2. Phase A: the quiet tenant alone, open loop at a steady rate, latency timed
// from each request's scheduled send. Phase B: the same quiet load while the noisy tenant runs
// 20 × share closed-loop clients (in a worker thread) that retry a 429/503 after its
// Retry-After (as the official SDKs do) or, in the worst case, at once. Rounds alternate
// A, B (Retry-After), A, B (immediate); medians over the rounds are reported.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { LatencyStats, stats, uniformSchedule } from './load';
import type { NoisyClientOptions, NoisyCounts, RetryPolicy } from './noisy-client';
import { CpuProfile, formatSummary, summarizeProfile } from './profile-summary';
import { BENCH_BODY, BenchTarget, PASSTHROUGH_MODEL, SimulatorProcess, embedded, production } from './targets';

export interface NoisyOptions {
  modes: Array<'embedded' | 'production'>;
  cacheTtl: string;
  rounds: number;
  /** Length of each measured phase. */
  durationMs: number;
  maxInFlight: number;
  latencyMs: number;
  /** The quiet tenant's open-loop rate (requests per second). */
  quietRate: number;
  /** The noisy tenant's offered concurrency as a multiple of its fair share. */
  factor: number;
  /** When set, the ingress process is CPU-profiled during round 1's B (immediate) phase; the file goes here. */
  profileDir?: string;
}

const BODY = BENCH_BODY;

/** Time the noisy clients get to ramp up before the quiet tenant is measured. */
const WARM_MS = 3000;

interface QuietRun extends LatencyStats {
  requests: number;
  /** Answers by HTTP status ('transport' for a failed connection). */
  statuses: Record<string, number>;
}

interface Phase {
  round: number;
  phase: 'A' | 'B';
  retry?: RetryPolicy;
  quiet: QuietRun;
  noisy?: NoisyCounts;
}

/** The quiet tenant: `rate` requests per second on a uniform schedule, each timed from its scheduled start. */
async function quietOpenLoop(pool: Pool, path: string, key: string, rate: number, durationMs: number): Promise<QuietRun> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  await uniformSchedule(rate, durationMs, async (due) => {
    let status = 'transport';
    try {
      const res = await pool.request({ method: 'POST', path, headers, body: BODY });
      status = String(res.statusCode);
      if (res.statusCode === 200) {
        await res.body.dump();
        latencies.push(performance.now() - due);
      } else {
        // An error names its code (e.g. 429 tenant_over_share, 503 overloaded): keep it with the status.
        const code = (/"code":\s*"([a-z_]+)"/.exec(await res.body.text()) ?? [])[1];
        if (code) status += ` ${code}`;
      }
    } catch {
      // counted as 'transport'
    }
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  return { requests: latencies.length, statuses, ...stats(latencies) };
}

function noisyClients(options: NoisyClientOptions): { done: Promise<NoisyCounts> } {
  const worker = new Worker(join(__dirname, 'noisy-client.js'), { workerData: options });
  const done = new Promise<NoisyCounts>((resolve, reject) => {
    worker.once('message', (m: NoisyCounts) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`noisy clients exited with ${code} before reporting`)));
  });
  return { done };
}

/** A second tenant ('quiet') with its own app and key, allowed the bench model. */
async function addQuietTenant(gw: BenchTarget): Promise<string> {
  const admin = gw.admin;
  if (!admin) throw new Error('the gateway has no admin client');
  await admin.createTenant({ id: 'quiet', name: 'Quiet' });
  await admin.putPolicy('quiet', { allowedModels: [PASSTHROUGH_MODEL], allowedRegions: ['*'] });
  const app = await admin.createApp('quiet', 'quiet');
  const { key } = await admin.createApiKey('quiet', { appId: app.id });
  return key;
}

async function expectOk(url: string, key: string, who: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: BODY });
  if (res.status !== 200) throw new Error(`${who} tenant: ${res.status} ${(await res.text()).slice(0, 300)}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : 0;
};
const ms = (v: number) => v.toFixed(2);
const pct = (b: number, a: number) => (a > 0 && b > 0 ? `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)} %` : '—');
const sum = (o: Record<string, number> | undefined, ...keys: string[]) => keys.reduce((t, k) => t + (o?.[k] ?? 0), 0);

async function runMode(sim: SimulatorProcess, mode: 'embedded' | 'production', o: NoisyOptions, profileLines: string[]): Promise<Phase[]> {
  const profileFile = o.profileDir ? join(resolve(o.profileDir), `asc-noisy-${mode}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`) : undefined;
  const env: Record<string, string> = { INGRESS_MAX_IN_FLIGHT: String(o.maxInFlight) };
  if (o.profileDir) mkdirSync(resolve(o.profileDir), { recursive: true });
  if (profileFile) Object.assign(env, { NODE_OPTIONS: `--require ${join(__dirname, 'cpu-profiler.preload.js')}`, ASC_CPU_PROFILE_FILE: profileFile });
  const gw = mode === 'production' ? await production(sim.url, o.cacheTtl, env) : await embedded(sim.url, o.cacheTtl, env);
  const phases: Phase[] = [];
  try {
    const quietKey = await addQuietTenant(gw);
    await expectOk(gw.url, gw.key, 'noisy');
    await expectOk(gw.url, quietKey, 'quiet');
    const share = Math.floor(o.maxInFlight / 2);
    const url = new URL(gw.url);
    const pool = new Pool(url.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });
    try {
      console.error(`  ASC ${mode}: warm-up`);
      await quietOpenLoop(pool, url.pathname, quietKey, o.quietRate, 3000);
      for (let round = 1; round <= o.rounds; round++) {
        for (const retry of ['retry-after', 'immediate'] as RetryPolicy[]) {
          const a = await quietOpenLoop(pool, url.pathname, quietKey, o.quietRate, o.durationMs);
          phases.push({ round, phase: 'A', quiet: a });
          const noisy = noisyClients({ url: gw.url, key: gw.key, body: BODY, workers: o.factor * share, retry, warmMs: WARM_MS, windowMs: o.durationMs });
          // The quiet tenant keeps its steady load through the ramp-up (not measured): a tenant idle for longer than the
          // shedder's active window would find the cap full of the noisy tenant's requests on its return.
          await quietOpenLoop(pool, url.pathname, quietKey, o.quietRate, WARM_MS);
          const profiling = profileFile && gw.pid && round === 1 && retry === 'immediate';
          if (profiling) process.kill(gw.pid!, 'SIGUSR2');
          const b = await quietOpenLoop(pool, url.pathname, quietKey, o.quietRate, o.durationMs);
          if (profiling) process.kill(gw.pid!, 'SIGUSR2');
          const counts = await noisy.done;
          if (profiling) {
            for (let i = 0; i < 300 && !existsSync(profileFile); i++) await new Promise((r) => setTimeout(r, 100));
            await new Promise((r) => setTimeout(r, 500)); // one synchronous write: let it finish
            const summary = summarizeProfile(JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile);
            profileLines.push(`ASC ${mode} ingress, round 1, B (immediate):`, '', ...formatSummary(summary, profileFile), '');
          }
          phases.push({ round, phase: 'B', retry, quiet: b, noisy: counts });
          console.error(
            `  ASC ${mode} round ${round}: quiet p99 A ${ms(a.p99)} ms, B (${retry}) ${ms(b.p99)} ms (${pct(b.p99, a.p99)}); noisy 200 ${sum(counts.statuses, '200')}, 429 ${sum(counts.statuses, '429')}, 503 ${sum(counts.statuses, '503')}; quiet statuses ${JSON.stringify(b.statuses)}`,
          );
        }
      }
    } finally {
      await pool.close();
    }
  } finally {
    await gw.stop();
  }
  return phases;
}

export async function noisy(sim: SimulatorProcess, o: NoisyOptions): Promise<string[]> {
  await sim.configure({ latencyMs: o.latencyMs, ttftMs: 0 });
  const share = Math.floor(o.maxInFlight / 2);
  const out: string[] = [
    `INGRESS_MAX_IN_FLIGHT ${o.maxInFlight} (fair share with 2 tenants in flight: ${share}); simulator latency ${o.latencyMs} ms; quiet tenant ${o.quietRate} req/s open loop; noisy tenant ${o.factor} × ${share} = ${o.factor * share} closed-loop clients; ${o.rounds} rounds of A, B (Retry-After), A, B (immediate), ${o.durationMs / 1000} s each (noisy clients ramp up ${WARM_MS / 1000} s before B is measured). Medians over the rounds; each B is compared with the median of all A phases.`,
    '',
  ];
  out.push('| target | noisy clients retry | quiet p50 A ms | quiet p50 B ms | Δ p50 | quiet p99 A ms | quiet p99 B ms | Δ p99 | quiet requests B (non-200) | noisy admitted/s | noisy 429/s | noisy 503/s |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const perRound: string[] = ['| target | round | phase | quiet req | quiet p50 ms | quiet p99 ms | quiet max ms | quiet statuses | noisy statuses |', '|---|---|---|---|---|---|---|---|---|'];
  const profileLines: string[] = [];
  for (const mode of o.modes) {
    const phases = await runMode(sim, mode, o, profileLines);
    // A phase in which no quiet request succeeded has no latency: it is left out of the medians (and shows in the per-phase table).
    const a = phases.filter((p) => p.phase === 'A' && p.quiet.requests > 0);
    const aP50 = median(a.map((p) => p.quiet.p50));
    const aP99 = median(a.map((p) => p.quiet.p99));
    for (const retry of ['retry-after', 'immediate'] as RetryPolicy[]) {
      const b = phases.filter((p) => p.phase === 'B' && p.retry === retry);
      const served = b.filter((p) => p.quiet.requests > 0);
      const bP50 = median(served.map((p) => p.quiet.p50));
      const bP99 = median(served.map((p) => p.quiet.p99));
      const quietTotal = b.reduce((t, p) => t + Object.values(p.quiet.statuses).reduce((x, y) => x + y, 0), 0);
      const quietBad = b.reduce((t, p) => t + Object.entries(p.quiet.statuses).reduce((x, [k, v]) => x + (k === '200' ? 0 : v), 0), 0);
      const perSec = (k: string) => median(b.map((p) => (sum(p.noisy?.statuses, k) * 1000) / (p.noisy?.windowMs ?? 1))).toFixed(0);
      out.push(`| ASC ${mode} | ${retry} | ${ms(aP50)} | ${ms(bP50)} | ${pct(bP50, aP50)} | ${ms(aP99)} | ${ms(bP99)} | ${pct(bP99, aP99)} | ${quietTotal} (${quietBad}) | ${perSec('200')} | ${perSec('429')} | ${perSec('503')} |`);
    }
    for (const p of phases) {
      const label = p.phase === 'A' ? 'A' : `B (${p.retry})`;
      perRound.push(`| ASC ${mode} | ${p.round} | ${label} | ${p.quiet.requests} | ${ms(p.quiet.p50)} | ${ms(p.quiet.p99)} | ${ms(p.quiet.max)} | ${JSON.stringify(p.quiet.statuses)} | ${p.noisy ? JSON.stringify(p.noisy.statuses) : '—'} |`);
    }
  }
  await sim.configure({ latencyMs: 0 });
  return [...out, '', 'Per phase:', '', ...perRound, '', ...profileLines];
}
