import { grpcSecurityConfigShape } from '@asc/service-kit';
import { env, loadConfig, sensitive } from '@asc/config';
import { z } from 'zod';

/** Environment of the policy service (validated at boot). */
export const policyConfigShape = {
  POLICY_HTTP_HOST: env.str('127.0.0.1'),
  POLICY_HTTP_PORT: env.port(8082),
  /** mTLS identity of this service (POLICY_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) or ASC_GRPC_INSECURE=1. */
  ...grpcSecurityConfigShape('POLICY'),
  POLICY_GRPC_URL: env.str('127.0.0.1:50052'),
  POLICY_DATABASE_URL: sensitive(env.str()),
  ASC_ADMIN_TOKEN: sensitive(env.str()),
  /** Where configuration changes are announced to every ingress (they drop affected cache entries). */
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  KAFKA_TOPIC_PREFIX: env.topicPrefix(),
  /**
   * The Redis holding ingress's budget counters, read by the budget-status admin view
   * (GET …/budgets). Unset: the view reports limits and periods without counters.
   */
  ASC_REDIS_URL: sensitive(z.string().url().optional()),
  /** Must equal ingress's INGRESS_REDIS_KEY_PREFIX. */
  POLICY_REDIS_KEY_PREFIX: env.str('asc:'),
};

export type PolicyConfig = ReturnType<typeof loadPolicyConfig>;

export function loadPolicyConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(policyConfigShape, source);
}
