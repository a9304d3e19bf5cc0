import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { AdminClient, AdminEndpoints } from '@asc/admin-client';
import { freePort } from '@asc/service-kit';
import { infra } from './infra';
import { NodeProcess, startNodeProcess, waitForReady } from './processes';
import { testPki, TestPki } from './test-pki';
import { throwawayDatabase } from './throwaway-database';

export const PRODUCTION_SERVICES = ['policy', 'routing', 'secrets', 'audit', 'metering', 'ingress'] as const;
export type ProductionService = (typeof PRODUCTION_SERVICES)[number];

export interface ProductionSuite {
  readonly http: Record<ProductionService, number>;
  readonly grpc: Record<ProductionService, number>;
  readonly procs: Map<ProductionService, NodeProcess>;
  /** The environment each service was started with (to start another replica of one). */
  readonly env: Record<ProductionService, Record<string, string>>;
  readonly admin: AdminClient;
  /** The run's local CA and certificates: every gRPC channel between the services is mTLS. */
  readonly pki: TestPki;
  /** Ingress's ops port (/healthz, /readyz, /metrics). */
  readonly ingressOpsUrl: string;
  /** The run's own Postgres database, ClickHouse database and Kafka topic prefix (to search them). */
  readonly databaseUrl: string;
  readonly clickhouseDatabase: string;
  readonly topicPrefix: string;
  readonly adminEndpoints: AdminEndpoints;
  readonly adminToken: string;
  /** Base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:1234/v1 */
  readonly ingressBaseUrl: string;
  /** Prefix of this run's Kafka topics (what a test reads the events from). */
  readonly kafkaTopicPrefix: string;
  /** The Kafka brokers and ClickHouse URL the services were started against. */
  readonly kafkaBrokers: string[];
  readonly clickhouseUrl: string;
  /** Stops one service (SIGTERM, or SIGKILL for a crash) and starts it again with the same environment; resolves once it is ready. */
  restart(service: ProductionService, signal?: NodeJS.Signals): Promise<NodeProcess>;
  /** Stops the processes, then drops the run's Postgres database and ClickHouse database. */
  stop(): Promise<void>;
}

/**
 * The six services as separate processes, started the way production starts them, against
 * the real PostgreSQL, Kafka and ClickHouse (isolated per run: a throwaway database, a
 * ClickHouse database and a Kafka topic prefix of its own). Used by the production-mode
 * integration test and the benchmark.
 */
export interface ProductionSuiteOptions {
  ingressEnv?: Record<string, string>;
  /** Extra environment per service (e.g. the fault drills' consumer settings). */
  serviceEnv?: Partial<Record<ProductionService, Record<string, string>>>;
  logLevel?: string;
  /** Added to every service's environment (e.g. OTEL_EXPORTER_OTLP_ENDPOINT). */
  env?: Record<string, string>;
  /** Another Kafka or ClickHouse than the shared test infrastructure (the fault drills stop theirs). */
  kafkaBrokers?: string[];
  clickhouseUrl?: string;
}

