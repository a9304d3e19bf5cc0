import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { databaseProbe } from '@asc/db';
import { ServiceKitModule } from '@asc/service-kit';
import { AuditAdminController } from './audit-admin.controller';
import { AuditGrpcController } from './audit-grpc.controller';
import { AUDIT_CHECKPOINT_POLICY, AUDIT_DATA_SOURCE, AUDIT_SIGNING_KEY, AuditTrailService, CheckpointPolicy } from './audit-trail.service';
import { AuditSigningKey } from './signing-key';

@Module({})
export class AuditModule {
  static forRoot(options: {
    dataSource: DataSource;
    adminToken: string;
    collectProcessMetrics: boolean;
    signingKey: AuditSigningKey;
    checkpoints: CheckpointPolicy;
  }): DynamicModule {
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
        { provide: AUDIT_SIGNING_KEY, useValue: options.signingKey },
        { provide: AUDIT_CHECKPOINT_POLICY, useValue: options.checkpoints },
        AuditTrailService,
      ],
    };
  }
}
