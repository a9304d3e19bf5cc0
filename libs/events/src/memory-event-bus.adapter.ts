import { sleep, type BackoffOptions } from './backoff.util';
import { assertValidSubscription, deliverBatch, type RawMessage } from './batch-delivery';
import { EventSpool, type EventSpoolOptions } from './event-spool';
import { BatchingPublisher, type EventLossPolicy, type BatchingOptions, type OutboundMessage } from './batching-publisher';
import { decodeDeadLetter, encodeDeadLetter, type DeadLetterRecord, type DeadLetterSink } from './dead-letter';
import type { AnyEventEnvelope } from './envelope';
import { EventBusError } from './event-bus.error';
import { consoleEventBusLogger, errorFields } from './event-bus.logger';
import type {
  EventBus,
  EventBusLogger,
  PublisherStats,
  SubscribeOptions,
  Subscription,
  SubscriptionStats,
} from './event-bus.port';
import type { EventTopic } from './event-map';

export interface MemoryEventBusOptions {
  /** Partitions per topic; a tenant's events always land in the same one (default 4). */
  partitions?: number;
  /** Batching of publish(); the in-process log never fails, so the buffer only smooths bursts. */
  publisher?: Partial<BatchingOptions>;
  consumer?: {
    /** Events per handleBatch call (default 500). */
    maxBatchSize?: number;
    /** Backoff before a failed batch is redelivered (default 100 ms doubling to 5 s). */
    retry?: BackoffOptions;
  };
  /**
   * Retention per partition, in events. Events every known group has committed are
   * trimmed at once; beyond this bound the oldest events are dropped even if a lagging
   * group has not read them (logged as an error). Default 100 000.
   */
  maxRetainedPerPartition?: number;
  /** How long close() waits for consumers to handle what was published (default 5 s). */
  closeTimeoutMs?: number;
  logger?: EventBusLogger;
  /**
   * A durable on-disk spool: every published event is appended to it (fsync-batched) and
   * acknowledged there once the log has it, so a broker outage, an overflow of the memory
   * buffer or a crash loses nothing up to its cap; a restart sends what is left first.
   */
  spool?: EventSpoolOptions & { lossPolicy?: (tenantId: string) => EventLossPolicy };
}

interface LogEntry {
  key: string;
  value: string | Buffer;
  /** The envelope value was made from, when it was published in this process (see OutboundMessage.event). */
  event?: AnyEventEnvelope;
}

/** One partition: entries[i] has offset base + i. */
class PartitionLog {
  base = 0;
  entries: LogEntry[] = [];
  get end(): number {
    return this.base + this.entries.length;
  }
}

interface Member {
  options: SubscribeOptions<EventTopic>;
  stats: SubscriptionStats;
  stopped: boolean;
  abort: AbortController;
  running: Set<Promise<void>>;
}

interface Cursor {
  /** Next offset to deliver: everything before it has been handled by the group. */
  committed: number;
  owner?: Member;
  busy: boolean;
  scheduled: boolean;
}

interface Group {
  members: Member[];
  cursors: Map<EventTopic, Cursor[]>;
}

/** FNV-1a: a stable, cheap key → partition mapping. */
function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

/**
 * The event log inside one process (embedded mode), with the Kafka adapter's semantics:
 * topics split into partitions by tenant key, consumer groups that each keep their own
 * positions, members of a group sharing the partitions, a position that advances only
 * after handleBatch resolved, and redelivery after a backoff when it throws. Each delivery
 * parses the stored JSON afresh, so groups never share (or mutate) one object.
 */
export class MemoryEventBus implements EventBus {
  private readonly partitions: number;
  private readonly maxBatchSize: number;
  private readonly retry: BackoffOptions;
  private readonly maxRetained: number;
  private readonly closeTimeoutMs: number;
  private readonly logger: EventBusLogger;
  private readonly logs = new Map<EventTopic, PartitionLog[]>();
  private readonly groups = new Map<string, Group>();
  private readonly publisher: BatchingPublisher;
  private closed = false;
  private lastTrimLog = 0;
  private readonly deadLetterLog: string[] = [];

