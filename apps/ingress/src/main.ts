import { Logger } from '@nestjs/common';
import { KafkaEventBus } from '@asc/events';
import { createSpendSteps, ingressSpoolOptions, loadIngressConfig, startIngressService } from '@asc/ingress';
import { runMain } from '@asc/service-kit';

runMain('ingress', async () => {
  const config = loadIngressConfig();
  const events = new KafkaEventBus({
    brokers: config.KAFKA_BROKERS,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    clientId: config.KAFKA_CLIENT_ID,
    // Events are off the request path: 50 ms of batching cuts produce requests ~10x at load.
    publisher: { lingerMs: 50 },
    // Durable: what Kafka has not acknowledged survives an outage and a crash (replayed at start).
    spool: ingressSpoolOptions(config),
  });
  await events.ensureTopics();
  // Rate limits, budgets and the response cache: shared through Redis when ASC_REDIS_URL is set.
  const log = new Logger('spend');
  const spend = await createSpendSteps(config, { events, warn: (m) => log.warn(m) });
  log.log(`rate limits, budgets and cache: ${spend.mode === 'redis' ? 'Redis (shared by every replica)' : 'in process (this replica only)'}`);
  const ingress = await startIngressService(config, { events, configChanges: events, steps: spend.steps });
  return {
    close: async () => {
      await ingress.close();
      await spend.close();
      await events.close();
    },
  };
});
