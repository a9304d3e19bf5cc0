import { LoggerService } from '@nestjs/common';
import { EventPublisher, EventSubscriber, listenToConfigChanges } from '@asc/events';
import { protoFile, routingV1 } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { DeploymentsService } from './deployments.service';
import { DeploymentEntity } from './entities/deployment.entity';
import { DeploymentOperationsTimeouts1765000000007 } from './migrations/1765000000007-deployment-operations-timeouts';
import { InitialRouting1764316800000 } from './migrations/1764316800000-initial-routing';
import { RoutingConfigVersions1765000000111 } from './migrations/1765000000111-routing-config-versions';
import { RoutingConfig } from './routing.config';
import { RoutingModule } from './routing.module';

export interface RunningRoutingService extends RunningService {
  readonly deployments: DeploymentsService;
}

export async function startRoutingService(
  config: RoutingConfig,
  options: { collectProcessMetrics?: boolean; logger?: LoggerService; events?: EventPublisher; configChanges?: EventSubscriber } = {},
): Promise<RunningRoutingService> {
  return withServiceDatabase(
    { url: config.ROUTING_DATABASE_URL, schema: 'routing', entities: [DeploymentEntity], migrations: [InitialRouting1764316800000, DeploymentOperationsTimeouts1765000000007, RoutingConfigVersions1765000000111] },
    async (dataSource) => {
      const running = await bootstrapService({
        name: 'routing',
        module: RoutingModule.forRoot({ events: options.events, dataSource, adminToken: config.ASC_ADMIN_TOKEN, collectProcessMetrics: options.collectProcessMetrics ?? true }),
        http: { host: config.ROUTING_HTTP_HOST, port: config.ROUTING_HTTP_PORT },
        grpc: { url: config.ROUTING_GRPC_URL, package: routingV1.ASC_ROUTING_V1_PACKAGE_NAME, protoFile: protoFile('routing'), security: grpcSecurityFromConfig('routing', 'ROUTING', config) },
        logger: options.logger,
      });
      const deployments = running.app.get(DeploymentsService);
      // Other replicas' writes: drop what they changed from this replica's caches too.
      const listening = options.configChanges && (await listenToConfigChanges(options.configChanges, 'routing', (c) => deployments.invalidate(c)));
      return {
        ...running,
        deployments,
        close: async () => {
          await listening?.stop();
          await running.close();
        },
      };
    },
  );
}
