import { LoggerService } from '@nestjs/common';
import { ingressV1, protoFile } from '@asc/contracts';
import { EventPublisher, EventSubscriber, listenToConfigChanges } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { bootstrapService, grpcSecurityFromConfig, ReadinessRegistry, RunningService, ServiceKitModule, ServiceMetrics } from '@asc/service-kit';
import { ControlPlane } from './control-plane.port';
import { GrpcControlPlane } from './grpc-control-plane.adapter';
import { IngressErrorFilter } from './ingress-error.filter';
import { IngressConfig } from './ingress.config';
import { IngressModule } from './ingress.module';
import { DEFAULT_RESILIENCE, ResilienceOptions } from './ingress.tokens';
import { IngressAdminController } from './ingress-admin.controller';
import { RequestRunner } from './request-runner';
import type { RunnerStep } from './runner.types';

export interface IngressDependencies {
  events: EventPublisher;
  /** Where configuration changes arrive (policy, routing, secrets announce them); without it caches expire by TTL only. */
  configChanges?: EventSubscriber;
  /** Defaults to the gRPC control plane at the configured targets. */
  controlPlane?: ControlPlane;
  /** Governance steps plugged into the request runner, in order. */
  steps?: RunnerStep[];
  collectProcessMetrics?: boolean;
  logger?: LoggerService;
}

export function resilienceFrom(config: IngressConfig): ResilienceOptions {
  const d = DEFAULT_RESILIENCE;
  return {
    ...d,
    timeouts: {
      connectMs: config.INGRESS_CONNECT_TIMEOUT_MS,
      ttftMs: config.INGRESS_TTFT_TIMEOUT_MS,
      idleMs: config.INGRESS_IDLE_TIMEOUT_MS,
      totalMs: config.INGRESS_TOTAL_TIMEOUT_MS,
    },
    maxAttempts: config.INGRESS_MAX_ATTEMPTS,
    retryBudget: { ...d.retryBudget, ratio: config.INGRESS_RETRY_BUDGET_RATIO },
    outlier: { ...d.outlier, consecutiveFailures: config.INGRESS_EJECT_CONSECUTIVE_FAILURES, baseEjectionMs: config.INGRESS_EJECT_BASE_MS },
    shedding: { ...d.shedding, maxInFlight: config.INGRESS_MAX_IN_FLIGHT },
  };
}

export async function startIngressService(config: IngressConfig, deps: IngressDependencies): Promise<RunningService> {
  const security = grpcSecurityFromConfig('ingress', 'INGRESS', config);
  const controlPlane =
    deps.controlPlane ??
    new GrpcControlPlane({
      policyTarget: config.POLICY_GRPC_TARGET,
      routingTarget: config.ROUTING_GRPC_TARGET,
      secretsTarget: config.SECRETS_GRPC_TARGET,
      cacheTtlMs: config.INGRESS_CONFIG_CACHE_TTL_MS,
      staleIfErrorMs: config.INGRESS_STALE_IF_ERROR_MS,
      deadlineMs: config.INGRESS_CONTROL_PLANE_DEADLINE_MS,
      maxEntries: 100_000,
      security,
    });
  const upstream = new OpenAICompatibleClient();
  // /metrics names every tenant: it and the probes live on the ops port, never on the data plane.
  const shared = { metrics: new ServiceMetrics('ingress', deps.collectProcessMetrics ?? true), readiness: new ReadinessRegistry() };
  const state: { runner?: RequestRunner } = {};
  const running = await bootstrapService({
    name: 'ingress',
    module: IngressModule.forRoot({
      controlPlane,
      events: deps.events,
      upstream,
      resilience: resilienceFrom(config),
      steps: deps.steps,
      collectProcessMetrics: deps.collectProcessMetrics ?? true,
      health: { separate: shared },
      adminToken: config.ASC_ADMIN_TOKEN,
      // Ready while it takes requests; a draining replica leaves the load balancer at once.
      probes: { accepting: async () => !state.runner?.isDraining },
    }),
    // The ops port also carries the admin API (deployment health): nothing but provider APIs on the data plane.
    ops: {
      host: config.INGRESS_OPS_HOST,
      port: config.INGRESS_OPS_PORT,
      module: (app) =>
        ServiceKitModule.ops(
          shared,
          config.ASC_ADMIN_TOKEN
            ? { token: config.ASC_ADMIN_TOKEN, controllers: [IngressAdminController], providers: [{ provide: RequestRunner, useValue: app.get(RequestRunner) }] }
            : undefined,
        ),
    },
    http: { host: config.INGRESS_HTTP_HOST, port: config.INGRESS_HTTP_PORT, bodyLimitBytes: config.INGRESS_BODY_LIMIT_BYTES },
    grpc: { url: config.INGRESS_GRPC_URL, package: ingressV1.ASC_INGRESS_V1_PACKAGE_NAME, protoFile: protoFile('ingress'), security, requireClientCertificate: false },
    errorFilter: new IngressErrorFilter(),
    logger: deps.logger,
  });
  const runner = running.app.get(RequestRunner);
  state.runner = runner;
  const subscription = deps.configChanges && (await listenToConfigChanges(deps.configChanges, 'ingress', (c) => controlPlane.invalidate(c)));
  return {
    ...running,
    close: async () => {
      // Graceful drain: refuse new requests (503, /readyz 503), let in-flight ones finish, end the rest in-band.
      await runner.drain(config.INGRESS_DRAIN_GRACE_MS);
      await subscription?.stop();
      await running.close();
      await controlPlane.close();
      await upstream.close();
    },
  };
}
