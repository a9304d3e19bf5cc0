import { Logger } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import { DomainError } from '@asc/tenancy';
import { Observable, throwError } from 'rxjs';

const GRPC_STATUS_BY_HTTP: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.NOT_FOUND,
  409: status.ALREADY_EXISTS,
  413: status.RESOURCE_EXHAUSTED,
  429: status.RESOURCE_EXHAUSTED,
  502: status.UNAVAILABLE,
  503: status.UNAVAILABLE,
  504: status.DEADLINE_EXCEEDED,
};

const logger = new Logger('GrpcErrors');

/** The gRPC status of a domain error (by its HTTP status); INTERNAL when it has none. */
export function grpcStatusOf(error: DomainError): status {
  return GRPC_STATUS_BY_HTTP[error.httpStatus] ?? status.INTERNAL;
}

/**
 * What a global exception filter returns for a gRPC call: an RpcException's own status, a
 * domain error's mapped status with `code: message`, or INTERNAL without details for
 * anything unexpected. (Rethrowing from a filter would crash the process instead.)
 */
export function rpcErrorFrom(exception: unknown): Observable<never> {
  if (exception instanceof RpcException) return throwError(() => exception.getError());
  if (exception instanceof DomainError) {
    const code = grpcStatusOf(exception);
    if (code !== status.INTERNAL) return throwError(() => ({ code, message: `${exception.code}: ${exception.message}` }));
    // Domain messages are ours and never carry a secret; the caller only learns INTERNAL.
    logger.error(`${exception.code}: ${exception.message}`);
  } else {
    logger.error(`unhandled gRPC error: ${(exception as Error)?.name ?? 'unknown'}`);
  }
  return throwError(() => ({ code: status.INTERNAL, message: 'internal error' }));
}
