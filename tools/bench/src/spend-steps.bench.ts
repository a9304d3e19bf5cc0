// Per-step cost of spend control: the rate-limit check + budget hold on Redis issued
// separately (two round trips), together (auto-pipelined: one round trip) and as one script
// (RedisSpendAdmissions) or from per-replica slices (LeasedSpendAdmissions), the settle + TPM
// correction after a request, and the same operations in process. Throughput rows give the
// CPU per request of this client and of redis-server.
//
//   npm run build && node -r ./tools/scripts/register-paths.js dist/tools/bench/src/spend-steps.bench.js [redis-url]
//
// Runs ~20 s. Uses its own key prefix on the given Redis (default ASC_TEST_REDIS_URL or
// redis://127.0.0.1:6379) and deletes it at the end.
import { randomBytes } from 'node:crypto';
import {
  admitRequest,
  connectSpendRedis,
  LeasedSpendAdmissions,
  MemoryBudgetStore,
  MemoryRateLimitStore,
  periodKeyOf,
  RedisBudgetStore,
  RedisRateLimitStore,
  RedisSpendAdmissions,
  type BudgetLine,
  type BudgetStore,
  type RateLimitCounter,
  type RateLimitStore,
  type SpendAdmissions,
} from '@asc/spend';
import { cpuMs, pidsMatching } from './process-cpu';
import { dropRedisKeys } from '@asc/testing';

const url = process.argv[2] ?? process.env.ASC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const counters: RateLimitCounter[] = [
  { scope: 'tenant', id: 't', kind: 'requests', limit: 1e9 },
  { scope: 'tenant', id: 't', kind: 'tokens', limit: 1e12 },
  { scope: 'key', id: 'k', kind: 'requests', limit: 1e9 },
  { scope: 'key', id: 'k', kind: 'tokens', limit: 1e12 },
];
const now = Date.now();
const lines: BudgetLine[] = [
  { ref: { tenantId: 't', scope: 'tenant', id: 't', period: 'month', periodKey: periodKeyOf('month', now) }, limitUsd: 1e6 },
  { ref: { tenantId: 't', scope: 'key', id: 'k', period: 'day', periodKey: periodKeyOf('day', now) }, limitUsd: 1e6 },
];
let seq = 0;
const rate = () => ({ tenantId: 't', counters, tokens: 500, failureMode: 'open' as const });
const budget = () => ({ tenantId: 't', requestId: `b${++seq}`, lines, amountUsd: 0.01, failureMode: 'open' as const });

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

/** Times `op`; what it returns (a cleanup) runs untimed. */
async function latency(name: string, n: number, op: () => Promise<unknown>): Promise<void> {
  const run = async () => {
    const cleanup = await op();
    if (typeof cleanup === 'function') await cleanup();
  };
  for (let i = 0; i < Math.min(200, n); i++) await run(); // warm up (scripts loaded, JIT)
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const cleanup = await op();
    xs.push(performance.now() - t);
    if (typeof cleanup === 'function') await cleanup();
  }
  console.log(`${name.padEnd(52)} p50 ${fmt(pct(xs, 50)).padStart(8)}  p99 ${fmt(pct(xs, 99)).padStart(8)}  (n=${n}, 1 at a time)`);
}

async function throughput(name: string, concurrency: number, ms: number, op: () => Promise<unknown>): Promise<void> {
  let done = 0;
  const end = performance.now() + ms;
  const redisPids = pidsMatching(/^redis-server/);
  const client0 = process.cpuUsage();
  const server0 = cpuMs(redisPids);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  const client = process.cpuUsage(client0);
  const server = cpuMs(redisPids);
  const perRequest = (cpu: number) => `${((cpu * 1000) / done).toFixed(0)} µs`;
  const cpu = `client ${perRequest((client.user + client.system) / 1000)}${server0 !== undefined && server !== undefined && redisPids.length ? `, redis-server ${perRequest(server - server0)}` : ''} CPU a request`;
  console.log(`${name.padEnd(52)} ${Math.round((done * 1000) / ms).toLocaleString('en-US').padStart(8)} req/s  (${concurrency} concurrent; ${cpu})`);
}

