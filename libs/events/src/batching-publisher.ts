import { backoffDelay, sleep, type BackoffOptions } from './backoff.util';
import { serializeEvent, type AnyEventEnvelope } from './envelope';
import { EventBusError } from './event-bus.error';
import { errorFields } from './event-bus.logger';
import type { EventBusLogger, EventPublisher, PublisherStats } from './event-bus.port';
import { topicOf, type EventTopic } from './event-map';
import type { EventSpool } from './event-spool';

/** One serialized event on its way to the log. */
export interface OutboundMessage {
  topic: EventTopic;
  /** The tenant id: the log keeps one key's messages in order. */
  key: string;
  value: string;
  bytes: number;
  /** Its position in the spool, when there is one (acknowledged there once the log has it). */
  seq?: number;
  /** W3C trace context of the event (sent as a Kafka header). */
  traceparent?: string;
  /**
   * The validated envelope `value` was serialized from, while it is in this process (not
   * for records read back from the spool): an in-process log hands it to its consumers
   * instead of parsing `value` again.
   */
  event?: AnyEventEnvelope;
}

/** Writes one batch to the log; rejects if any of it may not have been written. */
export type SendBatch = (messages: readonly OutboundMessage[]) => Promise<void>;

export interface BatchingOptions {
  /** How long the first event of a batch waits for company before the batch is sent. */
  lingerMs: number;
  maxBatchSize: number;
  maxBatchBytes: number;
  /** Buffer bound in events; beyond it publish() drops the event (counted in stats().failed and logged). */
  maxBufferedEvents: number;
  /** Buffer bound in bytes of serialized events. */
  maxBufferedBytes: number;
  /** A single event larger than this is refused: the log would reject it and block the queue behind it. */
  maxEventBytes: number;
  /** Backoff between attempts while the log is unreachable (retried without limit). */
  retry: BackoffOptions;
  /** How long close() keeps trying to deliver the buffer before counting the rest as failed. */
  closeTimeoutMs: number;
  /**
   * Keep each event's envelope next to its bytes until it is sent (an in-process log hands
   * it to its consumers). A log that only needs the bytes (Kafka) sets false: an event then
   * waits for its batch as one string, not also as the object graph it was serialized from.
   */
  keepEnvelopes: boolean;
}

/** What happens to a tenant's new requests when its events can no longer be kept (spool or buffer full). */
export type EventLossPolicy = 'shed' | 'count';

export interface SpoolingOptions {
  spool: EventSpool;
  /**
   * Per tenant: 'shed' (default) makes accepting(tenant) false once the spool is full, so
   * the caller refuses new requests (an unmetered request is unbilled and unaudited);
   * 'count' keeps accepting and counts each event that cannot be kept as lost.
   */
  lossPolicy?: (tenantId: string) => EventLossPolicy;
}

/**
 * 100 000 events or 64 MiB, whichever comes first: at ~1 KB per request event that is
 * minutes of traffic at a few hundred requests/s, held while the log is down.
 */
export const DEFAULT_BATCHING_OPTIONS: BatchingOptions = {
  lingerMs: 5,
  maxBatchSize: 500,
  maxBatchBytes: 900 * 1024,
  maxBufferedEvents: 100_000,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxEventBytes: 512 * 1024,
  retry: { initialMs: 100, maxMs: 5_000 },
  closeTimeoutMs: 10_000,
  keepEnvelopes: true,
};

interface FlushWaiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

const OVERFLOW_LOG_EVERY_MS = 10_000;
const OUTAGE_LOG_EVERY_MS = 30_000;
/** Stands in for an event the log acknowledged, until the queue is compacted. */
const SENT: OutboundMessage = Object.freeze({ topic: 'asc.gateway.request.v1' as EventTopic, key: '', value: '', bytes: 0 });

/**
 * The publishing half shared by both adapters: a bounded FIFO drained by one sender.
 * Exactly one batch is in flight, and a failed batch is retried unchanged (same events,
 * same order) before anything behind it: that keeps per-tenant order across retries and
 * lets an idempotent Kafka producer recognise a resend of a batch it already wrote.
 */
