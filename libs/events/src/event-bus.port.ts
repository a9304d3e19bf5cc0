import type { AnyEventEnvelope, DeadLetterCode, EventOnTopic } from './envelope';
import type { EventTopic } from './event-map';

export interface PublisherStats {
  /** Accepted by publish() and not yet acknowledged by the log (includes the batch in flight). */
  buffered: number;
  /** Acknowledged by the log. */
  sent: number;
  /** Lost: dropped because the buffer was full, or still unsent when close() gave up. Alarm on > 0. */
  failed: number;
  /** Send attempts that failed and were retried (events stay buffered meanwhile). */
  retries: number;
  /** Bytes held in the on-disk spool (0 without one). */
  spooledBytes?: number;
  /** `failed` by tenant (what asc_events_lost_total reports). */
  lostByTenant?: Record<string, number>;
}

/**
 * Emits events. publish() never blocks and never throws: it appends to a bounded
 * in-memory buffer that is sent in batches off the request path, and retried while the
 * log is unreachable. Events with the same tenantId keep their publish order.
 */
export interface EventPublisher {
  publish(event: AnyEventEnvelope): void;
  /**
   * Whether a new request of this tenant may be served: false when its events could not be
   * kept (the spool is full) and its loss policy is 'shed' — answer 503 then. No I/O.
   */
  accepting(tenantId: string): boolean;
  /** Resolves once every event published before the call is acknowledged by the log. */
  flush(options?: { timeoutMs?: number }): Promise<void>;
  /** Stops accepting events, flushes what is buffered (bounded wait), then releases connections. */
  close(): Promise<void>;
  stats(): PublisherStats;
}

/** Where a dead-lettered message was and why it was not delivered. */
export interface DeadLetterReason {
  code: DeadLetterCode | 'sink_rejected';
  /** Field paths and issue kinds; never payload values. */
  detail: string;
  groupId: string;
  topic: string;
  partition: number;
  offset: string;
}

export interface SubscribeOptions<P extends EventTopic> {
  /** Consumer group: each group receives every event once (at least once); members of a group share the partitions. */
  groupId: string;
  topics: readonly P[];
  /**
   * Called with events of one partition, in log order. The batch's position is committed
   * only after this resolves; if it throws, the same events come again after a backoff.
   * Delivery is at-least-once: deduplicate on `event.id`.
   */
  handleBatch: (events: Array<EventOnTopic<P>>) => Promise<void>;
  /**
   * Receives each message that cannot be parsed or validated, before handleBatch runs on
   * the rest of the batch, and each event the sink rejected as invalid (see isRejection).
   * If it throws, it is retried after a backoff and nothing behind it is committed.
   * Without it, the bus writes them to its dead-letter topic (TOPIC_DEAD_LETTER_V1) with the
   * reason and the original bytes; a bus without one logs and skips them.
   */
  onDeadLetter?: (raw: Buffer, reason: DeadLetterReason) => Promise<void>;
  /**
   * Says whether a handleBatch failure means "these events are invalid for my sink"
   * (retrying cannot help: a value out of a column's range, a constraint). Then the batch
   * is split in halves until the rejected events are isolated; each one goes to the dead
   * letters (code 'sink_rejected') and the partition moves on. Any other failure is
   * transient: the same events come again after a backoff, without blocking other
   * partitions. Default: every failure is transient.
   */
  isRejection?: (err: unknown) => boolean;
  /**
   * Where a group with no committed position starts: the oldest retained event (default) or
   * only new ones — those published after subscribe() was called, however long the join takes.
   */
  fromBeginning?: boolean;
  /** Upper bound on the events passed to one handleBatch call. */
  maxBatchSize?: number;
  /**
   * How long the broker keeps a silent member in the group (Kafka only; default the bus's).
   * A dead predecessor holds up the next member's join that long.
   */
  sessionTimeoutMs?: number;
}

export interface SubscriptionStats {
  /** Events handed to a handleBatch call that resolved. */
  delivered: number;
  /** Messages that went to the dead letters (invalid, or rejected by the sink). */
  deadLettered: number;
  /** handleBatch (or onDeadLetter) failures; each was followed by a redelivery. */
  failedAttempts: number;
}

export interface Subscription {
  /** Lets an in-flight handleBatch finish (and commits it), abandons a pending retry without committing, leaves the group. */
  stop(): Promise<void>;
  stats(): SubscriptionStats;
}

export interface EventSubscriber {
  subscribe<P extends EventTopic>(options: SubscribeOptions<P>): Promise<Subscription>;
  /**
   * Deletes the consumer groups whose id starts with `prefix` and that have no member left
   * (a listener of a process that is gone). Returns their ids. Optional: only a log with
   * durable groups (Kafka) has anything to clean.
   */
  deleteIdleGroups?(prefix: string): Promise<string[]>;
}

/** Both sides over one log: what an app gets from the events module. */
export interface EventBus extends EventPublisher, EventSubscriber {}

export type LogFields = Record<string, string | number | boolean | undefined>;

/** What the bus logs through. Fields carry positions, counts and error names, never payloads or secrets. */
export interface EventBusLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}
