export {
  ALL_TENANTS,
  ALL_TOPICS,
  EVENT_ADMIN_CHANGE_RECORDED,
  EVENT_BUDGET_THRESHOLD,
  EVENT_CONTROL_CONFIG_CHANGED,
  EVENT_GATEWAY_REQUEST_COMPLETED,
  TOPIC_ADMIN_CHANGE_V1,
  TOPIC_CONTROL_CONFIG_V1,
  TOPIC_SPEND_BUDGET_V1,
  TOPIC_GATEWAY_REQUEST_V1,
  eventCatalog,
  isEventTopic,
  isEventType,
  topicOf,
  type AdminChangeRecordedV1,
  type AdminChangeValue,
  type BudgetThresholdV1,
  type ConfigChangedV1,
  type EventMap,
  type EventTopic,
  type EventType,
  type EventTypeOnTopic,
  type EventVersion,
  type GuardrailFindingV1,
  type RequestCompletedV1,
  type RequestAttemptV1,
} from './event-map';
export {
  createEvent,
  parseEvent,
  serializeEvent,
  type AnyEventEnvelope,
  type DeadLetterCode,
  type EventContext,
  type EventEnvelope,
  type EventOnTopic,
  type ParseEventResult,
} from './envelope';
export type {
  DeadLetterReason,
  EventBus,
  EventBusLogger,
  EventPublisher,
  EventSubscriber,
  LogFields,
  PublisherStats,
  SubscribeOptions,
  Subscription,
  SubscriptionStats,
} from './event-bus.port';
export { EventBusError, type EventBusErrorCode } from './event-bus.error';
export { consoleEventBusLogger, silentEventBusLogger } from './event-bus.logger';
export type { BackoffOptions } from './backoff.util';
export { DEFAULT_BATCHING_OPTIONS, type BatchingOptions, type EventLossPolicy } from './batching-publisher';
export { EventSpool, type EventSpoolOptions, type SpooledRecord } from './event-spool';
export { fitPayload, truncateText } from './payload-fit';
export { MemoryEventBus, type MemoryEventBusOptions } from './memory-event-bus.adapter';
export { KafkaEventBus, type KafkaEventBusOptions } from './kafka-event-bus.adapter';
export { uuidv7 } from './uuidv7.util';
export { mapInSlices, SLICE_MS, Slicer } from './slices';
export { CONFIG_CHANGE_PUBLISHER, publishConfigChange } from './config-change';
export { ADMIN_ACTOR_OPERATOR, publishAdminChange, redactSecrets } from './admin-change';
export type { AdminChange } from './admin-change';
export { CONFIG_LISTENER_GROUP_PREFIX, configListenerGroup, instanceSlot, listenToConfigChanges } from './config-change-listener';
export {
  TOPIC_DEAD_LETTER_V1,
  decodeDeadLetter,
  encodeDeadLetter,
  originalValue,
  type DeadLetterRecord,
  type DeadLetterSink,
} from './dead-letter';
