import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AdminApiError, AdminClient } from '@asc/admin-client';
import { ChdbStore } from '@asc/analytics';
import { auditConfigShape, startAuditService } from '@asc/audit';
import { loadConfig } from '@asc/config';
import { startEmbeddedPostgres } from '@asc/db';
import { MemoryEventBus } from '@asc/events';
import { createSpendSteps, ingressConfigShape, startIngressService } from '@asc/ingress';
import { meteringConfigShape, startMeteringService } from '@asc/metering';
import { policyConfigShape, startPolicyService } from '@asc/policy';
import { routingConfigShape, startRoutingService } from '@asc/routing';
import { secretsConfigShape, startSecretsService } from '@asc/secrets';
import { createLogger, ensureLocalCertificates, freePort, RunningService } from '@asc/service-kit';
import { startSimulator } from '@asc/simulator';

export interface EmbeddedOptions {
  dataDir: string;
  host: string;
  /** Public ingress ports; the internal services take fixed defaults or, with autoPorts, free ones. */
  ingressHttpPort: number;
  ingressGrpcPort: number;
  /** /healthz, /readyz and /metrics of ingress (never on the public data-plane port). */
  ingressOpsPort?: number;
  autoPorts: boolean;
  demoApiKey?: string;
  openAiApiKey?: string;
  /** Serve the demo models from this OpenAI-compatible base URL instead of the in-process simulator. */
  demoUpstreamUrl?: string;
  logLevel: string;
}

export interface EmbeddedSuite {
  ingressUrl: string;
  ingressGrpc: string;
  ingressOpsUrl: string;
  /** The local CA and service certificates (mTLS between the services). */
  certificatesDir: string;
  adminToken: string;
  demoApiKey: string;
  demoTenantId: string;
  admin: AdminClient;
  adminEndpoints: Record<string, string>;
  upstreamUrl: string;
  close(): Promise<void>;
}

export const DEMO_TENANT = 'demo';
export const DEMO_MODELS = ['gpt-4o-mini', 'gpt-4o', 'demo-chat'];
/** Served by the simulator's Anthropic and Mistral wire formats: any client API can call them. */
export const DEMO_PROVIDER_MODELS = [
  { model: 'claude-sonnet-4-5', provider: 'anthropic', path: '/anthropic/v1' },
  { model: 'mistral-small-latest', provider: 'mistral', path: '/mistral/v1' },
  { model: 'text-embedding-3-small', provider: 'openai', path: '/openai/v1' },
  { model: 'mistral-embed', provider: 'mistral', path: '/mistral/v1' },
] as const;

