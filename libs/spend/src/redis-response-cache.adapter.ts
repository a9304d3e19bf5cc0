import type { Redis } from 'ioredis';
import { LuaScript, type ScriptCall } from './redis-client';
import type { CachedResponse, ResponseCache } from './response-cache.port';

/**
 * Stores answers of one tenant: KEYS = their keys (one hash tag, so one Redis Cluster
 * slot), ARGV = value, TTL in seconds, value, TTL… One command instead of a SET each: the
 * client builds and parses a fraction of the commands (measured: 4 µs of client CPU an
 * answer against 8–10 for pipelined SETs).
 */
const STORE_ANSWERS = new LuaScript(`for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'EX', ARGV[2 * i]) end
return #KEYS`);
/** Expiries in the presence filter are seconds since this instant (small integers). */
const EPOCH_S = Math.floor(Date.now() / 1000);
const seconds = (ms: number) => Math.floor(ms / 1000) - EPOCH_S;

/** A key's slot in the presence filter: FNV-1a, 30 bits (a small integer). */
function slotOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff;
}

/** One store script carries at most this many answers or bytes (a script holds Redis for its whole run). */
const STORE_MAX_KEYS = 64;
const STORE_MAX_BYTES = 1024 * 1024;
/** Answers waiting past this many bytes or answers are sent at once, not after the write delay: what a replica holds stays bounded. */
const PENDING_MAX_BYTES = 4 * 1024 * 1024;
const PENDING_MAX_KEYS = 1024;

export interface RedisResponseCacheOptions {
  keyPrefix: string;
  /** Entries larger than this are not stored (a cache must not fill Redis with one answer). Default 1 MiB. */
  maxEntryBytes?: number;
  onDegraded?: (err: unknown) => void;
  /**
   * A second connection, for the announcements of stored keys (it is put in subscribe
   * mode). With it, a replica knows which keys any replica stored and answers a miss for
   * the others without asking Redis; its writes are sent every `writeDelayMs`, several in
   * one round trip. Without it, every lookup is a GET and every store a SET of its own.
   */
  subscriber?: Redis;
  /**
   * How long a stored answer waits to be sent with others (and announced); default 50 ms.
   * Each write is a system call and wakes Redis: at 10 ms, one request in six paid for one
   * at a single connection (~20 µs a request of ingress CPU, measured); the replica itself
   * answers from what waits, the others miss for this long. Answers past 4 MiB or 1,024
   * waiting are sent at once.
   */
  writeDelayMs?: number;
  /** Keys remembered as stored, at most (the oldest are forgotten: a lookup of one is then a miss); default 100 000. */
  maxKnownKeys?: number;
}

interface Pending {
  json: string;
  ttlSeconds: number;
  /** The key's hash tag (its tenant): answers are written one tenant at a time. */
  tag: string;
}

/**
 * Response cache in Redis with a TTL per entry (SET … EX). Redis down: every get is a
 * miss and every set is dropped, so the request goes to the provider as if uncached.
 * Redis's own maxmemory policy bounds the total.
 *
 * With a subscriber (production), a presence filter takes the lookup of a miss off the
 * request's path: every replica publishes the keys it stores (with their expiry) and
 * remembers the keys all replicas published; a key no replica stored is a miss without a
 * round trip, a known key is read from Redis. Keys stored while this replica was not
 * listening (before it started: a SCAN at start recovers them; during a lost subscription)
 * are misses until stored again — a cache may miss, never answer wrong.
 */
