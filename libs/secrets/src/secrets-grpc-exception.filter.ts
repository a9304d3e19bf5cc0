import { ArgumentsHost, Catch, Logger, RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { status } from '@grpc/grpc-js';
import { DomainError } from '@asc/tenancy';
import { Observable, throwError } from 'rxjs';

const STATUS_BY_HTTP: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  403: status.PERMISSION_DENIED,
  404: status.NOT_FOUND,
  409: status.ALREADY_EXISTS,
};

/**
 * Maps errors of the gRPC handlers to gRPC statuses. Bound on the controller so it runs
 * before the global admin filter, which rethrows non-HTTP errors (an unhandled rejection
 * in the gRPC server instead of a status for the caller).
 */
@Catch()
export class SecretsGrpcExceptionFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('SecretsGrpc');

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    if (exception instanceof RpcException) return throwError(() => exception.getError());
    if (exception instanceof DomainError && STATUS_BY_HTTP[exception.httpStatus] !== undefined) {
      return throwError(() => ({ code: STATUS_BY_HTTP[exception.httpStatus], message: `${exception.code}: ${exception.message}` }));
    }
    this.logger.error(`unhandled gRPC error: ${(exception as Error)?.name ?? 'unknown'} ${(exception as { code?: unknown })?.code ?? ''}`);
    return throwError(() => ({ code: status.INTERNAL, message: 'internal error' }));
  }
}
