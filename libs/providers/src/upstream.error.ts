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
    /** For timeouts: which wait ran out (connecting, the response headers, the gap between body chunks). */
    readonly phase?: 'connect' | 'headers' | 'body',
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}
