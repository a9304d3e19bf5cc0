import { DomainError } from '@asc/tenancy';

/** Every failure of the data plane, mapped at the edge to the caller's API shape. */
export class IngressError extends DomainError {
  constructor(code: string, message: string, httpStatus: number, param?: string, readonly retryAfter?: string) {
    super(code, message, httpStatus, param);
  }
}