export class BatchingPublisher implements EventPublisher {
  private readonly options: BatchingOptions;
  private items: OutboundMessage[] = [];
  private head = 0;
  private bufferedBytes = 0;
  /** Size of the batch at the head that is being sent (0: none pinned yet). */
  private inFlight = 0;
  private accepted = 0;
  private acked = 0;
  private sent = 0;
  private failed = 0;
  private retries = 0;
  private consecutiveFailures = 0;
  private outageStartedAt = 0;
  private lastOutageLog = 0;
  private lastOverflowLog = 0;
  private droppedSinceLog = 0;
  private timer?: NodeJS.Timeout;
  private draining = false;
  private closed = false;
  private abandoned = false;
  private closing?: Promise<void>;
  private readonly stop = new AbortController();
  private waiters: FlushWaiter[] = [];
  private readonly spool?: EventSpool;
  private readonly lossPolicy: (tenantId: string) => EventLossPolicy;
  /** With a spool: the seq of the first spooled record not yet copied into memory. */
  private loadedUpTo = 0;
  private readonly lostByTenant = new Map<string, number>();

  constructor(
    private readonly send: SendBatch,
    options: Partial<BatchingOptions>,
    private readonly logger: EventBusLogger,
    private readonly onClosed: () => Promise<void> = async () => undefined,
    spooling?: SpoolingOptions,
  ) {
    this.options = { ...DEFAULT_BATCHING_OPTIONS, ...options };
    this.spool = spooling?.spool;
    this.lossPolicy = spooling?.lossPolicy ?? (() => 'shed');
    if (this.spool) {
      this.loadedUpTo = this.spool.ackedSeq;
      // What the previous run left behind counts as accepted, and goes out first.
      this.accepted = this.spool.records;
      if (this.spool.records > 0) this.schedule();
    }
  }

  /**
   * Whether a new request of this tenant should be served: false only when its events could
   * not be kept (spool, or the memory buffer without a spool, is full) and the tenant's loss
   * policy is 'shed'. Cheap: no I/O.
   */
  accepting(tenantId: string): boolean {
    if (this.closed) return this.lossPolicy(tenantId) === 'count';
    if (!this.full()) return true;
    return this.lossPolicy(tenantId) === 'count';
  }

  private full(): boolean {
    if (this.spool) return this.spool.wouldOverflow(this.options.maxEventBytes);
    return this.count >= this.options.maxBufferedEvents || this.bufferedBytes + this.options.maxEventBytes > this.options.maxBufferedBytes;
  }

  publish(event: AnyEventEnvelope): void {
    if (this.closed) {
      this.lose(event.tenantId, 'closed');
      this.logger.error('event published after close: dropped', { type: event.type });
      return;
    }
    let value: string;
    try {
      value = serializeEvent(event);
    } catch (err) {
      this.failed++;
      this.logger.error('event could not be serialized: dropped', { type: event.type, ...errorFields(err) });
      return;
    }
    const bytes = Buffer.byteLength(value);
    if (bytes > this.options.maxEventBytes) {
      this.failed++;
      this.logger.error('event larger than maxEventBytes: dropped', { type: event.type, bytes, maxEventBytes: this.options.maxEventBytes });
      return;
    }
    const topic = topicOf(event.type);
    const envelope = this.options.keepEnvelopes ? event : undefined;
    if (this.spool) {
      const seq = this.spool.append(topic, event.tenantId, value);
      if (seq === undefined) {
        this.overflow(event.tenantId);
        return;
      }
      // Caught up (nothing only on disk) and room in memory: the fast path, no read back.
      if (this.loadedUpTo === seq && this.hasRoom(bytes)) {
        this.items.push({ topic, key: event.tenantId, value, bytes, seq, traceparent: event.traceparent, event: envelope });
        this.bufferedBytes += bytes;
        this.loadedUpTo = seq + 1;
      }
      this.accepted++;
      this.schedule();
      return;
    }
    if (!this.hasRoom(bytes)) {
      this.overflow(event.tenantId);
      return;
    }
    this.items.push({ topic, key: event.tenantId, value, bytes, traceparent: event.traceparent, event: envelope });
    this.bufferedBytes += bytes;
    this.accepted++;
    this.schedule();
  }

