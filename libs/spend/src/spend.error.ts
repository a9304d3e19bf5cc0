/** Stable, machine-readable reasons a spend-control operation failed. */
export type SpendErrorCode =
  | 'spend_invalid_input' // a limit, amount or id is malformed (a bug in the caller, not the client's fault)
  | 'spend_store_unavailable'; // the shared store (Redis) did not answer and the tenant's mode is fail-closed

/**
 * The one error type of spend control. Refusals (over a limit, over a budget) are not
 * errors: they are decisions returned as values, so the runner maps them to 429s.
 */
export class SpendError extends Error {
  constructor(
    readonly code: SpendErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SpendError';
  }
}
