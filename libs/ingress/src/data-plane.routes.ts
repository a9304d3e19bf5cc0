import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { startServerSpan, traceparentOf } from '@asc/service-kit';
import { IngressError, toIngressError } from './ingress.error';
import { newRequestId, type Operation } from './request-context';
import { RequestRunner } from './request-runner';
import type { ResponseSink } from './runner.types';
import { InboundApi, WIRE_APIS } from './wire-apis';

const tracer = trace.getTracer('asc-ingress');

/** One route: which API shape it speaks and which operation it asks for. */
interface Route {
  api: InboundApi;
  operation: Operation;
  recordApi: string;
}

const route = (api: InboundApi, operation: Operation, recordApi: string): Route => ({ api, operation, recordApi });

/**
 * The data plane's route table, in every client's API: OpenAI (chat completions, responses,
 * embeddings, models), Anthropic (messages, count_tokens, models) and Mistral under
 * `/mistral` (its SDKs take a server URL, and its paths collide with OpenAI's).
 */
const ROUTES: Array<{ method: 'GET' | 'POST'; url: string; route: (headers: IncomingHttpHeaders) => Route }> = [
  { method: 'POST', url: '/v1/chat/completions', route: () => route('openai', 'chat.completions', 'openai.chat.completions') },
  { method: 'POST', url: '/mistral/v1/chat/completions', route: () => route('mistral', 'chat.completions', 'mistral.chat.completions') },
  { method: 'POST', url: '/v1/messages', route: () => route('anthropic', 'chat.completions', 'anthropic.messages') },
  { method: 'POST', url: '/v1/responses', route: () => route('responses', 'chat.completions', 'openai.responses') },
  { method: 'POST', url: '/v1/embeddings', route: () => route('openai', 'embeddings', 'openai.embeddings') },
  { method: 'POST', url: '/mistral/v1/embeddings', route: () => route('mistral', 'embeddings', 'mistral.embeddings') },
  { method: 'POST', url: '/v1/messages/count_tokens', route: () => route('anthropic', 'count_tokens', 'anthropic.count_tokens') },
  // OpenAI's model list, or Anthropic's when the client sends `anthropic-version` (the Anthropic SDK does).
  { method: 'GET', url: '/v1/models', route: (h) => (h['anthropic-version'] ? route('anthropic', 'models', 'anthropic.models') : route('openai', 'models', 'openai.models')) },
  { method: 'GET', url: '/mistral/v1/models', route: () => route('mistral', 'models', 'mistral.models') },
];

const TABLE = new Map(ROUTES.map((r) => [`${r.method} ${r.url}`, r.route]));

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Serves the route table straight from Node's HTTP server, each request handed to the one
 * request runner; every other path (and method) goes on to Fastify (its 404s). The hot path
 * skips the framework's request lifecycle — Nest's router and interceptors, Fastify's hooks,
 * its request/reply objects and async-resource binding: together ~12 % of ingress CPU per
 * request (docs/benchmarks.md). What the framework did here is done here: a body limit
 * (413), JSON only (415), and JSON parsed with secure-json-parse as Fastify does (prototype
 * poisoning refused), each failure answered in the shape of the route's API.
 */
@Injectable()
export class DataPlaneRoutes implements OnModuleInit {
  private bodyLimit = 1024 * 1024;

  constructor(
    private readonly runner: RequestRunner,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    this.bodyLimit = fastify.initialConfig.bodyLimit ?? this.bodyLimit;
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    const framework = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const routeOf = TABLE.get(`${req.method} ${q === -1 ? url : url.slice(0, q)}`);
      if (routeOf) void this.serve(routeOf(req.headers), req, res);
      else for (const listener of framework) listener.call(server, req, res);
    });
  }

  private async serve(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = await readJsonBody(req, this.bodyLimit);
    } catch (err) {
      const e = toIngressError(err);
      if (res.destroyed) return;
      const text = JSON.stringify(WIRE_APIS[route.api].encodeError(e.httpStatus, e.code, e.message, e.param));
      // A body left unread cannot share the connection with the next request.
      const requestId = newRequestId();
      res.writeHead(e.httpStatus, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'x-request-id': requestId,
        'request-id': requestId,
        connection: 'close',
      });
      res.end(text);
      return;
    }
    const path = req.url ?? '';
    const span = startServerSpan(tracer, `${req.method} ${path.split('?')[0]}`, req.headers);
    const headers = req.headers;
    // The runner works inside the span: its gRPC calls (policy, routing, secrets) carry it as their parent.
    const ctx = await context.with(trace.setSpan(context.active(), span), () =>
      this.runner.run(
      {
        ...route,
        body,
        header: (name) => {
          const v = headers[name];
          return typeof v === 'string' ? v : undefined;
        },
        traceparent: traceparentOf(span, typeof headers.traceparent === 'string' ? headers.traceparent : undefined),
        clientAddress: req.socket.remoteAddress,
        connection: req.socket,
      },
      rawSink(res),
      ),
    );
    if (ctx.httpStatus >= 400 || ctx.status === 'upstream_error') span.setStatus({ code: SpanStatusCode.ERROR, message: ctx.reasonCode });
    span.setAttribute('asc.tenant_id', ctx.principal?.tenantId ?? '');
    span.end();
  }
}

