/**
 * A bounded map whose entries are fresh for `ttlMs` and may still be served, when the
 * source is failing, until `staleIfErrorMs` (the data plane keeps its last good config
 * while the control plane is down). Insertion-ordered eviction keeps memory flat.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; storedAt: number; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly staleIfErrorMs = 0,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Returns the fresh value, or loads it; on load failure returns a stale value if allowed. */
  async getOrLoad(key: K, load: () => Promise<V>, ttlFor?: (value: V) => number): Promise<V> {
    const entry = this.entries.get(key);
    const now = this.now();
    if (entry && now < entry.expiresAt) return entry.value;
    try {
      const value = await load();
      this.set(key, value, ttlFor?.(value));
      return value;
    } catch (err) {
      if (entry && now - entry.storedAt < this.staleIfErrorMs && !(err instanceof SourceAnswered)) return entry.value;
      if (err instanceof SourceAnswered) this.entries.delete(key);
      throw err;
    }
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
    return dropped;
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * Thrown by a loader when the source answered but had no value (e.g. "no such key"): not
 * an outage, so no stale value is served and the old entry is dropped.
 */
export class SourceAnswered extends Error {}
