import { LoggerService } from '@nestjs/common';
import { AnalyticsStore, migrate } from '@asc/analytics';
import { meteringV1, protoFile } from '@asc/contracts';
import { EVENT_BUDGET_THRESHOLD, EVENT_GATEWAY_REQUEST_COMPLETED, EventSubscriber, Subscription, TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1 } from '@asc/events';
import { bootstrapService, RunningService } from '@asc/service-kit';
import { BudgetReconciler, ClickHouseSettledSpend, connectSpendRedis, RedisBudgetStore } from '@asc/spend';
import { MeteringConfig } from './metering.config';
import { MeteringModule } from './metering.module';
import { recordBudgetEvents, recordRequestEvents } from './usage-recorder';

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
    grpc: { url: config.METERING_GRPC_URL, package: meteringV1.ASC_METERING_V1_PACKAGE_NAME, protoFile: protoFile('metering') },
    logger: deps.logger,
  });
  const subscription: Subscription = await deps.events.subscribe({
    groupId: config.METERING_CONSUMER_GROUP,
    topics: [TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1],
    handleBatch: async (events) => {
      await recordRequestEvents(deps.store, database, events.flatMap((e) => (e.type === EVENT_GATEWAY_REQUEST_COMPLETED ? [e] : [])));
      await recordBudgetEvents(deps.store, database, events.flatMap((e) => (e.type === EVENT_BUDGET_THRESHOLD ? [e] : [])));
    },
  });
  // Budget counters live in Redis (ingress); ClickHouse holds the settled spend they must not fall below.
  const redis = config.ASC_REDIS_URL ? await connectSpendRedis(config.ASC_REDIS_URL, { commandTimeoutMs: 5000 }) : undefined;
  const reconciler =
    redis &&
    new BudgetReconciler(new RedisBudgetStore(redis, { keyPrefix: config.METERING_REDIS_KEY_PREFIX }), new ClickHouseSettledSpend(deps.store, database), (err) =>
      deps.logger?.warn?.(`budget reconciliation failed: ${(err as Error).message}`),
    );
  reconciler?.start(config.METERING_BUDGET_RECONCILE_INTERVAL_MS);
  return {
    ...running,
    close: async () => {
      await reconciler?.stop();
      redis?.disconnect();
      await subscription.stop();
      await running.close();
    },
  };
}
