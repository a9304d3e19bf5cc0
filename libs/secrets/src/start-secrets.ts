import { LoggerService } from '@nestjs/common';
import { EventPublisher, EventSubscriber, listenToConfigChanges } from '@asc/events';
import { protoFile, secretsV1 } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { CredentialsService } from './credentials.service';
import { KeyEncryptionKey } from './crypto/key-encryption-key.port';
import { LocalKeyEncryptionKey } from './crypto/local-key-encryption-key.adapter';
import { CredentialVersionEntity } from './entities/credential-version.entity';
import { CredentialEntity } from './entities/credential.entity';
import { InitialSecrets1764316800001 } from './migrations/1764316800001-initial-secrets';
import { SecretsConfig } from './secrets.config';
import { SecretsError } from './secrets.error';
import { SecretsModule } from './secrets.module';

export interface RunningSecretsService extends RunningService {
  readonly credentials: CredentialsService;
}

/** The KEK the configuration names: SECRETS_KEK (from a secret store) or the local key file. */
export function keyEncryptionKeyFromConfig(config: Pick<SecretsConfig, 'SECRETS_KEK' | 'SECRETS_KEK_FILE'>): KeyEncryptionKey {
  if (config.SECRETS_KEK) return LocalKeyEncryptionKey.fromBase64(config.SECRETS_KEK);
  if (config.SECRETS_KEK_FILE) return LocalKeyEncryptionKey.fromFile(config.SECRETS_KEK_FILE);
  throw new SecretsError('kek_missing', 'set SECRETS_KEK_FILE or SECRETS_KEK', 500);
}

export async function startSecretsService(
  config: SecretsConfig,
  options: { collectProcessMetrics?: boolean; logger?: LoggerService; events?: EventPublisher; configChanges?: EventSubscriber; kek?: KeyEncryptionKey } = {},
): Promise<RunningSecretsService> {
  const kek = options.kek ?? keyEncryptionKeyFromConfig(config);
  return withServiceDatabase(
    {
      url: config.SECRETS_DATABASE_URL,
      schema: 'secrets',
      entities: [CredentialEntity, CredentialVersionEntity],
      migrations: [InitialSecrets1764316800001],
    },
    async (dataSource) => {
      const running = await bootstrapService({
        name: 'secrets',
        module: SecretsModule.forRoot({
          events: options.events,
          dataSource,
          kek,
          adminToken: config.ASC_ADMIN_TOKEN,
          leaseTtlMs: config.SECRETS_LEASE_TTL_MS,
          collectProcessMetrics: options.collectProcessMetrics ?? true,
        }),
        http: { host: config.SECRETS_HTTP_HOST, port: config.SECRETS_HTTP_PORT },
        grpc: { url: config.SECRETS_GRPC_URL, package: secretsV1.ASC_SECRETS_V1_PACKAGE_NAME, protoFile: protoFile('secrets'), security: grpcSecurityFromConfig('secrets', 'SECRETS', config) },
        logger: options.logger,
      });
      const credentials = running.app.get(CredentialsService);
      // Other replicas' writes: drop what they changed from this replica's caches too.
      const listening = options.configChanges && (await listenToConfigChanges(options.configChanges, 'secrets', (c) => credentials.invalidate(c)));
      return {
        ...running,
        credentials,
        close: async () => {
          await listening?.stop();
          await running.close();
        },
      };
    },
  );
}