/** A client error found while reading the body (answered with its status in the route's API shape). */
class BodyError extends IngressError {}

/**
 * The request body as JSON: at most `limit` bytes (413 beyond, before reading when the
 * length is declared), only with a JSON content type (415), never empty when it claims
 * JSON (400). No body and no content type (a GET) is `undefined`.
 */
function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'];
  const declared = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (declared !== undefined && declared !== '0');
  if (!type && !hasBody) {
    req.resume();
    return Promise.resolve(undefined);
  }
  if (!type || !isJson(type)) {
    return Promise.reject(new BodyError('unsupported_media_type', `unsupported media type${type ? `: ${type.slice(0, 100)}` : ''}; send the body as application/json`, 415));
  }
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('error', reject);
    req.once('end', () => {
      if (size > limit) return;
      if (size === 0) return reject(new BodyError('invalid_request', 'the request body is empty; send a JSON object', 400));
      const text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)).toString('utf8');
      try {
        resolve(secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
      } catch {
        // Never echo the body: a parser's message quotes it.
        reject(new BodyError('invalid_request', 'the request body is not valid JSON', 400));
      }
    });
  });
}

const tooLarge = () => new BodyError('request_too_large', 'the request body is larger than this gateway accepts', 413);

function isJson(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const mime = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return mime === 'application/json';
}

/** Answers on the response in one writeHead (JSON or server-sent events), honouring backpressure. */
export function rawSink(raw: ServerResponse): ResponseSink {
  return new RawSink(raw);
}

/**
 * A class, not an object literal: a literal with getters (`get started()`) makes a pair of
 * accessors for every object, and V8 puts those in the old generation at once. Dead after
 * the request but only collected by a full GC, they kept the response, its headers and all
 * they reference alive through every scavenge until then: ~6–8 KB a request was copied to
 * the old generation, and scavenges took 7–9 % of the ingress thread (docs/benchmarks.md,
 * twelfth session). The prototype's getters are made once.
 */
class RawSink implements ResponseSink {
  private isClosed = false;
  private isStarted = false;
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly raw: ServerResponse) {
    raw.on('close', () => {
      if (!raw.writableFinished) {
        this.isClosed = true;
        for (const l of this.listeners) l();
      }
    });
  }

  json(status: number, body: unknown, headers: Record<string, string>): void {
    if (this.isClosed || this.isStarted) return;
    this.isStarted = true;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(text));
    this.raw.writeHead(status, headers);
    this.raw.end(text);
  }

  openStream(headers: Record<string, string>): void {
    this.isStarted = true;
    this.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers });
  }

  write(text: string): void {
    if (!this.isClosed) this.raw.write(text);
  }

  flush(): void {
    // Node's HTTP response corks its socket on a write and uncorks on the next tick.
    const socket = this.raw.socket;
    if (!this.isClosed && socket?.writableCorked) socket.uncork();
  }

  drained(): Promise<void> | undefined {
    const raw = this.raw;
    if (this.isClosed || !raw.writableNeedDrain) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      raw.on('drain', done);
      raw.on('close', done);
    });
  }

  end(): void {
    if (!this.isClosed) this.raw.end();
  }

  get started(): boolean {
    return this.isStarted || this.raw.headersSent;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  onClose(listener: () => void): void {
    this.listeners.push(listener);
  }
}
