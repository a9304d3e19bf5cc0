import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG_CHANGE_PUBLISHER, EventPublisher } from '@asc/events';
import { databaseProbe } from '@asc/db';
import { ServiceKitModule } from '@asc/service-kit';
import { BUDGET_COUNTERS, BudgetCounters, BudgetStatusService } from './budget-status.service';
import { PolicyAdminController } from './policy-admin.controller';
import { PolicyGrpcController } from './policy-grpc.controller';
import { POLICY_DATA_SOURCE, PolicyVersionsService } from './policy-versions.service';
import { TenancyService } from './tenancy.service';

@Module({})
export class PolicyModule {
  static forRoot(options: {
    /** Where this service announces configuration changes to ingress (null: TTL only). */
    events?: EventPublisher | null;
    dataSource: DataSource;
    adminToken: string;
    collectProcessMetrics: boolean;
    /** The data plane's budget counters (the budget-status view); null: limits and periods only. */
    budgetCounters?: BudgetCounters | null;
  }): DynamicModule {
    return {
      module: PolicyModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'policy',
          collectProcessMetrics: options.collectProcessMetrics,
          adminToken: options.adminToken,
          probes: { database: databaseProbe(options.dataSource) },
        }),
      ],
      controllers: [PolicyGrpcController, PolicyAdminController],
      providers: [
        { provide: CONFIG_CHANGE_PUBLISHER, useValue: options.events ?? null },
        { provide: POLICY_DATA_SOURCE, useValue: options.dataSource },
        { provide: BUDGET_COUNTERS, useValue: options.budgetCounters ?? null },
        TenancyService,
        PolicyVersionsService,
        BudgetStatusService,
      ],
      exports: [TenancyService, PolicyVersionsService],
    };
  }
}