export class RedisResponseCache implements ResponseCache {
  /**
   * The keys stored, by slot (a 30-bit hash of the key), with their expiry in seconds since
   * this module loaded: small integers on both sides, so 100,000 entries are one table and
   * no strings. Two keys sharing a slot make the lookup of the one never stored ask Redis
   * (a miss there), or the one stored first be forgotten at the other's expiry (a miss
   * too): never a wrong answer.
   */
  private readonly known = new Map<number, number>();
  private pending = new Map<string, Pending>();
  private pendingBytes = 0;
  /** Answers being written (by one flush or several), still served from here until they are. */
  private readonly sending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private readonly channel: string;
  private remembered = 0;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisResponseCacheOptions,
  ) {
    this.channel = `${options.keyPrefix}rc-stored`;
    const sub = options.subscriber;
    if (sub) {
      sub.on('error', (err: unknown) => this.options.onDegraded?.(err));
      sub.on('message', (channel: string, message: string) => {
        if (channel === this.channel) this.learn(message);
      });
      void this.listen(sub);
    }
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    const k = this.keyOf(key);
    const local = this.pending.get(k) ?? this.sending.get(k);
    if (local) return JSON.parse(local.json) as CachedResponse;
    if (this.listening()) {
      const expires = this.known.get(slotOf(k));
      if (expires === undefined || expires <= seconds(Date.now())) return undefined; // no replica stored it
    }
    try {
      const json = await this.redis.get(k);
      return json === null ? undefined : (JSON.parse(json) as CachedResponse);
    } catch (err) {
      this.options.onDegraded?.(err);
      return undefined;
    }
  }

  async set(key: string, value: CachedResponse, ttlSeconds: number): Promise<void> {
    const json = JSON.stringify(value);
    if (ttlSeconds <= 0 || Buffer.byteLength(json) > (this.options.maxEntryBytes ?? 1024 * 1024)) return;
    const k = this.keyOf(key);
    if (!this.options.subscriber) {
      try {
        await this.redis.set(k, json, 'EX', Math.ceil(ttlSeconds));
      } catch (err) {
        this.options.onDegraded?.(err);
      }
      return;
    }
    this.pendingBytes += json.length - (this.pending.get(k)?.json.length ?? 0); // an answer stored again replaces the waiting one
    this.pending.set(k, { json, ttlSeconds: Math.ceil(ttlSeconds), tag: key.slice(0, key.indexOf(':')) });
    if (this.pendingBytes >= PENDING_MAX_BYTES || this.pending.size >= PENDING_MAX_KEYS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.writeDelayMs ?? 50);
  }

  /** Sends the stored answers waiting to be written, and announces them. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending.size) return;
    const batch = this.pending;
    this.pending = new Map();
    this.pendingBytes = 0;
    for (const [k, p] of batch) this.sending.set(k, p);
    const now = Date.now();
    const calls: ScriptCall[] = [];
    const open = new Map<string, ScriptCall & { bytes: number }>();
    const lines: string[] = [];
    for (const [k, p] of batch) {
      let call = open.get(p.tag);
      if (!call || call.keys.length >= STORE_MAX_KEYS || call.bytes + p.json.length > STORE_MAX_BYTES) {
        call = { keys: [], args: [], bytes: 0 };
        open.set(p.tag, call);
        calls.push(call);
      }
      call.keys.push(k);
      call.args.push(p.json, p.ttlSeconds);
      call.bytes += p.json.length;
      lines.push(`${now + p.ttlSeconds * 1000} ${k}`);
    }
    // Sent in one round trip (auto-pipelining); the announcement follows the writes, so a
    // replica that reads a key on it finds the answer — or a miss, if a write failed or had
    // to load its script first (NOSCRIPT: the EVAL goes out after the announcement).
    const writes = calls.map((c) => STORE_ANSWERS.run(this.redis, c.keys, c.args));
    writes.push(this.redis.publish(this.channel, lines.join('\n')));
    try {
      const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
      if (failed) this.options.onDegraded?.(failed.reason);
    } finally {
      // Only this batch's answers: a flush started meanwhile (the bound reached) holds its own.
      for (const [k, p] of batch) if (this.sending.get(k) === p) this.sending.delete(k);
    }
  }

  async close(): Promise<void> {
    // The main connection belongs to whoever created it (shared by the three spend stores).
    await this.flush();
    this.options.subscriber?.disconnect();
  }

  private listening(): boolean {
    return this.options.subscriber?.status === 'ready';
  }

  /** Subscribes, then learns the keys already stored (a SCAN: stored before this replica listened). */
  private async listen(sub: Redis): Promise<void> {
    try {
      if (sub.status === 'wait') await sub.connect();
      await sub.subscribe(this.channel);
      const match = `${this.options.keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}rc:*`;
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        if (!keys.length) continue;
        const ttls = ((await this.redis.pipeline(keys.map((k) => ['pttl', k])).exec()) ?? []).map(([, v]) => Number(v));
        const now = Date.now();
        keys.forEach((k, i) => ttls[i] > 0 && this.remember(k, now + ttls[i]));
      } while (cursor !== '0' && this.known.size < (this.options.maxKnownKeys ?? 100_000));
    } catch (err) {
      // Not listening: every lookup asks Redis (ioredis subscribes again when it reconnects).
      this.options.onDegraded?.(err);
    }
  }

  private learn(message: string): void {
    for (const line of message.split('\n')) {
      const space = line.indexOf(' ');
      if (space > 0) this.remember(line.slice(space + 1), Number(line.slice(0, space)));
    }
  }

  private remember(k: string, expiresAtMs: number): void {
    const slot = slotOf(k);
    const expires = Math.ceil(expiresAtMs / 1000) - EPOCH_S;
    this.known.delete(slot);
    this.known.set(slot, expires);
    const max = this.options.maxKnownKeys ?? 100_000;
    if (this.known.size > max || ++this.remembered % 1024 === 0) {
      // Oldest first (insertion order): drop past the cap, and the expired at the front.
      const now = seconds(Date.now());
      for (const [s, exp] of this.known) {
        if (this.known.size <= max && exp > now) break;
        this.known.delete(s);
      }
    }
  }

  private keyOf(key: string): string {
    // The key starts with the encoded tenant id: hash-tag it like the counters.
    const i = key.indexOf(':');
    return `${this.options.keyPrefix}rc:{${key.slice(0, i)}}${key.slice(i)}`;
  }
}
