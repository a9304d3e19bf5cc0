import { createEvent } from './envelope';
import { EventPublisher } from './event-bus.port';
import { ConfigChangedV1, EVENT_CONTROL_CONFIG_CHANGED } from './event-map';

/** Nest injection token of the publisher a control-plane service announces its changes on. */
export const CONFIG_CHANGE_PUBLISHER = Symbol('CONFIG_CHANGE_PUBLISHER');

/**
 * Announces a configuration change to every ingress (they drop the cached answers it
 * affects). A service started without a publisher (null) relies on the ingress TTL alone.
 */
export function publishConfigChange(
  events: EventPublisher | null,
  source: string,
  change: Omit<ConfigChangedV1, 'keyHash'> & { keyHash?: string },
): void {
  if (!events) return;
  const data: ConfigChangedV1 = { keyHash: '', ...change };
  events.publish(createEvent(EVENT_CONTROL_CONFIG_CHANGED, { tenantId: data.tenantId, source }, data));
}