  constructor(options: MemoryEventBusOptions = {}) {
    this.partitions = options.partitions ?? 4;
    this.maxBatchSize = options.consumer?.maxBatchSize ?? 500;
    this.retry = options.consumer?.retry ?? { initialMs: 100, maxMs: 5_000 };
    this.maxRetained = options.maxRetainedPerPartition ?? 100_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.logger = options.logger ?? consoleEventBusLogger;
    this.publisher = new BatchingPublisher(
      async (batch) => this.append(batch),
      { lingerMs: 1, ...options.publisher },
      this.logger,
      async () => undefined,
      options.spool && { spool: new EventSpool(options.spool, this.logger), lossPolicy: options.spool.lossPolicy },
    );
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

  /**
   * Delivers what is buffered, gives the consumers up to closeTimeoutMs to catch up (the
   * log dies with the process), then stops every subscription.
   */
  async close(): Promise<void> {
    await this.publisher.close();
    this.closed = true;
    const deadline = Date.now() + this.closeTimeoutMs;
    while (this.lagging() && Date.now() < deadline) await sleep(10);
    const members = [...this.groups.values()].flatMap((g) => g.members);
    await Promise.all(members.map((m) => this.leave(m)));
  }

  /**
   * Appends a message as is, bypassing createEvent and serialization, the way any Kafka
   * producer could: for replay tools and for proving that consumers dead-letter garbage.
   */
  appendRaw(topic: EventTopic, key: string, value: string | Buffer): void {
    this.append([{ topic, key, value }]);
  }

  /** The dead-letter topic of this in-process log (kept up to 10 000 records, oldest dropped first). */
  readonly deadLetter: DeadLetterSink = async (raw, reason) => {
    this.deadLetterLog.push(encodeDeadLetter(raw, reason));
    if (this.deadLetterLog.length > 10_000) this.deadLetterLog.shift();
  };

  /** What was dead-lettered, oldest first. */
  deadLetters(): DeadLetterRecord[] {
    return this.deadLetterLog.map((v) => decodeDeadLetter(v)).filter((r): r is DeadLetterRecord => r !== undefined);
  }

  async subscribe<P extends EventTopic>(options: SubscribeOptions<P>): Promise<Subscription> {
    if (this.closed) throw new EventBusError('bus_closed', 'subscribe on a closed bus');
    assertValidSubscription(options);
    // Members are stored without their topic parameter; deliveries are checked against the topic.
    const member: Member = {
      options: options as unknown as SubscribeOptions<EventTopic>,
      stats: { delivered: 0, deadLettered: 0, failedAttempts: 0 },
      stopped: false,
      abort: new AbortController(),
      running: new Set(),
    };
    let group = this.groups.get(options.groupId);
    if (!group) {
      group = { members: [], cursors: new Map() };
      this.groups.set(options.groupId, group);
    }
    group.members.push(member);
    for (const topic of options.topics) {
      if (group.cursors.has(topic)) continue;
      const start = (log: PartitionLog) => (options.fromBeginning === false ? log.end : log.base);
      group.cursors.set(
        topic,
        this.partitionLogs(topic).map((log) => ({ committed: start(log), busy: false, scheduled: false })),
      );
    }
    this.rebalance(group);
    return {
      stop: () => this.leave(member),
      stats: () => ({ ...member.stats }),
    };
  }

  /** True while some owned partition has events its group has not handled yet. */
  private lagging(): boolean {
    for (const group of this.groups.values()) {
      for (const [topic, cursors] of group.cursors) {
        const logs = this.partitionLogs(topic);
        if (cursors.some((c, p) => c.owner && !c.owner.stopped && c.committed < logs[p].end)) return true;
      }
    }
    return false;
  }

  private partitionLogs(topic: EventTopic): PartitionLog[] {
    let logs = this.logs.get(topic);
    if (!logs) {
      logs = Array.from({ length: this.partitions }, () => new PartitionLog());
      this.logs.set(topic, logs);
    }
    return logs;
  }

  private append(batch: ReadonlyArray<Pick<OutboundMessage, 'topic' | 'key'> & LogEntry>): void {
    const touched = new Map<string, { topic: EventTopic; partition: number }>();
    for (const message of batch) {
      const partition = partitionOf(message.key, this.partitions);
      const log = this.partitionLogs(message.topic)[partition];
      log.entries.push({ key: message.key, value: message.value, event: message.event });
      if (log.entries.length > this.maxRetained) this.dropOldest(message.topic, partition, log);
      touched.set(`${message.topic}#${partition}`, { topic: message.topic, partition });
    }
    for (const { topic, partition } of touched.values()) {
      for (const group of this.groups.values()) this.schedule(group, topic, partition);
    }
  }

  private dropOldest(topic: EventTopic, partition: number, log: PartitionLog): void {
    const excess = log.entries.length - this.maxRetained;
    log.entries.splice(0, excess);
    log.base += excess;
    const now = Date.now();
    if (now - this.lastTrimLog < 10_000) return;
    this.lastTrimLog = now;
    this.logger.error('memory event log over its retention bound: oldest events dropped, lagging groups miss them', {
      topic,
      partition,
      maxRetainedPerPartition: this.maxRetained,
    });
  }

  /** Partition p of a topic goes to the p-th (mod n) live member of the group that subscribed to it. */
  private rebalance(group: Group): void {
    for (const [topic, cursors] of group.cursors) {
      const members = group.members.filter((m) => !m.stopped && m.options.topics.includes(topic));
      cursors.forEach((cursor, p) => {
        cursor.owner = members.length > 0 ? members[p % members.length] : undefined;
        this.schedule(group, topic, p);
      });
    }
  }

  private schedule(group: Group, topic: EventTopic, partition: number): void {
    const cursor = group.cursors.get(topic)?.[partition];
    if (!cursor || cursor.scheduled) return;
    cursor.scheduled = true;
    // Handlers never run inside publish() or subscribe(): the caller's stack stays its own.
    setImmediate(() => {
      cursor.scheduled = false;
      this.pump(group, topic, partition, cursor);
    });
  }

  private pump(group: Group, topic: EventTopic, partition: number, cursor: Cursor): void {
    const owner = cursor.owner;
    if (cursor.busy || !owner || owner.stopped) return;
    const log = this.partitionLogs(topic)[partition];
    if (cursor.committed < log.base) cursor.committed = log.base; // dropped by the retention bound (logged there)
    if (cursor.committed >= log.end) return;
    cursor.busy = true;
    const run = this.consume(topic, partition, cursor, owner, log)
      .catch((err: unknown) => this.logger.error('memory bus delivery loop failed', { topic, partition, ...errorFields(err) }))
      .finally(() => {
        cursor.busy = false;
        owner.running.delete(run);
        if (cursor.owner && cursor.committed < log.end) this.schedule(group, topic, partition);
      });
    owner.running.add(run);
  }

  private async consume(topic: EventTopic, partition: number, cursor: Cursor, owner: Member, log: PartitionLog): Promise<void> {
    const batchSize = Math.max(1, Math.min(owner.options.maxBatchSize ?? this.maxBatchSize, this.maxBatchSize));
    const active = () => cursor.owner === owner && !owner.stopped;
    while (active() && cursor.committed < log.end) {
      const start = Math.max(cursor.committed, log.base);
      const end = Math.min(log.end, start + batchSize);
      const messages: RawMessage[] = log.entries
        .slice(start - log.base, end - log.base)
        .map((entry, i) => ({ value: entry.value, offset: String(start + i), event: entry.event }));
      const done = await deliverBatch({
        groupId: owner.options.groupId,
        topic,
        partition,
        messages,
        subscription: owner.options,
        retry: this.retry,
        logger: this.logger,
        stats: owner.stats,
        isActive: active,
        signal: owner.abort.signal,
        deadLetterSink: this.deadLetter,
      });
      if (!done) return;
      cursor.committed = end;
      this.trim(topic, partition, log);
    }
  }

  /** Drops what every group that reads the topic has committed. */
  private trim(topic: EventTopic, partition: number, log: PartitionLog): void {
    let min = Number.POSITIVE_INFINITY;
    for (const group of this.groups.values()) {
      const cursor = group.cursors.get(topic)?.[partition];
      if (cursor) min = Math.min(min, cursor.committed);
    }
    const drop = Math.min(min, log.end) - log.base;
    if (drop >= 256 || (drop > 0 && drop === log.entries.length)) {
      log.entries.splice(0, drop);
      log.base += drop;
    }
  }

  private async leave(member: Member): Promise<void> {
    if (member.stopped) return;
    member.stopped = true;
    member.abort.abort();
    await Promise.all([...member.running]);
    for (const group of this.groups.values()) {
      if (!group.members.includes(member)) continue;
      group.members = group.members.filter((m) => m !== member);
      this.rebalance(group);
    }
  }
}
