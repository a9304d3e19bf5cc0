// Gateway overhead benchmark: the same OpenAI chat request sent straight to the provider
// simulator and through ASC (every governance step on: key check, policy, routing, secrets
// lease, event emission), at 1 and 32 connections, plus the highest request rate whose p99
// stays under 20 ms. Each component runs in its own process; load comes from this one.
//
//   npm run bench -- [--mode embedded|production|both] [--duration 10] [--cache-ttl-ms 2000]
//
// production mode needs PostgreSQL, Kafka and ClickHouse (tools/infra/up.sh).
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { LoadGenerator, LoadResult } from './load';
import { embedded, production, startSimulatorProcess } from './targets';

interface Measurement extends LoadResult {
  label: string;
  connections: number;
}

const BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a helpful support assistant.' },
    { role: 'user', content: 'Where is my order #12345? It was supposed to arrive yesterday.' },
  ],
  max_tokens: 64,
});

async function measure(label: string, url: string, key: string, durationMs: number): Promise<Measurement[]> {
  const gen = new LoadGenerator({ url, key, body: BODY }, 64);
  try {
    await gen.closedLoop(8, 2000); // warm-up: JIT, connection pools, caches
    const out: Measurement[] = [];
    for (const c of [1, 32]) out.push({ label, connections: c, ...(await gen.closedLoop(c, durationMs)) });
    return out;
  } finally {
    await gen.close();
  }
}

/** Highest rate (uniform arrivals, steps of 200/s) at which p99 < 20 ms with no errors. */
async function maxRateUnder20ms(url: string, key: string, durationMs: number): Promise<{ rate: number; p99: number }> {
  const gen = new LoadGenerator({ url, key, body: BODY }, 256);
  let best = { rate: 0, p99: 0 };
  try {
    await gen.closedLoop(8, 2000);
    for (let rate = 200; rate <= 6000; rate += 200) {
      const m = await gen.openLoop(rate, Math.min(durationMs, 5000));
      console.error(`  ${url}: ${rate}/s offered, ${m.rps.toFixed(0)}/s done, p99 ${m.p99.toFixed(2)} ms, errors ${m.errors}`);
      if (m.p99 >= 20 || m.errors > 0) break;
      best = { rate, p99: m.p99 };
    }
    return best;
  } finally {
    await gen.close();
  }
}

const ms = (v: number) => v.toFixed(2);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { mode: { type: 'string', default: 'both' }, duration: { type: 'string', default: '10' }, 'cache-ttl-ms': { type: 'string', default: '2000' } },
  });
  const duration = Number(values.duration) * 1000;
  const cacheTtl = String(values['cache-ttl-ms']);
  const modes = values.mode === 'both' ? ['embedded', 'production'] : [String(values.mode)];
  const sim = await startSimulatorProcess();
  const rows: Measurement[] = [];
  const sweeps: Array<{ label: string; rate: number; p99: number }> = [];
  try {
    const direct = await measure('simulator direct', `${sim.url}/v1/chat/completions`, 'sk-direct', duration);
    rows.push(...direct);
    sweeps.push({ label: 'simulator direct', ...(await maxRateUnder20ms(`${sim.url}/v1/chat/completions`, 'sk-direct', duration)) });
    for (const mode of modes) {
      const gw = mode === 'embedded' ? await embedded(sim.url, cacheTtl) : await production(sim.url, cacheTtl);
      try {
        rows.push(...(await measure(`ASC ${mode}`, gw.url, gw.key, duration)));
        sweeps.push({ label: `ASC ${mode}`, ...(await maxRateUnder20ms(gw.url, gw.key, duration)) });
      } finally {
        await gw.stop();
      }
    }
  } finally {
    await sim.proc.stop();
  }
  const base = new Map(rows.filter((r) => r.label === 'simulator direct').map((r) => [r.connections, r]));
  console.log(`\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ${duration / 1000}s per point; ingress config cache TTL ${cacheTtl} ms\n`);
  console.log('| target | connections | req/s | mean ms | p50 ms | p90 ms | p99 ms | added mean ms | added p99 ms | errors |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const b = base.get(r.connections);
    const added = (v: number, bv?: number) => (r.label === 'simulator direct' || bv === undefined ? '—' : ms(v - bv));
    console.log(`| ${r.label} | ${r.connections} | ${r.rps.toFixed(0)} | ${ms(r.mean)} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${added(r.mean, b?.mean)} | ${added(r.p99, b?.p99)} | ${r.errors} |`);
  }
  console.log('\n| target | highest rate with p99 < 20 ms (uniform arrivals, steps of 200/s) | p99 there |');
  console.log('|---|---|---|');
  for (const s of sweeps) console.log(`| ${s.label} | ${s.rate} req/s | ${ms(s.p99)} ms |`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
