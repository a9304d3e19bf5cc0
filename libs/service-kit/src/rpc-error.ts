import { status } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import { Observable, throwError } from 'rxjs';

/**
 * What a global exception filter returns for a gRPC call: the RpcException's own status
 * and message, or INTERNAL without details for anything unexpected. Rethrowing from a
 * filter would crash the process instead.
 */
export function rpcErrorFrom(exception: unknown): Observable<never> {
  const error = exception instanceof RpcException ? exception.getError() : { code: status.INTERNAL, message: 'internal error' };
  return throwError(() => error);
}
