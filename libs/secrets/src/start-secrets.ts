import { LoggerService } from '@nestjs/common';
import { EventPublisher, EventSubscriber, listenToConfigChanges } from '@asc/events';
import { protoFile, secretsV1 } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { CredentialsService } from './credentials.service';
import { LeaseListener } from './credentials.service';
import { KeyEncryptionKey } from './crypto/key-encryption-key.port';
import { KeyManagement } from './crypto/key-management.port';
import { LocalKeyEncryptionKey } from './crypto/local-key-encryption-key.adapter';
import { LocalKeyManagement } from './crypto/local-key-management.adapter';
import { CredentialVersionEntity } from './entities/credential-version.entity';
import { CredentialEntity } from './entities/credential.entity';
import { InitialSecrets1764316800001 } from './migrations/1764316800001-initial-secrets';
import { TenantKeysAndLeases1765000000010 } from './migrations/1765000000010-tenant-keys-and-leases';
import { SecretsConfig } from './secrets.config';
import { SecretsError } from './secrets.error';
import { SecretsModule } from './secrets.module';
import { RewrapProgress, TenantKeysService } from './tenant-keys.service';

export interface RunningSecretsService extends RunningService {
  readonly credentials: CredentialsService;
  readonly tenantKeys: TenantKeysService;
  /** The re-wrap started at boot when a previous KEK is configured (resolves when done). */
  readonly rewrap?: Promise<RewrapProgress>;
}

/** The local KMS the configuration names: current KEK, previous one (rotation), tenants' KEK directory (BYOK). */
export function keyManagementFromConfig(
  config: Pick<SecretsConfig, 'SECRETS_KEK' | 'SECRETS_KEK_FILE' | 'SECRETS_KEK_PREVIOUS' | 'SECRETS_KEK_PREVIOUS_FILE' | 'SECRETS_TENANT_KEK_DIR'>,
  current: KeyEncryptionKey = keyEncryptionKeyFromConfig(config),
): KeyManagement {
  const previous = config.SECRETS_KEK_PREVIOUS
    ? [LocalKeyEncryptionKey.fromBase64(config.SECRETS_KEK_PREVIOUS)]
    : config.SECRETS_KEK_PREVIOUS_FILE
      ? [LocalKeyEncryptionKey.fromFile(config.SECRETS_KEK_PREVIOUS_FILE)]
      : [];
  return new LocalKeyManagement(current, previous, config.SECRETS_TENANT_KEK_DIR);
}

/** The KEK the configuration names: SECRETS_KEK (from a secret store) or the local key file. */
export function keyEncryptionKeyFromConfig(config: Pick<SecretsConfig, 'SECRETS_KEK' | 'SECRETS_KEK_FILE'>): KeyEncryptionKey {
  if (config.SECRETS_KEK) return LocalKeyEncryptionKey.fromBase64(config.SECRETS_KEK);
  if (config.SECRETS_KEK_FILE) return LocalKeyEncryptionKey.fromFile(config.SECRETS_KEK_FILE);
  throw new SecretsError('kek_missing', 'set SECRETS_KEK_FILE or SECRETS_KEK', 500);
}

export async function startSecretsService(
  config: SecretsConfig,
  options: {
    collectProcessMetrics?: boolean;
    logger?: LoggerService;
    events?: EventPublisher;
    configChanges?: EventSubscriber;
    kek?: KeyEncryptionKey;
    /** Another KMS adapter (Vault transit, cloud KMS); defaults to the local one from the config. */
    kms?: KeyManagement;
    leaseListener?: LeaseListener;
    /** Re-wrap what a previous KEK still wraps in the background at start (default true). */
    rewrapAtStart?: boolean;
  } = {},
): Promise<RunningSecretsService> {
  const kms = options.kms ?? keyManagementFromConfig(config, options.kek);
  return withServiceDatabase(
    {
      url: config.SECRETS_DATABASE_URL,
      schema: 'secrets',
      entities: [CredentialEntity, CredentialVersionEntity],
      migrations: [InitialSecrets1764316800001, TenantKeysAndLeases1765000000010],
    },
    async (dataSource) => {
      const running = await bootstrapService({
        name: 'secrets',
        module: SecretsModule.forRoot({
          events: options.events,
          dataSource,
          kms,
          leaseListener: options.leaseListener,
          adminToken: config.ASC_ADMIN_TOKEN,
          leaseTtlMs: config.SECRETS_LEASE_TTL_MS,
          collectProcessMetrics: options.collectProcessMetrics ?? true,
        }),
        http: { host: config.SECRETS_HTTP_HOST, port: config.SECRETS_HTTP_PORT },
        grpc: { url: config.SECRETS_GRPC_URL, package: secretsV1.ASC_SECRETS_V1_PACKAGE_NAME, protoFile: protoFile('secrets'), security: grpcSecurityFromConfig('secrets', 'SECRETS', config) },
        logger: options.logger,
      });
      const credentials = running.app.get(CredentialsService);
      const tenantKeys = running.app.get(TenantKeysService);
      // Online, resumable re-wrap after a KEK rotation (or of versions older than tenant data keys).
      const status = await tenantKeys.status();
      const rewrap = status.remaining > 0 && options.rewrapAtStart !== false ? tenantKeys.rewrap() : undefined;
      rewrap?.catch((err: unknown) => options.logger?.error?.(`KEK re-wrap stopped (rerun POST /admin/v1/kek/rewrap): ${(err as Error).message}`));
      // Other replicas' writes: drop what they changed from this replica's caches too.
      const listening = options.configChanges && (await listenToConfigChanges(options.configChanges, 'secrets', (c) => credentials.invalidate(c)));
      return {
        ...running,
        credentials,
        tenantKeys,
        rewrap,
        close: async () => {
          await listening?.stop();
          await running.close();
        },
      };
    },
  );
}
