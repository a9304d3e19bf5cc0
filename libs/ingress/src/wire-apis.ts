import { randomBytes } from 'node:crypto';
import {
  CanonicalEmbeddingsRequest,
  CanonicalRequest,
  decodeMistralEmbeddingsRequest,
  decodeOpenAIEmbeddingsRequest,
  CanonicalEmbeddings,
  encodeMistralEmbeddingsRequest,
  encodeMistralEmbeddingsResponse,
  encodeOpenAIEmbeddingsRequest,
  encodeOpenAIEmbeddingsResponse,
  decodeAnthropicRequest,
  decodeMistralRequest,
  decodeOpenAIRequest,
  decodeResponsesRequest,
  encodeAnthropicError,
  encodeAnthropicResponse,
  encodeMistralError,
  encodeMistralResponse,
  encodeOpenAIError,
  encodeOpenAIResponse,
  encodeResponsesResponse,
  ResponsesStreamEncoder,
  ResponsesEncodeOptions,
  StreamEncoder,
  TranslationError,
  WIRE_CODECS,
  WireApi,
} from '@asc/providers';
import type { CanonicalResponse, CanonicalStreamEvent } from '@asc/providers';
import type { RoutableModel } from './control-plane.port';
import { IngressError } from './ingress.error';

/** The API shapes clients call ingress with. */
export type InboundApi = 'openai' | 'anthropic' | 'mistral' | 'responses';

type JsonObject = Record<string, unknown>;

/** How an inbound API reads and answers embeddings (OpenAI and Mistral have them). */
export interface EmbeddingsWire {
  decode(body: unknown): CanonicalEmbeddingsRequest;
  /** The body for an upstream of another API. */
  encodeRequest(req: CanonicalEmbeddingsRequest, upstreamModel: string): JsonObject;
  encodeResponse(res: CanonicalEmbeddings, requestedModel: string): JsonObject;
}

/**
 * Everything ingress knows about one inbound API, in one row: how its chat requests are
 * read, answered, streamed and failed, its embeddings and its model list. Every operation
 * the data plane serves looks its API up here and nowhere else.
 */
export interface InboundWire {
  /** The upstream API that takes this request body unchanged (passthrough); null: always translated. */
  native: WireApi | null;
  /** Validates the body (400 in this API's shape) and returns its canonical form. */
  decode(body: unknown): CanonicalRequest;
  encodeResponse(res: CanonicalResponse, chat: InboundChat): JsonObject;
  encodeError(status: number, code: string, message: string, param?: string | null): JsonObject;
  streamEncoder(chat: InboundChat): StreamEncoder;
  embeddings?: EmbeddingsWire;
  encodeModelList(models: RoutableModel[], tenantId: string): JsonObject;
}

const OPENAI_EMBEDDINGS: EmbeddingsWire = {
  decode: decodeOpenAIEmbeddingsRequest,
  encodeRequest: encodeOpenAIEmbeddingsRequest,
  encodeResponse: (res, model) => encodeOpenAIEmbeddingsResponse(res, model),
};

export const WIRE_APIS: Record<InboundApi, InboundWire> = {
  openai: {
    native: 'openai',
    decode: decodeOpenAIRequest,
    encodeResponse: (res, chat) => encodeOpenAIResponse(res, chat.model),
    encodeError: encodeOpenAIError,
    streamEncoder: (chat) => WIRE_CODECS.openai.streamEncoder(chat.model, chat.streamUsage),
    embeddings: OPENAI_EMBEDDINGS,
    encodeModelList: openAIModelList,
  },
  anthropic: {
    native: 'anthropic',
    decode: decodeAnthropicRequest,
    encodeResponse: (res, chat) => encodeAnthropicResponse(res, chat.model),
    encodeError: encodeAnthropicError,
    streamEncoder: (chat) => WIRE_CODECS.anthropic.streamEncoder(chat.model, true),
    encodeModelList: (models) => {
      const data = models.map((m) => ({ type: 'model', id: m.model, display_name: m.model, created_at: new Date(m.createdUnix * 1000).toISOString() }));
      return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null };
    },
  },
  mistral: {
    native: 'mistral',
    decode: decodeMistralRequest,
    encodeResponse: (res, chat) => encodeMistralResponse(res, chat.model),
    encodeError: encodeMistralError,
    streamEncoder: (chat) => WIRE_CODECS.mistral.streamEncoder(chat.model, true),
    embeddings: {
      decode: decodeMistralEmbeddingsRequest,
      encodeRequest: encodeMistralEmbeddingsRequest,
      encodeResponse: (res, model) => encodeMistralEmbeddingsResponse(res, model, randomBytes(16).toString('hex')),
    },
    encodeModelList: (models, tenantId) => ({
      object: 'list',
      data: models.map((m) => ({
        id: m.model,
        object: 'model',
        created: m.createdUnix,
        owned_by: ownedBy(m, tenantId),
        type: 'base',
        capabilities: { completion_chat: true, completion_fim: false, function_calling: true, fine_tuning: false, vision: false },
      })),
    }),
  },
  responses: {
    native: null,
    decode: decodeResponsesRequest,
    // The response echoes the caller's settings, as OpenAI's does.
    encodeResponse: (res, chat) => encodeResponsesResponse(res, chat.model, responsesEcho(chat)),
    encodeError: encodeOpenAIError,
    streamEncoder: (chat) => new ResponsesStreamEncoder(chat.model, responsesEcho(chat)),
    encodeModelList: openAIModelList,
  },
};

