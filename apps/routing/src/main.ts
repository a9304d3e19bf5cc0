import { KafkaEventBus } from '@asc/events';
import { loadRoutingConfig, startRoutingService } from '@asc/routing';
import { runMain } from '@asc/service-kit';

runMain('routing', async () => {
  const config = loadRoutingConfig();
  // Announces configuration changes so every ingress drops affected cache entries at once.
  const events = new KafkaEventBus({ brokers: config.KAFKA_BROKERS, topicPrefix: config.KAFKA_TOPIC_PREFIX, clientId: 'asc-routing' });
  const service = await startRoutingService(config, { events, configChanges: events });
  return {
    close: async () => {
      await service.close();
      await events.close();
    },
  };
});
