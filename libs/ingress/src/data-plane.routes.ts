import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { startServerSpan, traceparentOf } from '@asc/service-kit';
import { toIngressError } from './ingress.error';
import type { Operation } from './request-context';
import { RequestRunner } from './request-runner';
import type { ResponseSink } from './runner.types';
import { inboundApiOfPath, InboundApi, WIRE_APIS } from './wire-apis';

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
const ROUTES: Array<{ method: 'GET' | 'POST'; url: string; route: (request: FastifyRequest) => Route }> = [
  { method: 'POST', url: '/v1/chat/completions', route: () => route('openai', 'chat.completions', 'openai.chat.completions') },
  { method: 'POST', url: '/mistral/v1/chat/completions', route: () => route('mistral', 'chat.completions', 'mistral.chat.completions') },
  { method: 'POST', url: '/v1/messages', route: () => route('anthropic', 'chat.completions', 'anthropic.messages') },
  { method: 'POST', url: '/v1/responses', route: () => route('responses', 'chat.completions', 'openai.responses') },
  { method: 'POST', url: '/v1/embeddings', route: () => route('openai', 'embeddings', 'openai.embeddings') },
  { method: 'POST', url: '/mistral/v1/embeddings', route: () => route('mistral', 'embeddings', 'mistral.embeddings') },
  { method: 'POST', url: '/v1/messages/count_tokens', route: () => route('anthropic', 'count_tokens', 'anthropic.count_tokens') },
  // OpenAI's model list, or Anthropic's when the client sends `anthropic-version` (the Anthropic SDK does).
  { method: 'GET', url: '/v1/models', route: (q) => (q.headers['anthropic-version'] ? route('anthropic', 'models', 'anthropic.models') : route('openai', 'models', 'openai.models')) },
  { method: 'GET', url: '/mistral/v1/models', route: () => route('mistral', 'models', 'mistral.models') },
];

/**
 * Serves the route table from plain Fastify handlers, each handing its request to the one
 * request runner: the hot path skips Nest's router, parameter resolution and interceptors
 * (measured at ~11 % of ingress CPU under load). Errors raised before a handler runs
 * (malformed JSON, a body over the limit) are answered in the shape of the route's API.
 */
@Injectable()
export class DataPlaneRoutes implements OnModuleInit {
  constructor(
    private readonly runner: RequestRunner,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    for (const r of ROUTES) {
      fastify.route({
        method: r.method,
        url: r.url,
        handler: (request, reply) => this.run(r.route(request), request, reply),
        errorHandler: (error: FastifyError, request, reply) => {
          const api = inboundApiOfPath(request.url, request.headers);
          const e = toIngressError(error);
          void reply.code(e.httpStatus).send(WIRE_APIS[api].encodeError(e.httpStatus, e.code, e.message, e.param));
        },
      });
    }
  }

  private async run(route: Route, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const span = startServerSpan(tracer, `${request.method} ${request.routeOptions.url ?? request.url}`, request.headers);
    // The runner works inside the span: its gRPC calls (policy, routing, secrets) carry it as their parent.
    const ctx = await context.with(trace.setSpan(context.active(), span), () => this.runner.run(
      {
        ...route,
        body: request.body,
        header: (name) => {
          const v = request.headers[name];
          return typeof v === 'string' ? v : undefined;
        },
        traceparent: traceparentOf(span, typeof request.headers.traceparent === 'string' ? request.headers.traceparent : undefined),
        clientAddress: request.ip,
      },
      fastifySink(reply),
    ));
    if (ctx.httpStatus >= 400 || ctx.status === 'upstream_error') span.setStatus({ code: SpanStatusCode.ERROR, message: ctx.reasonCode });
    span.setAttribute('asc.tenant_id', ctx.principal?.tenantId ?? '');
    span.end();
  }
}

/** Answers on the raw response in one writeHead (JSON or server-sent events), honouring backpressure. */
function fastifySink(reply: FastifyReply): ResponseSink {
  const raw = reply.raw;
  let closed = false;
  let started = false;
  const listeners: Array<() => void> = [];
  raw.on('close', () => {
    if (!raw.writableFinished) {
      closed = true;
      for (const l of listeners) l();
    }
  });
  return {
    json(status, body, headers) {
      if (closed || started) return;
      started = true;
      reply.hijack();
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      raw.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      raw.end(text);
    },
    openStream(headers) {
      started = true;
      reply.hijack();
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers });
    },
    write(text) {
      if (!closed) raw.write(text);
    },
    drained() {
      if (closed || !raw.writableNeedDrain) return undefined;
      return new Promise<void>((resolve) => {
        const done = () => {
          raw.off('drain', done);
          raw.off('close', done);
          resolve();
        };
        raw.on('drain', done);
        raw.on('close', done);
      });
    },
    end() {
      if (!closed) raw.end();
    },
    get started() {
      return started || raw.headersSent;
    },
    get closed() {
      return closed;
    },
    onClose(listener) {
      listeners.push(listener);
    },
  };
}
