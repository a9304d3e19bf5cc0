import { LoggerService } from '@nestjs/common';
import { EventPublisher, EventSubscriber, listenToConfigChanges } from '@asc/events';
import { policyV1, protoFile } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { ApiKeyEntity } from './entities/api-key.entity';
import { AppEntity } from './entities/app.entity';
import { TenantPolicyEntity } from './entities/tenant-policy.entity';
import { TenantEntity } from './entities/tenant.entity';
import { InitialPolicy1764230400000 } from './migrations/1764230400000-initial-policy';
import { ShortKeyDisplayPrefix1765000000010 } from './migrations/1765000000010-short-key-display-prefix';
import { PolicyConfig } from './policy.config';
import { PolicyModule } from './policy.module';
import { TenancyService } from './tenancy.service';

export interface RunningPolicyService extends RunningService {
  readonly tenancy: TenancyService;
}

export async function startPolicyService(
  config: PolicyConfig,
  options: { collectProcessMetrics?: boolean; logger?: LoggerService; events?: EventPublisher; configChanges?: EventSubscriber } = {},
): Promise<RunningPolicyService> {
  return withServiceDatabase(
    {
      url: config.POLICY_DATABASE_URL,
      schema: 'policy',
      entities: [TenantEntity, AppEntity, ApiKeyEntity, TenantPolicyEntity],
      migrations: [InitialPolicy1764230400000, ShortKeyDisplayPrefix1765000000010],
    },
    async (dataSource) => {
      const running = await bootstrapService({
        name: 'policy',
        module: PolicyModule.forRoot({ events: options.events, dataSource, adminToken: config.ASC_ADMIN_TOKEN, collectProcessMetrics: options.collectProcessMetrics ?? true }),
        http: { host: config.POLICY_HTTP_HOST, port: config.POLICY_HTTP_PORT },
        grpc: { url: config.POLICY_GRPC_URL, package: policyV1.ASC_POLICY_V1_PACKAGE_NAME, protoFile: protoFile('policy'), security: grpcSecurityFromConfig('policy', 'POLICY', config) },
        logger: options.logger,
      });
      const tenancy = running.app.get(TenancyService);
      // Other replicas' writes: drop what they changed from this replica's caches too.
      const listening = options.configChanges && (await listenToConfigChanges(options.configChanges, 'policy', (c) => tenancy.invalidate(c)));
      return {
        ...running,
        tenancy,
        close: async () => {
          await listening?.stop();
          await running.close();
        },
      };
    },
  );
}
