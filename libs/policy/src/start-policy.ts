import { LoggerService } from '@nestjs/common';
import { EventPublisher, EventSubscriber, listenToConfigChanges } from '@asc/events';
import { policyV1, protoFile } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { ApiKeyEntity } from './entities/api-key.entity';
import { AppEntity } from './entities/app.entity';
import { PolicyVersionEntity } from './entities/policy-version.entity';
import { TenantEntity } from './entities/tenant.entity';
import { InitialPolicy1764230400000 } from './migrations/1764230400000-initial-policy';
import { PolicyVersions1765000000008 } from './migrations/1765000000008-policy-versions';
import { ShortKeyDisplayPrefix1765000000010 } from './migrations/1765000000010-short-key-display-prefix';
import { PolicyConfig } from './policy.config';
import { PolicyModule } from './policy.module';
import { PolicyVersionsService } from './policy-versions.service';
import { TenancyService } from './tenancy.service';

export interface RunningPolicyService extends RunningService {
  readonly tenancy: TenancyService;
  readonly policies: PolicyVersionsService;
}

export async function startPolicyService(
  config: PolicyConfig,
  options: { collectProcessMetrics?: boolean; logger?: LoggerService; events?: EventPublisher; configChanges?: EventSubscriber } = {},
): Promise<RunningPolicyService> {
  return withServiceDatabase(
    {
      url: config.POLICY_DATABASE_URL,
      schema: 'policy',
      entities: [TenantEntity, AppEntity, ApiKeyEntity, PolicyVersionEntity],
      migrations: [InitialPolicy1764230400000, PolicyVersions1765000000008, ShortKeyDisplayPrefix1765000000010],
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
      const policies = running.app.get(PolicyVersionsService);
      // Other replicas' writes: drop what they changed from this replica's caches too.
      const listening = options.configChanges && (await listenToConfigChanges(options.configChanges, 'policy', (c) => {
        tenancy.invalidate(c);
        if (c.kind === 'policy') policies.invalidateTenant(c.tenantId);
      }));
      return {
        ...running,
        tenancy,
        policies,
        close: async () => {
          await listening?.stop();
          await running.close();
        },
      };
    },
  );
}
