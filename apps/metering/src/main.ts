import { ClickHouseHttpStore } from '@asc/analytics';
import { KafkaEventBus } from '@asc/events';
import { loadMeteringConfig, startMeteringService } from '@asc/metering';
import { runMain } from '@asc/service-kit';

runMain('metering', async () => {
  const config = loadMeteringConfig();
  const events = new KafkaEventBus({
    brokers: config.KAFKA_BROKERS,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    clientId: 'asc-metering',
    // Fewer, larger batches: one write per ~second (or 4 MiB of events), not one per few events: at
    // 256 KiB ClickHouse spent 0.11-0.20 ms of CPU per request on ~15 inserts and existence checks a
    // second, at 4 MiB 0.01 ms (docs/benchmarks.md, "consumer batches").
    // 8 MiB fetches: ~8 000-event batches, 1.5x the ingestion rate of kafkajs's 1 MiB (docs/benchmarks.md).
    consumer: { minBytes: 4 * 1024 * 1024, maxWaitTimeMs: 1_000, maxBytesPerPartition: 8 * 1024 * 1024, maxBatchSize: 10_000, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
  });
  await events.ensureTopics();
  const store = new ClickHouseHttpStore({ url: config.CLICKHOUSE_URL, user: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD });
  const metering = await startMeteringService(config, { store, events });
  return {
    close: async () => {
      await metering.close();
      await events.close();
      await store.close();
    },
  };
});