  private hasRoom(bytes: number): boolean {
    return this.count < this.options.maxBufferedEvents && this.bufferedBytes + bytes <= this.options.maxBufferedBytes;
  }

  /** True while the spool holds records that are not in memory yet. */
  private get lagging(): boolean {
    return this.spool !== undefined && this.loadedUpTo < this.spool.nextSeq;
  }

  private lose(tenantId: string, _reason: string, n = 1): void {
    this.failed += n;
    this.lostByTenant.set(tenantId, (this.lostByTenant.get(tenantId) ?? 0) + n);
  }

  flush(options: { timeoutMs?: number } = {}): Promise<void> {
    const target = this.accepted;
    if (this.acked >= target || this.abandoned) return Promise.resolve();
    if (this.timer && !this.draining) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.drain();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: FlushWaiter = { target, resolve, reject };
      if (options.timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new EventBusError('flush_timeout', `flush: ${this.count} events still buffered after ${options.timeoutMs} ms`));
        }, options.timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  stats(): PublisherStats {
    return {
      buffered: this.spool ? this.spool.records : this.count,
      sent: this.sent,
      failed: this.failed,
      retries: this.retries,
      spooledBytes: this.spool?.bytes ?? 0,
      lostByTenant: Object.fromEntries(this.lostByTenant),
    };
  }

  private get count(): number {
    return this.items.length - this.head;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    try {
      await this.flush({ timeoutMs: this.options.closeTimeoutMs });
    } catch {
      if (this.spool) this.keepInSpool();
      else this.abandon();
    }
    await this.spool?.close();
    await this.onClosed();
  }

