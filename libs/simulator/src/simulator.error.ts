/** Machine-readable reasons a simulated provider rejects a request. */
export type SimulatorErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'missing_parameter'
  | 'extra_parameter'
  | 'missing_api_key'
  | 'invalid_api_key'
  | 'missing_version'
  | 'not_found'
  | 'too_large'
  | 'rate_limited'
  | 'injected_fault'
  | 'internal';

/**
 * A request rejected by a simulated provider. Each provider renders it in its own error shape;
 * `param` names the offending field (for Mistral's 422 details and OpenAI's `param`).
 */
export class SimulatorError extends Error {
  constructor(
    readonly status: number,
    readonly code: SimulatorErrorCode,
    message: string,
    readonly param: string | null = null,
    /** Provider-specific extra payload (e.g. the offending input value). */
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'SimulatorError';
  }
}
