import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { EventSubscriber, Subscription } from './event-bus.port';
import { ConfigChangedV1, TOPIC_CONTROL_CONFIG_V1 } from './event-map';

/**
 * Subscribes one process to every configuration change, in a consumer group of its own
 * (each replica must see each change), starting from now: caches only need what happens
 * after they were filled.
 */
export function listenToConfigChanges(
  subscriber: EventSubscriber,
  service: string,
  apply: (change: ConfigChangedV1) => void,
): Promise<Subscription> {
  return subscriber.subscribe({
    groupId: `asc-${service}-cache-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`,
    topics: [TOPIC_CONTROL_CONFIG_V1],
    fromBeginning: false,
    handleBatch: async (changes) => {
      for (const change of changes) apply(change.data);
    },
  });
}
