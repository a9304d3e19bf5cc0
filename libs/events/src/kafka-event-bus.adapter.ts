import {
  CompressionTypes,
  Kafka,
  Partitioners,
  logLevel,
  type Consumer,
  type ConsumerCrashEvent,
  type EachBatchPayload,
  type ISocketFactory,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.util';
import { decodeDeadLetter, encodeDeadLetter, TOPIC_DEAD_LETTER_V1, type DeadLetterRecord, type DeadLetterSink } from './dead-letter';
import { assertValidSubscription, deliverBatch } from './batch-delivery';
import { EventSpool, type EventSpoolOptions } from './event-spool';
import { BatchingPublisher, type EventLossPolicy, type BatchingOptions, type OutboundMessage } from './batching-publisher';
import type { AnyEventEnvelope } from './envelope';
import { EventBusError } from './event-bus.error';
import { consoleEventBusLogger, errorFields } from './event-bus.logger';
import { fixKafkaJsIdleLoop } from './kafkajs-idle-loop.fix';
import type {
  EventBus,
  EventBusLogger,
  LogFields,
  PublisherStats,
  SubscribeOptions,
  Subscription,
  SubscriptionStats,
} from './event-bus.port';
import { ALL_TOPICS, type EventTopic } from './event-map';

export interface KafkaEventBusOptions {
  brokers: string[];
  clientId: string;
  /** Prepended to every topic name: isolates environments (or test runs) that share a cluster. */
  topicPrefix?: string;
  /** Passed to kafkajs only; never logged. */
  ssl?: boolean | ConnectionOptions;
  sasl?: SASLOptions;
  /** Default 3 s. */
  connectionTimeoutMs?: number;
  /** Default 10 s (kafkajs: 30 s); join-group requests get their own, longer timeout from kafkajs. */
  requestTimeoutMs?: number;
  /** Advanced: how kafkajs opens sockets (a proxy, or a test that cuts the network). */
  socketFactory?: ISocketFactory;
  logger?: EventBusLogger;
  /**
   * A durable on-disk spool: every published event is appended to it (fsync-batched) and
   * acknowledged there once the log has it, so a broker outage, an overflow of the memory
   * buffer or a crash loses nothing up to its cap; a restart sends what is left first.
   */
  spool?: EventSpoolOptions & { lossPolicy?: (tenantId: string) => EventLossPolicy };
  publisher?: Partial<BatchingOptions> & {
    compression?: 'none' | 'gzip';
    /**
     * A send that has not settled by then is abandoned, the producer replaced and the batch
     * retried (default 3 × requestTimeoutMs + 5 s): a guard against a client that hangs.
     */
    sendTimeoutMs?: number;
  };
  consumer?: {
    /** Events per handleBatch call; a larger fetched batch is split and committed piece by piece (default 500). */
    maxBatchSize?: number;
    /** Backoff before a failed batch is redelivered (default 200 ms doubling to 30 s). */
    retry?: BackoffOptions;
    sessionTimeoutMs?: number;
    heartbeatIntervalMs?: number;
    maxWaitTimeMs?: number;
    /**
     * Smallest fetch the broker answers before maxWaitTimeMs (default 1 byte). Consumers that
     * write to analytics stores raise it to get fewer, larger batches (fewer ClickHouse parts).
     */
    minBytes?: number;
    /** Largest fetch per partition (kafkajs default 1 MiB ≈ 1 000 request events); raise it for fewer, larger sink writes. */
    maxBytesPerPartition?: number;
    /**
     * Partitions handled in parallel by one member (default 6, the default partition count):
     * a partition whose batch is being retried does not hold up the others. Order within a
     * partition is kept either way.
     */
    partitionsConsumedConcurrently?: number;
  };
  /** Used by ensureTopics. */
  topics?: { partitions?: number; replicationFactor?: number; retentionMs?: number };
}

// Before any connection exists: kafkajs 2.2.4 spins a 1 ms timer on every idle one (see the fix).
fixKafkaJsIdleLoop();

/** kafkajs errors after which an idempotent producer's sequence state is unusable: start a new producer. */
const PRODUCER_STATE_ERRORS = new Set([
  'UNKNOWN_PRODUCER_ID',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
]);
/** After this many failed sends in a row the producer is rebuilt too, in case it is wedged. */
const REBUILD_PRODUCER_AFTER_FAILURES = 5;

/** Walks an error and what it wraps (kafkajs nests causes in retries and aggregates). */
function someError(err: unknown, test: (e: { name?: unknown; type?: unknown }) => boolean, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const e = err as { name?: unknown; type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (test(e)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => someError(x, test, depth + 1))) return true;
  return someError(e.cause, test, depth + 1) || someError(e.originalError, test, depth + 1);
}

/**
 * Errors after which this producer must be replaced: its idempotence state is unusable,
 * or a request timed out. kafkajs only notices a dead connection when the socket reports
 * 'end' or 'error'; one that silently stops answering (a network partition) keeps timing
 * out forever, so fresh connections are the cure.
 */
function needsNewProducer(err: unknown): boolean {
  return someError(
    err,
    (e) =>
      (typeof e.type === 'string' && PRODUCER_STATE_ERRORS.has(e.type)) ||
      e.name === 'KafkaJSRequestTimeoutError' ||
      e.name === 'EventSendTimeout',
  );
}

/** kafkajs log fields we pass on; anything else (stacks, request payloads) stays behind. */
const KAFKA_LOG_FIELDS = ['broker', 'groupId', 'memberId', 'topic', 'partition', 'error', 'retryCount', 'retryTime'] as const;
const KAFKA_LOG_IGNORED = [
  // Deliberate: kafkajs retries a send a few times, then our buffer retries the same batch without limit.
  'Limiting retries for the idempotent producer',
];
const KAFKA_LOG_REPEAT_MS = 30_000;

/**
 * Routes kafkajs's own logging (warnings and errors only) through our logger, with a
 * field whitelist, and mutes a line repeated within 30 s: during an outage kafkajs logs
 * every reconnect attempt, and one line says it.
 */
function kafkaLogCreator(logger: EventBusLogger): () => (entry: LogEntry) => void {
  const lastSeen = new Map<string, number>();
  return () => ({ namespace, level, log }) => {
    const message = String(log.message);
    if (KAFKA_LOG_IGNORED.some((s) => message.includes(s))) return;
    const now = Date.now();
    const key = `${level}:${namespace}:${message}`;
    if ((lastSeen.get(key) ?? -Infinity) > now - KAFKA_LOG_REPEAT_MS) return;
    if (lastSeen.size > 500) lastSeen.clear();
    lastSeen.set(key, now);
    const fields: LogFields = { component: `kafkajs.${namespace}` };
    for (const name of KAFKA_LOG_FIELDS) {
      const value: unknown = log[name];
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[name] = value;
    }
    const text = `kafka: ${message}`;
    if (level === logLevel.ERROR) logger.error(text, fields);
    else if (level === logLevel.WARN) logger.warn(text, fields);
    else if (level === logLevel.INFO) logger.info(text, fields);
    else logger.debug(text, fields);
  };
}

/**
 * The event log on Apache Kafka (kafkajs 2.2.4).
 *
 * Producing: publish() only appends to the BatchingPublisher's bounded buffer; one sender
 * writes batches with an idempotent producer (acks=all, one request in flight, murmur2
 * partitioning by tenant key like the Java client). A failed batch is resent unchanged on
 * the same producer, so the broker discards a copy it already has. The producer is
 * replaced after a sequence error, a request timeout (a silently dead connection), a send
 * that hangs past sendTimeoutMs, or 5 failures in a row; the resend on a new producer can
 * duplicate that batch, which at-least-once allows: consumers deduplicate on event id.
 *
 * Consuming: one kafkajs consumer per subscription, autoCommit off, eachBatch. A batch's
 * offsets are resolved and committed only after handleBatch resolved; on failure the
 * same messages are handed over again after a backoff while the consumer heartbeats, so
 * nothing behind them on that partition is processed first and nothing is skipped.
 */
export class KafkaEventBus implements EventBus {
  private readonly kafka: Kafka;
  private readonly logger: EventBusLogger;
  private readonly prefix: string;
  private readonly publisher: BatchingPublisher;
  private readonly compression: CompressionTypes;
  private readonly requestTimeoutMs: number;
  private readonly sendTimeoutMs: number;
  private producer?: Producer;
  private deadLetterProducer?: Producer;
  private producerConnected = false;
  private consecutiveSendFailures = 0;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closed = false;

  constructor(private readonly options: KafkaEventBusOptions) {
    this.logger = options.logger ?? consoleEventBusLogger;
    this.prefix = options.topicPrefix ?? '';
    this.compression = options.publisher?.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.sendTimeoutMs = options.publisher?.sendTimeoutMs ?? 3 * this.requestTimeoutMs + 5_000;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      ssl: options.ssl,
      sasl: options.sasl,
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: this.requestTimeoutMs,
      socketFactory: options.socketFactory,
      // Short internal retries: the publisher's buffer and the consumers' redelivery do the long waiting.
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(this.logger),
    });
    const { compression: _compression, sendTimeoutMs: _sendTimeoutMs, ...batching } = options.publisher ?? {};
    const spool = options.spool && { spool: new EventSpool(options.spool, this.logger), lossPolicy: options.spool.lossPolicy };
    this.publisher = new BatchingPublisher((batch) => this.send(batch), { ...batching, keepEnvelopes: false }, this.logger, () => this.disconnectProducer(), spool);
  }

  /** The Kafka topic an event topic (or the dead-letter topic) maps to (with the configured prefix). */
  topicName(topic: EventTopic | typeof TOPIC_DEAD_LETTER_V1): string {
    return `${this.prefix}${topic}`;
  }

  /**
   * Writes one dead letter and waits for the log's acknowledgement (acks=all), on a plain
   * producer of its own: the consumer commits past the message only after this resolved.
   */
  readonly deadLetter: DeadLetterSink = async (raw, reason) => {
    this.deadLetterProducer ??= this.kafka.producer({ allowAutoTopicCreation: false, retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 2 } });
    const producer = this.deadLetterProducer;
    try {
      await producer.connect();
      await producer.send({
        topic: this.topicName(TOPIC_DEAD_LETTER_V1),
        acks: -1,
        timeout: this.requestTimeoutMs,
        messages: [{ key: `${reason.topic}#${reason.partition}`, value: encodeDeadLetter(raw, reason) }],
      });
    } catch (err) {
      if (this.deadLetterProducer === producer) this.deadLetterProducer = undefined;
      await Promise.race([producer.disconnect().catch(() => undefined), sleep(5_000)]);
      throw err;
    }
  };

  /** Writes a message as is to an event topic (the dead-letter replay tool, and tests of poison messages). */
  async sendRaw(topic: EventTopic, key: string, value: string | Buffer): Promise<void> {
    const producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic: this.topicName(topic), acks: -1, messages: [{ key, value }] });
    } finally {
      await producer.disconnect();
    }
  }

  /**
   * Reads the whole dead-letter topic as it is now (from the oldest retained record to the
   * current end of every partition), without joining any consumer group: for the replay
   * tool and for checks. Records that are not dead letters are skipped.
   */
  async readDeadLetters(options: { timeoutMs?: number } = {}): Promise<Array<DeadLetterRecord & { dlqPartition: number; dlqOffset: string }>> {
    const topic = this.topicName(TOPIC_DEAD_LETTER_V1);
    const offsets = (await fetchTopicOffsets(this.kafka, [topic])).get(topic) ?? [];
    const ends = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
    const out: Array<DeadLetterRecord & { dlqPartition: number; dlqOffset: string }> = [];
    if (ends.size === 0) return out;
    // A group of its own that is deleted afterwards: reading leaves no position behind.
    const groupId = `asc-dlq-reader-${process.pid}-${Date.now().toString(36)}`;
    const consumer = this.kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
    const pending = new Map(ends);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new EventBusError('flush_timeout', 'reading the dead-letter topic timed out')),
          options.timeoutMs ?? 30_000,
        );
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              const end = pending.get(partition);
              if (end === undefined || BigInt(message.offset) >= end) return;
              const record = decodeDeadLetter(message.value);
              if (record) out.push({ ...record, dlqPartition: partition, dlqOffset: message.offset });
              if (BigInt(message.offset) + 1n >= end) pending.delete(partition);
              if (pending.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      const admin2 = this.kafka.admin();
      await admin2.connect();
      await admin2.deleteGroups([groupId]).catch(() => undefined);
      await admin2.disconnect();
    }
    return out.sort((a, b) => a.deadLetteredAtMs - b.deadLetteredAtMs);
  }

  async deleteIdleGroups(prefix: string): Promise<string[]> {
    if (!prefix) throw new EventBusError('invalid_subscription', 'deleteIdleGroups needs a non-empty prefix');
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.listGroups();
      const candidates = groups.map((g) => g.groupId).filter((id) => id.startsWith(prefix));
      if (candidates.length === 0) return [];
      const described = await admin.describeGroups(candidates);
      const idle = described.groups.filter((g) => g.state === 'Empty' || g.state === 'Dead').map((g) => g.groupId);
      if (idle.length === 0) return [];
      // A group that gained a member since describeGroups is refused by the broker (NON_EMPTY_GROUP): left alone.
      const results = await admin.deleteGroups(idle).catch((err: unknown) => {
        const failed = (err as { groups?: Array<{ groupId: string; errorCode: number }> }).groups;
        if (Array.isArray(failed)) return failed;
        throw err;
      });
      return results.filter((r) => r.errorCode === 0).map((r) => r.groupId);
    } finally {
      await admin.disconnect();
    }
  }

  publish(event: AnyEventEnvelope): void {
    this.publisher.publish(event);
  }

  accepting(tenantId: string): boolean {
    return this.publisher.accepting(tenantId);
  }

  flush(options?: { timeoutMs?: number }): Promise<void> {
    return this.publisher.flush(options);
  }

  stats(): PublisherStats {
    return this.publisher.stats();
  }

  /** Stops the subscriptions (each finishes its in-flight batch), then flushes and disconnects the producer. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.publisher.close();
    const deadLetters = this.deadLetterProducer;
    this.deadLetterProducer = undefined;
    if (deadLetters) await Promise.race([deadLetters.disconnect().catch(() => undefined), sleep(5_000)]);
  }

  /**
   * Creates the topics of ALL_TOPICS that do not exist yet (safe to call on every start and
   * from several processes at once). Returns the Kafka topic names it created. The producer
   * never auto-creates topics: a topic created by accident would get the broker's default
   * partition count.
   */
  async ensureTopics(): Promise<{ created: string[] }> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const wanted: Array<EventTopic | typeof TOPIC_DEAD_LETTER_V1> = [...ALL_TOPICS, TOPIC_DEAD_LETTER_V1];
      const missing = wanted.map((t) => this.topicName(t)).filter((t) => !existing.has(t));
      if (missing.length === 0) return { created: [] };
      const retentionMs = this.options.topics?.retentionMs;
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: this.options.topics?.partitions ?? 6,
            replicationFactor: this.options.topics?.replicationFactor ?? -1,
            configEntries: retentionMs === undefined ? [] : [{ name: 'retention.ms', value: String(retentionMs) }],
          })),
        });
      } catch (err) {
        if (!isTopicAlreadyExists(err)) throw err;
      }
      return { created: missing };
    } finally {
      await admin.disconnect();
    }
  }

  async subscribe<P extends EventTopic>(options: SubscribeOptions<P>): Promise<Subscription> {
    if (this.closed) throw new EventBusError('bus_closed', 'subscribe on a closed bus');
    assertValidSubscription(options);
    // Stored without its topic parameter; deliverBatch checks each event's topic against P.
    const widened = options as unknown as SubscribeOptions<EventTopic>;
    const subscription = new KafkaSubscription(this.kafka, this.options, this.logger, (t) => this.topicName(t), widened, this.deadLetter);
    await subscription.start();
    this.subscriptions.add(subscription);
    return {
      stop: async () => {
        await subscription.stop();
        this.subscriptions.delete(subscription);
      },
      stats: () => subscription.stats(),
    };
  }

  private async send(batch: readonly OutboundMessage[]): Promise<void> {
    const byTopic = new Map<string, Array<{ key: string; value: string; headers?: Record<string, string> }>>();
    for (const m of batch) {
      const topic = this.topicName(m.topic);
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      // The trace context also as a Kafka header (W3C, as Kafka instrumentations expect); the envelope keeps it too.
      messages.push(m.traceparent ? { key: m.key, value: m.value, headers: { traceparent: m.traceparent } } : { key: m.key, value: m.value });
    }
    let watchdog: NodeJS.Timeout | undefined;
    try {
      const sending = this.connectedProducer().then((producer) =>
        producer.sendBatch({
          acks: -1,
          timeout: Math.min(5_000, this.requestTimeoutMs),
          compression: this.compression,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        }),
      );
      const timedOut = new Promise<never>((_, reject) => {
        watchdog = setTimeout(() => {
          const err = new Error(`send did not settle within ${this.sendTimeoutMs} ms`);
          err.name = 'EventSendTimeout';
          reject(err);
        }, this.sendTimeoutMs);
      });
      sending.catch(() => undefined); // if the watchdog wins, the abandoned send's outcome no longer matters
      await Promise.race([sending, timedOut]);
      this.consecutiveSendFailures = 0;
    } catch (err) {
      if (needsNewProducer(err) || ++this.consecutiveSendFailures >= REBUILD_PRODUCER_AFTER_FAILURES) {
        this.consecutiveSendFailures = 0;
        await this.disconnectProducer();
      }
      throw err;
    } finally {
      clearTimeout(watchdog);
    }
  }

  private async connectedProducer(): Promise<Producer> {
    this.producer ??= this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      // Few in-client retries: a failure surfaces within ~3 request timeouts and the
      // publisher retries the same batch from its buffer for as long as it takes.
      retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 2 },
    });
    if (!this.producerConnected) {
      try {
        await this.producer.connect();
        this.producerConnected = true;
      } catch (err) {
        await this.disconnectProducer();
        throw err;
      }
    }
    return this.producer;
  }

  private async disconnectProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    this.producerConnected = false;
    // Bounded: on a dead connection kafkajs's disconnect must not hold up the retry or close().
    if (producer) await Promise.race([producer.disconnect().catch(() => undefined), sleep(5_000)]);
  }
}

