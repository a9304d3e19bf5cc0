import { grpcSecurityConfigShape } from '@asc/service-kit';
import { env, loadConfig, sensitive } from '@asc/config';

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
};

export type AuditConfig = ReturnType<typeof loadAuditConfig>;

export function loadAuditConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(auditConfigShape, source);
}
