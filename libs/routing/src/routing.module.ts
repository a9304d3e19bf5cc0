import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG_CHANGE_PUBLISHER, EventPublisher } from '@asc/events';
import { databaseProbe } from '@asc/db';
import { ServiceKitModule } from '@asc/service-kit';
import { DeploymentsService, ROUTING_DATA_SOURCE } from './deployments.service';
import { RoutingAdminController } from './routing-admin.controller';
import { RoutingGrpcController } from './routing-grpc.controller';

@Module({})
export class RoutingModule {
  static forRoot(options: {
    /** Where this service announces configuration changes to ingress (null: TTL only). */
    events?: EventPublisher | null;
    dataSource: DataSource;
    adminToken: string;
    collectProcessMetrics: boolean;
  }): DynamicModule {
    return {
      module: RoutingModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'routing',
          collectProcessMetrics: options.collectProcessMetrics,
          adminToken: options.adminToken,
          probes: { database: databaseProbe(options.dataSource) },
        }),
      ],
      controllers: [RoutingGrpcController, RoutingAdminController],
      providers: [
        { provide: CONFIG_CHANGE_PUBLISHER, useValue: options.events ?? null },
        { provide: ROUTING_DATA_SOURCE, useValue: options.dataSource },
        DeploymentsService,
      ],
      exports: [DeploymentsService],
    };
  }
}
