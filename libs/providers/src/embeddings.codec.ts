import { isObject, JsonObject } from './json.util';
import { badUpstream, invalidParam, TranslationError, unsupported } from './translation.error';

/**
 * Embeddings between OpenAI and Mistral (Anthropic has no embeddings API). The two shapes
 * differ in field names (`dimensions` / `output_dimension`), in what an input may be (OpenAI
 * also takes token arrays) and in the error body.
 */
export interface CanonicalEmbeddingsRequest {
  model: string;
  /** Texts, or (OpenAI only) pre-tokenized inputs. */
  input: string[] | number[][];
  /** True when the caller sent one input rather than a list. */
  single: boolean;
  dimensions?: number;
  encodingFormat?: 'float' | 'base64';
  user?: string;
}

export interface CanonicalEmbeddings {
  /** One vector per input, in input order (a base64 string when encodingFormat is base64). */
  vectors: Array<number[] | string>;
  inputTokens: number;
}

const MAX_INPUTS = 2048;

function requireModel(b: JsonObject): string {
  if (b.model === undefined) throw new TranslationError('missing_parameter', "'model' is required", 'model');
  if (typeof b.model !== 'string' || !b.model) throw invalidParam('model', "'model' must be a non-empty string");
  return b.model;
}

function requireBody(body: unknown): JsonObject {
  if (!isObject(body)) throw new TranslationError('invalid_request', 'the request body must be a JSON object', null);
  return body;
}

function decodeInput(raw: unknown, allowTokens: boolean): { input: string[] | number[][]; single: boolean } {
  if (raw === undefined) throw new TranslationError('missing_parameter', "'input' is required", 'input');
  const isTokens = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && (t as number) >= 0);
  if (typeof raw === 'string') {
    if (!raw) throw invalidParam('input', "'input' must not be empty");
    return { input: [raw], single: true };
  }
  if (!Array.isArray(raw) || raw.length === 0) throw invalidParam('input', "'input' must be a string or a non-empty array of strings");
  if (raw.length > MAX_INPUTS) throw invalidParam('input', `'input' may hold at most ${MAX_INPUTS} items`);
  if (raw.every((v) => typeof v === 'string')) {
    const empty = raw.findIndex((v) => v === '');
    if (empty >= 0) throw invalidParam(`input[${empty}]`, 'inputs must not be empty strings');
    return { input: raw as string[], single: false };
  }
  if (allowTokens && isTokens(raw)) return { input: [raw], single: true };
  if (allowTokens && raw.every(isTokens)) return { input: raw as number[][], single: false };
  const bad = raw.findIndex((v) => typeof v !== 'string');
  throw invalidParam(`input[${bad}]`, allowTokens ? 'each input must be a string or an array of token ids' : 'each input must be a string');
}

function optPositiveInt(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v) || (v as number) < 1) throw invalidParam(param, `'${param}' must be a positive integer`);
  return v as number;
}

function decodeFormat(v: unknown, param: string): 'float' | 'base64' | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'float' || v === 'base64') return v;
  throw invalidParam(param, `'${param}' must be 'float' or 'base64'`);
}

function rejectUnknown(b: JsonObject, allowed: ReadonlySet<string>): void {
  for (const key of Object.keys(b)) if (!allowed.has(key)) throw unsupported(key, `'${key}' is not supported`);
}

const OPENAI_FIELDS = new Set(['model', 'input', 'dimensions', 'encoding_format', 'user']);
const MISTRAL_FIELDS = new Set(['model', 'input', 'output_dimension', 'output_dtype', 'encoding_format', 'metadata']);

