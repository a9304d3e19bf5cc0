import type { Redis } from 'ioredis';
import type { CachedResponse, ResponseCache } from './response-cache.port';

export interface RedisResponseCacheOptions {
  keyPrefix: string;
  /** Entries larger than this are not stored (a cache must not fill Redis with one answer). Default 1 MiB. */
  maxEntryBytes?: number;
  onDegraded?: (err: unknown) => void;
}

/**
 * Response cache in Redis with a TTL per entry (SET … EX). Redis down: every get is a
 * miss and every set is dropped, so the request goes to the provider as if uncached.
 * Redis's own maxmemory policy bounds the total.
 */
export class RedisResponseCache implements ResponseCache {
  constructor(
    private readonly redis: Redis,
    private readonly options: RedisResponseCacheOptions,
  ) {}

  async get(key: string): Promise<CachedResponse | undefined> {
    try {
      const json = await this.redis.get(this.keyOf(key));
      return json === null ? undefined : (JSON.parse(json) as CachedResponse);
    } catch (err) {
      this.options.onDegraded?.(err);
      return undefined;
    }
  }

  async set(key: string, value: CachedResponse, ttlSeconds: number): Promise<void> {
    const json = JSON.stringify(value);
    if (ttlSeconds <= 0 || Buffer.byteLength(json) > (this.options.maxEntryBytes ?? 1024 * 1024)) return;
    try {
      await this.redis.set(this.keyOf(key), json, 'EX', Math.ceil(ttlSeconds));
    } catch (err) {
      this.options.onDegraded?.(err);
    }
  }

  async close(): Promise<void> {
    // The connection belongs to whoever created it (shared by the three spend stores).
  }

  private keyOf(key: string): string {
    // The key starts with the encoded tenant id: hash-tag it like the counters.
    const i = key.indexOf(':');
    return `${this.options.keyPrefix}rc:{${key.slice(0, i)}}${key.slice(i)}`;
  }
}
