import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AdminClient, AdminEndpoints } from '@asc/admin-client';
import { freePort } from '@asc/service-kit';
import { NodeProcess, dropRedisKeysAt, infra, startNodeProcess, startProductionSuite } from '@asc/testing';

/** A gateway under test: where to send requests, with which key, and how to stop it. */
export interface BenchTarget {
  /** The OpenAI chat completions endpoint of ingress. */
  url: string;
  key: string;
  /** Extra request headers the gateway needs (Portkey: which provider, where it lives). */
  headers?: Record<string, string>;
  /** The gateway's process, when it is one process (to signal it, e.g. the CPU profiler). */
  pid?: number;
  /** Every process of the gateway (its CPU time is read from /proc). */
  pids: number[];
  /** The same processes by name, when there are several (ASC production: one per service). */
  processes?: Record<string, number>;
  /** Shared back ends only this gateway uses in the run, by command line (their CPU per request is reported too). */
  infra?: Record<string, RegExp>;
  /** A key of a tenant with every spend and guardrail control on (see GOVERNED_POLICY). */
  governedKey?: string;
  /** A key of a tenant with the prompt guardrails on and no spend control (GUARDED_POLICY): issue 8's configuration. */
  guardedKey?: string;
  /** ASC only: its admin API and the tenant that `key` belongs to (to add tenants, e.g. the noisy scenario). */
  admin?: AdminClient;
  tenantId?: string;
  stop(): Promise<void>;
}

/** Served by an OpenAI deployment: ingress forwards the OpenAI body unchanged (passthrough). */
export const PASSTHROUGH_MODEL = 'gpt-4o-mini';
/** Served by an Anthropic deployment: ingress translates OpenAI ⇄ Anthropic Messages. */
export const TRANSLATED_MODEL = 'claude-3-5-haiku';
export const TRANSLATED_UPSTREAM_MODEL = 'claude-3-5-haiku-20241022';

/** The issue-2 request every scenario sends: a system and a user message, 64 tokens at most. */
export const BENCH_MESSAGES = [
  { role: 'system', content: 'You are a helpful support assistant.' },
  { role: 'user', content: 'Where is my order #12345? It was supposed to arrive yesterday.' },
];

/** The OpenAI chat body; streams ask for usage, as a client that meters would. */
export function openAIBody(model: string, stream: boolean, messages: ReadonlyArray<{ role: string; content: string }> = BENCH_MESSAGES): Record<string, unknown> {
  return { model, messages, max_tokens: 64, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) };
}

/** The non-streamed bench request to the passthrough model, serialised. */
export const BENCH_BODY = JSON.stringify(openAIBody(PASSTHROUGH_MODEL, false));

export interface SimulatorProcess {
  proc: NodeProcess;
  url: string;
  /** Changes the running simulator's server-wide options (POST /_sim/config). */
  configure(patch: Record<string, unknown>): Promise<void>;
  /** Requests received so far, by route id (GET /_sim/stats). */
  stats(): Promise<{ byRoute: Record<string, number> }>;
}

