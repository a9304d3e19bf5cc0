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
 * Maps this service's domain errors to gRPC statuses (NOT_FOUND, INVALID_ARGUMENT…). Bound
 * on the gRPC controller so it runs before the global filter, which answers INTERNAL for
 * anything that is not already an RpcException.
 */
@Catch()
export class SecretsGrpcExceptionFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('SecretsGrpc');

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    const rpc = this.toRpcException(exception);
    return throwError(() => rpc.getError());
  }

  private toRpcException(exception: unknown): RpcException {
    if (exception instanceof RpcException) return exception;
    if (exception instanceof DomainError) {
      const code = STATUS_BY_HTTP[exception.httpStatus];
      if (code !== undefined) return new RpcException({ code, message: `${exception.code}: ${exception.message}` });
      // Domain messages are ours and never carry a secret; the caller only learns INTERNAL.
      this.logger.error(`${exception.code}: ${exception.message}`);
    } else {
      this.logger.error(`unhandled gRPC error: ${(exception as Error)?.name ?? 'unknown'}`);
    }
    return new RpcException({ code: status.INTERNAL, message: 'internal error' });
  }
}
