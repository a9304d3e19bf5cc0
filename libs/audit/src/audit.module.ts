import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { databaseProbe } from '@asc/db';
import { ServiceKitModule } from '@asc/service-kit';
import { AuditAdminController } from './audit-admin.controller';
import { AuditGrpcController } from './audit-grpc.controller';
import { AUDIT_DATA_SOURCE, AuditTrailService } from './audit-trail.service';

@Module({})
export class AuditModule {
  static forRoot(options: { dataSource: DataSource; adminToken: string; collectProcessMetrics: boolean }): DynamicModule {
    return {
      module: AuditModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'audit',
          collectProcessMetrics: options.collectProcessMetrics,
          adminToken: options.adminToken,
          probes: { database: databaseProbe(options.dataSource) },
        }),
      ],
      controllers: [AuditGrpcController, AuditAdminController],
      providers: [
        { provide: AUDIT_DATA_SOURCE, useValue: options.dataSource },
        AuditTrailService,
      ],
    };
  }
}
