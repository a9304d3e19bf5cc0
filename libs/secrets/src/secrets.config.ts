import { grpcSecurityConfigShape } from '@asc/service-kit';
import { ConfigError, env, loadConfig, sensitive } from '@asc/config';
import { isBase64Key } from './crypto/local-key-encryption-key.adapter';

/** Environment of the secrets service (validated at boot). */
export const secretsConfigShape = {
  SECRETS_HTTP_HOST: env.str('127.0.0.1'),
  SECRETS_HTTP_PORT: env.port(8084),
  /** mTLS identity of this service (SECRETS_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) or ASC_GRPC_INSECURE=1. */
  ...grpcSecurityConfigShape('SECRETS'),
  SECRETS_GRPC_URL: env.str('127.0.0.1:50054'),
  SECRETS_DATABASE_URL: sensitive(env.str()),
  ASC_ADMIN_TOKEN: sensitive(env.str()),
  /** Where configuration changes are announced to every ingress (they drop affected cache entries). */
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  KAFKA_TOPIC_PREFIX: env.topicPrefix(),
  /** A local key-encryption-key file, created (mode 0600) on first start: the embedded default. */
  SECRETS_KEK_FILE: env.str().optional(),
  /** The key-encryption key itself, base64 of 32 bytes, injected from a secret store. */
  SECRETS_KEK: sensitive(env.str().refine(isBase64Key, 'must be 32 random bytes, base64-encoded').optional()),
  /**
   * KEK rotation: the previous KEK (file or base64), still able to unwrap data keys while
   * they are re-wrapped under the new one (POST /admin/v1/kek/rewrap, also started at boot).
   */
  SECRETS_KEK_PREVIOUS_FILE: env.str().optional(),
  SECRETS_KEK_PREVIOUS: sensitive(env.str().refine(isBase64Key, 'must be 32 random bytes, base64-encoded').optional()),
  /** BYOK with the local KMS adapter: tenants' own KEKs are kept here (unset: BYOK disabled). */
  SECRETS_TENANT_KEK_DIR: env.str().optional(),
  /** How long a lease (and this service's decrypted copy) lives. */
  SECRETS_LEASE_TTL_MS: env.int(300_000, 1_000),
};

export type SecretsConfig = ReturnType<typeof loadSecretsConfig>;

export function loadSecretsConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(secretsConfigShape, source);
  if (Boolean(config.SECRETS_KEK_FILE) === Boolean(config.SECRETS_KEK)) {
    throw new ConfigError([
      'set exactly one of SECRETS_KEK_FILE (a local key file, created if missing) or SECRETS_KEK (base64 of 32 bytes)',
    ]);
  }
  return config;
}
