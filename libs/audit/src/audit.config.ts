import { grpcSecurityConfigShape } from '@asc/service-kit';
import { ConfigError, env, loadConfig, sensitive } from '@asc/config';

/** Environment of the audit service (validated at boot). */
export const auditConfigShape = {
  AUDIT_HTTP_HOST: env.str('127.0.0.1'),
  AUDIT_HTTP_PORT: env.port(8086),
  /** mTLS identity of this service (AUDIT_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) or ASC_GRPC_INSECURE=1. */
  ...grpcSecurityConfigShape('AUDIT'),
  AUDIT_GRPC_URL: env.str('127.0.0.1:50056'),
  AUDIT_DATABASE_URL: sensitive(env.str()),
  AUDIT_CONSUMER_GROUP: env.str('asc-audit'),
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  /** Prepended to topic names: isolates environments that share one Kafka cluster. */
  KAFKA_TOPIC_PREFIX: env.topicPrefix(),
  ASC_ADMIN_TOKEN: sensitive(env.str()),
  /** A local Ed25519 key file (PKCS#8 PEM) that signs checkpoints, created (mode 0600) on first start: the embedded default. */
  AUDIT_SIGNING_KEY_FILE: env.str().optional(),
  /** The checkpoint signing key itself (PKCS#8 PEM, or base64 of it), injected from a secret store; every replica holds the same. */
  AUDIT_SIGNING_KEY: sensitive(env.str().optional()),
  /** A tenant's records are checkpointed once this many are unsigned … */
  AUDIT_CHECKPOINT_EVERY_RECORDS: env.int(1000, 1),
  /** … or at the latest this often (milliseconds). */
  AUDIT_CHECKPOINT_INTERVAL_MS: env.int(60_000, 100),
};

export type AuditConfig = ReturnType<typeof loadAuditConfig>;

/** Exactly one source of the signing key (also checked at start, for configs built without this function). */
export function assertOneSigningKey(config: { AUDIT_SIGNING_KEY_FILE?: string; AUDIT_SIGNING_KEY?: string }): void {
  if (Boolean(config.AUDIT_SIGNING_KEY_FILE) === Boolean(config.AUDIT_SIGNING_KEY)) {
    throw new ConfigError(['set exactly one of AUDIT_SIGNING_KEY_FILE (a local key file, created if missing) or AUDIT_SIGNING_KEY (Ed25519 PKCS#8 PEM)']);
  }
}

export function loadAuditConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(auditConfigShape, source);
  assertOneSigningKey(config);
  return config;
}