export async function startSimulatorProcess(): Promise<SimulatorProcess> {
  const port = await freePort();
  const proc = startNodeProcess('tools/simulator/src/main.js', { SIM_PORT: String(port) });
  await proc.waitForLine(/"url"/, 30_000);
  const url = `http://127.0.0.1:${port}`;
  return {
    proc,
    url,
    async configure(patch) {
      const res = await fetch(`${url}/_sim/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
      if (!res.ok) throw new Error(`simulator config ${JSON.stringify(patch)}: ${res.status} ${await res.text()}`);
    },
    async stats() {
      const res = await fetch(`${url}/_sim/stats`);
      if (!res.ok) throw new Error(`simulator stats: ${res.status}`);
      return (await res.json()) as { byRoute: Record<string, number> };
    },
  };
}

/**
 * The policy of the bench's "everything on" tenant: RPM/TPM limits per tenant, key and end
 * user, a monthly budget, the response cache, and prompt guardrails (every built-in detector
 * redacting, the built-in injection phrasings blocking). Limits and budget are far above what
 * a run uses: each request pays for the checks (Redis in production) without being refused.
 */
export const GOVERNED_POLICY = {
  allowedModels: [PASSTHROUGH_MODEL],
  allowedRegions: ['*'],
  limits: { tenant: { rpm: 100_000_000, tpm: 1_000_000_000_000 }, key: { rpm: 100_000_000 }, endUser: { rpm: 100_000_000 } },
  budgets: [{ scope: 'tenant', period: 'month', usd: 1_000_000 }],
  cache: { enabled: true, ttlSeconds: 60 },
  guardrails: {
    detectors: { email: 'redact', phone: 'redact', us_ssn: 'redact', credit_card: 'redact', iban: 'redact', ip_address: 'redact', date_of_birth: 'redact', medical_record_number: 'redact' },
    builtinInjectionPatterns: true,
    injectionAction: 'block',
  },
};

/** The policy of the bench's guardrails-only tenant: GOVERNED_POLICY's guardrails, no limits, budget or cache. */
export const GUARDED_POLICY = { allowedModels: GOVERNED_POLICY.allowedModels, allowedRegions: GOVERNED_POLICY.allowedRegions, guardrails: GOVERNED_POLICY.guardrails };

/** Creates a tenant with `policy` and one key; its deployments are the bench tenant's (platform-wide). */
async function seedTenant(admin: AdminClient, tenantId: string, name: string, policy: Parameters<AdminClient['putPolicy']>[1]): Promise<string> {
  await admin.createTenant({ id: tenantId, name });
  await admin.putPolicy(tenantId, policy);
  const app = await admin.createApp(tenantId, 'bench');
  return (await admin.createApiKey(tenantId, { appId: app.id })).key;
}

/** The governed (GOVERNED_POLICY) and the guardrails-only (GUARDED_POLICY) tenants' keys. */
async function seedControlled(admin: AdminClient): Promise<{ governedKey: string; guardedKey: string }> {
  return {
    governedKey: await seedTenant(admin, 'bench-governed', 'Bench, every control on', GOVERNED_POLICY),
    guardedKey: await seedTenant(admin, 'bench-guarded', 'Bench, guardrails only', GUARDED_POLICY),
  };
}

/**
 * The extra Anthropic deployment of the translation scenario (`${sim}/anthropic/v1`), allowed
 * for the tenant next to the OpenAI one.
 */
async function seedAnthropic(admin: AdminClient, tenantId: string, simulatorUrl: string): Promise<void> {
  await admin.putPolicy(tenantId, { allowedModels: [PASSTHROUGH_MODEL, TRANSLATED_MODEL], allowedRegions: ['*'] });
  const credential = await admin.createCredential({ name: 'sim-anthropic', provider: 'anthropic', secret: 'sk-ant-bench' });
  await admin.createDeployment({
    model: TRANSLATED_MODEL,
    provider: 'anthropic',
    upstreamModel: TRANSLATED_UPSTREAM_MODEL,
    region: 'local',
    baseUrl: `${simulatorUrl}/anthropic/v1`,
    credentialId: credential.id,
    price: { inputPerMtokUsd: 0.8, outputPerMtokUsd: 4 },
  });
}

/**
 * Portkey's open-source gateway (`@portkey-ai/gateway`, the peer of issue 7) as its own
 * process on a free port, configured per request by headers: provider openai, custom host =
 * the simulator. Its `patch-package` postinstall is not needed: the npm package ships no
 * patches (they only touch its own dev build).
 */
export async function portkey(simulatorUrl: string): Promise<BenchTarget> {
  const entry = join(dirname(require.resolve('@portkey-ai/gateway/package.json')), 'build', 'start-server.js');
  const port = await freePort();
  const child = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // Only the tail is kept (for errors): the gateway runs for the whole bench.
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  while (!out.includes('Ready for connections')) {
    if (child.exitCode !== null) throw new Error(`portkey gateway exited: ${out.slice(-2000)}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`portkey gateway not ready after 30 s: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    key: 'sk-portkey-bench',
    headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${simulatorUrl}/v1` },
    pid: child.pid,
    pids: child.pid ? [child.pid] : [],
    stop,
  };
}

export async function embedded(simulatorUrl: string, cacheTtlMs: string, extraEnv: Record<string, string> = {}): Promise<BenchTarget> {
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
    ...extraEnv,
  });
  const stop = async () => {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await proc.waitForLine(/^ASC_READY=1$/m, 120_000);
    // The suite seeds the demo tenant's OpenAI deployments itself; the Anthropic one goes
    // through the same admin API, with the token the suite keeps in its data directory.
    const [, endpoints] = await proc.waitForLine(/^ASC_ADMIN_ENDPOINTS=(.+)$/m);
    const [, tenantId] = await proc.waitForLine(/^ASC_DEMO_TENANT=(.+)$/m);
    const admin = new AdminClient(JSON.parse(endpoints) as AdminEndpoints, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim());
    await seedAnthropic(admin, tenantId.trim(), simulatorUrl);
    const controlled = await seedControlled(admin);
    const pid = proc.child.pid;
    return { url: `http://127.0.0.1:${port}/v1/chat/completions`, key, pid, pids: pid ? [pid] : [], ...controlled, admin, tenantId: tenantId.trim(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The back ends of the production suite, by command line. */
const PRODUCTION_INFRA = { kafka: /kafka\.Kafka/, clickhouse: /clickhouse-server/, postgres: /^postgres/, redis: /^redis-server/ };

/**
 * The six services as separate processes; `ingressEnv` adds to the ingress process's environment (e.g. the profiler preload).
 * Rate limits, budgets and the response cache are held in Redis, as a production deployment
 * holds them (shared by its replicas), under a key prefix of this run's own.
 */
export async function production(simulatorUrl: string, cacheTtlMs: string, ingressEnv: Record<string, string> = {}): Promise<BenchTarget> {
  const redis = { ASC_REDIS_URL: infra.redisUrl, INGRESS_REDIS_KEY_PREFIX: `asc-bench-${randomBytes(4).toString('hex')}:` };
  const started = await startProductionSuite({ ingressEnv: { INGRESS_CONFIG_CACHE_TTL_MS: cacheTtlMs, ...redis, ...ingressEnv }, logLevel: 'error' });
  const stop = async () => {
    await started.stop();
    await dropRedisKeysAt(redis.ASC_REDIS_URL, redis.INGRESS_REDIS_KEY_PREFIX).catch(() => undefined);
  };
  const suite = { ...started, stop };
  try {
    const { admin } = suite;
    await admin.createTenant({ id: 'bench', name: 'Bench' });
    const app = await admin.createApp('bench', 'bench');
    const { key } = await admin.createApiKey('bench', { appId: app.id });
    const credential = await admin.createCredential({ name: 'sim', provider: 'openai', secret: 'sk-bench' });
    const price = { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6 };
    await admin.createDeployment({ model: PASSTHROUGH_MODEL, provider: 'openai', upstreamModel: PASSTHROUGH_MODEL, region: 'local', baseUrl: `${simulatorUrl}/openai/v1`, credentialId: credential.id, price });
    await seedAnthropic(admin, 'bench', simulatorUrl);
    const controlled = await seedControlled(admin);
    const processes = Object.fromEntries([...suite.procs.entries()].flatMap(([name, p]) => (p.child.pid ? [[name, p.child.pid]] : [])));
    return { url: `${suite.ingressBaseUrl}/chat/completions`, key, pid: suite.procs.get('ingress')?.child.pid, pids: Object.values(processes), processes, infra: PRODUCTION_INFRA, ...controlled, admin, tenantId: 'bench', stop: suite.stop };
  } catch (err) {
    await suite.stop();
    throw err;
  }
}

/**
 * The bare Node proxy (bare-proxy.main.ts): the floor of a Node gateway on this path, for
 * calibration next to Portkey and ASC.
 */
export async function bareProxy(simulatorUrl: string): Promise<BenchTarget> {
  const proc = startNodeProcess('tools/bench/src/bare-proxy.main.js', { BARE_PROXY_PORT: String(await freePort()), BARE_PROXY_UPSTREAM: `${simulatorUrl}/openai/v1` });
  const [, port] = await proc.waitForLine(/^BARE_PROXY_READY=(\d+)$/m, 30_000);
  const pid = proc.child.pid;
  return { url: `http://127.0.0.1:${port}/v1/chat/completions`, key: 'sk-bare', pid, pids: pid ? [pid] : [], stop: async () => { await proc.stop(); } };
}
