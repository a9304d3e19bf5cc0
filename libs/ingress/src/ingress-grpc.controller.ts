import { Controller } from '@nestjs/common';
import { Metadata } from '@grpc/grpc-js';
import { ingressV1 } from '@asc/contracts';
import { GatewayService } from './gateway.service';
import { parseInboundChat } from './inbound-apis';
import { IngressError, toIngressError } from './ingress.error';
import { beginRecord } from './request-record';
import { AllowedCallers, ANY_CALLER } from '@asc/service-kit';

/** The gRPC edge: the same governed path as HTTP, for product teams' backends. */
@Controller()
@AllowedCallers(ANY_CALLER)
@ingressV1.IngressServiceControllerMethods()
export class IngressGrpcController implements ingressV1.IngressServiceController {
  constructor(private readonly chat: GatewayService) {}

  async createChatCompletion(request: ingressV1.CreateChatCompletionRequest, metadata?: Metadata): Promise<ingressV1.CreateChatCompletionResponse> {
    const record = beginRecord('grpc.chat.completions');
    let httpStatus = 200;
    let failure: IngressError | undefined;
    try {
      const auth = metadata?.get('authorization')[0];
      const principal = await this.chat.authenticate(record, typeof auth === 'string' ? auth : undefined, undefined);
      const chat = parseInboundChat('openai', {
        model: request.model,
        messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
        ...(request.maxTokens ? { max_tokens: request.maxTokens } : {}),
        ...(request.temperature ? { temperature: request.temperature } : {}),
      });
      const call = await this.chat.authorize(record, principal, chat.model);
      // Whatever provider serves it, the answer comes back in OpenAI's shape.
      const result = (await this.chat.complete(record, call, chat)) as {
        id?: string;
        model?: string;
        choices?: Array<{ message?: { content?: string | null }; finish_reason?: string }>;
        usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
      };
      const choice = result.choices?.[0];
      return {
        id: result.id ?? record.requestId,
        model: result.model ?? record.servedModel,
        content: choice?.message?.content ?? '',
        finishReason: choice?.finish_reason ?? '',
        usage: {
          promptTokens: result.usage?.prompt_tokens ?? 0,
          completionTokens: result.usage?.completion_tokens ?? 0,
          totalTokens: result.usage?.total_tokens ?? 0,
        },
      };
    } catch (err) {
      failure = toIngressError(err);
      httpStatus = failure.httpStatus;
      // Mapped to a gRPC status by the global filter (rpcErrorFrom).
      throw failure;
    } finally {
      this.chat.finish(record, httpStatus, failure);
    }
  }
}