export async function startProductionSuite(options: ProductionSuiteOptions = {}): Promise<ProductionSuite> {
  const kafkaBrokers = options.kafkaBrokers ?? infra.kafkaBrokers;
  const clickhouseUrl = options.clickhouseUrl ?? infra.clickhouseUrl;
  const run = randomBytes(4).toString('hex');
  const db = await throwawayDatabase('asc_it');
  const http = {} as Record<ProductionService, number>;
  const grpc = {} as Record<ProductionService, number>;
  // Below the kernel's ephemeral range (32768+): a port picked there can be taken by any
  // outgoing connection (Kafka, Postgres clients) before the service binds it.
  const listenRange = { from: 20_000, to: 32_000 };
  for (const s of PRODUCTION_SERVICES) [http[s], grpc[s]] = [await freePort('127.0.0.1', listenRange), await freePort('127.0.0.1', listenRange)];
  const opsPort = await freePort('127.0.0.1', listenRange);
  const pki = testPki();
  const adminToken = `adm_${randomBytes(16).toString('hex')}`;
  const common = {
    ASC_ADMIN_TOKEN: adminToken,
    KAFKA_BROKERS: kafkaBrokers.join(','),
    KAFKA_TOPIC_PREFIX: `it-${run}.`,
    LOG_LEVEL: options.logLevel ?? 'warn',
    ...options.env,
  };
  const env: Record<ProductionService, Record<string, string>> = {
    policy: { ...pki.env('policy'), POLICY_HTTP_PORT: `${http.policy}`, POLICY_GRPC_URL: `127.0.0.1:${grpc.policy}`, POLICY_DATABASE_URL: db.url },
    routing: { ...pki.env('routing'), ROUTING_HTTP_PORT: `${http.routing}`, ROUTING_GRPC_URL: `127.0.0.1:${grpc.routing}`, ROUTING_DATABASE_URL: db.url },
    secrets: {
      ...pki.env('secrets'),
      SECRETS_HTTP_PORT: `${http.secrets}`,
      SECRETS_GRPC_URL: `127.0.0.1:${grpc.secrets}`,
      SECRETS_DATABASE_URL: db.url,
      SECRETS_KEK: randomBytes(32).toString('base64'),
    },
    audit: {
      ...pki.env('audit'),
      AUDIT_HTTP_PORT: `${http.audit}`,
      AUDIT_GRPC_URL: `127.0.0.1:${grpc.audit}`,
      AUDIT_DATABASE_URL: db.url,
      AUDIT_CONSUMER_GROUP: `audit-${run}`,
      AUDIT_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    },
    metering: {
      ...pki.env('metering'),
      METERING_HTTP_PORT: `${http.metering}`,
      METERING_GRPC_URL: `127.0.0.1:${grpc.metering}`,
      CLICKHOUSE_URL: clickhouseUrl,
      CLICKHOUSE_DATABASE: db.name,
      METERING_CONSUMER_GROUP: `metering-${run}`,
      AUDIT_GRPC_TARGET: `127.0.0.1:${grpc.audit}`,
    },
    ingress: {
      ...pki.env('ingress'),
      INGRESS_HTTP_PORT: `${http.ingress}`,
      INGRESS_OPS_PORT: `${opsPort}`,
      INGRESS_GRPC_URL: `127.0.0.1:${grpc.ingress}`,
      POLICY_GRPC_TARGET: `127.0.0.1:${grpc.policy}`,
      ROUTING_GRPC_TARGET: `127.0.0.1:${grpc.routing}`,
      SECRETS_GRPC_TARGET: `127.0.0.1:${grpc.secrets}`,
      ...options.ingressEnv,
    },
  };
  for (const s of PRODUCTION_SERVICES) Object.assign(env[s], options.serviceEnv?.[s]);
  const procs = new Map<ProductionService, NodeProcess>();
  const stop = async () => {
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await fetch(clickhouseUrl, { method: 'POST', body: `DROP DATABASE IF EXISTS ${db.name}` }).catch(() => undefined);
    await db.drop().catch(() => undefined);
  };
  const launch = async (s: ProductionService) => {
    const proc = startNodeProcess(`apps/${s}/src/main.js`, { ...common, ...env[s] });
    procs.set(s, proc);
    // Ingress's probes are on its ops port; its data-plane port serves only the provider APIs.
    await waitForReady(`http://127.0.0.1:${s === 'ingress' ? opsPort : http[s]}/readyz`, 90_000, proc);
    return proc;
  };
  const restart = async (s: ProductionService, signal: NodeJS.Signals = 'SIGTERM') => {
    await procs.get(s)?.stop(signal);
    return launch(s);
  };
  try {
    await Promise.all(PRODUCTION_SERVICES.map(launch));
  } catch (err) {
    await stop();
    throw err;
  }
  const endpoints = Object.fromEntries(
    (['policy', 'routing', 'secrets', 'metering', 'audit'] as const).map((s) => [s, `http://127.0.0.1:${http[s]}`]),
  ) as unknown as AdminEndpoints;
  const envs = Object.fromEntries(PRODUCTION_SERVICES.map((s) => [s, { ...common, ...env[s] }])) as unknown as Record<ProductionService, Record<string, string>>;
  return {
    http,
    grpc,
    procs,
    env: envs,
    admin: new AdminClient(endpoints, adminToken),
    pki,
    ingressOpsUrl: `http://127.0.0.1:${opsPort}`,
    databaseUrl: db.url,
    clickhouseDatabase: db.name,
    kafkaTopicPrefix: common.KAFKA_TOPIC_PREFIX,
    topicPrefix: common.KAFKA_TOPIC_PREFIX,
    adminEndpoints: endpoints,
    adminToken,
    ingressBaseUrl: `http://127.0.0.1:${http.ingress}/v1`,
    kafkaBrokers,
    clickhouseUrl,
    restart,
    stop,
  };
}

/** A second ingress replica next to a suite's own, on ports of its own; the caller stops its process. */
export interface IngressReplica {
  readonly process: NodeProcess;
  readonly httpPort: number;
  readonly opsUrl: string;
}

/**
 * Starts another ingress process with the suite's ingress environment (same control plane,
 * Kafka, certificates) plus `env`, and waits until it is ready.
 */
export async function startIngressReplica(suite: ProductionSuite, env: Record<string, string> = {}): Promise<IngressReplica> {
  const range = { from: 20_000, to: 32_000 };
  const [http, grpc, ops] = [await freePort('127.0.0.1', range), await freePort('127.0.0.1', range), await freePort('127.0.0.1', range)];
  const process = startNodeProcess('apps/ingress/src/main.js', {
    ...suite.env.ingress,
    INGRESS_HTTP_PORT: String(http),
    INGRESS_GRPC_URL: `127.0.0.1:${grpc}`,
    INGRESS_OPS_PORT: String(ops),
    KAFKA_CLIENT_ID: 'asc-ingress-2',
    ...env,
  });
  const opsUrl = `http://127.0.0.1:${ops}`;
  await waitForReady(`${opsUrl}/readyz`, 90_000, process);
  return { process, httpPort: http, opsUrl };
}
