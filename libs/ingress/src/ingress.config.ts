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
  /** Enables ingress's admin API (deployment health per replica); unset: no admin API. */
  ASC_ADMIN_TOKEN: sensitive(z.string().min(1).optional()),
};

export type IngressConfig = ReturnType<typeof loadIngressConfig>;

export function loadIngressConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(ingressConfigShape, source);
}