function isTopicAlreadyExists(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { type?: unknown; errors?: unknown };
  if (e.type === 'TOPIC_ALREADY_EXISTS') return true;
  return Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every((x) => isTopicAlreadyExists(x));
}

/** Broker answers that mean "your metadata is behind": a leader is being elected or has just moved. */
const LEADERSHIP_IN_FLUX = new Set(['LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'UNKNOWN_TOPIC_OR_PARTITION']);

function isLeadershipInFlux(err: unknown): boolean {
  return typeof err === 'object' && err !== null && LEADERSHIP_IN_FLUX.has(String((err as { type?: unknown }).type));
}

/**
 * The low and high offsets of every partition of `topics`, read now. kafkajs 2.2.4's
 * admin.fetchTopicOffsets retries an unknown topic but gives up at once when a broker
 * answers "not the leader", which is what a topic another process created a moment ago
 * answers until its leader has settled on every broker. Those answers are retried here with
 * a fresh admin (fresh metadata) until `deadlineMs`; any other error is thrown at once.
 */
export async function fetchTopicOffsets(
  kafka: Pick<Kafka, 'admin'>,
  topics: string[],
  { deadlineMs = 30_000, backoff = { initialMs: 100, maxMs: 2_000 } }: { deadlineMs?: number; backoff?: BackoffOptions } = {},
): Promise<Map<string, Array<{ partition: number; high: string; low: string }>>> {
  const giveUpAt = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    const admin = kafka.admin();
    const wait = backoffDelay(attempt, backoff);
    try {
      await admin.connect();
      const out = new Map<string, Array<{ partition: number; high: string; low: string }>>();
      for (const topic of topics) out.set(topic, await admin.fetchTopicOffsets(topic));
      return out;
    } catch (err) {
      if (!isLeadershipInFlux(err) || Date.now() + wait > giveUpAt) throw err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await sleep(wait);
  }
}

/** One subscription = one kafkajs consumer (one group member), rebuilt if kafkajs gives up on it. */
class KafkaSubscription {
  private consumer?: Consumer;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly counters: SubscriptionStats = { delivered: 0, deadLettered: 0, failedAttempts: 0 };
  private readonly byKafkaTopic: Map<string, EventTopic>;
  private readonly maxBatchSize: number;
  private readonly retry: BackoffOptions;
  private restarts = 0;
  private restartTimer?: NodeJS.Timeout;
  /**
   * fromBeginning: false — each partition's end offset when subscribe() was called, and the
   * position this subscription has committed on each partition since ('topic:partition').
   */
  private startOffsets?: Map<string, Map<number, string>>;
  private readonly committedTo = new Map<string, string>();

  constructor(
    private readonly kafka: Kafka,
    private readonly busOptions: KafkaEventBusOptions,
    private readonly logger: EventBusLogger,
    topicName: (topic: EventTopic) => string,
    private readonly options: SubscribeOptions<EventTopic>,
    private readonly deadLetterSink: DeadLetterSink,
  ) {
    this.byKafkaTopic = new Map(options.topics.map((t) => [topicName(t), t]));
    this.maxBatchSize = Math.max(1, options.maxBatchSize ?? busOptions.consumer?.maxBatchSize ?? 500);
    this.retry = busOptions.consumer?.retry ?? { initialMs: 200, maxMs: 30_000 };
  }

  stats(): SubscriptionStats {
    return { ...this.counters };
  }

  /** Connects, joins the group and starts consuming; rejects if the cluster cannot be reached. */
  async start(): Promise<void> {
    const c = this.busOptions.consumer ?? {};
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      sessionTimeout: this.options.sessionTimeoutMs ?? c.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: c.heartbeatIntervalMs ?? 3_000,
      maxWaitTimeInMs: c.maxWaitTimeMs ?? 1_000,
      minBytes: c.minBytes ?? 1,
      maxBytesPerPartition: c.maxBytesPerPartition ?? 1024 * 1024,
      maxBytes: Math.max(10 * 1024 * 1024, (c.maxBytesPerPartition ?? 0) * 6),
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (event: ConsumerCrashEvent) => this.onCrash(consumer, event));
    if (this.options.fromBeginning === false) {
      this.startOffsets ??= await this.endOffsets();
      consumer.on(consumer.events.GROUP_JOIN, (event) => this.seekToOwnPosition(consumer, event.payload.memberAssignment));
    }
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...this.byKafkaTopic.keys()], fromBeginning: this.options.fromBeginning ?? true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: c.partitionsConsumedConcurrently ?? 6,
        eachBatch: (payload) => this.onBatch(payload),
      });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort(); // ends a pending retry wait: that batch stays uncommitted
    clearTimeout(this.restartTimer);
    await this.consumer?.disconnect().catch(() => undefined);
  }

  private async onBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, uncommittedOffsets, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const topic = this.byKafkaTopic.get(batch.topic);
    if (!topic) throw new EventBusError('invalid_subscription', `received unsubscribed topic ${batch.topic}`);
    for (let i = 0; i < batch.messages.length; i += this.maxBatchSize) {
      const chunk = batch.messages.slice(i, i + this.maxBatchSize);
      const done = await deliverBatch({
        groupId: this.options.groupId,
        topic,
        partition: batch.partition,
        messages: chunk.map((m) => ({ value: m.value, offset: m.offset })),
        subscription: this.options,
        retry: this.retry,
        logger: this.logger,
        stats: this.counters,
        isActive: () => !this.stopping && isRunning() && !isStale(),
        keepAlive: heartbeat,
        keepAliveMs: this.busOptions.consumer?.heartbeatIntervalMs ?? 3_000,
        signal: this.abort.signal,
        deadLetterSink: this.deadLetterSink,
      });
      if (!done) return; // not resolved, not committed: the next reader of this partition gets these again
      resolveOffset(chunk[chunk.length - 1].offset);
      // With autoCommit off, commitOffsetsIfNecessary() without arguments commits nothing in
      // kafkajs 2.2.4 (it only checks autoCommitInterval/Threshold): pass the offsets.
      await commitOffsetsIfNecessary(uncommittedOffsets());
      if (this.startOffsets) this.committedTo.set(`${batch.topic}:${batch.partition}`, (BigInt(chunk[chunk.length - 1].offset) + 1n).toString());
      await heartbeat();
    }
  }

  /** The end offset of every partition of the subscribed topics, read now. */
  private async endOffsets(): Promise<Map<string, Map<number, string>>> {
    const offsets = await fetchTopicOffsets(this.kafka, [...this.byKafkaTopic.keys()]);
    return new Map([...offsets].map(([topic, partitions]) => [topic, new Map(partitions.map((o) => [o.partition, o.high]))]));
  }

  /**
   * "Only new events" means those published after subscribe() was called, not after the
   * group join completed: a join can take seconds (a dead member's session must expire
   * first) or fail and be retried in the background, and kafkajs would then start a
   * partition without a committed position at its end offset of that moment, skipping what
   * was published in between (for a config listener: a revoked key or rotated credential
   * that stays cached). Called synchronously after each join, before the first fetch: every
   * assigned partition starts where this subscription last committed, or at its end offset
   * of subscribe time — not where the group says, which is nothing (kafkajs: the end offset
   * of now) if the group was deleted as idle while this member was rejoining.
   */
  private seekToOwnPosition(consumer: Consumer, assignment: Record<string, number[]>): void {
    for (const [topic, partitions] of Object.entries(assignment)) {
      const starts = this.startOffsets?.get(topic);
      for (const partition of partitions) {
        const offset = this.committedTo.get(`${topic}:${partition}`) ?? starts?.get(partition);
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
    }
  }

  /** kafkajs restarts a consumer itself after retriable errors; after any other crash we rebuild it. */
  private onCrash(consumer: Consumer, event: ConsumerCrashEvent): void {
    if (event.payload.restart || this.stopping || consumer !== this.consumer) return;
    const delay = backoffDelay(++this.restarts, { initialMs: 1_000, maxMs: 30_000 });
    this.logger.error('kafka consumer stopped after a non-retriable error: rebuilding it', {
      groupId: this.options.groupId,
      retryInMs: delay,
      ...errorFields(event.payload.error),
    });
    this.restartTimer = setTimeout(() => {
      void consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => (this.stopping ? undefined : this.start()))
        .then(() => {
          this.restarts = 0;
        })
        .catch((err: unknown) => {
          this.logger.error('kafka consumer rebuild failed', { groupId: this.options.groupId, ...errorFields(err) });
          this.onCrash(this.consumer ?? consumer, { ...event, payload: { ...event.payload, restart: false } });
        });
    }, delay);
  }
}
