import { DynamicModule, Module } from '@nestjs/common';
import { AnalyticsStore } from '@asc/analytics';
import { ServiceKitModule } from '@asc/service-kit';
import { MeteringAdminController, PlatformAnalyticsController } from './metering-admin.controller';
import { MeteringGrpcController } from './metering-grpc.controller';
import { ANALYTICS_STORE, METERING_DATABASE } from './metering.tokens';

@Module({})
export class MeteringModule {
  static forRoot(options: { store: AnalyticsStore; database: string; adminToken: string; collectProcessMetrics: boolean }): DynamicModule {
    return {
      module: MeteringModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'metering',
          collectProcessMetrics: options.collectProcessMetrics,
          adminToken: options.adminToken,
          probes: { clickhouse: () => options.store.ping() },
        }),
      ],
      controllers: [MeteringGrpcController, MeteringAdminController, PlatformAnalyticsController],
      providers: [
        { provide: ANALYTICS_STORE, useValue: options.store },
        { provide: METERING_DATABASE, useValue: options.database },
      ],
    };
  }
}
