import { Controller, Get, HttpCode, Logger, Post, Req, Res } from '@nestjs/common';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { startServerSpan, traceparentOf } from '@asc/service-kit';
import { CatalogService, EmbeddingsApi } from './catalog.service';
import type { Principal } from './control-plane.port';
import { GatewayService, StreamSink } from './gateway.service';
import { INBOUND, InboundApi, parseInboundChat } from './inbound-apis';
import { IngressError, toIngressError } from './ingress.error';
import { beginRecord, RequestRecord } from './request-record';

const tracer = trace.getTracer('asc-ingress');
const logger = new Logger('DataPlane');

/** An unexpected failure: the client sees a generic 500, operators get the name and message (never request bodies). */
function logUnexpected(requestId: string, err: unknown): void {
  const e = err as { name?: string; message?: string };
  logger.error(`request ${requestId} failed unexpectedly: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`);
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** Anthropic's API refuses a request without a version; its SDKs always send one. */
function requireAnthropicVersion(request: FastifyRequest): void {
  const version = header(request, 'anthropic-version');
  if (!version) throw new IngressError('missing_anthropic_version', 'anthropic-version: header is required', 400);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(version)) throw new IngressError('invalid_anthropic_version', `anthropic-version: ${version.slice(0, 40)} is not a valid version`, 400);
}

interface Handled {
  record: RequestRecord;
  principal: Principal;
}

/**
 * The data plane in every client's API: OpenAI (chat completions, responses, embeddings,
 * models), Anthropic (messages, count_tokens, models) and Mistral under `/mistral`
 * (its SDKs take a server URL, and its paths collide with OpenAI's). Errors are answered
 * in the shape of the API the client called.
 */
@Controller()
export class DataPlaneController {
  constructor(
    private readonly gateway: GatewayService,
    private readonly catalog: CatalogService,
  ) {}

  @Post('v1/chat/completions')
  @HttpCode(200)
  openAIChat(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.chat(request, reply, 'openai', 'openai.chat.completions');
  }

  @Post('mistral/v1/chat/completions')
  @HttpCode(200)
  mistralChat(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.chat(request, reply, 'mistral', 'mistral.chat.completions');
  }

  @Post('v1/messages')
  @HttpCode(200)
  anthropicMessages(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.chat(request, reply, 'anthropic', 'anthropic.messages');
  }

  @Post('v1/responses')
  @HttpCode(200)
  responses(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.chat(request, reply, 'responses', 'openai.responses');
  }

  @Post('v1/embeddings')
  @HttpCode(200)
  openAIEmbeddings(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.embeddings(request, reply, 'openai');
  }

  @Post('mistral/v1/embeddings')
  @HttpCode(200)
  mistralEmbeddings(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.embeddings(request, reply, 'mistral');
  }

  @Post('v1/messages/count_tokens')
  @HttpCode(200)
  countTokens(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.handle(request, reply, 'anthropic', 'anthropic.count_tokens', async ({ record, principal }) => {
      requireAnthropicVersion(request);
      const body = request.body;
      const model = (body as { model?: unknown } | null)?.model;
      if (typeof body !== 'object' || body === null || typeof model !== 'string' || !model) {
        throw new IngressError('invalid_request', "'model' is required", 400, 'model');
      }
      const call = await this.gateway.authorize(record, principal, model, 'count_tokens');
      await this.json(reply, record, await this.catalog.countTokens(record, call, body as Record<string, unknown>));
    });
  }

  /** OpenAI's model list, or Anthropic's when the client sends `anthropic-version` (the Anthropic SDK does). */
  @Get('v1/models')
  models(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const api: InboundApi = header(request, 'anthropic-version') ? 'anthropic' : 'openai';
    return this.handle(request, reply, api, `${api}.models`, async ({ record, principal }) =>
      this.json(reply, record, await this.catalog.listModels(principal, api)),
    );
  }

