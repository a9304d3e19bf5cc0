import { loadAuditConfig, startAuditService } from '@asc/audit';
import { KafkaEventBus } from '@asc/events';
import { runMain } from '@asc/service-kit';

runMain('audit', async () => {
  const config = loadAuditConfig();
  const events = new KafkaEventBus({
    brokers: config.KAFKA_BROKERS,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    clientId: 'asc-audit',
    // Fewer, larger batches: one write per ~second (or 256 KiB of events) instead of one per few events.
    consumer: { minBytes: 256 * 1024, maxWaitTimeMs: 1_000, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
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
