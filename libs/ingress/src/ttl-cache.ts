/**
 * A bounded map whose entries are fresh for `ttlMs` and may still be served, when the
 * source is failing, until `staleIfErrorMs` (the data plane keeps its last good config
 * while the control plane is down). Insertion-ordered eviction keeps memory flat.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; storedAt: number; expiresAt: number }>();
  /** Loads in flight: concurrent misses of one key share one load (single flight). */
  private readonly loading = new Map<K, Promise<V>>();
  private readonly tokens = new Map<K, object>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly staleIfErrorMs = 0,
    private readonly now: () => number = Date.now,
    /** Which load failures may be answered from a stale entry (default: all). */
    private readonly transient: (err: unknown) => boolean = () => true,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Returns the fresh value, or loads it; on load failure returns a stale value if allowed.
   * One load per key at a time, and a hot entry is refreshed in the background during the
   * last fifth of its life, so under load the source sees one call per key per TTL instead
   * of a burst of misses at every expiry.
   */
  getOrLoad(key: K, load: () => Promise<V>, ttlFor?: (value: V) => number): Promise<V> {
    const entry = this.entries.get(key);
    const now = this.now();
    if (entry && now < entry.expiresAt) {
      if (now >= entry.expiresAt - (entry.expiresAt - entry.storedAt) / 5 && !this.loading.has(key)) {
        this.load(key, load, ttlFor, entry).catch(() => undefined); // refresh-ahead: failures leave the entry to expire
      }
      return Promise.resolve(entry.value);
    }
    return this.loading.get(key) ?? this.load(key, load, ttlFor, entry);
  }

  private load(key: K, load: () => Promise<V>, ttlFor: ((value: V) => number) | undefined, previous: { value: V; storedAt: number } | undefined): Promise<V> {
    const token = {};
    const pending: Promise<V> = (async () => {
      try {
        const value = await load();
        // An invalidation during the load dropped this load: its answer may predate the change.
        if (this.tokens.get(key) === token) this.set(key, value, ttlFor?.(value));
        return value;
      } catch (err) {
        if (err instanceof SourceAnswered) this.entries.delete(key);
        else if (previous && this.now() - previous.storedAt < this.staleIfErrorMs && this.transient(err)) return previous.value;
        throw err;
      } finally {
        if (this.tokens.get(key) === token) {
          this.loading.delete(key);
          this.tokens.delete(key);
        }
      }
    })();
    this.loading.set(key, pending);
    this.tokens.set(key, token);
    return pending;
  }

  /** The fresh value, without loading. */
  peek(key: K): V | undefined {
    const entry = this.entries.get(key);
    return entry && this.now() < entry.expiresAt ? entry.value : undefined;
  }

  set(key: K, value: V, ttlOverrideMs?: number): void {
    const ttl = Math.min(ttlOverrideMs ?? this.ttlMs, this.ttlMs);
    if (ttl <= 0 && this.staleIfErrorMs <= 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    const now = this.now();
    this.entries.set(key, { value, storedAt: now, expiresAt: now + Math.max(0, ttl) });
  }

  delete(key: K): void {
    this.entries.delete(key);
    this.loading.delete(key);
    this.tokens.delete(key);
  }

  /** Drops every entry whose key matches; returns how many were dropped. */
  deleteWhere(matches: (key: K) => boolean): number {
    let dropped = 0;
    for (const key of this.entries.keys()) {
      if (matches(key)) {
        this.entries.delete(key);
        dropped++;
      }
    }
    for (const key of this.loading.keys()) {
      if (matches(key)) {
        this.loading.delete(key);
        this.tokens.delete(key);
      }
    }
    return dropped;
  }

  clear(): void {
    this.entries.clear();
    this.loading.clear();
    this.tokens.clear();
  }
}

/**
 * Thrown by a loader when the source answered but had no value (e.g. "no such key"): not
 * an outage, so no stale value is served and the old entry is dropped.
 */
export class SourceAnswered extends Error {}
