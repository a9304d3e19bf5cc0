import { loadAuditConfig, startAuditService } from '@asc/audit';
import { KafkaEventBus } from '@asc/events';
import { runMain } from '@asc/service-kit';

runMain('audit', async () => {
  const config = loadAuditConfig();
  const events = new KafkaEventBus({
    brokers: config.KAFKA_BROKERS,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    clientId: 'asc-audit',
    // Fewer, larger batches: one chained write per ~second (or 4 MiB of events), not one per few
    // events; per-batch costs (the transaction, the chain head, the checkpoint) dominated at a
    // few thousand requests a second (docs/benchmarks.md, "consumer batches").
    consumer: { minBytes: 4 * 1024 * 1024, maxWaitTimeMs: 1_000, maxBytesPerPartition: 8 * 1024 * 1024, maxBatchSize: 10_000, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
  });
  await events.ensureTopics();
  const audit = await startAuditService(config, { events });
  return {
    close: async () => {
      await audit.close();
      await events.close();
    },
  };
});
