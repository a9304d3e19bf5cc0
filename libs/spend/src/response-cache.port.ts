/** The usage a cached answer was produced with (metered on a hit as the cost saved). */
export interface CachedUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  costUsd: number;
}

/**
 * A canonical (API-neutral) chat response and its usage. The runner encodes it into the
 * caller's API shape, as a JSON body or as a stream of events, so one entry serves both
 * streamed and non-streamed requests.
 */
export interface CachedResponse {
  /** The canonical response, as JSON-serialisable data. */
  response: unknown;
  usage: CachedUsage;
  /** The deployment's model that produced it. */
  servedModel: string;
  createdAtMs: number;
}

/**
 * An exact-match response cache. Keys come from responseCacheKey (tenant first: an entry
 * is never visible to another tenant). A cache never fails a request: adapters answer a
 * miss when their backend is down and drop writes they cannot make.
 */
export interface ResponseCache {
  get(key: string): Promise<CachedResponse | undefined>;
  set(key: string, value: CachedResponse, ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}
