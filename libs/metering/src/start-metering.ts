import { LoggerService } from '@nestjs/common';
import { AnalyticsStore, applyRetention, isRowRejection, migrate } from '@asc/analytics';
import { meteringV1, protoFile } from '@asc/contracts';
import { EVENT_BUDGET_THRESHOLD, EVENT_GATEWAY_REQUEST_COMPLETED, EventSubscriber, Subscription, TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1 } from '@asc/events';
import { bootstrapService, grpcSecurityFromConfig, RunningService } from '@asc/service-kit';
import { BudgetReconciler, ClickHouseSettledSpend, connectSpendRedis, RedisBudgetStore } from '@asc/spend';
import { grpcAuditLookup, type AuditLookup } from './audit-lookup';
import { MeteringConfig } from './metering.config';
import { MeteringModule } from './metering.module';
import { recordBudgetEvents, recordRequestEvents } from './usage-recorder';

export interface MeteringDependencies {
  store: AnalyticsStore;
  events: EventSubscriber;
  collectProcessMetrics?: boolean;
  logger?: LoggerService;
  /** Where the request timeline reads the audit record from (default: AUDIT_GRPC_TARGET over gRPC). */
  audit?: AuditLookup;
}

/** Applies the ClickHouse schema, serves gRPC/admin, and consumes request events into ClickHouse. */
export async function startMeteringService(config: MeteringConfig, deps: MeteringDependencies): Promise<RunningService> {
  const database = config.CLICKHOUSE_DATABASE;
  await migrate(deps.store, database);
  const grpcSecurity = grpcSecurityFromConfig('metering', 'METERING', config);
  const audit = deps.audit ?? (config.AUDIT_GRPC_TARGET ? grpcAuditLookup(config.AUDIT_GRPC_TARGET, grpcSecurity) : undefined);
  const running = await bootstrapService({
    name: 'metering',
    module: MeteringModule.forRoot({
      store: deps.store,
      database,
      adminToken: config.ASC_ADMIN_TOKEN,
      collectProcessMetrics: deps.collectProcessMetrics ?? true,
      audit,
    }),
    http: { host: config.METERING_HTTP_HOST, port: config.METERING_HTTP_PORT },
    grpc: { url: config.METERING_GRPC_URL, package: meteringV1.ASC_METERING_V1_PACKAGE_NAME, protoFile: protoFile('metering'), security: grpcSecurity },
    logger: deps.logger,
  });
  const subscription: Subscription = await deps.events.subscribe({
    groupId: config.METERING_CONSUMER_GROUP,
    topics: [TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1],
    handleBatch: async (events) => {
      await recordRequestEvents(deps.store, database, events.flatMap((e) => (e.type === EVENT_GATEWAY_REQUEST_COMPLETED ? [e] : [])));
      await recordBudgetEvents(deps.store, database, events.flatMap((e) => (e.type === EVENT_BUDGET_THRESHOLD ? [e] : [])));
    },
    // A row ClickHouse cannot hold (a count above UInt32…) goes to the dead letters; an unreachable ClickHouse is retried.
    isRejection: isRowRejection,
  });
  const retention = scheduleRetention(
    () => applyRetention(deps.store, database, { rawDays: config.METERING_RETENTION_RAW_DAYS, rollupMonths: config.METERING_RETENTION_ROLLUP_MONTHS }),
    config.METERING_RETENTION_INTERVAL_MS,
    deps.logger,
  );
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
      retention.stop();
      await reconciler?.stop();
      redis?.disconnect();
      await subscription.stop();
      await running.close();
      audit?.close();
    },
  };
}

/**
 * Runs the retention job every intervalMs (the first run a minute after start, or sooner
 * for short intervals); a failed run is logged and tried again at the next tick.
 */
export function scheduleRetention(
  job: () => Promise<unknown>,
  intervalMs: number,
  logger?: Pick<LoggerService, 'log' | 'error'>,
): { stop: () => void; runs: () => number } {
  let runs = 0;
  if (intervalMs <= 0) return { stop: () => undefined, runs: () => runs };
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    job()
      .then((result) => logger?.log(`retention job done: ${JSON.stringify(result)}`, 'MeteringRetention'))
      .catch((err: unknown) => logger?.error(`retention job failed: ${err instanceof Error ? err.message : String(err)}`, undefined, 'MeteringRetention'))
      .finally(() => {
        running = false;
        runs++;
      });
  };
  const first = setTimeout(tick, Math.min(60_000, intervalMs));
  const every = setInterval(tick, intervalMs);
  first.unref();
  every.unref();
  return {
    stop: () => {
      clearTimeout(first);
      clearInterval(every);
    },
    runs: () => runs,
  };
}
