import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { databaseProbe } from '@asc/db';
import { ADMIN_TOKEN, AdminGuard, READINESS, ReadinessRegistry, ServiceKitModule } from '@asc/service-kit';
import { DeploymentsService, ROUTING_DATA_SOURCE } from './deployments.service';
import { RoutingAdminController } from './routing-admin.controller';
import { RoutingGrpcController } from './routing-grpc.controller';

@Module({})
export class RoutingModule {
  static forRoot(options: { dataSource: DataSource; adminToken: string; collectProcessMetrics: boolean }): DynamicModule {
    return {
      module: RoutingModule,
      imports: [ServiceKitModule.forRoot({ service: 'routing', collectProcessMetrics: options.collectProcessMetrics })],
      controllers: [RoutingGrpcController, RoutingAdminController],
      providers: [
        { provide: ROUTING_DATA_SOURCE, useValue: options.dataSource },
        { provide: ADMIN_TOKEN, useValue: options.adminToken },
        AdminGuard,
        DeploymentsService,
        {
          provide: 'ROUTING_READINESS',
          inject: [READINESS],
          useFactory: (readiness: ReadinessRegistry) => readiness.register('database', databaseProbe(options.dataSource)),
        },
      ],
      exports: [DeploymentsService],
    };
  }
}
