import type { CanonicalRequest, CanonicalResponse } from './canonical';
import { decodeAnthropicRequest, decodeAnthropicResponse, encodeAnthropicError, encodeAnthropicRequest, encodeAnthropicResponse } from './anthropic-messages.codec';
import { AnthropicStreamDecoder, AnthropicStreamEncoder } from './anthropic-messages.stream';
import { MistralStreamDecoder, OpenAIStreamDecoder, StreamDecoder } from './chat-stream.decoder';
import { MistralStreamEncoder, OpenAIStreamEncoder, StreamEncoder } from './chat-stream.encoder';
import type { JsonObject } from './json.util';
import { decodeMistralRequest, decodeMistralResponse, encodeMistralError, encodeMistralRequest, encodeMistralResponse } from './mistral-chat.codec';
import { decodeOpenAIRequest, decodeOpenAIResponse, encodeOpenAIError, encodeOpenAIRequest, encodeOpenAIResponse } from './openai-chat.codec';

/** The wire APIs the gateway speaks, inbound and upstream. */
export type WireApi = 'openai' | 'anthropic' | 'mistral';

/** Every codec of one wire API behind one shape, so callers pick by inbound/upstream API. */
export interface WireCodec {
  /** Path of the chat endpoint under the provider's base URL (which includes /v1). */
  chatPath: string;
  decodeRequest(body: unknown): CanonicalRequest;
  encodeRequest(req: CanonicalRequest, upstreamModel: string): JsonObject;
  decodeResponse(body: unknown): CanonicalResponse;
  encodeResponse(res: CanonicalResponse, requestedModel: string): JsonObject;
  encodeError(status: number, code: string, message: string, param?: string | null): JsonObject;
  streamDecoder(): StreamDecoder;
  /** `includeUsage` is only read by OpenAI (stream_options.include_usage); the others always send usage. */
  streamEncoder(requestedModel: string, includeUsage: boolean): StreamEncoder;
}

export const WIRE_CODECS: Record<WireApi, WireCodec> = {
  openai: {
    chatPath: '/chat/completions',
    decodeRequest: decodeOpenAIRequest,
    encodeRequest: encodeOpenAIRequest,
    decodeResponse: decodeOpenAIResponse,
    encodeResponse: (res, model) => encodeOpenAIResponse(res, model),
    encodeError: encodeOpenAIError,
    streamDecoder: () => new OpenAIStreamDecoder(),
    streamEncoder: (model, includeUsage) => new OpenAIStreamEncoder(model, includeUsage),
  },
  anthropic: {
    chatPath: '/messages',
    decodeRequest: decodeAnthropicRequest,
    encodeRequest: (req, model) => encodeAnthropicRequest(req, model),
    decodeResponse: decodeAnthropicResponse,
    encodeResponse: (res, model) => encodeAnthropicResponse(res, model),
    encodeError: encodeAnthropicError,
    streamDecoder: () => new AnthropicStreamDecoder(),
    streamEncoder: (model) => new AnthropicStreamEncoder(model),
  },
  mistral: {
    chatPath: '/chat/completions',
    decodeRequest: decodeMistralRequest,
    encodeRequest: encodeMistralRequest,
    decodeResponse: decodeMistralResponse,
    encodeResponse: (res, model) => encodeMistralResponse(res, model),
    encodeError: encodeMistralError,
    streamDecoder: () => new MistralStreamDecoder(),
    streamEncoder: (model) => new MistralStreamEncoder(model),
  },
};
