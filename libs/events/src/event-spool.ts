import { closeSync, fdatasync, fdatasyncSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { open, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { EventBusError } from './event-bus.error';
import { errorFields } from './event-bus.logger';
import type { EventBusLogger } from './event-bus.port';
import { isEventTopic, type EventTopic } from './event-map';

/** One serialized event as the spool keeps it. `seq` orders every record ever appended to this spool directory. */
export interface SpooledRecord {
  seq: number;
  topic: EventTopic;
  key: string;
  value: string;
  bytes: number;
}

export interface EventSpoolOptions {
  /** Directory of this spool (one per publishing process; created if missing). */
  dir: string;
  /** Cap on the bytes held (written and not yet acknowledged by the log). Default 1 GiB. */
  maxBytes?: number;
  /** A segment file is closed and a new one started beyond this size. Default 8 MiB. */
  segmentBytes?: number;
  /** Appended records are written and fdatasync'ed together at most this often. Default 20 ms. */
  fsyncIntervalMs?: number;
}

interface Segment {
  firstSeq: number;
  /** Records in the segment (written or pending). */
  records: number;
  /** Bytes written to the file so far. */
  bytes: number;
}

const SEGMENT = /^seg-(\d{16})\.log$/;
const ACK_FILE = 'ack';
/** How often at most the ack position is written to disk. */
const ACK_RECORD_MS = 100;

function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.log`;
}

/**
 * One record per line: `topic TAB "key" TAB value`. The value is a serialized event (JSON
 * text, which never holds a raw newline) and is written as is: encoding it as a JSON string
 * again escaped every quote of it on the request thread. A value with a newline (not an
 * event from serializeEvent) falls back to the older `["topic","key","value"]` line, which
 * decodeLine still reads (spools left by an earlier version).
 */
function encodeLine(topic: EventTopic, key: string, value: string): string {
  if (value.includes('\n')) return `${JSON.stringify([topic, key, value])}\n`;
  return `${topic}\t${JSON.stringify(key)}\t${value}\n`;
}

function decodeLine(line: string): { topic: EventTopic; key: string; value: string } | undefined {
  if (!line.startsWith('[')) {
    const a = line.indexOf('\t');
    const b = a === -1 ? -1 : line.indexOf('\t', a + 1);
    if (b === -1) return undefined;
    const topic = line.slice(0, a);
    let key: unknown;
    try {
      key = JSON.parse(line.slice(a + 1, b));
    } catch {
      return undefined;
    }
    const value = line.slice(b + 1);
    if (!isEventTopic(topic) || typeof key !== 'string' || !value) return undefined;
    return { topic, key, value };
  }
  try {
    const parsed: unknown = JSON.parse(line);
    if (!Array.isArray(parsed) || parsed.length !== 3) return undefined;
    const [topic, key, value] = parsed as unknown[];
    if (!isEventTopic(topic) || typeof key !== 'string' || typeof value !== 'string') return undefined;
    return { topic, key, value };
  } catch {
    return undefined;
  }
}

/**
 * A durable, size-capped FIFO of serialized events on local disk: the publisher's
 * write-ahead log while the event log is slow or down, and what a restarted process
 * replays first.
 *
 * Layout: `seg-<first seq>.log` files of JSON lines `[topic, key, value]`, and `ack`
 * holding the seq below which everything was acknowledged by the log. Each append is
 * written to the file at once (to the page cache: a killed process loses nothing it
 * appended); the fdatasync is batched every fsyncIntervalMs, so a machine crash loses at
 * most the last interval. A torn last line (crash mid-write) is cut at open.
 * Acknowledgements are recorded (at most every 100 ms) by renaming a new `ack` file into
 * place; a crash between a send and its record re-sends those records
 * (at-least-once: consumers deduplicate on event id). Fully acknowledged segments are
 * deleted.
 */
export class EventSpool {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly fsyncIntervalMs: number;
  private segments: Segment[] = [];
  private ackSeq = 0;
  private nextSeqValue = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Written to the page cache since the last fdatasync. */
  private unsynced = false;
  private writeFailing = false;
  private writing?: Promise<void>;
  /** Descriptors with an fdatasync in flight, and those to close once it returns. */
  private readonly fsyncing = new Set<number>();
  private readonly closeAfterFsync = new Set<number>();
  private timer?: NodeJS.Timeout;
  private ackTimer?: NodeJS.Timeout;
  private ackWrite?: Promise<void>;
  /** The ack position last written to the `ack` file. */
  private recordedAckSeq = 0;
  private fd?: number;
  private reader?: { handle: FileHandle; firstSeq: number; seq: number; offset: number };
  private closed = false;
  /** Line sizes of the held records, oldest first, from sizesHead on. */
  private sizes: number[] = [];
  private sizesHead = 0;
  private unackedBytes = 0;
  /** Deletions of spent segments, in order (close waits for them). */
  private removing: Promise<void> = Promise.resolve();

  constructor(
    options: EventSpoolOptions,
    private readonly logger: EventBusLogger,
  ) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
    this.segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? 20;
    mkdirSync(this.dir, { recursive: true });
    this.recover();
  }

  /** Seq of the next record appended: records [ackedSeq, nextSeq) are held. */
  get nextSeq(): number {
    return this.nextSeqValue;
  }

  get ackedSeq(): number {
    return this.ackSeq;
  }

  /** Records held (appended and not yet acknowledged). */
  get records(): number {
    return this.nextSeqValue - this.ackSeq;
  }

  /** Bytes of the records held (what the cap bounds; the disk holds at most one segment more). */
  get bytes(): number {
    return this.unackedBytes;
  }

  /** True when `bytes` more would exceed the cap. */
  wouldOverflow(bytes: number): boolean {
    return this.bytes + bytes > this.maxBytes;
  }

  get capacityBytes(): number {
    return this.maxBytes;
  }

  /** Appends one record; returns its seq, or undefined when the cap would be exceeded. Survives a process kill at once, a machine crash within fsyncIntervalMs. */
  append(topic: EventTopic, key: string, value: string): number | undefined {
    if (this.closed) throw new EventBusError('bus_closed', 'spool closed');
    const line = encodeLine(topic, key, value);
    const bytes = Buffer.byteLength(line);
    if (this.wouldOverflow(bytes)) return undefined;
    let tail = this.segments[this.segments.length - 1];
    if (!tail || (tail.bytes + this.pendingBytes > this.segmentBytes && tail.records > 0)) {
      this.flushPendingSync(); // the old tail gets everything meant for it before the new one starts
      tail = { firstSeq: this.nextSeqValue, records: 0, bytes: 0 };
      this.segments.push(tail);
      this.openTail();
    }
    this.pending.push(line);
    this.pendingBytes += bytes;
    this.sizes.push(bytes);
    this.unackedBytes += bytes;
    tail.records++;
    const seq = this.nextSeqValue++;
    // To the page cache now, not at the next sync: the caller answers its request right after,
    // and a SIGKILL in the next fsyncIntervalMs must not lose an answered request's event
    // (found by the ingress-kill drill, tools/drills). A failed write stays pending; sync() retries.
    try {
      this.writePending();
      this.writeFailing = false;
    } catch (err) {
      if (!this.writeFailing) this.logger.error('event spool write failed: records stay in memory and are retried', { dir: this.dir, ...errorFields(err) });
      this.writeFailing = true;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, this.fsyncIntervalMs);
    return seq;
  }

  /**
   * Writes whatever is still pending and fdatasyncs what was written; resolves when it is on
   * disk. The fdatasync runs on libuv's pool, so the event loop never waits for the disk
   * (measured: a synchronous one every 20 ms cost ~1.4 ms of ingress p50).
   */
  async sync(): Promise<void> {
    while (this.writing) await this.writing;
    if ((this.pending.length === 0 && !this.unsynced) || this.fd === undefined) return;
    const fd = this.fd;
    this.writing = (async () => {
      try {
        this.writePending();
        this.unsynced = false;
        this.fsyncing.add(fd);
        await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
      } catch (err) {
        this.logger.error('event spool write failed: records stay in memory and are retried', { dir: this.dir, ...errorFields(err) });
      } finally {
        this.fsyncing.delete(fd);
        if (this.closeAfterFsync.delete(fd)) closeSync(fd);
        this.writing = undefined;
      }
    })();
    await this.writing;
  }

  /**
   * Reads up to `max` records starting at `fromSeq` (which must be >= ackedSeq), in order.
   * Sequential reads are cheap (the reader keeps its file position); anything pending is
   * synced first so the reader only ever sees whole lines.
   */
  async read(fromSeq: number, max: number): Promise<SpooledRecord[]> {
    if (fromSeq < this.ackSeq || fromSeq >= this.nextSeqValue) return [];
    await this.sync();
    const segment = [...this.segments].reverse().find((s) => s.firstSeq <= fromSeq);
    if (!segment) return [];
    if (!this.reader || this.reader.firstSeq !== segment.firstSeq || this.reader.seq > fromSeq) {
      await this.reader?.handle.close().catch(() => undefined);
      const handle = await open(join(this.dir, segmentName(segment.firstSeq)), 'r');
      this.reader = { handle, firstSeq: segment.firstSeq, seq: segment.firstSeq, offset: 0 };
    }
    const reader = this.reader;
    const out: SpooledRecord[] = [];
    const chunk = Buffer.alloc(1024 * 1024);
    while (out.length < max && reader.offset < segment.bytes) {
      const { bytesRead } = await reader.handle.read(chunk, 0, Math.min(chunk.length, segment.bytes - reader.offset), reader.offset);
      if (bytesRead === 0) break;
      let start = 0;
      for (let i = 0; i < bytesRead && out.length < max; i++) {
        if (chunk[i] !== 0x0a) continue;
        const line = chunk.toString('utf8', start, i);
        const lineBytes = i + 1 - start;
        const seq = reader.seq++;
        reader.offset += lineBytes;
        start = i + 1;
        if (seq < fromSeq) continue;
        const record = decodeLine(line);
        if (record) out.push({ seq, ...record, bytes: Buffer.byteLength(record.value) });
        else this.logger.error('event spool: unreadable record skipped', { dir: this.dir, seq });
      }
      if (start === 0) {
        // A line longer than the chunk cannot happen (events are capped far below 1 MiB); stop rather than spin.
        this.logger.error('event spool: oversize line, segment skipped', { dir: this.dir, segment: segment.firstSeq });
        reader.offset = segment.bytes;
        reader.seq = segment.firstSeq + segment.records;
      }
    }
    if (out.length < max && reader.offset >= segment.bytes && segment !== this.segments[this.segments.length - 1]) {
      // End of a closed segment: continue in the next one.
      const more = await this.read(segment.firstSeq + segment.records, max - out.length);
      out.push(...more.filter((r) => r.seq >= fromSeq));
    }
    return out;
  }

  /** Everything below `seq` was acknowledged by the log: records it, frees whole segments. */
  ack(seq: number): void {
    if (seq <= this.ackSeq) return;
    const upTo = Math.min(seq, this.nextSeqValue);
    for (let s = this.ackSeq; s < upTo; s++) this.unackedBytes -= this.sizes[this.sizesHead++] ?? 0;
    if (this.sizesHead > 4096 && this.sizesHead * 2 > this.sizes.length) {
      this.sizes = this.sizes.slice(this.sizesHead);
      this.sizesHead = 0;
    }
    this.ackSeq = upTo;
    this.scheduleAckRecord();
    const caughtUp = this.records === 0 && this.pending.length === 0;
    // Whole segments below the ack go; so does a full tail once everything is acknowledged.
    while (this.segments.length > 0) {
      const head = this.segments[0];
      const isTail = this.segments.length === 1;
      const spent = isTail ? caughtUp && head.bytes >= this.segmentBytes : this.segments[1].firstSeq <= this.ackSeq;
      if (!spent) break;
      if (isTail) this.closeTail();
      this.segments.shift();
      if (this.reader?.firstSeq === head.firstSeq) {
        void this.reader.handle.close().catch(() => undefined);
        this.reader = undefined;
      }
      this.remove(join(this.dir, segmentName(head.firstSeq)));
    }
  }

  /**
   * Deletes a spent segment on libuv's pool: unlinking 8 MiB takes 7–10 ms, 17–20 ms on a busy
   * host, and ran on the request thread once per segment (docs/benchmarks.md, ninth session).
   * One at a time; a segment a crash leaves behind is deleted by the next start (recover).
   */
  private remove(path: string): void {
    this.removing = this.removing.then(() =>
      unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.logger.error('event spool: spent segment not deleted (the next start deletes it)', { dir: this.dir, ...errorFields(err) });
      }),
    );
  }

  /**
   * The ack position goes to disk at most every ACK_RECORD_MS, not on each acknowledgement:
   * a write + rename per Kafka acknowledgement cost ~0.1 ms of the request thread per
   * request in production (docs/benchmarks.md). A crash loses at most that interval of ack
   * progress, so at most that interval's events are sent again at restart — the at-least-once
   * the consumers already deduplicate by event id.
   */
  private scheduleAckRecord(): void {
    if (this.ackTimer || this.closed) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      // Written on libuv's pool: the write + rename never stall the request thread.
      this.ackWrite ??= this.recordAck()
        .catch((err: unknown) => this.logger.error('event spool: ack position not recorded (records may be sent again at restart)', { dir: this.dir, ...errorFields(err) }))
        .finally(() => {
          this.ackWrite = undefined;
          if (this.recordedAckSeq !== this.ackSeq) this.scheduleAckRecord();
        });
    }, ACK_RECORD_MS);
    this.ackTimer.unref();
  }

  private async recordAck(): Promise<void> {
    const seq = this.ackSeq;
    if (seq === this.recordedAckSeq) return;
    const tmp = join(this.dir, `${ACK_FILE}.tmp`);
    await writeFile(tmp, String(seq));
    await rename(tmp, join(this.dir, ACK_FILE));
    this.recordedAckSeq = seq;
  }

  /** Writes what is pending and releases the files; held records stay for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    await this.ackWrite;
    await this.recordAck();
    await this.sync();
    await this.removing;
    this.closed = true;
    this.closeTail();
    await this.reader?.handle.close().catch(() => undefined);
    this.reader = undefined;
  }

  /** Rolling to a new segment (rare): the old tail is written and synced before it is left. */
  private flushPendingSync(): void {
    if ((this.pending.length === 0 && !this.unsynced) || this.fd === undefined) return;
    this.writePending();
    fdatasyncSync(this.fd);
    this.unsynced = false;
  }

  /** Writes the pending records to the tail (page cache); the caller makes them durable. */
  private writePending(): void {
    if (this.pending.length === 0 || this.fd === undefined) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    let written = 0;
    while (written < buf.length) written += writeSync(this.fd, buf, written, buf.length - written);
    const tail = this.segments[this.segments.length - 1];
    tail.bytes += buf.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.unsynced = true;
  }

  private openTail(): void {
    this.closeTail();
    const tail = this.segments[this.segments.length - 1];
    this.fd = openSync(join(this.dir, segmentName(tail.firstSeq)), 'a');
  }

  private closeTail(): void {
    // An fdatasync still running on the pool closes its fd when it returns (never a reused number).
    if (this.fd !== undefined && this.fsyncing.has(this.fd)) this.closeAfterFsync.add(this.fd);
    else if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Reads the directory left by a previous process: segments, ack position, a torn last line. */
  private recover(): void {
    try {
      this.ackSeq = Number(readFileSync(join(this.dir, ACK_FILE), 'utf8').trim()) || 0;
    } catch {
      this.ackSeq = 0;
    }
    this.recordedAckSeq = this.ackSeq;
    const files = readdirSync(this.dir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const [i, firstSeq] of files.entries()) {
      const path = join(this.dir, segmentName(firstSeq));
      const next = files[i + 1];
      if (next !== undefined && next <= this.ackSeq) {
        rmSync(path, { force: true }); // fully acknowledged before the last exit
        continue;
      }
      const data = readFileSync(path);
      const end = data.lastIndexOf(0x0a) + 1;
      if (end < data.length) {
        this.logger.warn('event spool: torn last record cut (crash during a write)', { dir: this.dir, segment: firstSeq, bytes: data.length - end });
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, end);
        closeSync(fd);
      }
      let records = 0;
      let lineStart = 0;
      for (let j = 0; j < end; j++) {
        if (data[j] !== 0x0a) continue;
        if (firstSeq + records >= this.ackSeq) {
          this.sizes.push(j + 1 - lineStart);
          this.unackedBytes += j + 1 - lineStart;
        }
        records++;
        lineStart = j + 1;
      }
      this.segments.push({ firstSeq, records, bytes: end });
    }
    const last = this.segments[this.segments.length - 1];
    this.nextSeqValue = last ? last.firstSeq + last.records : this.ackSeq;
    if (this.ackSeq > this.nextSeqValue) this.ackSeq = this.nextSeqValue;
    if (last) {
      this.fd = openSync(join(this.dir, segmentName(last.firstSeq)), 'a');
      last.bytes = fstatSync(this.fd).size;
    }
    if (this.records > 0) {
      this.logger.warn('event spool: records left by the previous run will be delivered first', { dir: this.dir, records: this.records });
    }
  }
}
