import { StringDecoder } from 'node:string_decoder';
import { Dispatcher, Pool } from 'undici';
import { ANTHROPIC_API_VERSION } from './anthropic-messages.codec';
import { SseEvent, SseFramingError, SseParser } from './sse';
import { UpstreamError } from './upstream.error';

/** Where and how to call one provider deployment (the secret comes from a lease). */
export interface UpstreamTarget {
  /** Base URL including the version prefix, e.g. https://api.openai.com/v1 */
  baseUrl: string;
  apiKey: string;
  /**
   * How the key is presented: `bearer` (OpenAI, Mistral, OpenAI-compatible servers) or
   * `anthropic` (`x-api-key` plus the `anthropic-version` the codecs are written against).
   */
  auth?: 'bearer' | 'anthropic';
}

function authHeaders(target: UpstreamTarget): Record<string, string> {
  if (!target.apiKey) return target.auth === 'anthropic' ? { 'anthropic-version': ANTHROPIC_API_VERSION } : {};
  return target.auth === 'anthropic'
    ? { 'x-api-key': target.apiKey, 'anthropic-version': ANTHROPIC_API_VERSION }
    : { authorization: `Bearer ${target.apiKey}` };
}

/** A lighter stand-in for an AbortSignal on JSON calls (no EventTarget per call). */
export interface Cancellation {
  readonly aborted: boolean;
  /** Registers a listener called once on abort; returns its removal. */
  onAbort(listener: () => void): () => void;
}

export interface UpstreamCallOptions {
  /** Aborts the call (streams and JSON calls). */
  signal?: AbortSignal;
  /** Aborts a JSON call, like signal, without an EventTarget. */
  cancel?: Cancellation;
  /** Time allowed to open the connection (default 10 s). */
  connectTimeoutMs?: number;
  /** Time allowed until the response headers arrive. */
  headersTimeoutMs: number;
  /** Time allowed between two body chunks (a stalled stream fails). */
  bodyTimeoutMs: number;
  /** Extra headers for the provider (e.g. a W3C traceparent). */
  headers?: Record<string, string>;
}

export interface UpstreamJsonResponse {
  status: number;
  body: unknown;
  /** The body as received: forwarded as is when the client speaks the provider's API (no re-serialising). */
  text: string;
}

/**
 * HTTP client for provider APIs (OpenAI, Anthropic, Mistral, vLLM, Ollama, the simulator…),
 * one keep-alive connection pool per origin. It moves JSON and SSE; the codecs translate.
 */
export class OpenAICompatibleClient {
  private readonly pools = new Map<string, Pool>();
  private readonly endpoints = new Map<string, { origin: string; path: string }>();

  // Each open stream holds a connection: the cap must exceed the streams one replica serves at once.
  constructor(private readonly connectionsPerOrigin = 4096) {}

