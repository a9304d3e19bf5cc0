// Gateway overhead benchmark: the same OpenAI chat request sent straight to the provider
// simulator and through ASC (every governance step on: key check, policy, routing, secrets
// lease, event emission), at 1 and 32 connections, plus the highest request rate whose p99
// stays under 20 ms. Each component runs in its own process; load comes from this one.
//
//   npm run bench -- [--mode embedded|production|both] [--duration 10] [--cache-ttl-ms 2000]
//
// production mode needs PostgreSQL, Kafka and ClickHouse (tools/infra/up.sh).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminClient } from '@asc/admin-client';
import { freePort } from '@asc/service-kit';
import { infra, NodeProcess, startNodeProcess, throwawayDatabase, waitForReady } from '@asc/testing';
import { LoadGenerator, LoadResult } from './load';

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

async function startSimulatorProcess(): Promise<{ proc: NodeProcess; url: string }> {
  const port = await freePort();
  const proc = startNodeProcess('tools/simulator/src/main.js', { SIM_PORT: String(port) });
  await proc.waitForLine(/"url"/, 30_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

async function embedded(simulatorUrl: string, cacheTtlMs: string): Promise<{ url: string; key: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'asc-bench-'));
  const key = `bench_${randomBytes(12).toString('hex')}`;
  const port = await freePort();
  const proc = startNodeProcess('apps/embedded/src/main.js', {
    ASC_DATA_DIR: dataDir,
    ASC_HTTP_PORT: String(port),
    ASC_GRPC_PORT: String(await freePort()),
    ASC_EMBEDDED_PORTS: 'auto',
    ASC_DEMO_API_KEY: key,
    ASC_DEMO_UPSTREAM_URL: `${simulatorUrl}/v1`,
    INGRESS_CONFIG_CACHE_TTL_MS: cacheTtlMs,
    LOG_LEVEL: 'error',
  });
  await proc.waitForLine(/^ASC_READY=1$/m, 120_000);
  return {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    key,
    stop: async () => {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function production(simulatorUrl: string, cacheTtlMs: string): Promise<{ url: string; key: string; stop(): Promise<void> }> {
  const run = randomBytes(4).toString('hex');
  const db = await throwawayDatabase('asc_bench');
  const names = ['policy', 'routing', 'secrets', 'audit', 'metering', 'ingress'] as const;
  const http: Record<string, number> = {};
  const grpc: Record<string, number> = {};
  for (const n of names) [http[n], grpc[n]] = [await freePort(), await freePort()];
  const dbUrl = db.url;
  const adminToken = randomBytes(16).toString('hex');
  const common = { ASC_ADMIN_TOKEN: adminToken, KAFKA_BROKERS: infra.kafkaBrokers.join(','), KAFKA_TOPIC_PREFIX: `bench-${run}.`, LOG_LEVEL: 'error' };
  const env: Record<(typeof names)[number], Record<string, string>> = {
    policy: { POLICY_HTTP_PORT: `${http.policy}`, POLICY_GRPC_URL: `127.0.0.1:${grpc.policy}`, POLICY_DATABASE_URL: dbUrl },
    routing: { ROUTING_HTTP_PORT: `${http.routing}`, ROUTING_GRPC_URL: `127.0.0.1:${grpc.routing}`, ROUTING_DATABASE_URL: dbUrl },
    secrets: { SECRETS_HTTP_PORT: `${http.secrets}`, SECRETS_GRPC_URL: `127.0.0.1:${grpc.secrets}`, SECRETS_DATABASE_URL: dbUrl, SECRETS_KEK: randomBytes(32).toString('base64') },
    audit: { AUDIT_HTTP_PORT: `${http.audit}`, AUDIT_GRPC_URL: `127.0.0.1:${grpc.audit}`, AUDIT_DATABASE_URL: dbUrl, AUDIT_CONSUMER_GROUP: `audit-${run}` },
    metering: { METERING_HTTP_PORT: `${http.metering}`, METERING_GRPC_URL: `127.0.0.1:${grpc.metering}`, CLICKHOUSE_URL: infra.clickhouseUrl, CLICKHOUSE_DATABASE: db.name, METERING_CONSUMER_GROUP: `metering-${run}` },
    ingress: {
      INGRESS_HTTP_PORT: `${http.ingress}`,
      INGRESS_GRPC_URL: `127.0.0.1:${grpc.ingress}`,
      POLICY_GRPC_TARGET: `127.0.0.1:${grpc.policy}`,
      ROUTING_GRPC_TARGET: `127.0.0.1:${grpc.routing}`,
      SECRETS_GRPC_TARGET: `127.0.0.1:${grpc.secrets}`,
      INGRESS_CONFIG_CACHE_TTL_MS: cacheTtlMs,
    },
  };
  const procs = names.map((n) => startNodeProcess(`apps/${n}/src/main.js`, { ...common, ...env[n] }));
  await Promise.all(names.map((n, i) => waitForReady(`http://127.0.0.1:${http[n]}/readyz`, 90_000, procs[i])));
  const admin = new AdminClient(
    Object.fromEntries(['policy', 'routing', 'secrets', 'metering', 'audit'].map((n) => [n, `http://127.0.0.1:${http[n]}`])) as never,
    adminToken,
  );
  await admin.createTenant({ id: 'bench', name: 'Bench' });
  const app = await admin.createApp('bench', 'bench');
  const { key } = await admin.createApiKey('bench', { appId: app.id });
  await admin.putPolicy('bench', { allowedModels: ['gpt-4o-mini'], allowedRegions: ['*'] });
  const credential = await admin.createCredential({ name: 'sim', provider: 'openai', secret: 'sk-bench' });
  await admin.createDeployment({ model: 'gpt-4o-mini', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'local', baseUrl: `${simulatorUrl}/v1`, credentialId: credential.id, price: { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6 } });
  return {
    url: `http://127.0.0.1:${http.ingress}/v1/chat/completions`,
    key,
    stop: async () => {
      await Promise.all(procs.map((p) => p.stop()));
      await db.drop();
    },
  };
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
  console.log('\n| target | highest rate with p99 < 20 ms (32 connections, steps of 200) | p99 there |');
  console.log('|---|---|---|');
  for (const s of sweeps) console.log(`| ${s.label} | ${s.rate} req/s | ${ms(s.p99)} ms |`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
