import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { databaseProbe } from '@asc/db';
import { ADMIN_TOKEN, AdminGuard, READINESS, ReadinessRegistry, ServiceKitModule } from '@asc/service-kit';
import { PolicyAdminController } from './policy-admin.controller';
import { PolicyGrpcController } from './policy-grpc.controller';
import { POLICY_DATA_SOURCE, TenancyService } from './tenancy.service';

@Module({})
export class PolicyModule {
  static forRoot(options: { dataSource: DataSource; adminToken: string; collectProcessMetrics: boolean }): DynamicModule {
    return {
      module: PolicyModule,
      imports: [ServiceKitModule.forRoot({ service: 'policy', collectProcessMetrics: options.collectProcessMetrics })],
      controllers: [PolicyGrpcController, PolicyAdminController],
      providers: [
        { provide: POLICY_DATA_SOURCE, useValue: options.dataSource },
        { provide: ADMIN_TOKEN, useValue: options.adminToken },
        AdminGuard,
        TenancyService,
        {
          provide: 'POLICY_READINESS',
          inject: [READINESS],
          useFactory: (readiness: ReadinessRegistry) => readiness.register('database', databaseProbe(options.dataSource)),
        },
      ],
      exports: [TenancyService],
    };
  }
}
