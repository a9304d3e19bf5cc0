import { DynamicModule, Module } from '@nestjs/common';
import { AnalyticsStore } from '@asc/analytics';
import { ServiceKitModule } from '@asc/service-kit';
import { MeteringAdminController, PlatformAnalyticsController } from './metering-admin.controller';
import { MeteringGrpcController } from './metering-grpc.controller';
import type { AuditLookup } from './audit-lookup';
import { ANALYTICS_STORE, AUDIT_LOOKUP, METERING_DATABASE } from './metering.tokens';

@Module({})
export class MeteringModule {
  static forRoot(options: { store: AnalyticsStore; database: string; adminToken: string; collectProcessMetrics: boolean; audit?: AuditLookup }): DynamicModule {
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
        { provide: AUDIT_LOOKUP, useValue: options.audit ?? null },
      ],
    };
  }
}
