import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@asc/service-kit';
import { NodeProcess, startNodeProcess, startProductionSuite } from '@asc/testing';

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
  const suite = await startProductionSuite({ ingressEnv: { INGRESS_CONFIG_CACHE_TTL_MS: cacheTtlMs }, logLevel: 'error' });
  try {
    const { admin } = suite;
    await admin.createTenant({ id: 'bench', name: 'Bench' });
    const app = await admin.createApp('bench', 'bench');
    const { key } = await admin.createApiKey('bench', { appId: app.id });
    await admin.putPolicy('bench', { allowedModels: ['gpt-4o-mini'], allowedRegions: ['*'] });
    const credential = await admin.createCredential({ name: 'sim', provider: 'openai', secret: 'sk-bench' });
    const price = { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6 };
    await admin.createDeployment({ model: 'gpt-4o-mini', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'local', baseUrl: `${simulatorUrl}/v1`, credentialId: credential.id, price });
    return { url: `${suite.ingressBaseUrl}/chat/completions`, key, stop: suite.stop };
  } catch (err) {
    await suite.stop();
    throw err;
  }
}
