import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { GrpcServerSpanInterceptor } from './grpc-trace.interceptor';
import { ADMIN_TOKEN, AdminGuard } from './admin.guard';
import { HealthController } from './health.controller';
import { METRICS, ServiceMetrics } from './metrics';
import { READINESS, ReadinessProbe, ReadinessRegistry } from './readiness';

export interface ServiceKitOptions {
  service: string;
  /** Process-level metrics (heap, event loop): once per process. */
  collectProcessMetrics: boolean;
  /** Enables the admin API guard (`AdminGuard`) with this operator token. */
  adminToken?: string;
  /** Readiness checks served by /readyz, e.g. { database: databaseProbe(ds) }. */
  probes?: Record<string, ReadinessProbe>;
}

/** Health, readiness, metrics and the admin guard shared by every service. */
@Global()
@Module({})
export class ServiceKitModule {
  static forRoot(options: ServiceKitOptions): DynamicModule {
    const readiness = new ReadinessRegistry();
    for (const [name, probe] of Object.entries(options.probes ?? {})) readiness.register(name, probe);
    const admin: Provider[] = options.adminToken === undefined ? [] : [{ provide: ADMIN_TOKEN, useValue: options.adminToken }, AdminGuard];
    return {
      module: ServiceKitModule,
      controllers: [HealthController],
      providers: [
        { provide: READINESS, useValue: readiness },
        // Every gRPC handler runs in a span that continues the caller's trace.
        { provide: APP_INTERCEPTOR, useClass: GrpcServerSpanInterceptor },
        { provide: METRICS, useValue: new ServiceMetrics(options.service, options.collectProcessMetrics) },
        ...admin,
      ],
      exports: [READINESS, METRICS, ...(options.adminToken === undefined ? [] : [ADMIN_TOKEN, AdminGuard])],
    };
  }
}