  @Get('mistral/v1/models')
  mistralModels(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.handle(request, reply, 'mistral', 'mistral.models', async ({ record, principal }) =>
      this.json(reply, record, await this.catalog.listModels(principal, 'mistral')),
    );
  }

  private chat(request: FastifyRequest, reply: FastifyReply, api: InboundApi, recordApi: string): Promise<void> {
    return this.handle(request, reply, api, recordApi, async ({ record, principal }) => {
      if (api === 'anthropic') requireAnthropicVersion(request);
      const chat = parseInboundChat(api, request.body);
      // Anthropic beta features reach an Anthropic deployment as they would reach Anthropic.
      const beta = header(request, 'anthropic-beta');
      if (api === 'anthropic' && beta) chat.providerHeaders = { 'anthropic-beta': beta };
      record.stream = chat.stream;
      const call = await this.gateway.authorize(record, principal, chat.model);
      if (chat.stream) await this.gateway.stream(record, call, chat, sseSink(reply, record.requestId));
      else await this.json(reply, record, await this.gateway.complete(record, call, chat));
    });
  }

  private embeddings(request: FastifyRequest, reply: FastifyReply, api: EmbeddingsApi): Promise<void> {
    return this.handle(request, reply, api, `${api}.embeddings`, async ({ record, principal }) => {
      const inbound = this.catalog.parseEmbeddings(api, request.body);
      const call = await this.gateway.authorize(record, principal, inbound.request.model, 'embeddings');
      await this.json(reply, record, await this.catalog.embed(record, call, inbound));
    });
  }

  private async json(reply: FastifyReply, record: RequestRecord, body: unknown): Promise<void> {
    await reply.headers(requestIdHeaders(record.requestId)).code(200).send(body);
  }

  /** One request's frame: span, record, authentication, the error in the caller's shape, and its one event. */
  private async handle(
    request: FastifyRequest,
    reply: FastifyReply,
    api: InboundApi,
    recordApi: string,
    work: (ctx: Handled) => Promise<void>,
  ): Promise<void> {
    const span = startServerSpan(tracer, `${request.method} ${request.routeOptions.url ?? request.url}`, request.headers);
    const record = beginRecord(recordApi, traceparentOf(span, header(request, 'traceparent')));
    let status = 200;
    let failure: IngressError | undefined;
    try {
      const principal = await this.gateway.authenticate(record, header(request, 'authorization'), header(request, 'x-api-key'));
      await work({ record, principal });
    } catch (err) {
      failure = toIngressError(err);
      status = failure.httpStatus;
      if (status === 500) logUnexpected(record.requestId, err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.code });
      if (!reply.sent && !reply.raw.headersSent) {
        if (failure.retryAfter) void reply.header('retry-after', failure.retryAfter);
        await reply
          .headers(requestIdHeaders(record.requestId))
          .code(status)
          .send(INBOUND[api].encodeError(status, failure.code, failure.message, failure.param));
      }
    } finally {
      this.gateway.finish(record, reply.raw.destroyed && record.status === 'cancelled' ? 0 : status, failure);
      span.setAttribute('asc.tenant_id', record.tenantId);
      span.end();
    }
  }
}

/** `x-request-id` for OpenAI and Mistral SDKs, `request-id` for Anthropic's (`_request_id`). */
function requestIdHeaders(requestId: string): Record<string, string> {
  return { 'x-request-id': requestId, 'request-id': requestId };
}

/** Server-sent events over the raw response, written without Fastify's serialization. */
function sseSink(reply: FastifyReply, requestId: string): StreamSink {
  const raw = reply.raw;
  let closed = false;
  const listeners: Array<() => void> = [];
  raw.on('close', () => {
    if (!raw.writableFinished) {
      closed = true;
      for (const l of listeners) l();
    }
  });
  return {
    open() {
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        ...requestIdHeaders(requestId),
      });
    },
    write(text: string) {
      if (!closed) raw.write(text);
    },
    end() {
      if (!closed) raw.end();
    },
    get closed() {
      return closed;
    },
    onClose(listener: () => void) {
      listeners.push(listener);
    },
  };
}
