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
  optNumber,
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

interface ChatMessageOptions {
  developerRole: boolean;
  allowPrefix: boolean;
}

interface DecodedChatMessages {
  system: string[];
  messages: CanonicalMessage[];
  prefill: boolean;
}

/** Messages shared by OpenAI and Mistral chat (roles system/developer/user/assistant/tool). */
export function decodeChatMessages(raw: unknown, opts: ChatMessageOptions): DecodedChatMessages {
  const list = requireArray(raw, 'messages');
  if (!list.length) throw invalidParam('messages', "'messages' must contain at least one message");
  const out: DecodedChatMessages = { system: [], messages: [], prefill: false };
  list.forEach((m, i) => decodeChatMessage(requireObject(m, `messages[${i}]`), i, i === list.length - 1, opts, out));
  return out;
}

/** Adds message `i` to `out`: a leading system/developer message is hoisted into `system`. */
function decodeChatMessage(msg: JsonObject, i: number, last: boolean, opts: ChatMessageOptions, out: DecodedChatMessages): void {
  const p = `messages[${i}]`;
  const role = msg.role;
  if (msg.name !== undefined && role !== 'tool') throw unsupported(`${p}.name`, 'participant names are not supported when the request is served by another provider');
  if (role === 'system' || (role === 'developer' && opts.developerRole)) {
    const text = decodeChatContent(msg.content, `${p}.content`, false)
      .map((part) => (part.type === 'text' ? part.text : ''))
      .join('');
    if (out.messages.length === 0) out.system.push(text);
    else out.messages.push({ role: 'system', content: text });
  } else if (role === 'user') {
    out.messages.push({ role: 'user', content: decodeChatContent(msg.content, `${p}.content`, true) });
  } else if (role === 'assistant') {
    if (msg.refusal !== undefined && msg.refusal !== null) throw unsupported(`${p}.refusal`, 'assistant refusals cannot be replayed to another provider');
    if (msg.audio !== undefined && msg.audio !== null) throw unsupported(`${p}.audio`, 'audio is not supported');
    if (msg.prefix !== undefined && msg.prefix !== false) {
      if (!opts.allowPrefix) throw unsupported(`${p}.prefix`, "'prefix' is not supported");
      if (msg.prefix !== true || !last) throw invalidParam(`${p}.prefix`, "'prefix': true is allowed only on the last message");
      out.prefill = true;
    }
    out.messages.push({ role: 'assistant', content: decodeChatContent(msg.content, `${p}.content`, false), toolCalls: decodeToolCalls(msg.tool_calls, `${p}.tool_calls`) });
  } else if (role === 'tool') {
    out.messages.push({ role: 'tool', toolCallId: requireString(msg.tool_call_id, `${p}.tool_call_id`), content: decodeChatContent(msg.content, `${p}.content`, false) });
  } else {
    throw new TranslationError('unsupported_message_role', `message role '${String(role)}' is not supported`, `${p}.role`);
  }
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

// --- OpenAI's own rules ----------------------------------------------------------------------
// A body OpenAI's API refuses is refused for every upstream, in OpenAI's terms: code
// `invalid_type` when a field has the wrong JSON type, `invalid_value` when its value is not
// allowed, `param` the path of the field. These are checked in one pass with the decoding;
// whatever only stops translation (a field valid in OpenAI that another API cannot express) is
// kept aside until the whole body has met the rules, so it never hides a refusal.

const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];
const RESPONSE_FORMAT_TYPES = ['text', 'json_object', 'json_schema'];
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const POSITIVE_INTEGER = { integer: true, above: 0 };

const jsonType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function wrongType(param: string, expected: string, v: unknown): TranslationError {
  return new TranslationError('invalid_type', v === undefined ? `${param}: is required` : `${param}: Expected ${expected}, received ${jsonType(v)}`, param);
}

const wrongValue = (param: string, message: string): TranslationError => new TranslationError('invalid_value', `${param}: ${message}`, param);

function ruleObject(v: unknown, param: string): JsonObject {
  if (!isObject(v)) throw wrongType(param, 'object', v);
  return v;
}

