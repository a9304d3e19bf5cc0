import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG_CHANGE_PUBLISHER, EventPublisher } from '@asc/events';
import { databaseProbe } from '@asc/db';
import { ServiceKitModule } from '@asc/service-kit';
import { CredentialsService, LeaseListener, SecretsOptions } from './credentials.service';
import { KEY_MANAGEMENT, KeyManagement } from './crypto/key-management.port';
import { LEASE_LISTENER, SECRETS_DATA_SOURCE, SECRETS_OPTIONS } from './secrets.tokens';
import { TenantKeysService } from './tenant-keys.service';
import { SecretsAdminController } from './secrets-admin.controller';
import { SecretsGrpcController } from './secrets-grpc.controller';

@Module({})
export class SecretsModule {
  static forRoot(options: {
    /** Where this service announces configuration changes to ingress (null: TTL only). */
    events?: EventPublisher | null;
    dataSource: DataSource;
    kms: KeyManagement;
    /** Receives every lease granted or revoked (the audit hook). */
    leaseListener?: LeaseListener;
    adminToken: string;
    leaseTtlMs: number;
    collectProcessMetrics: boolean;
  }): DynamicModule {
    return {
      module: SecretsModule,
      imports: [
        ServiceKitModule.forRoot({
          service: 'secrets',
          collectProcessMetrics: options.collectProcessMetrics,
          adminToken: options.adminToken,
          probes: { database: databaseProbe(options.dataSource) },
        }),
      ],
      controllers: [SecretsGrpcController, SecretsAdminController],
      providers: [
        { provide: CONFIG_CHANGE_PUBLISHER, useValue: options.events ?? null },
        { provide: SECRETS_DATA_SOURCE, useValue: options.dataSource },
        { provide: KEY_MANAGEMENT, useValue: options.kms },
        { provide: LEASE_LISTENER, useValue: options.leaseListener ?? null },
        TenantKeysService,
        { provide: SECRETS_OPTIONS, useValue: { leaseTtlMs: options.leaseTtlMs } satisfies SecretsOptions },
        CredentialsService,
      ],
      exports: [CredentialsService, TenantKeysService],
    };
  }
}
