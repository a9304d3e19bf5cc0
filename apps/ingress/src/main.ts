import { KafkaEventBus } from '@asc/events';
import { ingressSpoolOptions, loadIngressConfig, startIngressService } from '@asc/ingress';
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
  const ingress = await startIngressService(config, { events, configChanges: events });
  return {
    close: async () => {
      await ingress.close();
      await events.close();
    },
  };
});
