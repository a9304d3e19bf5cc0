import { env, loadConfig } from '@asc/config';

/** Environment of the ingress service (validated at boot). */
export const ingressConfigShape = {
  INGRESS_HTTP_HOST: env.str('127.0.0.1'),
  INGRESS_HTTP_PORT: env.port(8080),
  INGRESS_GRPC_URL: env.str('127.0.0.1:50051'),
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
