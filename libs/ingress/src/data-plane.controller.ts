import { Controller, HttpCode, Logger, Post, Req, Res } from '@nestjs/common';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { startServerSpan, traceparentOf } from '@asc/service-kit';
import { ChatCompletionsService, StreamSink } from './chat-completions.service';
import { IngressError } from './ingress.error';
import { parseChatCompletionRequest } from './openai-chat.schema';
import { openAIError, toIngressError } from './openai-error';
import { beginRecord } from './request-record';

const tracer = trace.getTracer('asc-ingress');
const logger = new Logger('ChatCompletions');

/** An unexpected failure: the client sees a generic 500, operators get the name and message (never request bodies). */
function logUnexpected(requestId: string, err: unknown): void {
  const e = err as { name?: string; message?: string };
  logger.error(`request ${requestId} failed unexpectedly: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`);
}

/** OpenAI-shaped data plane: POST /v1/chat/completions (JSON and SSE). */
@Controller('v1')
export class ChatCompletionsController {
  constructor(private readonly chat: ChatCompletionsService) {}

  @Post('chat/completions')
  @HttpCode(200)
  async create(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const span = startServerSpan(tracer, 'POST /v1/chat/completions', request.headers);
    const incoming = request.headers.traceparent;
    const record = beginRecord('openai.chat.completions', traceparentOf(span, typeof incoming === 'string' ? incoming : undefined));
    let status = 200;
    let failure: IngressError | undefined;
    try {
      const auth = request.headers.authorization;
      const xApiKey = request.headers['x-api-key'];
      const principal = await this.chat.authenticate(record, auth, typeof xApiKey === 'string' ? xApiKey : undefined);
      const body = parseChatCompletionRequest(request.body);
      record.requestedModel = body.model;
      record.stream = body.stream === true;
      const call = await this.chat.authorize(record, principal, body.model);
      if (body.stream) {
        await this.chat.stream(record, call, body, sseSink(reply, record.requestId));
      } else {
        const result = await this.chat.complete(record, call, body);
        await reply.header('x-request-id', record.requestId).code(200).send(result);
      }
    } catch (err) {
      failure = toIngressError(err);
      status = failure.httpStatus;
      if (status === 500) logUnexpected(record.requestId, err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.code });
      if (!reply.sent && !reply.raw.headersSent) {
        if (failure.retryAfter) void reply.header('retry-after', failure.retryAfter);
        await reply
          .header('x-request-id', record.requestId)
          .code(status)
          .send(openAIError(status, failure.code, failure.message, failure.param));
      }
    } finally {
      this.chat.finish(record, reply.raw.destroyed && record.status === 'cancelled' ? 0 : status, failure);
      span.setAttribute('asc.tenant_id', record.tenantId);
      span.end();
    }
  }
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
        'x-request-id': requestId,
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