function ownedBy(m: RoutableModel, tenantId: string): string {
  return m.tenantOwned ? tenantId : m.providers.join(',');
}

function openAIModelList(models: RoutableModel[], tenantId: string): JsonObject {
  return { object: 'list', data: models.map((m) => ({ id: m.model, object: 'model', created: m.createdUnix, owned_by: ownedBy(m, tenantId) })) };
}

function responsesEcho(chat: InboundChat): ResponsesEncodeOptions {
  const instructions = chat.body.instructions;
  return { request: chat.canonical, instructions: typeof instructions === 'string' ? instructions : null };
}

/** The inbound API whose error shape a path answers in (also for errors raised before a handler runs). */
export function inboundApiOfPath(path: string, headers: Record<string, unknown> = {}): InboundApi {
  if (path.startsWith('/mistral/')) return 'mistral';
  if (path.startsWith('/v1/messages')) return 'anthropic';
  if (path.startsWith('/v1/responses')) return 'responses';
  if (path.startsWith('/v1/models') && headers['anthropic-version'] !== undefined) return 'anthropic';
  return 'openai';
}

/** The wire API of a deployment's provider. */
export function upstreamApiOf(provider: string): WireApi {
  switch (provider) {
    case 'openai':
    case 'openai-compatible':
      return 'openai';
    case 'anthropic':
      return 'anthropic';
    case 'mistral':
      return 'mistral';
    default:
      throw new IngressError('unsupported_provider', `the deployment's provider ${provider} is not supported`, 502);
  }
}

/** A validated chat request in one inbound API. */
export interface InboundChat {
  api: InboundApi;
  /** The body as the client sent it: forwarded unchanged (model aside) to an upstream of the same API. */
  body: JsonObject;
  /**
   * The canonical form; absent when the body uses something only its own API has (then
   * `blocker` says what, and only a same-API upstream can serve it).
   */
  canonical?: CanonicalRequest;
  blocker?: TranslationError;
  model: string;
  stream: boolean;
  /** The client wants usage in the stream (OpenAI include_usage; always for the others). */
  streamUsage: boolean;
  /** Provider headers the client sent (e.g. `anthropic-beta`), forwarded only to an upstream of the same API. */
  providerHeaders?: Record<string, string>;
  /**
   * A step rewrote `canonical` (guardrail redaction, a policy output cap): the body must
   * never be forwarded as sent, even to an upstream of the same API.
   */
  forceTranslate?: boolean;
  /**
   * Applied to a whole response before it is encoded for the client (the guardrails on
   * responses): a non-streamed one, or one a step answers (a cache hit, streamed or not);
   * may throw an IngressError to refuse it. Set together with forceTranslate.
   */
  filterResponse?: (response: CanonicalResponse) => CanonicalResponse;
  /**
   * Applied to each event of a streamed response between the upstream's decoder and the
   * client's encoder (the guardrails on streamed responses): returns the events to send
   * instead (none while text is held back). Set together with forceTranslate; a step ends
   * the stream through `onOutput`.
   */
  filterStream?: (event: CanonicalStreamEvent) => CanonicalStreamEvent[];
}

/** Valid in the client's own API but not translatable: a same-API upstream can still serve it. */
const isPassthroughOnly = (err: TranslationError) => err.code === 'unsupported_parameter' || err.code === 'unsupported_content';

/** Parses a chat body of `api`: invalid input fails (400), a feature only the native API has is kept for passthrough. */
export function parseInboundChat(api: InboundApi, raw: unknown): InboundChat {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TranslationError('invalid_request', 'the request body must be a JSON object');
  }
  const body = raw as JsonObject;
  let canonical: CanonicalRequest | undefined;
  let blocker: TranslationError | undefined;
  try {
    canonical = WIRE_APIS[api].decode(body);
  } catch (err) {
    if (!(err instanceof TranslationError) || WIRE_APIS[api].native === null || !isPassthroughOnly(err)) throw err;
    blocker = err;
  }
  if (canonical) {
    return { api, body, canonical, model: canonical.model, stream: canonical.stream, streamUsage: api === 'openai' ? canonical.streamUsage : true };
  }
  if (typeof body.model !== 'string' || !body.model) throw new TranslationError('missing_parameter', "'model' is required", 'model');
  const streamOptions = body.stream_options as { include_usage?: unknown } | null | undefined;
  return {
    api,
    body,
    blocker,
    model: body.model,
    stream: body.stream === true,
    streamUsage: api === 'openai' ? streamOptions?.include_usage === true : true,
  };
}