  /** close() ran out of time with a spool: nothing is lost, the next start sends it. */
  private keepInSpool(): void {
    const left = this.spool?.records ?? 0;
    this.abandoned = true;
    this.stop.abort();
    this.items = [];
    this.head = 0;
    this.bufferedBytes = 0;
    this.inFlight = 0;
    this.logger.warn('closed with events undelivered: they stay in the spool and go out at the next start', { spooled: left });
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new EventBusError('bus_closed', `publisher closed with ${left} events in the spool`));
    }
    this.waiters = [];
  }

  /** close() ran out of time: what is left is lost, and said so. */
  private abandon(): void {
    const lost = this.count;
    this.abandoned = true;
    this.stop.abort();
    for (let i = this.head; i < this.items.length; i++) this.lose(this.items[i].key, 'closed');
    this.items = [];
    this.head = 0;
    this.bufferedBytes = 0;
    this.inFlight = 0;
    this.logger.error('closed with events still buffered: they are lost', { lost, closeTimeoutMs: this.options.closeTimeoutMs });
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new EventBusError('bus_closed', `publisher closed with ${lost} events undelivered`));
    }
    this.waiters = [];
  }

  private overflow(tenantId: string): void {
    this.lose(tenantId, 'full');
    this.droppedSinceLog++;
    const now = Date.now();
    if (now - this.lastOverflowLog < OVERFLOW_LOG_EVERY_MS) return;
    this.logger.error(
      this.spool
        ? 'event spool full: events are lost (asc_events_lost_total) until the log accepts the backlog'
        : 'event buffer full: dropping new events until the log accepts the backlog',
      {
        dropped: this.droppedSinceLog,
        failedTotal: this.failed,
        tenantId,
        lossPolicy: this.lossPolicy(tenantId),
        buffered: this.spool ? this.spool.records : this.count,
        spooledBytes: this.spool?.bytes,
        maxBufferedEvents: this.options.maxBufferedEvents,
        maxBufferedBytes: this.options.maxBufferedBytes,
      },
    );
    this.lastOverflowLog = now;
    this.droppedSinceLog = 0;
  }

  private schedule(): void {
    if (this.draining || this.timer) return;
    const delay = this.count >= this.options.maxBatchSize || this.lagging ? 0 : this.options.lingerMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, delay);
  }

  /** The next batch: up to maxBatchSize events and maxBatchBytes, at least one. */
  private nextBatchSize(): number {
    let n = 0;
    let bytes = 0;
    while (n < this.count && n < this.options.maxBatchSize) {
      const size = this.items[this.head + n].bytes;
      if (n > 0 && bytes + size > this.options.maxBatchBytes) break;
      bytes += size;
      n++;
    }
    return n;
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while ((this.count > 0 || this.lagging) && !this.abandoned) {
        if (this.inFlight === 0 && this.count < this.options.maxBatchSize && this.lagging) await this.loadFromSpool();
        if (this.count === 0) continue;
        if (this.inFlight === 0) this.inFlight = this.nextBatchSize();
        const batch = this.items.slice(this.head, this.head + this.inFlight);
        try {
          await this.send(batch);
        } catch (err) {
          if (this.abandoned) return;
          this.onSendFailure(err);
          await sleep(backoffDelay(this.consecutiveFailures, this.options.retry), this.stop.signal);
          continue;
        }
        if (this.abandoned) return;
        this.onSendSuccess(batch);
        // What arrived while the batch was out waits for company too (lingerMs, from finally),
        // unless a flush or close waits for it, the spool is behind, or a full batch is ready.
        // Sent at once, it went out a few events a request under steady load: the linger only
        // ever applied to the first batch after a pause.
        if (this.waiters.length === 0 && !this.closed && !this.lagging && this.count < this.options.maxBatchSize) break;
      }
    } finally {
      this.draining = false;
      if ((this.count > 0 || this.lagging) && !this.abandoned) this.schedule();
    }
  }

  /** Copies the next spooled records (in seq order) behind what memory holds. */
  private async loadFromSpool(): Promise<void> {
    if (!this.spool) return;
    let records;
    try {
      records = await this.spool.read(this.loadedUpTo, this.options.maxBatchSize * 4);
    } catch (err) {
      this.logger.error('event spool read failed: retrying', { ...errorFields(err) });
      await sleep(backoffDelay(1, this.options.retry), this.stop.signal);
      return;
    }
    if (records.length === 0) {
      await sleep(10, this.stop.signal); // appended but not readable yet
      return;
    }
    for (const r of records) {
      this.items.push({ topic: r.topic, key: r.key, value: r.value, bytes: r.bytes, seq: r.seq });
      this.bufferedBytes += r.bytes;
    }
    this.loadedUpTo = records[records.length - 1].seq + 1;
  }

  private onSendSuccess(batch: readonly OutboundMessage[]): void {
    // The log has them: let go of them now, while they are still young, rather than at the
    // next compaction (up to 4,096 events later): kept that long, every event outlived two
    // scavenges and was copied to the old generation, to be collected by a full GC.
    this.items.fill(SENT, this.head, this.head + batch.length);
    this.head += batch.length;
    this.inFlight = 0;
    for (const m of batch) this.bufferedBytes -= m.bytes;
    this.sent += batch.length;
    this.acked += batch.length;
    const lastSeq = batch[batch.length - 1]?.seq;
    if (this.spool && lastSeq !== undefined) {
      try {
        this.spool.ack(lastSeq + 1);
      } catch (err) {
        // Only costs a re-send of these after a restart.
        this.logger.error('event spool ack failed', { ...errorFields(err) });
      }
    }
    if (this.consecutiveFailures > 0) {
      this.logger.warn('event log reachable again: delivering the buffered events', {
        outageMs: Date.now() - this.outageStartedAt,
        failedAttempts: this.consecutiveFailures,
        buffered: this.count,
      });
      this.consecutiveFailures = 0;
    }
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    const done = this.waiters.filter((w) => w.target <= this.acked);
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.target > this.acked);
    for (const w of done) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  private onSendFailure(err: unknown): void {
    this.retries++;
    this.consecutiveFailures++;
    const now = Date.now();
    if (this.consecutiveFailures === 1) {
      this.outageStartedAt = now;
      this.lastOutageLog = now;
      this.logger.warn('event log unreachable: buffering events and retrying', { buffered: this.count, ...errorFields(err) });
    } else if (now - this.lastOutageLog >= OUTAGE_LOG_EVERY_MS) {
      this.lastOutageLog = now;
      this.logger.warn('event log still unreachable: events stay buffered', {
        buffered: this.count,
        failedAttempts: this.consecutiveFailures,
        outageMs: now - this.outageStartedAt,
        ...errorFields(err),
      });
    }
  }
}
