import type {
  CanonicalContentPart,
  CanonicalFinishReason,
  CanonicalMessage,
  CanonicalRequest,
  CanonicalResponse,
  CanonicalResponseBlock,
  CanonicalResponseFormat,
  CanonicalTool,
  CanonicalToolCall,
  CanonicalToolChoice,
  CanonicalUsage,
} from './canonical';
import {
  isObject,
  JsonObject,
  optBoolean,
  optInteger,
  optNumber,
  optStopList,
  optString,
  rejectUnknownFields,
  requireArray,
  requireObject,
  requireString,
} from './json.util';
import { badUpstream, invalidParam, TranslationError, unsupported } from './translation.error';

// OpenAI Chat Completions <-> canonical. Shapes follow node_modules/openai
// (resources/chat/completions) and the simulator's openai.wire.ts.

/** Fields understood; `store`, `service_tier`, `prompt_cache_key`, `safety_identifier` have no effect on the output. */
const REQUEST_FIELDS = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'seed',
  'response_format', 'tools', 'tool_choice', 'parallel_tool_calls', 'user', 'metadata', 'n', 'presence_penalty', 'frequency_penalty',
  'logprobs', 'store', 'service_tier', 'prompt_cache_key', 'safety_identifier',
]);

export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m ? { mediaType: m[1], data: m[2] } : undefined;
}

export function imageToUrl(part: Extract<CanonicalContentPart, { type: 'image' }>): string {
  return part.source.kind === 'url' ? part.source.url : `data:${part.source.mediaType};base64,${part.source.data}`;
}

function imagePart(url: string): CanonicalContentPart {
  const data = parseDataUrl(url);
  return { type: 'image', source: data ? { kind: 'base64', ...data } : { kind: 'url', url } };
}

/** Content of a chat message: a string or an array of parts (text, image_url; refusal on assistant). */
export function decodeChatContent(content: unknown, param: string, allowImages: boolean): CanonicalContentPart[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  const parts = requireArray(content, param);
  return parts.map((raw, i): CanonicalContentPart => {
    const p = `${param}[${i}]`;
    const part = requireObject(raw, p);
    if (part.type === 'text') return { type: 'text', text: requireString(part.text, `${p}.text`) };
    if (part.type === 'image_url' && allowImages) {
      const img = part.image_url;
      const url = typeof img === 'string' ? img : requireString(requireObject(img, `${p}.image_url`).url, `${p}.image_url.url`);
      return imagePart(url);
    }
    throw new TranslationError('unsupported_content', `content part type '${String(part.type)}' is not supported here`, `${p}.type`);
  });
}

function decodeToolCalls(raw: unknown, param: string): CanonicalToolCall[] {
  if (raw === undefined || raw === null) return [];
  return requireArray(raw, param).map((c, i) => {
    const p = `${param}[${i}]`;
    const call = requireObject(c, p);
    if (call.type !== undefined && call.type !== 'function') throw unsupported(`${p}.type`, `tool call type '${String(call.type)}' is not supported`);
    const fn = requireObject(call.function, `${p}.function`);
    const args = fn.arguments;
    return {
      id: requireString(call.id, `${p}.id`),
      name: requireString(fn.name, `${p}.function.name`),
      argumentsJson: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
    };
  });
}

/** Messages shared by OpenAI and Mistral chat (roles system/developer/user/assistant/tool). */
export function decodeChatMessages(raw: unknown, opts: { developerRole: boolean; allowPrefix: boolean }): { system: string[]; messages: CanonicalMessage[]; prefill: boolean } {
  const list = requireArray(raw, 'messages');
  if (!list.length) throw invalidParam('messages', "'messages' must contain at least one message");
  const system: string[] = [];
  const messages: CanonicalMessage[] = [];
  let prefill = false;
  list.forEach((m, i) => {
    const p = `messages[${i}]`;
    const msg = requireObject(m, p);
    const role = msg.role;
    if (msg.name !== undefined && role !== 'tool') throw unsupported(`${p}.name`, 'participant names are not supported when the request is served by another provider');
    if (role === 'system' || (role === 'developer' && opts.developerRole)) {
      const text = decodeChatContent(msg.content, `${p}.content`, false)
        .map((part) => (part.type === 'text' ? part.text : ''))
        .join('');
      if (messages.length === 0) system.push(text);
      else messages.push({ role: 'system', content: text });
    } else if (role === 'user') {
      messages.push({ role: 'user', content: decodeChatContent(msg.content, `${p}.content`, true) });
    } else if (role === 'assistant') {
      if (msg.refusal !== undefined && msg.refusal !== null) throw unsupported(`${p}.refusal`, 'assistant refusals cannot be replayed to another provider');
      if (msg.audio !== undefined && msg.audio !== null) throw unsupported(`${p}.audio`, 'audio is not supported');
      if (msg.prefix !== undefined && msg.prefix !== false) {
        if (!opts.allowPrefix) throw unsupported(`${p}.prefix`, "'prefix' is not supported");
        if (msg.prefix !== true || i !== list.length - 1) throw invalidParam(`${p}.prefix`, "'prefix': true is allowed only on the last message");
        prefill = true;
      }
      messages.push({ role: 'assistant', content: decodeChatContent(msg.content, `${p}.content`, false), toolCalls: decodeToolCalls(msg.tool_calls, `${p}.tool_calls`) });
    } else if (role === 'tool') {
      messages.push({ role: 'tool', toolCallId: requireString(msg.tool_call_id, `${p}.tool_call_id`), content: decodeChatContent(msg.content, `${p}.content`, false) });
    } else {
      throw new TranslationError('unsupported_message_role', `message role '${String(role)}' is not supported`, `${p}.role`);
    }
  });
  return { system, messages, prefill };
}

