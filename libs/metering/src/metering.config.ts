import { grpcSecurityConfigShape } from '@asc/service-kit';
import { env, loadConfig, sensitive } from '@asc/config';
import { z } from 'zod';

/** Environment of the metering service (validated at boot). */
export const meteringConfigShape = {
  METERING_HTTP_HOST: env.str('127.0.0.1'),
  METERING_HTTP_PORT: env.port(8085),
  /** mTLS identity of this service (METERING_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) or ASC_GRPC_INSECURE=1. */
  ...grpcSecurityConfigShape('METERING'),
  METERING_GRPC_URL: env.str('127.0.0.1:50055'),
  /**
   * The audit service's gRPC address: the request timeline asks it when the request's audit
   * record was written (over mTLS, as identity metering). Empty: the timeline lists that step
   * as pending.
   */
  AUDIT_GRPC_TARGET: z.string().default(''),
  METERING_CONSUMER_GROUP: env.str('asc-metering'),
  CLICKHOUSE_URL: env.url().default('http://127.0.0.1:8123'),
  CLICKHOUSE_DATABASE: env.str('asc'),
  CLICKHOUSE_USER: env.str('default'),
  CLICKHOUSE_PASSWORD: sensitive(z.string().default('')),
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  /** Prepended to topic names: isolates environments that share one Kafka cluster. */
  KAFKA_TOPIC_PREFIX: env.topicPrefix(),
  ASC_ADMIN_TOKEN: sensitive(env.str()),
  /** Raw request rows are kept this many days; the hourly rollups much longer (below). */
  METERING_RETENTION_RAW_DAYS: env.int(90, 1),
  METERING_RETENTION_ROLLUP_MONTHS: env.int(25, 0),
  /** How often the retention job runs (first run one minute after start); 0 turns it off. */
  METERING_RETENTION_INTERVAL_MS: env.int(3_600_000, 0),
  /**
   * The Redis holding ingress's budget counters: when set, metering reconciles them with the
   * settled spend in ClickHouse (raises a counter that missed spend). Unset: no reconciliation.
   */
  ASC_REDIS_URL: sensitive(z.string().url().optional()),
  /** Must equal ingress's INGRESS_REDIS_KEY_PREFIX. */
  METERING_REDIS_KEY_PREFIX: env.str('asc:'),
  METERING_BUDGET_RECONCILE_INTERVAL_MS: env.int(60_000, 1000),
};

export type MeteringConfig = ReturnType<typeof loadMeteringConfig>;

export function loadMeteringConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(meteringConfigShape, source);
}
