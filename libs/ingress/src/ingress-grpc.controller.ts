import { Controller } from '@nestjs/common';
import { Metadata } from '@grpc/grpc-js';
import { ingressV1 } from '@asc/contracts';
import { AllowedCallers, ANY_CALLER } from '@asc/service-kit';
import { IngressError } from './ingress.error';
import { RequestRunner } from './request-runner';
import type { ResponseSink } from './runner.types';

interface OpenAIReply {
  id?: string;
  model?: string;
  choices?: Array<{ message?: { content?: string | null }; finish_reason?: string }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
  error?: { message?: string; code?: string; param?: string | null };
}

/** The gRPC edge: the same runner as HTTP, answering in OpenAI's shape whatever provider serves. */
@Controller()
@AllowedCallers(ANY_CALLER)
@ingressV1.IngressServiceControllerMethods()
export class IngressGrpcController implements ingressV1.IngressServiceController {
  constructor(private readonly runner: RequestRunner) {}

  async createChatCompletion(request: ingressV1.CreateChatCompletionRequest, metadata?: Metadata): Promise<ingressV1.CreateChatCompletionResponse> {
    const sink = new UnarySink();
    const auth = metadata?.get('authorization')[0];
    const ctx = await this.runner.run(
      {
        api: 'openai',
        operation: 'chat.completions',
        recordApi: 'grpc.chat.completions',
        body: {
          model: request.model,
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          ...(request.maxTokens ? { max_tokens: request.maxTokens } : {}),
          ...(request.temperature ? { temperature: request.temperature } : {}),
        },
        header: (name) => (name === 'authorization' && typeof auth === 'string' ? auth : undefined),
      },
      sink,
    );
    const { status, reply } = sink;
    if (status !== 200) {
      // Mapped to a gRPC status by the global filter (rpcErrorFrom).
      throw new IngressError(ctx.reasonCode || 'internal_error', reply.error?.message ?? 'the request failed', status || 500, reply.error?.param ?? undefined);
    }
    const choice = reply.choices?.[0];
    return {
      id: reply.id ?? ctx.requestId,
      model: reply.model ?? ctx.deployment?.upstreamModel ?? '',
      content: choice?.message?.content ?? '',
      finishReason: choice?.finish_reason ?? '',
      usage: {
        promptTokens: reply.usage?.prompt_tokens ?? 0,
        completionTokens: reply.usage?.completion_tokens ?? 0,
        totalTokens: reply.usage?.total_tokens ?? 0,
      },
    };
  }
}

/**
 * The answer of a unary call, kept in memory and returned. A class: an object literal with a
 * getter would put an accessor pair in the old generation for every call (see RawSink).
 */
class UnarySink implements ResponseSink {
  status = 0;
  reply: OpenAIReply = {};
  readonly closed = false;

  json(status: number, body: unknown): void {
    this.status = status;
    this.reply = (typeof body === 'string' ? JSON.parse(body) : body) as OpenAIReply;
  }

  openStream(): void {
    throw new IngressError('internal_error', 'the gRPC edge does not stream', 500);
  }

  write(): void {
    // never called: openStream refuses first
  }

  end(): void {
    // nothing to close: the reply is returned, not written
  }

  get started(): boolean {
    return this.status !== 0;
  }

  onClose(): void {
    // a unary call has no client hang-up to report here
  }
}
