import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { DomainError } from '@asc/tenancy';
import type { FastifyReply } from 'fastify';
import type { Observable } from 'rxjs';
import { rpcErrorFrom } from './rpc-error';
import { ZodError } from 'zod';

/** Admin API errors: `{ error: { code, message, param? } }`, never a stack trace. */
@Catch()
export class AdminErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('AdminErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | undefined {
    if (host.getType() === 'rpc') return rpcErrorFrom(exception);
    if (host.getType() !== 'http') return undefined;
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const [status, body] = this.toResponse(exception);
    void reply.code(status).send(body);
  }

  private toResponse(exception: unknown): [number, { error: { code: string; message: string; param?: string } }] {
    if (exception instanceof DomainError) {
      return [exception.httpStatus, { error: { code: exception.code, message: exception.message, param: exception.param } }];
    }
    if (exception instanceof ZodError) {
      const issue = exception.issues[0];
      const param = issue?.path.join('.') || undefined;
      return [400, { error: { code: 'invalid_request', message: `${param ?? 'body'}: ${issue?.message ?? 'invalid'}`, param } }];
    }
    if (exception instanceof HttpException) {
      const response = exception.getResponse();
      if (typeof response === 'object' && response !== null && 'error' in response && typeof response.error === 'object') {
        return [exception.getStatus(), response as { error: { code: string; message: string } }];
      }
      const status = exception.getStatus();
      const code = { 400: 'invalid_request', 404: 'not_found', 413: 'request_too_large' }[status] ?? 'http_error';
      return [status, { error: { code, message: exception.message } }];
    }
    const statusCode = (exception as { statusCode?: unknown }).statusCode;
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      // Fastify's own errors: malformed JSON, body too large, bad content type.
      return [statusCode, { error: { code: 'invalid_request', message: (exception as Error).message } }];
    }
    this.logger.error(`unhandled admin error: ${(exception as Error)?.name ?? 'unknown'}`);
    return [500, { error: { code: 'internal', message: 'internal error' } }];
  }
}
