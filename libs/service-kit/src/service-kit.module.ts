import { DynamicModule, Global, Module, Provider, Type } from '@nestjs/common';
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
  /**
   * Where /healthz, /readyz and /metrics are served: 'here' (this HTTP server, the
   * ops/admin port of the control-plane services) or an ops server apart (ingress), which
   * is given the same registries through `ServiceKitModule.ops`.
   */
  health?: 'here' | { separate: { metrics: ServiceMetrics; readiness: ReadinessRegistry } };
}

/** Health, readiness, metrics and the admin guard shared by every service. */
@Global()
@Module({})
export class ServiceKitModule {
  static forRoot(options: ServiceKitOptions): DynamicModule {
    const separate = typeof options.health === 'object' ? options.health.separate : undefined;
    const readiness = separate?.readiness ?? new ReadinessRegistry();
    for (const [name, probe] of Object.entries(options.probes ?? {})) readiness.register(name, probe);
    const admin: Provider[] = options.adminToken === undefined ? [] : [{ provide: ADMIN_TOKEN, useValue: options.adminToken }, AdminGuard];
    return {
      module: ServiceKitModule,
      controllers: separate ? [] : [HealthController],
      providers: [
        { provide: READINESS, useValue: readiness },
        // Every gRPC handler runs in a span that continues the caller's trace.
        { provide: APP_INTERCEPTOR, useClass: GrpcServerSpanInterceptor },
        { provide: METRICS, useValue: separate?.metrics ?? new ServiceMetrics(options.service, options.collectProcessMetrics) },
        ...admin,
      ],
      exports: [READINESS, METRICS, ...(options.adminToken === undefined ? [] : [ADMIN_TOKEN, AdminGuard])],
    };
  }

  /**
   * The ops server's module: health, readiness and metrics of registries shared with the
   * service, and optionally the service's admin API (its controllers and the providers they
   * need, behind the admin token).
   */
  static ops(
    shared: { metrics: ServiceMetrics; readiness: ReadinessRegistry },
    admin?: { token: string; controllers: Type[]; providers: Provider[] },
  ): DynamicModule {
    return {
      module: ServiceKitModule,
      controllers: [HealthController, ...(admin?.controllers ?? [])],
      providers: [
        { provide: READINESS, useValue: shared.readiness },
        { provide: METRICS, useValue: shared.metrics },
        ...(admin ? [{ provide: ADMIN_TOKEN, useValue: admin.token }, AdminGuard, ...admin.providers] : []),
      ],
    };
  }
}