export function decodeChatTools(raw: unknown): CanonicalTool[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  return requireArray(raw, 'tools').map((t, i) => {
    const p = `tools[${i}]`;
    const tool = requireObject(t, p);
    if (tool.type !== 'function') throw unsupported(`${p}.type`, `tool type '${String(tool.type)}' is not supported`);
    const fn = requireObject(tool.function, `${p}.function`);
    const out: CanonicalTool = {
      name: requireString(fn.name, `${p}.function.name`),
      jsonSchema: fn.parameters === undefined || fn.parameters === null ? { type: 'object', properties: {} } : requireObject(fn.parameters, `${p}.function.parameters`),
    };
    const description = optString(fn.description, `${p}.function.description`);
    if (description !== undefined) out.description = description;
    const strict = optBoolean(fn.strict, `${p}.function.strict`);
    if (strict !== undefined) out.strict = strict;
    return out;
  });
}

export function decodeChatToolChoice(raw: unknown, extraAny: boolean): CanonicalToolChoice | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (raw === 'auto' || raw === 'none' || raw === 'required') return raw;
  if (raw === 'any' && extraAny) return 'required';
  if (isObject(raw) && (raw.type === 'function' || raw.type === undefined) && isObject(raw.function)) {
    return { name: requireString(raw.function.name, 'tool_choice.function.name') };
  }
  throw invalidParam('tool_choice', "'tool_choice' must be 'auto', 'none', 'required' or a named function");
}

export function decodeChatResponseFormat(raw: unknown): CanonicalResponseFormat | undefined {
  if (raw === undefined || raw === null) return undefined;
  const rf = requireObject(raw, 'response_format');
  if (rf.type === 'text' || rf.type === 'json_object') return { type: rf.type };
  if (rf.type === 'json_schema') {
    const js = requireObject(rf.json_schema, 'response_format.json_schema');
    const out: CanonicalResponseFormat = {
      type: 'json_schema',
      name: requireString(js.name, 'response_format.json_schema.name'),
      schema: js.schema === undefined ? {} : requireObject(js.schema, 'response_format.json_schema.schema'),
    };
    const description = optString(js.description, 'response_format.json_schema.description');
    if (description !== undefined) out.description = description;
    const strict = optBoolean(js.strict, 'response_format.json_schema.strict');
    if (strict !== undefined && strict !== null) out.strict = strict;
    return out;
  }
  throw invalidParam('response_format.type', `response_format type '${String(rf.type)}' is not supported`);
}

export function decodeMetadata(raw: unknown, param: string): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  const obj = requireObject(raw, param);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = requireString(v, `${param}.${k}`);
  return out;
}

/** Sets `key` on `target` only when the value is defined (keeps canonical objects minimal). */
export function assignDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

