import { z } from 'zod';
import { grpcSecurityConfigShape } from '@asc/service-kit';
import { env, loadConfig, sensitive } from '@asc/config';

/** Environment of the ingress service (validated at boot). */
export const ingressConfigShape = {
  INGRESS_HTTP_HOST: env.str('127.0.0.1'),
  INGRESS_HTTP_PORT: env.port(8080),
  /** mTLS identity of this service (INGRESS_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) or ASC_GRPC_INSECURE=1. */
  ...grpcSecurityConfigShape('INGRESS'),
  INGRESS_GRPC_URL: env.str('127.0.0.1:50051'),
  /** The ops port: /healthz, /readyz and /metrics (per-tenant volumes), apart from the public data plane. */
  INGRESS_OPS_HOST: env.str('127.0.0.1'),
  INGRESS_OPS_PORT: env.port(8081),
  /** Bodies larger than this are refused with 413 before they are parsed. */
  INGRESS_BODY_LIMIT_BYTES: env.int(4 * 1024 * 1024, 1024),
  /** Default timeouts of a provider call; a deployment may set its own (routing `timeouts`). */
  INGRESS_CONNECT_TIMEOUT_MS: env.int(5_000, 10),
  /** Until the response headers, and for streams until the first token; over it the next deployment is tried. */
  INGRESS_TTFT_TIMEOUT_MS: env.int(60_000, 10),
  /** Longest gap between two streamed chunks. */
  INGRESS_IDLE_TIMEOUT_MS: env.int(60_000, 10),
  INGRESS_TOTAL_TIMEOUT_MS: env.int(600_000, 10),
  /** Attempts per request, the first included (fallbacks along the plan, or retries of a lone deployment). */
  INGRESS_MAX_ATTEMPTS: env.int(3, 1),
  /** Share of a deployment's requests that its failures may add as retries and fallbacks (sliding 10 s). */
  INGRESS_RETRY_BUDGET_RATIO: env.num(0.2, 0, 1),
  /** Consecutive failures that eject a deployment (and a 50 % failure rate over its last 20 calls). */
  INGRESS_EJECT_CONSECUTIVE_FAILURES: env.int(5, 1),
  /** First ejection; each further one doubles, up to 5 minutes. */
  INGRESS_EJECT_BASE_MS: env.int(5_000, 10),
  /** Cap on upstream requests in flight on this replica; past half of it each tenant gets a fair share. */
  INGRESS_MAX_IN_FLIGHT: env.int(2_048, 1),
  /** On SIGTERM: how long in-flight requests and streams may finish before streams are ended in-band. */
  INGRESS_DRAIN_GRACE_MS: env.int(20_000, 0),
  /** How long key lookups, decisions and plans are reused in ingress memory (0 = ask every time). */
  INGRESS_CONFIG_CACHE_TTL_MS: env.int(2_000),
  /** How long the last good answer is served while the control plane is down. */
  INGRESS_STALE_IF_ERROR_MS: env.int(300_000),
  INGRESS_CONTROL_PLANE_DEADLINE_MS: env.int(2_000, 10),
  POLICY_GRPC_TARGET: env.str('127.0.0.1:50052'),
  ROUTING_GRPC_TARGET: env.str('127.0.0.1:50053'),
  SECRETS_GRPC_TARGET: env.str('127.0.0.1:50054'),
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  /** Prepended to topic names: isolates environments that share one Kafka cluster. */
  KAFKA_TOPIC_PREFIX: env.topicPrefix(),
  KAFKA_CLIENT_ID: env.str('asc-ingress'),
  /**
   * Redis for rate limits, budgets and the response cache, shared by every replica
   * (redis://[:password@]host:port[/db]). Unset: in-process stores (one replica only).
   */
  ASC_REDIS_URL: sensitive(z.string().url().optional()),
  /** Prefix of every spend key in Redis (isolates environments sharing one Redis). */
  INGRESS_REDIS_KEY_PREFIX: env.str('asc:'),
  /** A Redis command slower than this fails and the tenant's limits_failure_mode applies. */
  INGRESS_REDIS_COMMAND_TIMEOUT_MS: env.int(250, 1),
  /**
   * With Redis: each replica admits busy tenants' requests from slices of their limits and
   * budgets it takes in the background (no Redis round trip before the upstream call;
   * docs/spend.md "Slices"). false: every request is admitted by a script in Redis.
   */
  INGRESS_SPEND_LEASES: env.bool(true),
  /** Byte cap of the in-process response cache (used without Redis). */
  INGRESS_CACHE_MAX_BYTES: env.int(64 * 1024 * 1024, 0),
  /**
   * With Redis: how long a stored answer waits to be written with the others (one script per
   * tenant, one announcement); other replicas find it after that. Longer: fewer writes.
   */
  INGRESS_CACHE_WRITE_DELAY_MS: env.int(50, 1),
  /** Output tokens a budget holds for a request without max_tokens (streams extend the hold as they run). */
  INGRESS_BUDGET_DEFAULT_MAX_OUTPUT_TOKENS: env.int(4096, 1),
  /** Enables ingress's admin API (deployment health per replica); unset: no admin API. */
  ASC_ADMIN_TOKEN: sensitive(z.string().min(1).optional()),
  /**
   * Directory of the durable event spool (one per ingress process; on Kubernetes a volume).
   * Default `.asc/spool/ingress-<INGRESS_HTTP_PORT>` under the working directory; 'off' disables it.
   */
  INGRESS_EVENT_SPOOL_DIR: env.str('default'),
  /** Cap on the events held in the spool while Kafka is slow or down. */
  INGRESS_EVENT_SPOOL_MAX_BYTES: env.int(1024 * 1024 * 1024, 1024 * 1024),
  /** Past the cap: 'shed' refuses new requests with 503 (unmetered means unbilled), 'count' serves and counts the loss. */
  INGRESS_EVENT_LOSS_POLICY: env.oneOf(['shed', 'count'], 'shed'),
  /** Tenants that get the other policy than INGRESS_EVENT_LOSS_POLICY (comma-separated ids). */
  INGRESS_EVENT_LOSS_POLICY_EXCEPT: env.list(''),
};

export type IngressConfig = ReturnType<typeof loadIngressConfig>;

export function loadIngressConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(ingressConfigShape, source);
}

/** The spool options of the ingress event publisher, or undefined when it is off. */
export function ingressSpoolOptions(config: IngressConfig, cwd = process.cwd()):
  | { dir: string; maxBytes: number; lossPolicy: (tenantId: string) => 'shed' | 'count' }
  | undefined {
  if (config.INGRESS_EVENT_SPOOL_DIR === 'off') return undefined;
  const dir =
    config.INGRESS_EVENT_SPOOL_DIR === 'default' ? `${cwd}/.asc/spool/ingress-${config.INGRESS_HTTP_PORT}` : config.INGRESS_EVENT_SPOOL_DIR;
  const base: 'shed' | 'count' = config.INGRESS_EVENT_LOSS_POLICY === 'count' ? 'count' : 'shed';
  const other: 'shed' | 'count' = base === 'shed' ? 'count' : 'shed';
  const except = new Set(config.INGRESS_EVENT_LOSS_POLICY_EXCEPT);
  return { dir, maxBytes: config.INGRESS_EVENT_SPOOL_MAX_BYTES, lossPolicy: (tenantId) => (except.has(tenantId) ? other : base) };
}
