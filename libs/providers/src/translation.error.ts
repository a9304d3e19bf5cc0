/** Stable codes of translation failures (the edge answers them in the caller's API shape). */
export type TranslationErrorCode =
  | 'invalid_request'
  | 'missing_parameter'
  | 'invalid_parameter'
  // OpenAI's own codes for a body its API refuses: the JSON type is wrong / the value is not allowed.
  | 'invalid_type'
  | 'invalid_value'
  | 'unsupported_parameter'
  | 'unsupported_content'
  | 'unsupported_message_role'
  | 'invalid_tool_arguments'
  | 'invalid_upstream_response'
  | 'upstream_error_finish';

/**
 * A request or response that cannot be translated. `status` is 400 for caller input that is
 * invalid or asks for something the target provider cannot honour, 502 for an upstream body
 * that cannot be read. `param` is the offending path in the caller's (or upstream's) body.
 */
export class TranslationError extends Error {
  constructor(
    readonly code: TranslationErrorCode,
    message: string,
    readonly param: string | null = null,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'TranslationError';
  }
}

export const invalidParam = (param: string, message: string): TranslationError => new TranslationError('invalid_parameter', message, param);

export const unsupported = (param: string, message: string): TranslationError => new TranslationError('unsupported_parameter', message, param);

export const badUpstream = (param: string | null, message: string): TranslationError =>
  new TranslationError('invalid_upstream_response', message, param, 502);
