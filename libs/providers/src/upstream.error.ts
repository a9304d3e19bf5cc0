/** Why an upstream call failed; the edge maps it to the caller's API shape. */
export type UpstreamFailure = 'connect' | 'timeout' | 'http' | 'protocol' | 'aborted';

export class UpstreamError extends Error {
  readonly code = 'upstream_error';
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    readonly status?: number,
    /** The provider's own error message, safe to show (never contains our credential). */
    readonly providerMessage?: string,
    readonly retryAfter?: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}
