import { LoggerService } from '@nestjs/common';
import { EventPublisher, EventSubscriber, listenToConfigChanges } from '@asc/events';
import { policyV1, protoFile } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { connectSpendRedis, RedisBudgetStore } from '@asc/spend';
import type { BudgetCounters } from './budget-status.service';
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

/** The Redis settings may be left out (no budget counters in the status view). */
type PolicyStartConfig = Omit<PolicyConfig, 'ASC_REDIS_URL' | 'POLICY_REDIS_KEY_PREFIX'> & Partial<Pick<PolicyConfig, 'ASC_REDIS_URL' | 'POLICY_REDIS_KEY_PREFIX'>>;

export async function startPolicyService(
  config: PolicyStartConfig,
  options: {
    collectProcessMetrics?: boolean;
    logger?: LoggerService;
    events?: EventPublisher;
    configChanges?: EventSubscriber;
    /** The budget counters when they live in this process (embedded mode); else read from ASC_REDIS_URL when set. */
    budgetCounters?: BudgetCounters;
  } = {},
): Promise<RunningPolicyService> {
  const redis = !options.budgetCounters && config.ASC_REDIS_URL ? await connectSpendRedis(config.ASC_REDIS_URL, { commandTimeoutMs: 2000 }) : undefined;
  const budgetCounters: BudgetCounters | null =
    options.budgetCounters ?? (redis ? { kind: 'redis', store: new RedisBudgetStore(redis, { keyPrefix: config.POLICY_REDIS_KEY_PREFIX ?? 'asc:' }) } : null);
  try {
    return await startWith(config, options, budgetCounters, () => redis?.disconnect());
  } catch (err) {
    redis?.disconnect();
    throw err;
  }
}

async function startWith(
  config: PolicyStartConfig,
  options: { collectProcessMetrics?: boolean; logger?: LoggerService; events?: EventPublisher; configChanges?: EventSubscriber },
  budgetCounters: BudgetCounters | null,
  disconnect: () => void,
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
        module: PolicyModule.forRoot({
          events: options.events,
          dataSource,
          adminToken: config.ASC_ADMIN_TOKEN,
          collectProcessMetrics: options.collectProcessMetrics ?? true,
          budgetCounters,
        }),
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
          disconnect();
        },
      };
    },
  );
}
