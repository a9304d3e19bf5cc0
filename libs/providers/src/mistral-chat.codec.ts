import type { CanonicalFinishReason, CanonicalRequest, CanonicalResponse, CanonicalResponseBlock, CanonicalUsage } from './canonical';
import { isObject, JsonObject, optBoolean, optInteger, optNumber, optStopList, rejectUnknownFields, requireObject, requireString } from './json.util';
import {
  assignDefined,
  decodeChatChoiceContent,
  decodeChatMessages,
  decodeChatResponseFormat,
  decodeChatToolChoice,
  decodeChatTools,
  decodeMetadata,
  encodeChatResponseFormat,
  encodeChatTool,
  EncodeResponseOptions,
  imageToUrl,
  textOnly,
} from './openai-chat.codec';
import { toMistralToolCallId } from './tool-call-id.util';
import { badUpstream, TranslationError, unsupported } from './translation.error';

// Mistral chat completions <-> canonical. Shapes follow node_modules/@mistralai/mistralai
// (models/components) and the simulator's mistral.wire.ts. Mistral's API forbids unknown
// fields (422 extra_forbidden), so the encoder only sends the fields it lists.

const REQUEST_FIELDS = new Set([
  'model', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop', 'random_seed', 'metadata', 'messages', 'response_format', 'tools',
  'tool_choice', 'presence_penalty', 'frequency_penalty', 'n', 'parallel_tool_calls', 'prompt_mode', 'safe_prompt',
]);

export function decodeMistralRequest(body: unknown): CanonicalRequest {
  const b = requireObject(body, 'body');
  rejectUnknownFields(b, REQUEST_FIELDS);
  const n = optInteger(b.n, 'n', 1);
  if (n !== undefined && n !== 1) throw unsupported('n', "only 'n': 1 is supported when the request is served by another provider");
  if (b.safe_prompt === true) throw unsupported('safe_prompt', 'safe_prompt is Mistral-specific and cannot be honoured by another provider');
  if (b.prompt_mode !== undefined && b.prompt_mode !== null) throw unsupported('prompt_mode', 'prompt_mode is Mistral-specific and cannot be honoured by another provider');
  const { system, messages, prefill } = decodeChatMessages(b.messages, { developerRole: false, allowPrefix: true });
  const req: CanonicalRequest = { model: requireString(b.model, 'model'), system, messages, stream: optBoolean(b.stream, 'stream') ?? false, streamUsage: true };
  if (prefill) req.assistantPrefill = true;
  assignDefined(req, 'tools', decodeChatTools(b.tools));
  assignDefined(req, 'toolChoice', decodeChatToolChoice(b.tool_choice, true));
  assignDefined(req, 'parallelToolCalls', optBoolean(b.parallel_tool_calls, 'parallel_tool_calls'));
  assignDefined(req, 'maxOutputTokens', optInteger(b.max_tokens, 'max_tokens', 0));
  assignDefined(req, 'temperature', optNumber(b.temperature, 'temperature', 0, 2));
  assignDefined(req, 'topP', optNumber(b.top_p, 'top_p', 0, 1));
  assignDefined(req, 'presencePenalty', optNumber(b.presence_penalty, 'presence_penalty', -2, 2));
  assignDefined(req, 'frequencyPenalty', optNumber(b.frequency_penalty, 'frequency_penalty', -2, 2));
  assignDefined(req, 'stop', optStopList(b.stop, 'stop'));
  assignDefined(req, 'seed', optInteger(b.random_seed, 'random_seed', 0));
  assignDefined(req, 'responseFormat', decodeChatResponseFormat(b.response_format));
  assignDefined(req, 'metadata', decodeMetadata(b.metadata, 'metadata'));
  return req;
}

