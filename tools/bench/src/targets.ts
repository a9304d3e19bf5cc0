import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '@asc/admin-client';
import { freePort } from '@asc/service-kit';
import { infra, NodeProcess, startNodeProcess, throwawayDatabase, waitForReady } from '@asc/testing';

/** A gateway under test: where to send requests, with which key, and how to stop it. */
export interface BenchTarget {
  url: string;
  key: string;
  stop(): Promise<void>;
}

export async function startSimulatorProcess(): Promise<{ proc: NodeProcess; url: string }> {
  const port = await freePort();
  const proc = startNodeProcess('tools/simulator/src/main.js', { SIM_PORT: String(port) });
  await proc.waitForLine(/"url"/, 30_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

export async function embedded(simulatorUrl: string, cacheTtlMs: string): Promise<BenchTarget> {
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

export async function production(simulatorUrl: string, cacheTtlMs: string): Promise<BenchTarget> {
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