function ruleArray(v: unknown, param: string, max = Infinity): unknown[] {
  if (!Array.isArray(v)) throw wrongType(param, 'array', v);
  if (v.length > max) throw wrongValue(param, `Array must contain at most ${max} element(s)`);
  return v;
}

function ruleString(v: unknown, param: string, min = 0, max = Infinity): string {
  if (typeof v !== 'string') throw wrongType(param, 'string', v);
  if (v.length < min) throw wrongValue(param, `String must contain at least ${min} character(s)`);
  if (v.length > max) throw wrongValue(param, `String must contain at most ${max} character(s)`);
  return v;
}

function ruleBoolean(v: unknown, param: string): boolean {
  if (typeof v !== 'boolean') throw wrongType(param, 'boolean', v);
  return v;
}

function ruleNumber(v: unknown, param: string, rule: { integer?: boolean; min?: number; max?: number; above?: number } = {}): number {
  if (typeof v !== 'number') throw wrongType(param, 'number', v);
  if (rule.integer && !Number.isInteger(v)) throw new TranslationError('invalid_type', `${param}: Expected integer, received float`, param);
  if (rule.above !== undefined && v <= rule.above) throw wrongValue(param, `Number must be greater than ${rule.above}`);
  if (rule.min !== undefined && v < rule.min) throw wrongValue(param, `Number must be greater than or equal to ${rule.min}`);
  if (rule.max !== undefined && v > rule.max) throw wrongValue(param, `Number must be less than or equal to ${rule.max}`);
  return v;
}

function ruleEnum(v: unknown, param: string, values: readonly string[]): string {
  if (typeof v === 'string' && values.includes(v)) return v;
  const expected = values.map((x) => `'${x}'`).join(' | ');
  if (typeof v !== 'string') throw wrongType(param, expected, v);
  throw wrongValue(param, `Invalid enum value. Expected ${expected}, received '${v}'`);
}

function ruleFunctionType(v: unknown, param: string): void {
  if (v !== 'function') throw wrongValue(param, 'Invalid literal value, expected "function"');
}

/** Whether `v` is given; with `nullable`, null counts as not given (OpenAI allows null on that field). */
const present = (v: unknown, nullable: boolean): boolean => v !== undefined && (v !== null || !nullable);

/** The first problem that only stops translation (or that the decoder alone finds), raised once OpenAI's rules have all passed. */
class DeferredProblem {
  first?: TranslationError;

  note(problem: TranslationError): void {
    this.first ??= problem;
  }

  run<T>(decode: () => T): T | undefined {
    try {
      return decode();
    } catch (err) {
      if (!(err instanceof TranslationError)) throw err;
      this.note(err);
      return undefined;
    }
  }
}

/** Content: a string, null or a list of parts that each have a type. */
function checkOpenAIContent(content: unknown, param: string): void {
  if (content === undefined || content === null || typeof content === 'string') return;
  const parts = Array.isArray(content) && content.every((part) => isObject(part) && typeof part.type === 'string') ? (content as JsonObject[]) : undefined;
  if (!parts) throw wrongValue(param, 'must be a string, null or an array of content parts with a type');
  const untyped = parts.findIndex((part) => part.type === '');
  if (untyped >= 0) throw wrongValue(`${param}[${untyped}].type`, 'String must contain at least 1 character(s)');
}

function checkOpenAIToolCalls(raw: unknown, param: string): number {
  if (raw === undefined) return 0;
  const calls = ruleArray(raw, param);
  calls.forEach((c, i) => {
    const p = `${param}[${i}]`;
    const call = ruleObject(c, p);
    ruleString(call.id, `${p}.id`, 1);
    ruleFunctionType(call.type, `${p}.type`);
    const fn = ruleObject(call.function, `${p}.function`);
    ruleString(fn.name, `${p}.function.name`, 1);
    ruleString(fn.arguments, `${p}.function.arguments`);
  });
  return calls.length;
}

