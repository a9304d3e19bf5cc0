import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Observable } from 'rxjs';
import { rpcErrorFrom } from '@asc/service-kit';
import { openAIError, toIngressError } from './openai-error';

/**
 * Errors raised before a data-plane handler runs (malformed JSON, body over the limit,
 * unknown route) in OpenAI's shape.
 */
@Catch()
export class IngressErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): Observable<never> | undefined {
    if (host.getType() === 'rpc') return rpcErrorFrom(exception);
    if (host.getType() !== 'http') return undefined;
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const error = toIngressError(exception);
    void reply.code(error.httpStatus).send(openAIError(error.httpStatus, error.code, error.message, error.param));
  }
}