export function decodeOpenAIRequest(body: unknown): CanonicalRequest {
  const b = requireObject(body, 'body');
  rejectUnknownFields(b, REQUEST_FIELDS);
  const n = optInteger(b.n, 'n', 1);
  if (n !== undefined && n !== 1) throw unsupported('n', "only 'n': 1 is supported when the request is served by another provider");
  if (b.logprobs === true) throw unsupported('logprobs', 'logprobs are not supported when the request is served by another provider');
  const { system, messages } = decodeChatMessages(b.messages, { developerRole: true, allowPrefix: false });
  const stream = optBoolean(b.stream, 'stream') ?? false;
  const streamOptions = b.stream_options === undefined || b.stream_options === null ? undefined : requireObject(b.stream_options, 'stream_options');
  const req: CanonicalRequest = {
    model: requireString(b.model, 'model'),
    system,
    messages,
    stream,
    streamUsage: optBoolean(streamOptions?.include_usage, 'stream_options.include_usage') ?? false,
  };
  assignDefined(req, 'tools', decodeChatTools(b.tools));
  assignDefined(req, 'toolChoice', decodeChatToolChoice(b.tool_choice, false));
  assignDefined(req, 'parallelToolCalls', optBoolean(b.parallel_tool_calls, 'parallel_tool_calls'));
  assignDefined(req, 'maxOutputTokens', optInteger(b.max_completion_tokens, 'max_completion_tokens', 1) ?? optInteger(b.max_tokens, 'max_tokens', 1));
  assignDefined(req, 'temperature', optNumber(b.temperature, 'temperature', 0, 2));
  assignDefined(req, 'topP', optNumber(b.top_p, 'top_p', 0, 1));
  assignDefined(req, 'presencePenalty', optNumber(b.presence_penalty, 'presence_penalty', -2, 2));
  assignDefined(req, 'frequencyPenalty', optNumber(b.frequency_penalty, 'frequency_penalty', -2, 2));
  assignDefined(req, 'stop', optStopList(b.stop, 'stop'));
  assignDefined(req, 'seed', optInteger(b.seed, 'seed'));
  assignDefined(req, 'responseFormat', decodeChatResponseFormat(b.response_format));
  assignDefined(req, 'user', optString(b.user, 'user'));
  assignDefined(req, 'metadata', decodeMetadata(b.metadata, 'metadata'));
  return req;
}

/** Text-only content as a string when it is one plain text part, parts otherwise. */
function encodeUserContent(parts: CanonicalContentPart[]): string | JsonObject[] {
  if (parts.length === 1 && parts[0].type === 'text') return parts[0].text;
  return parts.map((p) => (p.type === 'text' ? { type: 'text', text: p.text } : { type: 'image_url', image_url: { url: imageToUrl(p) } }));
}

export function textOnly(parts: CanonicalContentPart[], param: string, target: string): string {
  if (parts.some((p) => p.type === 'image')) throw new TranslationError('unsupported_content', `${target} does not accept images here`, param);
  return parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

/** Canonical -> OpenAI chat completions body for `upstreamModel`. Usage is always requested in streams. */
export function encodeOpenAIRequest(req: CanonicalRequest, upstreamModel: string): JsonObject {
  if (req.assistantPrefill) throw unsupported('messages', 'OpenAI cannot continue a prefilled assistant message');
  const messages: JsonObject[] = req.system.map((text) => ({ role: 'system', content: text }));
  req.messages.forEach((m, i) => {
    const p = `messages[${i}]`;
    if (m.role === 'system') messages.push({ role: 'system', content: m.content });
    else if (m.role === 'user') messages.push({ role: 'user', content: encodeUserContent(m.content) });
    else if (m.role === 'assistant') {
      const text = textOnly(m.content, `${p}.content`, 'OpenAI');
      const msg: JsonObject = { role: 'assistant', content: text === '' && m.toolCalls.length ? null : text };
      if (m.toolCalls.length) msg.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.argumentsJson } }));
      messages.push(msg);
    } else {
      if (m.isError) throw unsupported(`${p}.is_error`, 'OpenAI has no way to mark a tool result as an error');
      messages.push({ role: 'tool', tool_call_id: m.toolCallId, content: textOnly(m.content, `${p}.content`, 'OpenAI tool results') });
    }
  });
  const body: JsonObject = { model: upstreamModel, messages };
  if (req.stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  if (req.maxOutputTokens !== undefined) body.max_completion_tokens = req.maxOutputTokens;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.presencePenalty !== undefined) body.presence_penalty = req.presencePenalty;
  if (req.frequencyPenalty !== undefined) body.frequency_penalty = req.frequencyPenalty;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.tools) body.tools = req.tools.map(encodeChatTool);
  if (req.toolChoice !== undefined) body.tool_choice = typeof req.toolChoice === 'string' ? req.toolChoice : { type: 'function', function: { name: req.toolChoice.name } };
  if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  if (req.responseFormat) body.response_format = encodeChatResponseFormat(req.responseFormat, 'schema');
  if (req.user !== undefined) body.user = req.user;
  return body;
}

export function encodeChatTool(t: CanonicalTool): JsonObject {
  const fn: JsonObject = { name: t.name, parameters: t.jsonSchema };
  if (t.description !== undefined) fn.description = t.description;
  if (t.strict !== undefined) fn.strict = t.strict;
  return { type: 'function', function: fn };
}

export function encodeChatResponseFormat(rf: CanonicalResponseFormat, schemaKey: string): JsonObject {
  if (rf.type !== 'json_schema') return { type: rf.type };
  const js: JsonObject = { name: rf.name, [schemaKey]: rf.schema };
  if (rf.description !== undefined) js.description = rf.description;
  if (rf.strict !== undefined) js.strict = rf.strict;
  return { type: 'json_schema', json_schema: js };
}

const FINISH_FROM_OPENAI: Record<string, CanonicalFinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
};