/** Reads a value kept in the data directory, creating it (mode 0600) on first start. */
function persisted(dataDir: string, name: string, create: () => string): string {
  const file = join(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = create();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return value;
}

/**
 * The whole suite in one process: PGlite over its socket server (same migrations and `pg`
 * driver as production), chdb as ClickHouse, an in-process event bus, the provider
 * simulator as upstream — and the six services, each on its own ports, talking gRPC.
 */
export async function startEmbeddedSuite(options: EmbeddedOptions): Promise<EmbeddedSuite> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const logger = createLogger(options.logLevel);
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch(() => undefined);
  };
  try {
    const adminToken = persisted(dataDir, 'admin-token', () => `adm_${randomBytes(24).toString('base64url')}`);
    const postgres = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres') });
    closers.push(() => postgres.close());
    const store = new ChdbStore({ path: join(dataDir, 'clickhouse') });
    closers.push(() => store.close());
    // Events reach the consumers once a second, up to 5,000 at a time, so metering writes one
    // chdb part a second rather than one per 500 events: each part is a dozen new files, and
    // creating and merging them cost more than the rows (measured at ~2,000 req/s: chdb's
    // threads 22-26 % of a core with 200 ms / 500-event batches, 4.5 % with these; the whole
    // process 0.66 -> 0.49 ms of CPU per request). Freshness stays within about a second.
    const bus = new MemoryEventBus({
      publisher: { lingerMs: 1_000, maxBatchSize: 5_000 },
      consumer: { maxBatchSize: 5_000 },
      spool: { dir: join(dataDir, 'spool') },
    });
    closers.push(() => bus.close());
    let upstreamUrl = options.demoUpstreamUrl?.replace(/\/$/, '');
    let simulatorUrl: string | undefined;
    if (!upstreamUrl) {
      // The simulator keeps its port across restarts: the demo deployments point at it.
      const saved = Number(persisted(dataDir, 'simulator-port', () => (options.autoPorts ? '' : '8090')) || 0);
      // Below the ephemeral range, so no outgoing connection holds it when we restart.
      const simulatorPort = saved || (await freePort(options.host, { from: 20_000, to: 30_000 }));
      writeFileSync(join(dataDir, 'simulator-port'), `${simulatorPort}\n`);
      const simulator = await startSimulator({ port: simulatorPort, host: options.host });
      closers.push(() => simulator.close());
      upstreamUrl = `${simulator.url}/v1`;
      simulatorUrl = simulator.url;
    }

    const host = options.host;
    // Auto ports come from below Linux's ephemeral range (32768+): a port the OS picked there
    // could be taken by an outgoing connection between the probe and the listen (seen on a
    // restart, EADDRINUSE). freePort never hands a port out twice; none of them may be one of
    // the public ports, which are bound later.
    const publicPorts = new Set<number>([options.ingressHttpPort, options.ingressGrpcPort, options.ingressOpsPort ?? 0]);
    const port = async (fixed: number): Promise<number> => {
      if (!options.autoPorts) return fixed;
      for (;;) {
        const candidate = await freePort(host, { from: 20_000, to: 32_000 });
        if (!publicPorts.has(candidate)) return candidate;
      }
    };
    const [policyHttp, policyGrpc, routingHttp, routingGrpc, secretsHttp, secretsGrpc] = await Promise.all([
      port(8082), port(50052), port(8083), port(50053), port(8084), port(50054),
    ]);
    const [meteringHttp, meteringGrpc, auditHttp, auditGrpc] = await Promise.all([port(8085), port(50055), port(8086), port(50056)]);
    // Every internal gRPC channel is mutual TLS, with certificates from a local CA made on
    // first start (the same openssl path as tools/certs); kept in the data directory.
    const certificatesDir = join(dataDir, 'certs');
    const certs = ensureLocalCertificates(certificatesDir);
    const tls = (service: string) => {
      const f = certs[service];
      const prefix = service.toUpperCase();
      return { [`${prefix}_TLS_CERT_FILE`]: f.certFile, [`${prefix}_TLS_KEY_FILE`]: f.keyFile, [`${prefix}_TLS_CA_FILE`]: f.caFile };
    };
    const common = { ASC_ADMIN_TOKEN: adminToken };
    const services: RunningService[] = [];
    const start = async (svc: Promise<RunningService>) => {
      const running = await svc;
      services.push(running);
      closers.push(() => running.close());
      return running;
    };
    const shared = { collectProcessMetrics: false, logger };
    const ingressOps = options.ingressOpsPort ?? (await port(8081));
    const ingressConfig = loadConfig(ingressConfigShape, {
      ...tls('ingress'),
      INGRESS_HTTP_HOST: host,
      INGRESS_OPS_HOST: host,
      INGRESS_OPS_PORT: String(ingressOps),
      INGRESS_HTTP_PORT: String(options.ingressHttpPort),
      INGRESS_GRPC_URL: `${host}:${options.ingressGrpcPort}`,
      POLICY_GRPC_TARGET: `${host}:${policyGrpc}`,
      ROUTING_GRPC_TARGET: `${host}:${routingGrpc}`,
      SECRETS_GRPC_TARGET: `${host}:${secretsGrpc}`,
      ...pick(process.env, ['INGRESS_BODY_LIMIT_BYTES', 'INGRESS_TTFT_TIMEOUT_MS', 'INGRESS_IDLE_TIMEOUT_MS', 'INGRESS_TOTAL_TIMEOUT_MS', 'INGRESS_DRAIN_GRACE_MS', 'INGRESS_CONFIG_CACHE_TTL_MS', 'INGRESS_STALE_IF_ERROR_MS', 'INGRESS_MAX_IN_FLIGHT', 'INGRESS_CACHE_MAX_BYTES', 'INGRESS_BUDGET_DEFAULT_MAX_OUTPUT_TOKENS']),
    });
    // Rate limits, budgets and the response cache in process (one replica: nothing to share).
    const spend = await createSpendSteps(ingressConfig, { events: bus });
    closers.push(() => spend.close());
    const announcing = { ...shared, events: bus, configChanges: bus };
    await start(
      startPolicyService(
        loadConfig(policyConfigShape, { ...common, ...tls('policy'), POLICY_HTTP_HOST: host, POLICY_HTTP_PORT: String(policyHttp), POLICY_GRPC_URL: `${host}:${policyGrpc}`, POLICY_DATABASE_URL: postgres.url }),
        // The budget-status view reads the counters ingress keeps in this process.
        { ...announcing, collectProcessMetrics: true, budgetCounters: { kind: spend.mode, store: spend.budgets } },
      ),
    );
    await start(
      startRoutingService(
        loadConfig(routingConfigShape, { ...common, ...tls('routing'), ROUTING_HTTP_HOST: host, ROUTING_HTTP_PORT: String(routingHttp), ROUTING_GRPC_URL: `${host}:${routingGrpc}`, ROUTING_DATABASE_URL: postgres.url }),
        announcing,
      ),
    );
    await start(
      startSecretsService(
        loadConfig(secretsConfigShape, {
          ...common,
          ...tls('secrets'),
          SECRETS_HTTP_HOST: host,
          SECRETS_HTTP_PORT: String(secretsHttp),
          SECRETS_GRPC_URL: `${host}:${secretsGrpc}`,
          SECRETS_DATABASE_URL: postgres.url,
          SECRETS_KEK_FILE: join(dataDir, 'kek.key'),
          // BYOK with the local KMS adapter: tenants' own KEKs (revoking one deletes its file).
          SECRETS_TENANT_KEK_DIR: join(dataDir, 'tenant-keks'),
        }),
        announcing,
      ),
    );
    await start(
      startAuditService(
        loadConfig(auditConfigShape, { ...common, ...tls('audit'), AUDIT_HTTP_HOST: host, AUDIT_HTTP_PORT: String(auditHttp), AUDIT_GRPC_URL: `${host}:${auditGrpc}`, AUDIT_DATABASE_URL: postgres.url, AUDIT_SIGNING_KEY_FILE: join(dataDir, 'audit-signing.key') }),
        { events: bus, ...shared },
      ),
    );
    await start(
      startMeteringService(
        loadConfig(meteringConfigShape, { ...common, ...tls('metering'), METERING_HTTP_HOST: host, METERING_HTTP_PORT: String(meteringHttp), METERING_GRPC_URL: `${host}:${meteringGrpc}`, AUDIT_GRPC_TARGET: `${host}:${auditGrpc}`, CLICKHOUSE_DATABASE: 'asc' }),
        { store, events: bus, ...shared },
      ),
    );
    const ingress = await start(startIngressService(ingressConfig, { events: bus, configChanges: bus, steps: spend.steps, ...shared }));

    const adminEndpoints = {
      policy: `http://${host}:${policyHttp}`,
      routing: `http://${host}:${routingHttp}`,
      secrets: `http://${host}:${secretsHttp}`,
      metering: `http://${host}:${meteringHttp}`,
      audit: `http://${host}:${auditHttp}`,
    };
    const admin = new AdminClient(adminEndpoints, adminToken);
    const demoApiKey = await seedDemo(admin, dataDir, upstreamUrl, simulatorUrl, options);
    return {
      ingressUrl: ingress.httpUrl,
      ingressGrpc: `${host}:${options.ingressGrpcPort}`,
      ingressOpsUrl: ingress.opsUrl ?? `http://${host}:${ingressOps}`,
      certificatesDir,
      adminToken,
      demoApiKey,
      demoTenantId: DEMO_TENANT,
      admin,
      adminEndpoints,
      upstreamUrl,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * First start: a demo tenant whose models are served by the simulator (and by OpenAI
 * itself when OPENAI_API_KEY is set). Later starts reuse it; ASC_DEMO_API_KEY, when set,
 * is registered as an extra key of the demo app.
 */
async function seedDemo(admin: AdminClient, dataDir: string, upstreamUrl: string, simulatorUrl: string | undefined, options: EmbeddedOptions): Promise<string> {
  const seeded = existsSync(join(dataDir, 'demo-app-id'));
  let appId: string;
  if (!seeded) {
    await admin.createTenant({ id: DEMO_TENANT, name: 'Demo tenant' }).catch(ignoreConflict);
    appId = (await admin.createApp(DEMO_TENANT, 'demo-app')).id;
    await admin.putPolicy(DEMO_TENANT, { allowedModels: DEMO_MODELS, allowedRegions: ['*'] });
    // The simulator accepts any non-empty key; this one only proves the lease path.
    const credential = await admin.createCredential({ name: 'simulator', provider: 'openai', secret: `sim-${randomBytes(16).toString('hex')}` });
    for (const model of DEMO_MODELS) {
      await admin.createDeployment({
        model,
        provider: 'openai',
        upstreamModel: model === 'demo-chat' ? 'gpt-4o-mini' : model,
        region: 'local',
        baseUrl: upstreamUrl,
        credentialId: credential.id,
        price: { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6, cachedInputPerMtokUsd: 0.075 },
        priority: 100,
      });
    }
    writeFileSync(join(dataDir, 'demo-app-id'), appId);
  } else {
    appId = readFileSync(join(dataDir, 'demo-app-id'), 'utf8').trim();
  }
  if (simulatorUrl && !existsSync(join(dataDir, 'providers-seeded'))) {
    await admin.putPolicy(DEMO_TENANT, { allowedModels: [...DEMO_MODELS, ...DEMO_PROVIDER_MODELS.map((m) => m.model)], allowedRegions: ['*'] });
    const credentials = new Map<string, string>();
    for (const { model, provider, path } of DEMO_PROVIDER_MODELS) {
      let credentialId = credentials.get(provider);
      if (!credentialId) {
        credentialId = (await admin.createCredential({ name: `simulator-${provider}`, provider, secret: `sim-${randomBytes(16).toString('hex')}` })).id;
        credentials.set(provider, credentialId);
      }
      await admin.createDeployment({
        model,
        provider,
        upstreamModel: model,
        region: 'local',
        baseUrl: `${simulatorUrl}${path}`,
        credentialId,
        price: { inputPerMtokUsd: 3, outputPerMtokUsd: 15, cachedInputPerMtokUsd: 0.3 },
        priority: 100,
      });
    }
    writeFileSync(join(dataDir, 'providers-seeded'), '1');
  }
  if (options.openAiApiKey && !existsSync(join(dataDir, 'openai-seeded'))) {
    const credential = await admin.createCredential({ name: 'openai', provider: 'openai', secret: options.openAiApiKey });
    for (const model of ['gpt-4o-mini', 'gpt-4o']) {
      await admin.createDeployment({
        model,
        provider: 'openai',
        upstreamModel: model,
        region: 'us',
        baseUrl: 'https://api.openai.com/v1',
        credentialId: credential.id,
        price: model === 'gpt-4o' ? { inputPerMtokUsd: 2.5, outputPerMtokUsd: 10, cachedInputPerMtokUsd: 1.25 } : { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6, cachedInputPerMtokUsd: 0.075 },
        priority: 0,
      });
    }
    writeFileSync(join(dataDir, 'openai-seeded'), '1');
  }
  if (options.demoApiKey) {
    await admin.createApiKey(DEMO_TENANT, { appId, key: options.demoApiKey }).catch(ignoreConflict);
    return options.demoApiKey;
  }
  const keyFile = join(dataDir, 'demo-api-key');
  if (existsSync(keyFile)) return readFileSync(keyFile, 'utf8').trim();
  const { key } = await admin.createApiKey(DEMO_TENANT, { appId });
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  return key;
}

function ignoreConflict(err: unknown): void {
  if (err instanceof AdminApiError && err.status === 409) return;
  throw err;
}

function pick(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (env[n] !== undefined) out[n] = env[n] as string;
  return out;
}
