import { grpcSecurityConfigShape } from '@asc/service-kit';
import { env, loadConfig, sensitive } from '@asc/config';

/** Environment of the routing service (validated at boot). */
export const routingConfigShape = {
  ROUTING_HTTP_HOST: env.str('127.0.0.1'),
  ROUTING_HTTP_PORT: env.port(8083),
  /** mTLS identity of this service (ROUTING_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) or ASC_GRPC_INSECURE=1. */
  ...grpcSecurityConfigShape('ROUTING'),
  ROUTING_GRPC_URL: env.str('127.0.0.1:50053'),
  ROUTING_DATABASE_URL: sensitive(env.str()),
  ASC_ADMIN_TOKEN: sensitive(env.str()),
  /** Where configuration changes are announced to every ingress (they drop affected cache entries). */
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  KAFKA_TOPIC_PREFIX: env.topicPrefix(),
};

export type RoutingConfig = ReturnType<typeof loadRoutingConfig>;

export function loadRoutingConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(routingConfigShape, source);
}
