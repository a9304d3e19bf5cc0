import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';
import { rpcErrorFrom } from '@asc/service-kit';
import { inboundApiOfPath, WIRE_APIS } from './wire-apis';
import { toIngressError } from './ingress.error';

/**
 * Errors raised before a data-plane handler runs (malformed JSON, body over the limit,
 * unknown route), answered in the shape of the API the path belongs to.
 */
@Catch()
export class IngressErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): Observable<never> | undefined {
    if (host.getType() === 'rpc') return rpcErrorFrom(exception);
    if (host.getType() !== 'http') return undefined;
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const api = inboundApiOfPath(request.url ?? '/', request.headers ?? {});
    const error = toIngressError(exception);
    void reply.code(error.httpStatus).send(WIRE_APIS[api].encodeError(error.httpStatus, error.code, error.message, error.param));
  }
}
