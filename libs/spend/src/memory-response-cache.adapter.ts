import type { CachedResponse, ResponseCache } from './response-cache.port';

export interface MemoryResponseCacheOptions {
  /** Total bytes of stored entries (their JSON, UTF-8); least recently used go first. Default 64 MiB. */
  maxBytes?: number;
  now?: () => number;
}

interface Entry {
  json: string;
  bytes: number;
  expiresAtMs: number;
}

/**
 * In-process LRU with a byte cap and per-entry TTL (embedded mode). A Map keeps insertion
 * order, so re-inserting on a hit makes the first key the least recently used. Hand-written
 * (~40 lines) because the tree's only lru-cache is v5, a transitive dependency without
 * types whose API differs from the current one; entries are stored as JSON so a caller
 * can never mutate a cached answer and the byte count is exact.
 */
export class MemoryResponseCache implements ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxBytes: number;
  private readonly now: () => number;
  private bytes = 0;

  constructor(options: MemoryResponseCacheOptions = {}) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? Date.now;
  }

  get(key: string): Promise<CachedResponse | undefined> {
    const e = this.entries.get(key);
    if (!e) return Promise.resolve(undefined);
    this.entries.delete(key);
    if (e.expiresAtMs <= this.now()) {
      this.bytes -= e.bytes;
      return Promise.resolve(undefined);
    }
    this.entries.set(key, e);
    return Promise.resolve(JSON.parse(e.json) as CachedResponse);
  }

  set(key: string, value: CachedResponse, ttlSeconds: number): Promise<void> {
    const json = JSON.stringify(value);
    const bytes = Buffer.byteLength(json) + Buffer.byteLength(key);
    this.delete(key);
    if (bytes > this.maxBytes || ttlSeconds <= 0) return Promise.resolve();
    this.entries.set(key, { json, bytes, expiresAtMs: this.now() + ttlSeconds * 1000 });
    this.bytes += bytes;
    for (const k of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(k);
    }
    return Promise.resolve();
  }

  /** Bytes held now (for tests and a metric). */
  get sizeBytes(): number {
    return this.bytes;
  }

  close(): Promise<void> {
    this.entries.clear();
    this.bytes = 0;
    return Promise.resolve();
  }

  private delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }
}
