import { KafkaEventBus } from '@asc/events';
import { loadPolicyConfig, startPolicyService } from '@asc/policy';
import { runMain } from '@asc/service-kit';

runMain('policy', async () => {
  const config = loadPolicyConfig();
  // Announces configuration changes so every ingress drops affected cache entries at once.
  const events = new KafkaEventBus({ brokers: config.KAFKA_BROKERS, topicPrefix: config.KAFKA_TOPIC_PREFIX, clientId: 'asc-policy' });
  const service = await startPolicyService(config, { events, configChanges: events });
  return {
    close: async () => {
      await service.close();
      await events.close();
    },
  };
});
