import { LoggerService } from '@nestjs/common';
import { AnalyticsStore, migrate } from '@asc/analytics';
import { meteringV1, protoFile } from '@asc/contracts';
import { EventSubscriber, Subscription, TOPIC_GATEWAY_REQUEST_V1 } from '@asc/events';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { MeteringConfig } from './metering.config';
import { MeteringModule } from './metering.module';
import { recordRequestEvents } from './usage-recorder';

export interface MeteringDependencies {
  store: AnalyticsStore;
  events: EventSubscriber;
  collectProcessMetrics?: boolean;
  logger?: LoggerService;
}

/** Applies the ClickHouse schema, serves gRPC/admin, and consumes request events into ClickHouse. */
export async function startMeteringService(config: MeteringConfig, deps: MeteringDependencies): Promise<RunningService> {
  const database = config.CLICKHOUSE_DATABASE;
  await migrate(deps.store, database);
  const running = await bootstrapService({
    name: 'metering',
    module: MeteringModule.forRoot({
      store: deps.store,
      database,
      adminToken: config.ASC_ADMIN_TOKEN,
      collectProcessMetrics: deps.collectProcessMetrics ?? true,
    }),
    http: { host: config.METERING_HTTP_HOST, port: config.METERING_HTTP_PORT },
    grpc: { url: config.METERING_GRPC_URL, package: meteringV1.ASC_METERING_V1_PACKAGE_NAME, protoFile: protoFile('metering'), security: grpcSecurityFromConfig('metering', 'METERING', config) },
    logger: deps.logger,
  });
  const subscription: Subscription = await deps.events.subscribe({
    groupId: config.METERING_CONSUMER_GROUP,
    topics: [TOPIC_GATEWAY_REQUEST_V1],
    handleBatch: (events) => recordRequestEvents(deps.store, database, events),
  });
  return {
    ...running,
    close: async () => {
      await subscription.stop();
      await running.close();
    },
  };
}