export function decodeOpenAIEmbeddingsRequest(body: unknown): CanonicalEmbeddingsRequest {
  const b = requireBody(body);
  rejectUnknown(b, OPENAI_FIELDS);
  const req: CanonicalEmbeddingsRequest = { model: requireModel(b), ...decodeInput(b.input, true) };
  const dimensions = optPositiveInt(b.dimensions, 'dimensions');
  if (dimensions !== undefined) req.dimensions = dimensions;
  const format = decodeFormat(b.encoding_format, 'encoding_format');
  if (format) req.encodingFormat = format;
  if (b.user !== undefined) {
    if (typeof b.user !== 'string') throw invalidParam('user', "'user' must be a string");
    req.user = b.user;
  }
  return req;
}

export function decodeMistralEmbeddingsRequest(body: unknown): CanonicalEmbeddingsRequest {
  const b = requireBody(body);
  rejectUnknown(b, MISTRAL_FIELDS);
  const req: CanonicalEmbeddingsRequest = { model: requireModel(b), ...decodeInput(b.input, false) };
  const dimensions = optPositiveInt(b.output_dimension, 'output_dimension');
  if (dimensions !== undefined) req.dimensions = dimensions;
  if (b.output_dtype !== undefined && b.output_dtype !== null && b.output_dtype !== 'float') {
    throw unsupported('output_dtype', "only output_dtype 'float' can be served by another provider");
  }
  const format = decodeFormat(b.encoding_format, 'encoding_format');
  if (format) req.encodingFormat = format;
  return req;
}

export function encodeOpenAIEmbeddingsRequest(req: CanonicalEmbeddingsRequest, upstreamModel: string): JsonObject {
  const out: JsonObject = { model: upstreamModel, input: req.single ? req.input[0] : req.input };
  if (req.dimensions !== undefined) out.dimensions = req.dimensions;
  if (req.encodingFormat) out.encoding_format = req.encodingFormat;
  if (req.user !== undefined) out.user = req.user;
  return out;
}

export function encodeMistralEmbeddingsRequest(req: CanonicalEmbeddingsRequest, upstreamModel: string): JsonObject {
  if (req.input.some((v) => typeof v !== 'string')) throw unsupported('input', 'Mistral accepts text inputs only, not token arrays');
  const out: JsonObject = { model: upstreamModel, input: req.input as string[] };
  if (req.dimensions !== undefined) out.output_dimension = req.dimensions;
  if (req.encodingFormat) out.encoding_format = req.encodingFormat;
  return out;
}

/** Reads an OpenAI or Mistral embeddings response (same body, Mistral adds an id). */
export function decodeEmbeddingsResponse(body: unknown): CanonicalEmbeddings {
  if (!isObject(body) || !Array.isArray(body.data)) throw badUpstream('data', 'the upstream answered without embeddings');
  const rows = body.data.map((d, i) => {
    if (!isObject(d) || !(Array.isArray(d.embedding) || typeof d.embedding === 'string')) throw badUpstream(`data[${i}].embedding`, 'missing embedding');
    return { index: typeof d.index === 'number' ? d.index : i, vector: d.embedding as number[] | string };
  });
  rows.sort((a, b) => a.index - b.index);
  const usage = isObject(body.usage) ? body.usage : {};
  const tokens = usage.prompt_tokens ?? usage.total_tokens;
  if (typeof tokens !== 'number' || !Number.isFinite(tokens) || tokens < 0) throw badUpstream('usage', 'the upstream did not report usage');
  return { vectors: rows.map((r) => r.vector), inputTokens: Math.floor(tokens) };
}

export function encodeOpenAIEmbeddingsResponse(res: CanonicalEmbeddings, requestedModel: string): JsonObject {
  return {
    object: 'list',
    data: res.vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model: requestedModel,
    usage: { prompt_tokens: res.inputTokens, total_tokens: res.inputTokens },
  };
}

export function encodeMistralEmbeddingsResponse(res: CanonicalEmbeddings, requestedModel: string, id: string): JsonObject {
  return {
    id,
    object: 'list',
    data: res.vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model: requestedModel,
    usage: { prompt_tokens: res.inputTokens, completion_tokens: 0, total_tokens: res.inputTokens },
  };
}