/** A message as OpenAI accepts it: a known role, typed fields, content unless an assistant calls tools, a tool message's call id. */
function checkOpenAIMessage(raw: unknown, p: string): JsonObject {
  const msg = ruleObject(raw, p);
  const role = ruleEnum(msg.role, `${p}.role`, MESSAGE_ROLES);
  checkOpenAIContent(msg.content, `${p}.content`);
  if (msg.name !== undefined) ruleString(msg.name, `${p}.name`);
  const toolCalls = checkOpenAIToolCalls(msg.tool_calls, `${p}.tool_calls`);
  if (msg.tool_call_id !== undefined) ruleString(msg.tool_call_id, `${p}.tool_call_id`);
  const c = msg.content;
  const hasContent = c !== undefined && c !== null && c !== '' && !(Array.isArray(c) && !c.length);
  if (!hasContent && (role !== 'assistant' || !toolCalls)) throw wrongValue(`${p}.content`, `${role === 'assistant' ? 'an' : 'a'} ${role} message needs content`);
  if (role === 'tool' && !msg.tool_call_id) throw wrongValue(`${p}.tool_call_id`, 'a tool message needs tool_call_id');
  return msg;
}

function decodeOpenAIMessages(raw: unknown, deferred: DeferredProblem): DecodedChatMessages {
  const list = ruleArray(raw, 'messages');
  if (!list.length) throw wrongValue('messages', 'must contain at least one message');
  const out: DecodedChatMessages = { system: [], messages: [], prefill: false };
  const opts: ChatMessageOptions = { developerRole: true, allowPrefix: false };
  list.forEach((m, i) => {
    const msg = checkOpenAIMessage(m, `messages[${i}]`);
    deferred.run(() => decodeChatMessage(msg, i, i === list.length - 1, opts, out));
  });
  return out;
}

function decodeOpenAITools(raw: unknown): CanonicalTool[] | undefined {
  if (raw === undefined) return undefined;
  return ruleArray(raw, 'tools', 128).map((t, i) => {
    const p = `tools[${i}]`;
    const tool = ruleObject(t, p);
    ruleFunctionType(tool.type, `${p}.type`);
    const fn = ruleObject(tool.function, `${p}.function`);
    const name = ruleString(fn.name, `${p}.function.name`);
    if (!TOOL_NAME.test(name)) throw wrongValue(`${p}.function.name`, 'must be 1-64 characters of a-z, A-Z, 0-9, _ or -');
    const description = fn.description === undefined ? undefined : ruleString(fn.description, `${p}.function.description`);
    const out: CanonicalTool = { name, jsonSchema: fn.parameters === undefined ? { type: 'object', properties: {} } : ruleObject(fn.parameters, `${p}.function.parameters`) };
    assignDefined(out, 'description', description);
    if (present(fn.strict, true)) out.strict = ruleBoolean(fn.strict, `${p}.function.strict`);
    return out;
  });
}

/** `stop`: one string or at most 4. */
function decodeOpenAIStop(raw: unknown): string[] | undefined {
  if (!present(raw, true)) return undefined;
  if (typeof raw === 'string') return [raw];
  if (!Array.isArray(raw) || !raw.every((s) => typeof s === 'string')) throw wrongValue('stop', 'must be a string or an array of at most 4 strings');
  return ruleArray(raw, 'stop', 4) as string[];
}

/**
 * Reads an OpenAI chat completions body. OpenAI's own rules hold whatever the upstream (a
 * TranslationError with `invalid_type` / `invalid_value`); a body that meets them but cannot be
 * translated throws its first `unsupported_*` problem, which a caller may use to pass the body
 * unchanged to an OpenAI upstream instead.
 */
