import { HttpException } from '@nestjs/common';
import { TranslationError, UpstreamError } from '@asc/providers';
import { DomainError } from '@asc/tenancy';

/**
 * Every failure of the data plane, mapped at the edge to the caller's API shape. An answer,
 * not a bug: it carries no stack trace (capturing one cost 4–9 µs an error in a loop and
 * ~47 µs in the noisy-tenant profile, where every refusal of a flooding client is one), and
 * an unexpected failure is logged from the error that caused it.
 */
export class IngressError extends DomainError {
  constructor(code: string, message: string, httpStatus: number, param?: string, readonly retryAfter?: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(code, message, httpStatus, param);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/** Maps any failure to an IngressError (encoded in the caller's API shape at the edge); unknown errors never leak details. */
export function toIngressError(err: unknown): IngressError {
  if (err instanceof IngressError) return err;
  if (err instanceof TranslationError) {
    // A request the target cannot honour or that is invalid is the caller's (400); an unreadable upstream answer is ours (502).
    return new IngressError(err.status >= 500 ? 'upstream_error' : err.code, err.message, err.status, err.param ?? undefined);
  }
  if (err instanceof UpstreamError) {
    if (err.failure === 'http' && err.status === 429) {
      return new IngressError('upstream_rate_limited', `the provider is rate limiting: ${err.providerMessage ?? 'try again later'}`, 429, undefined, err.retryAfter);
    }
    if (err.failure === 'http' && err.status && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403) {
      // The provider rejected the request itself: pass its status and message through.
      return new IngressError('upstream_invalid_request', err.providerMessage ?? 'the provider rejected the request', err.status);
    }
    if (err.failure === 'timeout') return new IngressError('upstream_timeout', 'the provider did not answer in time', 504);
    return new IngressError('upstream_error', 'the provider failed to answer', 502);
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 413) return new IngressError('request_too_large', 'the request body is larger than this gateway accepts', 413);
    if (status === 404) return new IngressError('not_found', 'unknown route', 404);
    return new IngressError('invalid_request', err.message, status);
  }
  const statusCode = (err as { statusCode?: unknown })?.statusCode;
  if (statusCode === 413) return new IngressError('request_too_large', 'the request body is larger than this gateway accepts', 413);
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return new IngressError('invalid_request', (err as Error).message, statusCode);
  }
  return new IngressError('internal_error', 'the gateway failed to process the request', 500);
}
