import { KafkaEventBus } from '@asc/events';
import { loadIngressConfig, startIngressService } from '@asc/ingress';
import { runMain } from '@asc/service-kit';

runMain('ingress', async () => {
  const config = loadIngressConfig();
  const events = new KafkaEventBus({ brokers: config.KAFKA_BROKERS, topicPrefix: config.KAFKA_TOPIC_PREFIX, clientId: config.KAFKA_CLIENT_ID });
  await events.ensureTopics();
  const ingress = await startIngressService(config, { events });
  return {
    close: async () => {
      await ingress.close();
      await events.close();
    },
  };
});
