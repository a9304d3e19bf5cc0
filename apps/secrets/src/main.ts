import { KafkaEventBus } from '@asc/events';
import { loadSecretsConfig, startSecretsService } from '@asc/secrets';
import { runMain } from '@asc/service-kit';

runMain('secrets', async () => {
  const config = loadSecretsConfig();
  // Announces configuration changes so every ingress drops affected cache entries at once.
  const events = new KafkaEventBus({ brokers: config.KAFKA_BROKERS, topicPrefix: config.KAFKA_TOPIC_PREFIX, clientId: 'asc-secrets' });
  const service = await startSecretsService(config, { events, configChanges: events });
  return {
    close: async () => {
      await service.close();
      await events.close();
    },
  };
});
