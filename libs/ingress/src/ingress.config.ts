import { grpcSecurityConfigShape } from '@asc/service-kit';
import { env, loadConfig } from '@asc/config';

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
  INGRESS_UPSTREAM_TIMEOUT_MS: env.int(120_000, 100),
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
};

export type IngressConfig = ReturnType<typeof loadIngressConfig>;

export function loadIngressConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(ingressConfigShape, source);
}
