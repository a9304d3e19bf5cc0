import { DynamicModule, Module } from '@nestjs/common';
import { EventPublisher } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ServiceKitModule, ServiceKitOptions } from '@asc/service-kit';
import { CatalogService } from './catalog.service';
import { DataPlaneController } from './data-plane.controller';
import { GatewayService } from './gateway.service';
import { CONTROL_PLANE, ControlPlane } from './control-plane.port';
import { IngressGrpcController } from './ingress-grpc.controller';
import { IngressMetrics } from './ingress.metrics';
import { EVENT_PUBLISHER, INGRESS_OPTIONS, IngressOptions, UPSTREAM_CLIENT } from './ingress.tokens';

export interface IngressModuleOptions extends IngressOptions {
  controlPlane: ControlPlane;
  events: EventPublisher;
  upstream: OpenAICompatibleClient;
  collectProcessMetrics: boolean;
  /** Health and metrics are served by the ops server (start-ingress), with these registries. */
  health: ServiceKitOptions['health'];
}

@Module({})
export class IngressModule {
  static forRoot(options: IngressModuleOptions): DynamicModule {
    return {
      module: IngressModule,
      imports: [ServiceKitModule.forRoot({ service: 'ingress', collectProcessMetrics: options.collectProcessMetrics, health: options.health })],
      controllers: [DataPlaneController, IngressGrpcController],
      providers: [
        { provide: CONTROL_PLANE, useValue: options.controlPlane },
        { provide: EVENT_PUBLISHER, useValue: options.events },
        { provide: UPSTREAM_CLIENT, useValue: options.upstream },
        { provide: INGRESS_OPTIONS, useValue: { upstreamTimeoutMs: options.upstreamTimeoutMs } satisfies IngressOptions },
        IngressMetrics,
        GatewayService,
        CatalogService,
      ],
    };
  }
}