export function decodeOpenAIFinishReason(v: unknown, param: string): CanonicalFinishReason {
  const r = typeof v === 'string' ? FINISH_FROM_OPENAI[v] : undefined;
  if (!r) throw badUpstream(param, `unknown finish_reason ${JSON.stringify(v)}`);
  return r;
}

export function encodeOpenAIFinishReason(r: CanonicalFinishReason): string {
  if (r === 'error') throw new TranslationError('upstream_error_finish', 'the upstream model stopped with an error', null, 502);
  return r;
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** OpenAI usage -> canonical (prompt_tokens already includes cached tokens). */
export function decodeOpenAIUsage(raw: unknown, param = 'usage'): CanonicalUsage {
  const u = isObject(raw) ? raw : undefined;
  const input = count(u?.prompt_tokens);
  const output = count(u?.completion_tokens);
  if (input === undefined || output === undefined) throw badUpstream(param, 'the upstream did not report usage');
  const usage: CanonicalUsage = { inputTokens: input, outputTokens: output };
  const cached = isObject(u?.prompt_tokens_details) ? count(u?.prompt_tokens_details.cached_tokens) : undefined;
  const reasoning = isObject(u?.completion_tokens_details) ? count(u?.completion_tokens_details.reasoning_tokens) : undefined;
  if (cached !== undefined) usage.cachedInputTokens = cached;
  if (reasoning !== undefined) usage.reasoningTokens = reasoning;
  return usage;
}

export function encodeOpenAIUsage(u: CanonicalUsage): JsonObject {
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
  };
}

/** Message text and tool calls of a chat completion choice (OpenAI and Mistral). */
export function decodeChatChoiceContent(message: JsonObject, param: string): CanonicalResponseBlock[] {
  const blocks: CanonicalResponseBlock[] = [];
  const content = message.content;
  let text = '';
  if (typeof content === 'string') text = content;
  else if (Array.isArray(content)) {
    for (const c of content) if (isObject(c) && c.type === 'text' && typeof c.text === 'string') text += c.text;
  }
  if (typeof message.refusal === 'string' && message.refusal) text += message.refusal;
  if (text) blocks.push({ type: 'text', text });
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((c, i) => {
      const call = isObject(c) ? c : {};
      const fn = isObject(call.function) ? call.function : {};
      if (typeof call.id !== 'string' || typeof fn.name !== 'string') throw badUpstream(`${param}.tool_calls[${i}]`, 'tool call without id or name');
      const args = fn.arguments;
      blocks.push({ type: 'tool_call', id: call.id, name: fn.name, argumentsJson: typeof args === 'string' ? args : JSON.stringify(args ?? {}) });
    });
  }
  return blocks;
}

export function decodeOpenAIResponse(body: unknown): CanonicalResponse {
  if (!isObject(body) || !Array.isArray(body.choices) || !isObject(body.choices[0])) throw badUpstream('choices', 'the upstream answered without choices');
  const choice = body.choices[0];
  const message = isObject(choice.message) ? choice.message : {};
  const content = decodeChatChoiceContent(message, 'choices[0].message');
  let finishReason = decodeOpenAIFinishReason(choice.finish_reason, 'choices[0].finish_reason');
  // OpenAI finishes a call forced by a named tool_choice with 'stop'; other APIs say tool use.
  if (finishReason === 'stop' && content.some((b) => b.type === 'tool_call')) finishReason = 'tool_calls';
  return {
    id: typeof body.id === 'string' ? body.id : '',
    model: typeof body.model === 'string' ? body.model : '',
    content,
    finishReason,
    usage: decodeOpenAIUsage(body.usage),
  };
}

export interface EncodeResponseOptions {
  /** Unix seconds for `created`; default now. */
  created?: number;
}

export function encodeOpenAIResponse(res: CanonicalResponse, requestedModel: string, options: EncodeResponseOptions = {}): JsonObject {
  const text = res.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  const calls = res.content.filter((b): b is Extract<CanonicalResponseBlock, { type: 'tool_call' }> => b.type === 'tool_call');
  const message: JsonObject = { role: 'assistant', content: text === '' && calls.length ? null : text, refusal: null, annotations: [] };
  if (calls.length) message.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.argumentsJson } }));
  return {
    id: res.id,
    object: 'chat.completion',
    created: options.created ?? Math.floor(Date.now() / 1000),
    model: requestedModel,
    choices: [{ index: 0, message, logprobs: null, finish_reason: encodeOpenAIFinishReason(res.finishReason) }],
    usage: encodeOpenAIUsage(res.usage),
  };
}

const OPENAI_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** OpenAI's error body `{ error: { message, type, param, code } }`. */
export function encodeOpenAIError(status: number, code: string, message: string, param?: string | null): JsonObject {
  return { error: { message, type: OPENAI_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), param: param ?? null, code } };
}
