export { OpenAICompatibleClient } from './openai-compatible.client';
export type { Cancellation, SseRead, UpstreamCallOptions, UpstreamJsonResponse, UpstreamTarget } from './openai-compatible.client';
export { SseParser } from './sse';
export type { SseEvent } from './sse';
export { UpstreamError } from './upstream.error';
export type { UpstreamFailure } from './upstream.error';
export * from './canonical';
export { TranslationError } from './translation.error';
export type { TranslationErrorCode } from './translation.error';
export { toAnthropicToolCallId, toMistralToolCallId } from './tool-call-id.util';
export { decodeOpenAIRequest, encodeOpenAIRequest, decodeOpenAIResponse, encodeOpenAIResponse, encodeOpenAIError } from './openai-chat.codec';
export type { EncodeResponseOptions } from './openai-chat.codec';
export {
  ANTHROPIC_API_VERSION,
  decodeAnthropicRequest,
  encodeAnthropicRequest,
  decodeAnthropicResponse,
  encodeAnthropicResponse,
  encodeAnthropicError,
} from './anthropic-messages.codec';
export type { AnthropicEncodeOptions } from './anthropic-messages.codec';
export { decodeMistralRequest, encodeMistralRequest, decodeMistralResponse, encodeMistralResponse, encodeMistralError } from './mistral-chat.codec';
export { OpenAIStreamDecoder, MistralStreamDecoder } from './chat-stream.decoder';
export type { StreamDecoder } from './chat-stream.decoder';
export { OpenAIStreamEncoder, MistralStreamEncoder } from './chat-stream.encoder';
export type { StreamEncoder, ChatStreamEncoderOptions } from './chat-stream.encoder';
export { AnthropicStreamDecoder, AnthropicStreamEncoder } from './anthropic-messages.stream';
export { StreamUsageTracker, estimateTokens, estimateRequestInputTokens } from './stream-usage.tracker';
export type { MeteredUsage } from './stream-usage.tracker';
export { WIRE_CODECS } from './translation.registry';
export type { WireApi, WireCodec } from './translation.registry';
export {
  decodeOpenAIEmbeddingsRequest,
  decodeMistralEmbeddingsRequest,
  encodeOpenAIEmbeddingsRequest,
  encodeMistralEmbeddingsRequest,
  decodeEmbeddingsResponse,
  encodeOpenAIEmbeddingsResponse,
  encodeMistralEmbeddingsResponse,
} from './embeddings.codec';
export type { CanonicalEmbeddingsRequest, CanonicalEmbeddings } from './embeddings.codec';
export { decodeResponsesRequest, encodeResponsesResponse, encodeResponsesError, encodeResponsesUsage, ResponsesStreamEncoder } from './openai-responses.codec';
export type { ResponsesEncodeOptions } from './openai-responses.codec';