/** One request through SpendAdmissions: admitted, then settled with its usage. */
async function admitted2(admissions: SpendAdmissions): Promise<void> {
  const a = await admissions.admit(rate(), budget());
  if (!a.ok) throw new Error('refused');
  await admissions.settle(a.rate.grant, 620, a.reservation, 0.004);
}

async function request(limits: RateLimitStore, budgets: BudgetStore, pipelined: boolean): Promise<void> {
  let grant;
  let reservation;
  if (pipelined) {
    const a = await admitRequest(limits, budgets, rate(), budget());
    if (!a.ok) throw new Error('refused');
    grant = a.rate.grant;
    reservation = a.reservation!;
  } else {
    grant = (await limits.consume(rate())).grant;
    const r = await budgets.reserve(budget());
    if (!r.ok) throw new Error('refused');
    reservation = r.reservation;
  }
  await Promise.all([limits.correct(grant, 620), budgets.settle(reservation, 0.004)]);
}

async function main(): Promise<void> {
  const memLimits = new MemoryRateLimitStore();
  const memBudgets = new MemoryBudgetStore();
  console.log(`# spend control per-step cost (node ${process.version}; ${counters.length} rate counters + ${lines.length} budget lines per request)`);
  const admitted = (limits: RateLimitStore, budgets: BudgetStore) => async () => {
    const a = await admitRequest(limits, budgets, rate(), budget());
    return () => (a.ok && a.reservation ? budgets.release(a.reservation) : undefined);
  };
  await latency('in process: check + hold', 20_000, admitted(memLimits, memBudgets));
  await latency('in process: whole request (check + hold + settle)', 20_000, () => request(memLimits, memBudgets, true));

  const redis = await connectSpendRedis(url, { commandTimeoutMs: 5000 });
  const keyPrefix = `asc-bench-${randomBytes(4).toString('hex')}:`;
  const limits = new RedisRateLimitStore(redis, { keyPrefix });
  const budgets = new RedisBudgetStore(redis, { keyPrefix });
  try {
    const info = await redis.info('server');
    console.log(`# Redis ${/redis_version:(\S+)/.exec(info)?.[1]} at ${new URL(url).host}`);
    await latency('redis: check, then hold (2 round trips)', 2000, async () => {
      await limits.consume(rate());
      const r = await budgets.reserve(budget());
      return () => (r.ok ? budgets.release(r.reservation) : undefined);
    });
    await latency('redis: check + hold pipelined (1 round trip)', 2000, admitted(limits, budgets));
    await latency('redis: whole request, separate (4 round trips)', 1000, () => request(limits, budgets, false));
    await latency('redis: whole request, pipelined (2 round trips)', 1000, () => request(limits, budgets, true));
    const oneScript = new RedisSpendAdmissions(redis, limits, budgets);
    await latency('redis: whole request, one script a phase (2 commands)', 1000, () => admitted2(oneScript));
    // Slices: the counters are busy, so each request is admitted and settled in process;
    // Redis sees a resize per slice a tick (100 ms).
    const leased = new LeasedSpendAdmissions(redis, oneScript, budgets, { keyPrefix });
    await latency('redis with slices: whole request (from the slices)', 20_000, () => admitted2(leased));
    // Twice, alternating: the box's speed drifts between rows.
    for (let round = 0; round < 2; round++) {
      await throughput('redis with slices: whole request', 32, 3000, () => admitted2(leased));
      await throughput('redis: whole request, one script a phase', 32, 3000, () => admitted2(oneScript));
      await throughput('redis: whole request, pipelined', 32, 3000, () => request(limits, budgets, true));
    }
    await leased.close();
    await throughput('redis: whole request, separate', 32, 3000, () => request(limits, budgets, false));
  } finally {
    await dropRedisKeys(redis, keyPrefix);
    await redis.quit();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
