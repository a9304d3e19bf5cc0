import { SimulatorError } from './simulator.error';

// Pieces shared by the chat-completions and responses handlers.

const ERROR_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'invalid_request_error', 403: 'permission_error', 404: 'invalid_request_error', 409: 'invalid_request_error', 413: 'invalid_request_error', 422: 'invalid_request_error', 429: 'requests' };
export const ERROR_CODES: Partial<Record<string, string>> = {
  invalid_api_key: 'invalid_api_key',
  missing_parameter: 'missing_required_parameter',
  rate_limited: 'rate_limit_exceeded',
};

export function openaiError(status: number, message: string, type?: string, code: string | null = null, param: string | null = null) {
  return { error: { message, type: type ?? ERROR_TYPES[status] ?? 'server_error', param, code } };
}

export const OPENAI_FAULT_MESSAGES: Record<number, string> = {
  429: 'Rate limit reached for requests. Please try again later.',
  500: 'The server had an error while processing your request. Sorry about that!',
  502: 'Bad gateway.',
  503: 'The engine is currently overloaded, please try again later.',
  504: 'Gateway timeout.',
};

export function requireModel(body: Record<string, unknown>): string {
  if (typeof body.model !== 'string' || !body.model) {
    throw new SimulatorError(400, 'missing_parameter', 'you must provide a model parameter', 'model');
  }
  return body.model;
}
