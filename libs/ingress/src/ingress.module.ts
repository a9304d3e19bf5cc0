import { DynamicModule, Module } from '@nestjs/common';
import { EventPublisher } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ReadinessProbe, ServiceKitModule, ServiceKitOptions } from '@asc/service-kit';
import { DataPlaneRoutes } from './data-plane.routes';
import { CONTROL_PLANE, ControlPlane } from './control-plane.port';
import { IngressGrpcController } from './ingress-grpc.controller';
import { IngressMetrics } from './ingress.metrics';
import { EVENT_PUBLISHER, INGRESS_OPTIONS, IngressOptions, RUNNER_STEPS, UPSTREAM_CLIENT } from './ingress.tokens';
import { RequestRunner } from './request-runner';
import type { RunnerStep } from './runner.types';
import { GuardrailsStep } from './steps/guardrails.step';
import { PolicyCapsStep } from './steps/policy-caps.step';

export interface IngressModuleOptions extends IngressOptions {
  controlPlane: ControlPlane;
  events: EventPublisher;
  upstream: OpenAICompatibleClient;
  collectProcessMetrics: boolean;
  /** Health and metrics are served by the ops server (start-ingress), with these registries. */
  health: ServiceKitOptions['health'];
  /** Governance steps of the runner, in order (guardrails, limits, budgets, cache). */
  steps?: RunnerStep[];
  probes?: Record<string, ReadinessProbe>;
  /** Enables the admin API (deployment health) with this operator token. */
  adminToken?: string;
}

@Module({})
export class IngressModule {
  static forRoot(options: IngressModuleOptions): DynamicModule {
    return {
      module: IngressModule,
      imports: [
        ServiceKitModule.forRoot({ service: 'ingress', collectProcessMetrics: options.collectProcessMetrics, probes: options.probes, adminToken: options.adminToken, health: options.health }),
      ],
      // The admin API (deployment health) is served by the ops server (start-ingress), not here.
      controllers: [IngressGrpcController],
      providers: [
        { provide: CONTROL_PLANE, useValue: options.controlPlane },
        { provide: EVENT_PUBLISHER, useValue: options.events },
        { provide: UPSTREAM_CLIENT, useValue: options.upstream },
        { provide: INGRESS_OPTIONS, useValue: { resilience: options.resilience } satisfies IngressOptions },
        // The policy's own controls always run first (token caps, then guardrails), so limits,
        // budgets and the cache see the request as it will be sent.
        { provide: RUNNER_STEPS, useValue: [new PolicyCapsStep(), new GuardrailsStep(), ...(options.steps ?? [])] },
        IngressMetrics,
        RequestRunner,
        DataPlaneRoutes,
      ],
    };
  }
}
