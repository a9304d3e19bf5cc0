import { backoffDelay, sleep, type BackoffOptions } from './backoff.util';
import { parseEvent, type DeadLetterCode, type EventOnTopic } from './envelope';
import { errorFields } from './event-bus.logger';
import type { DeadLetterReason, EventBusLogger, SubscribeOptions, SubscriptionStats } from './event-bus.port';
import { EventBusError } from './event-bus.error';
import { eventCatalog, isEventTopic, type EventTopic } from './event-map';

/** One message as read from a partition of the log. */
export interface RawMessage {
  value: Buffer | string | null;
  offset: string;
}

export interface DeliverBatchParams<P extends EventTopic> {
  groupId: string;
  topic: P;
  partition: number;
  messages: readonly RawMessage[];
  subscription: SubscribeOptions<P>;
  retry: BackoffOptions;
  logger: EventBusLogger;
  stats: SubscriptionStats;
  /** False once this consumer may no longer process the partition (stopping, partition moved). */
  isActive: () => boolean;
  /** Called at least every keepAliveMs while waiting to retry (Kafka: heartbeat). May throw to give up. */
  keepAlive?: () => Promise<void>;
  keepAliveMs?: number;
  /** Aborts the wait between attempts. */
  signal: AbortSignal;
}

/** The checks both adapters make before subscribing. */
export function assertValidSubscription(options: Pick<SubscribeOptions<EventTopic>, 'groupId' | 'topics'>): void {
  if (!options.groupId) throw new EventBusError('invalid_subscription', 'groupId is required');
  if (options.topics.length === 0) throw new EventBusError('invalid_subscription', 'at least one topic is required');
  for (const topic of options.topics) {
    if (!isEventTopic(topic)) throw new EventBusError('invalid_subscription', `unknown topic ${String(topic)}`);
  }
}

function toBuffer(value: Buffer | string | null): Buffer {
  if (value === null) return Buffer.alloc(0);
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/**
 * Delivers one batch of one partition with the semantics both adapters share: invalid
 * messages go to the dead-letter handler, the rest to handleBatch in log order; on any
 * failure the same messages are delivered again after a backoff, for as long as this
 * consumer owns the partition. Resolves true when the batch is done and its position may
 * be committed, false when it was abandoned (consumer stopping): the caller must then NOT
 * commit, so that whoever reads the partition next receives these events again.
 */
export async function deliverBatch<P extends EventTopic>(p: DeliverBatchParams<P>): Promise<boolean> {
  const { subscription, messages } = p;
  const deadLettered = new Set<number>(); // within this call a dead letter is handed over once
  for (let attempt = 1; ; attempt++) {
    if (!p.isActive()) return false;
    try {
      const events: Array<EventOnTopic<P>> = [];
      for (let i = 0; i < messages.length; i++) {
        const message = messages[i];
        const parsed = parseEvent(message.value);
        let code: DeadLetterCode;
        let detail: string;
        if (parsed.ok) {
          if (eventCatalog[parsed.event.type].topic === p.topic) {
            events.push(parsed.event as EventOnTopic<P>); // its type's topic is P
            continue;
          }
          code = 'unexpected_topic';
          detail = `${parsed.event.type} does not belong on ${p.topic}`;
        } else {
          code = parsed.code;
          detail = parsed.detail;
        }
        if (deadLettered.has(i)) continue;
        const reason: DeadLetterReason = { code, detail, groupId: p.groupId, topic: p.topic, partition: p.partition, offset: message.offset };
        if (subscription.onDeadLetter) await subscription.onDeadLetter(toBuffer(message.value), reason);
        else p.logger.warn('dead letter: message skipped', { ...reason });
        deadLettered.add(i);
        p.stats.deadLettered++;
      }
      if (events.length > 0) await subscription.handleBatch(events);
      p.stats.delivered += events.length;
      return true;
    } catch (err) {
      p.stats.failedAttempts++;
      const delay = backoffDelay(attempt, p.retry);
      p.logger.warn('handleBatch failed: the batch will be redelivered', {
        groupId: p.groupId,
        topic: p.topic,
        partition: p.partition,
        firstOffset: messages[0]?.offset,
        lastOffset: messages[messages.length - 1]?.offset,
        events: messages.length,
        attempt,
        retryInMs: delay,
        ...errorFields(err),
      });
      await waitToRetry(delay, p);
    }
  }
}

async function waitToRetry(
  delay: number,
  p: Pick<DeliverBatchParams<EventTopic>, 'keepAlive' | 'keepAliveMs' | 'signal' | 'isActive'>,
): Promise<void> {
  const slice = p.keepAlive ? (p.keepAliveMs ?? 3_000) : delay;
  for (let left = delay; left > 0 && !p.signal.aborted && p.isActive(); left -= slice) {
    await sleep(Math.min(slice, left), p.signal);
    if (p.keepAlive && !p.signal.aborted) await p.keepAlive();
  }
}