export function decodeOpenAIRequest(body: unknown): CanonicalRequest {
  const b = requireObject(body, 'body');
  // The order of the checks keeps the first refusal of each kind what it has always been.
  const deferred = new DeferredProblem();
  deferred.run(() => rejectUnknownFields(b, REQUEST_FIELDS));
  if (b.logprobs === true) deferred.note(unsupported('logprobs', 'logprobs are not supported when the request is served by another provider'));
  const model = ruleString(b.model, 'model', 1, 256);
  const { system, messages } = decodeOpenAIMessages(b.messages, deferred);
  const stream = present(b.stream, true) ? ruleBoolean(b.stream, 'stream') : false;
  const streamOptions = present(b.stream_options, true) ? ruleObject(b.stream_options, 'stream_options') : undefined;
  const includeUsage = streamOptions?.include_usage === undefined ? undefined : ruleBoolean(streamOptions.include_usage, 'stream_options.include_usage');
  const maxTokens = present(b.max_tokens, true) ? ruleNumber(b.max_tokens, 'max_tokens', POSITIVE_INTEGER) : undefined;
  const maxCompletionTokens = present(b.max_completion_tokens, true) ? ruleNumber(b.max_completion_tokens, 'max_completion_tokens', POSITIVE_INTEGER) : undefined;
  const temperature = present(b.temperature, true) ? ruleNumber(b.temperature, 'temperature', { min: 0, max: 2 }) : undefined;
  const topP = present(b.top_p, true) ? ruleNumber(b.top_p, 'top_p', { min: 0, max: 1 }) : undefined;
  if (present(b.n, true) && ruleNumber(b.n, 'n', { integer: true, min: 1 }) !== 1) throw wrongValue('n', 'ASC serves one choice per request');
  const stop = decodeOpenAIStop(b.stop);
  const seed = present(b.seed, true) ? ruleNumber(b.seed, 'seed', { integer: true }) : undefined;
  const user = b.user === undefined ? undefined : ruleString(b.user, 'user', 0, 256);
  const tools = decodeOpenAITools(b.tools);
  const toolChoiceValid = b.tool_choice === undefined || b.tool_choice === 'none' || b.tool_choice === 'auto' || b.tool_choice === 'required' || (isObject(b.tool_choice) && b.tool_choice.type === 'function');
  if (!toolChoiceValid) throw wrongValue('tool_choice', "must be 'none', 'auto', 'required' or an object of type 'function'");
  const toolChoice = deferred.run(() => decodeChatToolChoice(b.tool_choice, false));
  const parallelToolCalls = b.parallel_tool_calls === undefined ? undefined : ruleBoolean(b.parallel_tool_calls, 'parallel_tool_calls');
  const presencePenalty = deferred.run(() => optNumber(b.presence_penalty, 'presence_penalty', -2, 2));
  const frequencyPenalty = deferred.run(() => optNumber(b.frequency_penalty, 'frequency_penalty', -2, 2));
  if (b.response_format !== undefined) ruleEnum(ruleObject(b.response_format, 'response_format').type, 'response_format.type', RESPONSE_FORMAT_TYPES);
  const responseFormat = deferred.run(() => decodeChatResponseFormat(b.response_format));
  const metadata = deferred.run(() => decodeMetadata(b.metadata, 'metadata'));
  if (deferred.first) throw deferred.first;

  const req: CanonicalRequest = { model, system, messages, stream, streamUsage: includeUsage ?? false };
  assignDefined(req, 'tools', tools);
  assignDefined(req, 'toolChoice', toolChoice);
  assignDefined(req, 'parallelToolCalls', parallelToolCalls);
  assignDefined(req, 'maxOutputTokens', maxCompletionTokens ?? maxTokens);
  assignDefined(req, 'temperature', temperature);
  assignDefined(req, 'topP', topP);
  assignDefined(req, 'presencePenalty', presencePenalty);
  assignDefined(req, 'frequencyPenalty', frequencyPenalty);
  assignDefined(req, 'stop', stop);
  assignDefined(req, 'seed', seed);
  assignDefined(req, 'responseFormat', responseFormat);
  assignDefined(req, 'user', user);
  assignDefined(req, 'metadata', metadata);
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
  // OpenAI types an exhausted quota by itself, not as a rate limit (clients tell the two apart by it).
  const type = code === 'insufficient_quota' ? 'insufficient_quota' : (OPENAI_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'));
  return { error: { message, type, param: param ?? null, code } };
}