/** Canonical -> Mistral body. Tool call ids are mapped to Mistral's [a-zA-Z0-9]{9}. */
export function encodeMistralRequest(req: CanonicalRequest, upstreamModel: string): JsonObject {
  const messages: JsonObject[] = req.system.map((text) => ({ role: 'system', content: text }));
  req.messages.forEach((m, i) => {
    const p = `messages[${i}]`;
    if (m.role === 'system') messages.push({ role: 'system', content: m.content });
    else if (m.role === 'user') {
      const only = m.content.length === 1 && m.content[0].type === 'text';
      messages.push({
        role: 'user',
        content: only ? textOnly(m.content, `${p}.content`, 'Mistral') : m.content.map((x) => (x.type === 'text' ? { type: 'text', text: x.text } : { type: 'image_url', image_url: { url: imageToUrl(x) } })),
      });
    } else if (m.role === 'assistant') {
      const msg: JsonObject = { role: 'assistant', content: textOnly(m.content, `${p}.content`, 'Mistral') };
      if (m.toolCalls.length) {
        msg.tool_calls = m.toolCalls.map((c) => ({ id: toMistralToolCallId(c.id), type: 'function', function: { name: c.name, arguments: c.argumentsJson } }));
      }
      messages.push(msg);
    } else {
      if (m.isError) throw unsupported(`${p}.is_error`, 'Mistral has no way to mark a tool result as an error');
      messages.push({ role: 'tool', tool_call_id: toMistralToolCallId(m.toolCallId), content: textOnly(m.content, `${p}.content`, 'Mistral tool results') });
    }
  });
  const last = messages[messages.length - 1];
  if (last?.role === 'assistant') {
    if (!req.assistantPrefill) throw new TranslationError('unsupported_message_role', 'the last message must come from the user or a tool when served by Mistral', 'messages');
    last.prefix = true;
  }
  const body: JsonObject = { model: upstreamModel, messages };
  if (req.stream) body.stream = true;
  if (req.maxOutputTokens !== undefined) body.max_tokens = req.maxOutputTokens;
  if (req.temperature !== undefined) {
    if (req.temperature > 1.5) throw new TranslationError('invalid_parameter', `Mistral accepts temperature between 0 and 1.5, got ${req.temperature}`, 'temperature');
    body.temperature = req.temperature;
  }
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.presencePenalty !== undefined) body.presence_penalty = req.presencePenalty;
  if (req.frequencyPenalty !== undefined) body.frequency_penalty = req.frequencyPenalty;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.seed !== undefined) {
    if (req.seed < 0) throw new TranslationError('invalid_parameter', 'Mistral accepts only a non-negative random_seed', 'seed');
    body.random_seed = req.seed;
  }
  if (req.tools) body.tools = req.tools.map(encodeChatTool);
  if (req.toolChoice !== undefined) body.tool_choice = typeof req.toolChoice === 'string' ? req.toolChoice : { type: 'function', function: { name: req.toolChoice.name } };
  if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  if (req.responseFormat) body.response_format = encodeChatResponseFormat(req.responseFormat, 'schema');
  if (req.metadata !== undefined) body.metadata = req.metadata;
  return body;
}

const FINISH_FROM_MISTRAL: Record<string, CanonicalFinishReason> = {
  stop: 'stop',
  length: 'length',
  model_length: 'length',
  tool_calls: 'tool_calls',
  error: 'error',
  content_filter: 'content_filter',
};

export function decodeMistralFinishReason(v: unknown, param: string): CanonicalFinishReason {
  const r = typeof v === 'string' ? FINISH_FROM_MISTRAL[v] : undefined;
  if (!r) throw badUpstream(param, `unknown finish_reason ${JSON.stringify(v)}`);
  return r;
}

/** Mistral's enum has no content filter value; its finish_reason is an open enum, so the OpenAI name is kept. */
export const encodeMistralFinishReason = (r: CanonicalFinishReason): string => r;

/** Mistral reports prompt/completion tokens only (no cache or reasoning details). */
export function decodeMistralUsage(raw: unknown, param = 'usage'): CanonicalUsage {
  const u = isObject(raw) ? raw : {};
  const input = u.prompt_tokens;
  const output = u.completion_tokens;
  if (typeof input !== 'number' || typeof output !== 'number') throw badUpstream(param, 'the upstream did not report usage');
  return { inputTokens: input, outputTokens: output };
}

export function encodeMistralUsage(u: Partial<CanonicalUsage>): JsonObject {
  const input = u.inputTokens ?? 0;
  const output = u.outputTokens ?? 0;
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

export function decodeMistralResponse(body: unknown): CanonicalResponse {
  if (!isObject(body) || !Array.isArray(body.choices) || !isObject(body.choices[0])) throw badUpstream('choices', 'the upstream answered without choices');
  const choice = body.choices[0];
  const content = decodeChatChoiceContent(isObject(choice.message) ? choice.message : {}, 'choices[0].message');
  let finishReason = decodeMistralFinishReason(choice.finish_reason, 'choices[0].finish_reason');
  if (finishReason === 'stop' && content.some((b) => b.type === 'tool_call')) finishReason = 'tool_calls';
  return { id: typeof body.id === 'string' ? body.id : '', model: typeof body.model === 'string' ? body.model : '', content, finishReason, usage: decodeMistralUsage(body.usage) };
}

export function encodeMistralResponse(res: CanonicalResponse, requestedModel: string, options: EncodeResponseOptions = {}): JsonObject {
  const text = res.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  const calls = res.content.filter((b): b is Extract<CanonicalResponseBlock, { type: 'tool_call' }> => b.type === 'tool_call');
  const toolCalls = calls.length ? calls.map((c, index) => ({ id: toMistralToolCallId(c.id), function: { name: c.name, arguments: c.argumentsJson }, index })) : null;
  return {
    id: res.id,
    object: 'chat.completion',
    created: options.created ?? Math.floor(Date.now() / 1000),
    model: requestedModel,
    choices: [{ index: 0, message: { role: 'assistant', tool_calls: toolCalls, content: text }, finish_reason: encodeMistralFinishReason(res.finishReason), logprobs: null }],
    usage: encodeMistralUsage(res.usage),
  };
}

const MISTRAL_ERROR_TYPES: Record<number, string> = {
  500: 'internal_server_error',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

/** Mistral's error body: `{ object: 'error', message, type, param, code }`. */
export function encodeMistralError(status: number, code: string, message: string, param?: string | null): JsonObject {
  const type = MISTRAL_ERROR_TYPES[status] ?? (status >= 500 ? 'internal_server_error' : 'invalid_request_error');
  return { object: 'error', message, type, param: param ?? null, code };
}
