/** Providers whose wire formats the simulator speaks. */
export type ProviderId = 'openai' | 'anthropic' | 'mistral';

/** Stable identifiers of the simulated endpoints, used as keys of `stats().byRoute`. */
export type RouteId =
  | 'openai.chat.completions'
  | 'openai.embeddings'
  | 'openai.responses'
  | 'openai.models'
  | 'anthropic.messages'
  | 'anthropic.count_tokens'
  | 'anthropic.models'
  | 'mistral.chat.completions'
  | 'mistral.embeddings'
  | 'mistral.models'
  | 'unknown';

/**
 * A fault: an HTTP status answered in the provider's error shape (e.g. 429, 500, 503, 529),
 * or a transport-level failure.
 * - `timeout`: accept the request and never answer (until the client or `close()` gives up).
 * - `disconnect`: drop the connection without a response.
 * - `disconnect-midstream`: send the headers and part of the body/stream, then drop.
 * - `error-midstream`: start a stream normally, then send the provider's in-band error event.
 */
export type FaultMode = number | 'timeout' | 'disconnect' | 'disconnect-midstream' | 'error-midstream';

export interface SimulatorOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Delay before the response headers of every request (ms). */
  latencyMs?: number;
  /** Extra delay before the first generated token (ms). */
  ttftMs?: number;
  /** Output pace; 0 or unset = as fast as possible. */
  tokensPerSec?: number;
  /**
   * When pacing, the minimum gap between socket writes (ms); events that fall due meanwhile
   * are sent together. 0 (default) = one write per token, exact inter-token timing; raise it
   * (e.g. 20) to cut the simulator's syscall cost when it must pace thousands of streams.
   */
  chunkIntervalMs?: number;
  /** Accepted API keys; unset = any non-empty key. */
  acceptedKeys?: string[];
  /** Serve requests that present no key at all, like a self-hosted vLLM or Ollama started without one; default false. */
  anonymous?: boolean;
  /** Embedding size when the request does not ask for one; default 1536 (OpenAI), 1024 (Mistral). */
  embeddingDims?: number;
  /** Server-wide fault injected into API requests (see FaultMode). */
  fail?: FaultMode;
  /** Share of requests that get `fail`, spread deterministically (0.1 = every 10th); default 1. */
  failRate?: number;
  /** Retry-After seconds sent with 429 (default 1) and with other faults when set. */
  retryAfterSec?: number;
  /** Words in every text reply, overriding the prompt-derived length. */
  replyWords?: number;
  /** What every text reply echoes instead of the prompt (a reply with content the prompt did not have). */
  replyText?: string;
  /** How many recent requests `requests()` keeps; default 200. */
  recordLimit?: number;
}

/** Options that can be changed on a running simulator with `configure()`. */
export type SimulatorRuntimeOptions = Omit<SimulatorOptions, 'port' | 'host'>;

export interface SimulatorStats {
  /** API requests received (admin /_sim/* calls excluded). */
  total: number;
  byRoute: Partial<Record<RouteId, number>>;
  /** Final outcome per request: HTTP status as a string, or 'timeout' / 'disconnect' / 'aborted'. */
  byStatus: Record<string, number>;
  streams: number;
  faultsInjected: number;
  inFlight: number;
}

/** One received API request, kept for assertions (credentials are never stored, only a fingerprint). */
export interface SimulatorRequestRecord {
  at: number;
  route: RouteId;
  method: string;
  path: string;
  /** Request headers minus authorization / x-api-key. */
  headers: Record<string, string>;
  /** sha256 of the presented API key, first 16 hex chars; see `keyFingerprint()`. */
  keyFingerprint: string | null;
  body: unknown;
  model: string | null;
  stream: boolean;
  /** HTTP status, or 'timeout' / 'disconnect' / 'aborted'; null while in flight. */
  outcome: string | null;
  /**
   * The usage the response reports when delivered whole (input includes cached tokens);
   * null for errors and for responses that report none.
   */
  reportedUsage: { inputTokens: number; outputTokens: number; cachedInputTokens: number } | null;
}

export interface SimulatorHandle {
  /** Base URL, e.g. http://127.0.0.1:43123 (no trailing slash). */
  url: string;
  port: number;
  /** SDK base URLs for this server. */
  baseUrls: { openai: string; anthropic: string; mistral: string };
  stats(): SimulatorStats;
  /** Most recent requests, oldest first. */
  requests(): SimulatorRequestRecord[];
  /** Zeroes the counters and forgets recorded requests and fail-times budgets. */
  reset(): void;
  /** Changes timing / fault / auth settings of the running server. */
  configure(patch: SimulatorRuntimeOptions): void;
  close(): Promise<void>;
}
