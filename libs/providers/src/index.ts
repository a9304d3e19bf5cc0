export { OpenAICompatibleClient } from './openai-compatible.client';
export type { UpstreamCallOptions, UpstreamJsonResponse, UpstreamTarget } from './openai-compatible.client';
export { SseParser } from './sse';
export type { SseEvent } from './sse';
export { UpstreamError } from './upstream.error';
export type { UpstreamFailure } from './upstream.error';
