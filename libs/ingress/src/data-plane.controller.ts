import { Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { startServerSpan, traceparentOf } from '@asc/service-kit';
import type { Operation } from './request-context';
import { RequestRunner } from './request-runner';
import type { ResponseSink } from './runner.types';
import type { InboundApi } from './wire-apis';

const tracer = trace.getTracer('asc-ingress');

/** One route: which API shape it speaks and which operation it asks for. */
interface Route {
  api: InboundApi;
  operation: Operation;
  recordApi: string;
}

const ROUTES = {
  openAIChat: { api: 'openai', operation: 'chat.completions', recordApi: 'openai.chat.completions' },
  mistralChat: { api: 'mistral', operation: 'chat.completions', recordApi: 'mistral.chat.completions' },
  anthropicMessages: { api: 'anthropic', operation: 'chat.completions', recordApi: 'anthropic.messages' },
  responses: { api: 'responses', operation: 'chat.completions', recordApi: 'openai.responses' },
  openAIEmbeddings: { api: 'openai', operation: 'embeddings', recordApi: 'openai.embeddings' },
  mistralEmbeddings: { api: 'mistral', operation: 'embeddings', recordApi: 'mistral.embeddings' },
  countTokens: { api: 'anthropic', operation: 'count_tokens', recordApi: 'anthropic.count_tokens' },
  openAIModels: { api: 'openai', operation: 'models', recordApi: 'openai.models' },
  anthropicModels: { api: 'anthropic', operation: 'models', recordApi: 'anthropic.models' },
  mistralModels: { api: 'mistral', operation: 'models', recordApi: 'mistral.models' },
} as const satisfies Record<string, Route>;

/**
 * The data plane's route table, in every client's API: OpenAI (chat completions, responses,
 * embeddings, models), Anthropic (messages, count_tokens, models) and Mistral under
 * `/mistral` (its SDKs take a server URL, and its paths collide with OpenAI's). Every route
 * hands its request to the one request runner.
 */
@Controller()
export class DataPlaneController {
  constructor(private readonly runner: RequestRunner) {}

  @Post('v1/chat/completions') @HttpCode(200) openAIChat(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.openAIChat, q, r); }
  @Post('mistral/v1/chat/completions') @HttpCode(200) mistralChat(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.mistralChat, q, r); }
  @Post('v1/messages') @HttpCode(200) anthropicMessages(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.anthropicMessages, q, r); }
  @Post('v1/responses') @HttpCode(200) responses(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.responses, q, r); }
  @Post('v1/embeddings') @HttpCode(200) openAIEmbeddings(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.openAIEmbeddings, q, r); }
  @Post('mistral/v1/embeddings') @HttpCode(200) mistralEmbeddings(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.mistralEmbeddings, q, r); }
  @Post('v1/messages/count_tokens') @HttpCode(200) countTokens(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.countTokens, q, r); }
  /** OpenAI's model list, or Anthropic's when the client sends `anthropic-version` (the Anthropic SDK does). */
  @Get('v1/models') models(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(q.headers['anthropic-version'] ? ROUTES.anthropicModels : ROUTES.openAIModels, q, r); }
  @Get('mistral/v1/models') mistralModels(@Req() q: FastifyRequest, @Res() r: FastifyReply) { return this.run(ROUTES.mistralModels, q, r); }

  private async run(route: Route, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const span = startServerSpan(tracer, `${request.method} ${request.routeOptions.url ?? request.url}`, request.headers);
    const ctx = await this.runner.run(
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
    );
    if (ctx.httpStatus >= 400 || ctx.status === 'upstream_error') span.setStatus({ code: SpanStatusCode.ERROR, message: ctx.reasonCode });
    span.setAttribute('asc.tenant_id', ctx.principal?.tenantId ?? '');
    span.end();
  }
}

/** JSON through Fastify; server-sent events over the raw response, honouring backpressure. */
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
    async json(status, body, headers) {
      if (closed || reply.sent) return;
      started = true;
      await reply.headers(headers).code(status).send(body);
    },
    openStream(headers) {
      started = true;
      reply.hijack();
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers });
    },
    write(text) {
      if (!closed) raw.write(text);
    },
    end() {
      if (!closed) raw.end();
    },
    get started() {
      return started || raw.headersSent;
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
    get closed() {
      return closed;
    },
    onClose(listener) {
      listeners.push(listener);
    },
  };
}