  /**
   * One JSON call on undici's dispatch API: the body is gathered from the socket's chunks
   * (capped) without a stream, an async iterator or a per-call abort listener inside undici —
   * the request path's cheapest form (docs/benchmarks.md).
   */
  async postJson(target: UpstreamTarget, path: string, body: unknown, options: UpstreamCallOptions): Promise<UpstreamJsonResponse> {
    const { status, headers, text } = await new Promise<{ status: number; headers: Buffer[] | string[] | null; text: string }>((resolve, reject) => {
      const signal = options.signal;
      const cancel = options.cancel;
      let abort: ((err: Error) => void) | undefined;
      let status = 0;
      let headers: Buffer[] | string[] | null = null;
      const chunks: Buffer[] = [];
      let size = 0;
      const onAbort = () => abort?.(abortError());
      const isAborted = () => signal?.aborted === true || cancel?.aborted === true;
      if (isAborted()) return reject(new UpstreamError('aborted', 'the upstream call was aborted'));
      signal?.addEventListener('abort', onAbort);
      const unsubscribe = cancel?.onAbort(onAbort);
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        unsubscribe?.();
      };
      this.dispatch(target, path, body, options, {
        onConnect(a) {
          abort = a;
          if (isAborted()) onAbort();
        },
        onHeaders(statusCode, raw) {
          status = statusCode;
          headers = raw;
          return true;
        },
        onData(chunk) {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            abort?.(new UpstreamError('protocol', `the upstream response exceeded ${MAX_RESPONSE_BYTES} bytes`, status));
            return false;
          }
          chunks.push(chunk);
          return true;
        },
        onComplete() {
          done();
          resolve({ status, headers, text: (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)).toString('utf8') });
        },
        onError(err) {
          done();
          reject(toUpstreamError(err));
        },
      });
    });
    if (status >= 400) throw httpErrorOf(status, headerOf(headers, 'retry-after'), text);
    try {
      return { status, body: JSON.parse(text) as unknown, text };
    } catch {
      throw new UpstreamError('protocol', 'upstream answered with a body that is not JSON', status);
    }
  }

  /**
   * Opens an SSE stream, read by read (see DispatchedSse); errors before the first byte are
   * thrown, later ones surface in iteration. On undici's dispatch API, like postJson: the
   * socket's chunks are framed into events as they arrive, without a Readable, its async
   * iterator or an AbortError (with its stack) when the reader stops at the provider's last
   * event (docs/benchmarks.md).
   */
  postStream(target: UpstreamTarget, path: string, body: unknown, options: UpstreamCallOptions): Promise<AsyncIterableIterator<SseRead>> {
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) return reject(new UpstreamError('aborted', 'the upstream call was aborted'));
      const events = new DispatchedSse();
      let status = 0;
      let headers: Buffer[] | string[] | null = null;
      let opened = false;
      const errorBody: Buffer[] = [];
      let errorBytes = 0;
      const onAbort = () => events.abort(abortError());
      signal?.addEventListener('abort', onAbort);
      events.onSettled = () => signal?.removeEventListener('abort', onAbort);
      this.dispatch(target, path, body, options, {
        onConnect(abort) {
          events.abortWith = abort;
          if (signal?.aborted) onAbort();
        },
        onHeaders(statusCode, raw, resume) {
          status = statusCode;
          headers = raw;
          events.resumeWith = resume;
          if (status < 400) {
            opened = true;
            resolve(events);
          }
          return true;
        },
        onData(chunk) {
          if (opened) return events.write(chunk);
          // An error answer: its text names the problem (capped, like a JSON body).
          errorBytes += chunk.length;
          if (errorBytes <= MAX_RESPONSE_BYTES) errorBody.push(chunk);
          return true;
        },
        onComplete() {
          if (opened) return events.end();
          events.onSettled?.();
          reject(httpErrorOf(status, headerOf(headers, 'retry-after'), Buffer.concat(errorBody).toString('utf8')));
        },
        onError(err) {
          if (opened) return events.fail(toUpstreamError(err));
          events.onSettled?.();
          reject(toUpstreamError(err));
        },
      });
    });
  }

  /** One POST of a JSON body on undici's dispatch API, with the call's timeouts. */
  private dispatch(target: UpstreamTarget, path: string, body: unknown, options: UpstreamCallOptions, handler: Dispatcher.DispatchHandlers): void {
    const endpoint = this.endpoint(target.baseUrl, path);
    this.pool(endpoint.origin, options.connectTimeoutMs).dispatch(
      {
        method: 'POST',
        path: endpoint.path,
        headers: requestHeaders(target, options),
        body: JSON.stringify(body),
        headersTimeout: options.headersTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs,
      },
      handler,
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }

  /** One pool per origin and connect timeout (undici sets the connect timeout per pool). */
  private pool(origin: string, connectTimeoutMs = 10_000): Pool {
    const key = `${origin} ${connectTimeoutMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, { connections: this.connectionsPerOrigin, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: connectTimeoutMs } });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Origin and path of base URL + path, parsed once per pair. */
  private endpoint(baseUrl: string, path: string): { origin: string; path: string } {
    const key = `${baseUrl}\n${path}`;
    let known = this.endpoints.get(key);
    if (!known) {
      const url = new URL(baseUrl.replace(/\/$/, '') + path);
      known = { origin: url.origin, path: url.pathname + url.search };
      if (this.endpoints.size >= 10_000) this.endpoints.clear();
      this.endpoints.set(key, known);
    }
    return known;
  }
}

/** What an aborted call fails with inside undici (mapped to UpstreamError 'aborted'). */
const abortError = () => Object.assign(new Error('aborted'), { name: 'AbortError' });

/** Upstream JSON bodies larger than this are refused: memory stays bounded whatever a provider sends. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

function requestHeaders(target: UpstreamTarget, options: UpstreamCallOptions): Record<string, string> {
  return { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...authHeaders(target), ...options.headers };
}

/** One header (lower-case name) from undici's raw list (name, value, name, value…); the last one wins. */
function headerOf(raw: Buffer[] | string[] | null, name: string): string | undefined {
  let value: string | undefined;
  if (!raw) return value;
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toString().toLowerCase() === name) value = raw[i + 1].toString();
  return value;
}

function httpErrorOf(statusCode: number, retryAfter: string | undefined, text: string): UpstreamError {
  let message: string | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const candidate = typeof parsed.error === 'object' ? parsed.error?.message : (parsed.error ?? parsed.message);
    if (typeof candidate === 'string') message = candidate.slice(0, 500);
  } catch {
    message = undefined;
  }
  return new UpstreamError('http', `upstream answered HTTP ${statusCode}`, statusCode, message, retryAfter);
}

function toUpstreamError(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED') return new UpstreamError('aborted', 'the upstream call was aborted');
  if (e.code === 'UND_ERR_CONNECT_TIMEOUT') return new UpstreamError('timeout', 'could not connect to the upstream in time', undefined, undefined, undefined, 'connect');
  if (e.code === 'UND_ERR_HEADERS_TIMEOUT') return new UpstreamError('timeout', 'the upstream did not answer in time', undefined, undefined, undefined, 'headers');
  if (e.code === 'UND_ERR_BODY_TIMEOUT') return new UpstreamError('timeout', 'the upstream stalled mid-response', undefined, undefined, undefined, 'body');
  if (e.code === 'UND_ERR_SOCKET' || e.code === 'UND_ERR_CLOSED') return new UpstreamError('protocol', 'the upstream closed the connection');
  return new UpstreamError('connect', `could not reach the upstream (${e.code ?? 'error'})`);
}

/** Unread text beyond which the provider is paused until the reader catches up. */
const SSE_HIGH_WATER_CHARS = 64 * 1024;
/** How long a stream the reader left may take to finish before its call is aborted. */
const DRAIN_GRACE_MS = 1_000;

/** The events framed from one read of the provider's socket (several when a fast provider sends them together). */
export type SseRead = SseEvent[];

const sumChars = (events: SseRead) => events.reduce((n, e) => n + e.data.length, 0);

/**
 * The events of one streamed response, read by read, fed by undici's dispatch callbacks and
 * read with `for await`: a reader handles what one read of the socket brought at once (one
 * write to its client) instead of an await per event. Reading stays ahead of the network
 * (the provider is paused past SSE_HIGH_WATER_CHARS of unread events and resumed once they
 * are read); events that arrived before a failure are read before it is thrown. A reader
 * that stops early (at the provider's last event, whose response end may still be on the
 * way) lets the response finish unread for up to DRAIN_GRACE_MS, so the connection is kept
 * for the next call; a call still open after that is aborted.
 */
class DispatchedSse implements AsyncIterableIterator<SseRead> {
  abortWith?: (err: Error) => void;
  resumeWith?: () => void;
  /** Called once when the call is over (complete, failed or aborted). */
  onSettled?: () => void;
  private readonly parser = new SseParser();
  private readonly decoder = new StringDecoder('utf8');
  private queue: SseRead[] = [];
  private head = 0;
  private unreadChars = 0;
  private paused = false;
  private complete = false;
  private stopped = false;
  private failure?: UpstreamError;
  private waiter?: { resolve: (r: IteratorResult<SseRead>) => void; reject: (err: unknown) => void };

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** A chunk from the socket; false pauses the provider until the events are read. */
  write(chunk: Buffer): boolean {
    if (this.stopped) return true; // draining what the reader left
    if (this.failure) return false;
    let events: SseRead;
    try {
      events = this.parser.push(this.decoder.write(chunk));
    } catch (err) {
      const failure = err instanceof SseFramingError ? new UpstreamError('protocol', err.message) : toUpstreamError(err);
      this.abort(failure);
      this.fail(failure);
      return false;
    }
    this.enqueue(events);
    this.paused = this.unreadChars > SSE_HIGH_WATER_CHARS;
    return !this.paused;
  }

  end(): void {
    if (this.failure || this.complete) return;
    this.complete = true;
    if (!this.stopped) this.enqueue([...this.parser.push(this.decoder.end()), ...this.parser.end()]);
    this.settle();
    this.wake();
  }

  fail(err: UpstreamError): void {
    if (this.complete || this.failure) return;
    this.failure = err;
    this.settle();
    this.wake();
  }

  /** Aborts the call (a signal, a framing error): undici then reports it through onError. */
  abort(err: Error): void {
    if (!this.complete) this.abortWith?.(err);
  }

  next(): Promise<IteratorResult<SseRead>> {
    if (this.head < this.queue.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.failure) return Promise.reject(this.failure);
    if (this.complete || this.stopped) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<SseRead>> {
    if (!this.stopped) {
      this.stopped = true;
      this.queue = [];
      this.head = 0;
      if (this.paused) {
        this.paused = false;
        this.resumeWith?.();
      }
      if (!this.complete && !this.failure) {
        const timer = setTimeout(() => this.abort(abortError()), DRAIN_GRACE_MS);
        timer.unref();
        const settled = this.onSettled;
        this.onSettled = () => {
          clearTimeout(timer);
          settled?.();
        };
      }
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  private enqueue(events: SseRead): void {
    if (events.length === 0) return;
    this.queue.push(events);
    this.unreadChars += sumChars(events);
    this.wake();
  }

  private take(): SseRead {
    const events = this.queue[this.head++];
    this.unreadChars -= sumChars(events);
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      if (this.paused) {
        this.paused = false;
        this.resumeWith?.();
      }
    }
    return events;
  }

  private wake(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.head < this.queue.length) {
      this.waiter = undefined;
      waiter.resolve({ value: this.take(), done: false });
    } else if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    } else if (this.complete) {
      this.waiter = undefined;
      waiter.resolve({ value: undefined, done: true });
    }
  }

  private settle(): void {
    const settled = this.onSettled;
    this.onSettled = undefined;
    settled?.();
  }
}
