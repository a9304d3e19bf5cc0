import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { DeadLetterSink } from './dead-letter';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.util';
import { parseEvent, type AnyEventEnvelope, type DeadLetterCode, type EventOnTopic, type ParseEventResult } from './envelope';
import { errorFields } from './event-bus.logger';
import type { DeadLetterReason, EventBusLogger, SubscribeOptions, SubscriptionStats } from './event-bus.port';
import { EventBusError } from './event-bus.error';
import { eventCatalog, isEventTopic, type EventTopic } from './event-map';
import { Slicer } from './slices';

/** One message as read from a partition of the log. */
export interface RawMessage {
  value: Buffer | string | null;
  offset: string;
  /**
   * The envelope, already validated by createEvent in this process (the in-process log):
   * delivered without parsing `value` again. Consumers treat events as read-only.
   */
  event?: AnyEventEnvelope;
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
  /** The bus's dead-letter topic, used when the subscription brings no onDeadLetter. */
  deadLetterSink?: DeadLetterSink;
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

/** An event with the position and bytes it was read from (for dead-lettering it). */
interface Item<P extends EventTopic> {
  event: EventOnTopic<P>;
  raw: Buffer;
  offset: string;
}

const REJECTION_DETAIL_MAX = 500;

/**
 * Delivers one batch of one partition with the semantics both adapters share: invalid
 * messages go to the dead letters, the rest to handleBatch in log order. A failure that
 * the subscription's isRejection calls a rejection splits the batch in halves (in order)
 * until each rejected event stands alone, and that event is dead-lettered with the
 * sink's error; any other failure delivers the same events again after a backoff, for as
 * long as this consumer owns the partition. Resolves true when the batch is done and its
 * position may be committed, false when it was abandoned (consumer stopping): the caller
 * must then NOT commit, so that whoever reads the partition next receives these events again.
 */
export async function deliverBatch<P extends EventTopic>(p: DeliverBatchParams<P>): Promise<boolean> {
  const items: Array<Item<P>> = [];
  // A consumer may share its process with request handling (embedded mode, 5,000-event
  // batches): the batch is parsed in slices (slices.ts).
  const slicer = new Slicer();
  for (const message of p.messages) {
    const turn = slicer.due();
    if (turn) await turn;
    const parsed: ParseEventResult = message.event ? { ok: true, event: message.event } : parseEvent(message.value);
    let code: DeadLetterCode;
    let detail: string;
    if (parsed.ok) {
      if (eventCatalog[parsed.event.type].topic === p.topic) {
        items.push({ event: parsed.event as EventOnTopic<P>, raw: toBuffer(message.value), offset: message.offset }); // its type's topic is P
        continue;
      }
      code = 'unexpected_topic';
      detail = `${parsed.event.type} does not belong on ${p.topic}`;
    } else {
      code = parsed.code;
      detail = parsed.detail;
    }
    const reason: DeadLetterReason = { code, detail, groupId: p.groupId, topic: p.topic, partition: p.partition, offset: message.offset };
    if (!(await deadLetter(p, toBuffer(message.value), reason))) return false;
  }
  return items.length === 0 ? true : deliverItems(p, items);
}

/** Hands one dead letter over, retrying a failed write like a failed batch. False: abandoned. */
async function deadLetter<P extends EventTopic>(p: DeliverBatchParams<P>, raw: Buffer, reason: DeadLetterReason): Promise<boolean> {
  const sink = p.subscription.onDeadLetter ?? p.deadLetterSink;
  for (let attempt = 1; ; attempt++) {
    if (!p.isActive()) return false;
    try {
      if (sink) {
        await sink(raw, reason);
        p.logger.warn('dead letter written: the partition moves on', {
          groupId: reason.groupId,
          topic: reason.topic,
          partition: reason.partition,
          offset: reason.offset,
          code: reason.code,
        });
      } else p.logger.warn('dead letter: message skipped', { ...reason });
      p.stats.deadLettered++;
      return true;
    } catch (err) {
      p.stats.failedAttempts++;
      const delay = backoffDelay(attempt, p.retry);
      p.logger.warn('dead letter could not be written: retrying, the partition waits', {
        groupId: p.groupId,
        topic: p.topic,
        partition: p.partition,
        offset: reason.offset,
        attempt,
        retryInMs: delay,
        ...errorFields(err),
      });
      await waitToRetry(delay, p);
    }
  }
}

/** A handler may have mutated what it was given: every attempt after the first gets fresh copies. */
function freshEvents<P extends EventTopic>(items: Array<Item<P>>, reuse: boolean): Array<EventOnTopic<P>> {
  if (reuse) return items.map((i) => i.event);
  return items.map((i) => {
    const parsed = parseEvent(i.raw);
    return parsed.ok ? (parsed.event as EventOnTopic<P>) : i.event; // parsed once already: always ok
  });
}

const tracer = trace.getTracer('asc-events');

/** The remote parent a traceparent names (parsed here: no dependency on a global propagator). */
function parentOf(traceparent: string | undefined): Context {
  const m = traceparent ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent) : null;
  if (!m) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true });
}

/**
 * One CONSUMER span per event, child of the request's trace (the envelope's traceparent),
 * around the handler's work on the batch: the consumers' step of the request's one trace.
 * With no tracer provider registered these are no-ops.
 */
function consumerSpans<P extends EventTopic>(p: DeliverBatchParams<P>, items: Array<Item<P>>): Span[] {
  return items.map((item) => {
    const parent = parentOf(item.event.traceparent);
    return tracer.startSpan(
      `consume ${p.topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.destination.name': p.topic,
          'messaging.consumer.group.name': p.groupId,
          'messaging.kafka.offset': Number(item.offset),
          'asc.event.id': item.event.id,
        },
      },
      parent,
    );
  });
}

async function deliverItems<P extends EventTopic>(p: DeliverBatchParams<P>, items: Array<Item<P>>, firstTry = true): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    if (!p.isActive()) return false;
    const spans = consumerSpans(p, items);
    try {
      await p.subscription.handleBatch(freshEvents(items, firstTry && attempt === 1));
      p.stats.delivered += items.length;
      for (const span of spans) span.end();
      return true;
    } catch (err) {
      for (const span of spans) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
        span.end();
      }
      if (p.subscription.isRejection?.(err)) {
        if (items.length === 1) {
          const fields = errorFields(err);
          const message = typeof fields.errorMessage === 'string' ? fields.errorMessage : String(fields.error);
          const reason: DeadLetterReason = {
            code: 'sink_rejected',
            detail: message.slice(0, REJECTION_DETAIL_MAX),
            groupId: p.groupId,
            topic: p.topic,
            partition: p.partition,
            offset: items[0].offset,
          };
          return deadLetter(p, items[0].raw, reason);
        }
        // Halves, in log order: the accepted events of the batch still land, once each.
        const half = Math.ceil(items.length / 2);
        return (await deliverItems(p, items.slice(0, half), false)) && deliverItems(p, items.slice(half), false);
      }
      p.stats.failedAttempts++;
      const delay = backoffDelay(attempt, p.retry);
      p.logger.warn('handleBatch failed: the batch will be redelivered', {
        groupId: p.groupId,
        topic: p.topic,
        partition: p.partition,
        firstOffset: items[0]?.offset,
        lastOffset: items[items.length - 1]?.offset,
        events: items.length,
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
