import { DynamicModule, Global, Module } from '@nestjs/common';
import { HealthController } from './health.controller';
import { METRICS, ServiceMetrics } from './metrics';
import { READINESS, ReadinessRegistry } from './readiness';

export interface ServiceKitOptions {
  service: string;
  /** Process-level metrics (heap, event loop): once per process. */
  collectProcessMetrics: boolean;
}

/** Health, readiness and metrics endpoints shared by every service. */
@Global()
@Module({})
export class ServiceKitModule {
  static forRoot(options: ServiceKitOptions): DynamicModule {
    return {
      module: ServiceKitModule,
      controllers: [HealthController],
      providers: [
        { provide: READINESS, useValue: new ReadinessRegistry() },
        { provide: METRICS, useValue: new ServiceMetrics(options.service, options.collectProcessMetrics) },
      ],
      exports: [READINESS, METRICS],
    };
  }
}
