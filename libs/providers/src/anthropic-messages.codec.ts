import type {
  CanonicalContentPart,
  CanonicalFinishReason,
  CanonicalMessage,
  CanonicalRequest,
  CanonicalResponse,
  CanonicalResponseBlock,
  CanonicalTool,
  CanonicalToolCall,
  CanonicalToolChoice,
  CanonicalUsage,
} from './canonical';
import { isObject, JsonObject, optBoolean, optInteger, optNumber, optStopList, optString, parseArguments, rejectUnknownFields, requireArray, requireObject, requireString } from './json.util';
import { assignDefined, EncodeResponseOptions } from './openai-chat.codec';
import { toAnthropicToolCallId } from './tool-call-id.util';
import { badUpstream, invalidParam, TranslationError, unsupported } from './translation.error';

// Anthropic Messages <-> canonical. Shapes follow node_modules/@anthropic-ai/sdk
// (resources/messages/messages.d.ts) and the simulator's anthropic.wire.ts.

/** The anthropic-version header to send with bodies built by encodeAnthropicRequest. */
export const ANTHROPIC_API_VERSION = '2023-06-01';

/**
 * Fields understood. `service_tier` and `cache_control` (prompt-caching hints) affect cost
 * and latency, not the output, and are accepted without effect. Everything else (thinking,
 * top_k, container, inference_geo, output_config.effort, server tools…) is refused.
 */
const REQUEST_FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'system', 'stop_sequences', 'stream', 'temperature', 'top_p', 'tools', 'tool_choice', 'metadata',
  'service_tier', 'cache_control', 'thinking', 'output_config',
]);

function decodeImage(block: JsonObject, p: string): CanonicalContentPart {
  const source = requireObject(block.source, `${p}.source`);
  if (source.type === 'base64') {
    return { type: 'image', source: { kind: 'base64', mediaType: requireString(source.media_type, `${p}.source.media_type`), data: requireString(source.data, `${p}.source.data`) } };
  }
  if (source.type === 'url') return { type: 'image', source: { kind: 'url', url: requireString(source.url, `${p}.source.url`) } };
  throw new TranslationError('unsupported_content', `image source type '${String(source.type)}' is not supported`, `${p}.source.type`);
}

/** Text and image blocks (the content of user turns and tool results). */
function decodeParts(content: unknown, p: string): CanonicalContentPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (content === undefined) return [];
  return requireArray(content, p).map((raw, i) => {
    const bp = `${p}.${i}`;
    const block = requireObject(raw, bp);
    if (block.type === 'text') return { type: 'text', text: requireString(block.text, `${bp}.text`) };
    if (block.type === 'image') return decodeImage(block, bp);
    throw new TranslationError('unsupported_content', `content block type '${String(block.type)}' is not supported here`, `${bp}.type`);
  });
}

function decodeMessages(raw: unknown): CanonicalMessage[] {
  const list = requireArray(raw, 'messages');
  if (!list.length) throw invalidParam('messages', 'messages: List should have at least 1 item');
  const out: CanonicalMessage[] = [];
  list.forEach((m, i) => {
    const p = `messages.${i}`;
    const msg = requireObject(m, p);
    const blocks: unknown[] = typeof msg.content === 'string' ? [{ type: 'text', text: msg.content }] : requireArray(msg.content, `${p}.content`);
    if (msg.role === 'system') {
      out.push({ role: 'system', content: decodeParts(msg.content, `${p}.content`).map((x) => (x.type === 'text' ? x.text : '')).join('') });
    } else if (msg.role === 'user') {
      const parts: CanonicalContentPart[] = [];
      blocks.forEach((raw, j) => {
        const bp = `${p}.content.${j}`;
        const block = requireObject(raw, bp);
        if (block.type === 'tool_result') {
          const tool: CanonicalMessage = { role: 'tool', toolCallId: requireString(block.tool_use_id, `${bp}.tool_use_id`), content: decodeParts(block.content, `${bp}.content`) };
          if (optBoolean(block.is_error, `${bp}.is_error`)) tool.isError = true;
          out.push(tool);
        } else parts.push(...decodeParts([block], `${p}.content`));
      });
      if (parts.length || !blocks.length) out.push({ role: 'user', content: parts });
    } else if (msg.role === 'assistant') {
      const content: CanonicalContentPart[] = [];
      const toolCalls: CanonicalToolCall[] = [];
      blocks.forEach((raw, j) => {
        const bp = `${p}.content.${j}`;
        const block = requireObject(raw, bp);
        if (block.type === 'text') content.push({ type: 'text', text: requireString(block.text, `${bp}.text`) });
        else if (block.type === 'tool_use') {
          toolCalls.push({ id: requireString(block.id, `${bp}.id`), name: requireString(block.name, `${bp}.name`), argumentsJson: JSON.stringify(requireObject(block.input, `${bp}.input`)) });
        } else throw new TranslationError('unsupported_content', `content block type '${String(block.type)}' cannot be sent to another provider`, `${bp}.type`);
      });
      out.push({ role: 'assistant', content, toolCalls });
    } else {
      throw new TranslationError('unsupported_message_role', `messages.${i}.role: Input should be 'user' or 'assistant'`, `${p}.role`);
    }
  });
  return out;
}

function decodeSystem(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw === 'string') return [raw];
  return requireArray(raw, 'system').map((b, i) => {
    const block = requireObject(b, `system.${i}`);
    if (block.type !== 'text') throw new TranslationError('unsupported_content', 'system blocks must be text', `system.${i}.type`);
    return requireString(block.text, `system.${i}.text`);
  });
}

function decodeTools(raw: unknown): CanonicalTool[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  return requireArray(raw, 'tools').map((t, i) => {
    const p = `tools.${i}`;
    const tool = requireObject(t, p);
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') throw unsupported(`${p}.type`, `server tool '${String(tool.type)}' cannot be served by another provider`);
    const out: CanonicalTool = { name: requireString(tool.name, `${p}.name`), jsonSchema: requireObject(tool.input_schema, `${p}.input_schema`) };
    assignDefined(out, 'description', optString(tool.description, `${p}.description`));
    assignDefined(out, 'strict', optBoolean(tool.strict, `${p}.strict`));
    return out;
  });
}

function decodeToolChoice(raw: unknown): { choice?: CanonicalToolChoice; parallel?: boolean } {
  if (raw === undefined || raw === null) return {};
  const tc = requireObject(raw, 'tool_choice');
  const disable = optBoolean(tc.disable_parallel_tool_use, 'tool_choice.disable_parallel_tool_use');
  const parallel = disable === undefined ? undefined : !disable;
  switch (tc.type) {
    case 'auto':
      return { choice: 'auto', parallel };
    case 'none':
      return { choice: 'none', parallel };
    case 'any':
      return { choice: 'required', parallel };
    case 'tool':
      return { choice: { name: requireString(tc.name, 'tool_choice.name') }, parallel };
    default:
      throw invalidParam('tool_choice.type', `tool_choice type '${String(tc.type)}' is not supported`);
  }
}

export function decodeAnthropicRequest(body: unknown): CanonicalRequest {
  const b = requireObject(body, 'body');
  rejectUnknownFields(b, REQUEST_FIELDS);
  if (b.thinking !== undefined && !(isObject(b.thinking) && b.thinking.type === 'disabled')) {
    throw unsupported('thinking', 'extended thinking cannot be served by another provider');
  }
  let responseFormat: CanonicalRequest['responseFormat'];
  if (b.output_config !== undefined && b.output_config !== null) {
    const oc = requireObject(b.output_config, 'output_config');
    rejectUnknownFields(oc, new Set(['format']), 'output_config.');
    if (oc.format !== undefined && oc.format !== null) {
      const f = requireObject(oc.format, 'output_config.format');
      if (f.type !== 'json_schema') throw invalidParam('output_config.format.type', "output_config.format.type must be 'json_schema'");
      responseFormat = { type: 'json_schema', name: 'output', schema: requireObject(f.schema, 'output_config.format.schema') };
    }
  }
  const messages = decodeMessages(b.messages);
  const maxTokens = optInteger(b.max_tokens, 'max_tokens', 1);
  if (maxTokens === undefined) throw new TranslationError('missing_parameter', 'max_tokens: Field required', 'max_tokens');
  const { choice, parallel } = decodeToolChoice(b.tool_choice);
  const req: CanonicalRequest = {
    model: requireString(b.model, 'model'),
    system: decodeSystem(b.system),
    messages,
    maxOutputTokens: maxTokens,
    stream: optBoolean(b.stream, 'stream') ?? false,
    streamUsage: true,
  };
  if (messages[messages.length - 1].role === 'assistant') req.assistantPrefill = true;
  assignDefined(req, 'tools', decodeTools(b.tools));
  assignDefined(req, 'toolChoice', choice);
  assignDefined(req, 'parallelToolCalls', parallel);
  assignDefined(req, 'temperature', optNumber(b.temperature, 'temperature', 0, 1));
  assignDefined(req, 'topP', optNumber(b.top_p, 'top_p', 0, 1));
  assignDefined(req, 'stop', optStopList(b.stop_sequences, 'stop_sequences'));
  assignDefined(req, 'responseFormat', responseFormat);
  if (b.metadata !== undefined && b.metadata !== null) {
    const md = requireObject(b.metadata, 'metadata');
    rejectUnknownFields(md, new Set(['user_id']), 'metadata.');
    assignDefined(req, 'user', optString(md.user_id, 'metadata.user_id'));
  }
  return req;
}

export interface AnthropicEncodeOptions {
  /** Anthropic requires max_tokens; used when the caller set none (OpenAI/Mistral make it optional). Default 4096. */
  defaultMaxTokens?: number;
  /**
   * Whether the target API version accepts temperature/top_p. Default true (2023-06-01). The
   * 2026-10-21 version spoken by @anthropic-ai/sdk 1.x removed them: set false there, and a
   * request that sets them is refused instead of silently sampled differently.
   */
  samplingParams?: boolean;
}

function encodePart(part: CanonicalContentPart): JsonObject {
  if (part.type === 'text') return { type: 'text', text: part.text };
  return {
    type: 'image',
    source: part.source.kind === 'url' ? { type: 'url', url: part.source.url } : { type: 'base64', media_type: part.source.mediaType, data: part.source.data },
  };
}

/** Anthropic rejects empty text blocks; they carry nothing, so they are left out. */
const nonEmpty = (parts: CanonicalContentPart[]): CanonicalContentPart[] => parts.filter((p) => p.type !== 'text' || p.text !== '');

/** Canonical -> Anthropic Messages body (see AnthropicEncodeOptions; refusals are listed at the top of each check). */
export function encodeAnthropicRequest(req: CanonicalRequest, upstreamModel: string, options: AnthropicEncodeOptions = {}): JsonObject {
  if (req.seed !== undefined) throw unsupported('seed', 'Anthropic does not support deterministic sampling (seed)');
  if (req.presencePenalty) throw unsupported('presence_penalty', 'Anthropic does not support presence_penalty');
  if (req.frequencyPenalty) throw unsupported('frequency_penalty', 'Anthropic does not support frequency_penalty');
  if (req.responseFormat?.type === 'json_object') throw unsupported('response_format', "Anthropic has no JSON mode without a schema; use response_format type 'json_schema'");
  const sampling = options.samplingParams ?? true;
  if (req.temperature !== undefined) {
    if (!sampling) throw unsupported('temperature', 'this Anthropic API version does not accept temperature');
    if (req.temperature > 1) throw invalidParam('temperature', `Anthropic accepts temperature between 0 and 1, got ${req.temperature}`);
  }
  if (req.topP !== undefined && !sampling) throw unsupported('top_p', 'this Anthropic API version does not accept top_p');
  if (req.maxOutputTokens !== undefined && req.maxOutputTokens < 1) throw invalidParam('max_tokens', 'Anthropic requires max_tokens >= 1');

  const turns: Array<{ role: 'user' | 'assistant'; content: JsonObject[] }> = [];
  const push = (role: 'user' | 'assistant', blocks: JsonObject[]) => {
    if (!blocks.length) return;
    const last = turns[turns.length - 1];
    // Anthropic merges consecutive same-role turns itself; doing it here keeps strict alternation.
    if (last && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  req.messages.forEach((m, i) => {
    const p = `messages[${i}]`;
    if (m.role === 'system') throw new TranslationError('unsupported_message_role', 'Anthropic accepts system instructions only before the conversation', `${p}.role`);
    if (m.role === 'user') push('user', nonEmpty(m.content).map(encodePart));
    else if (m.role === 'tool') {
      const parts = nonEmpty(m.content);
      const block: JsonObject = {
        type: 'tool_result',
        tool_use_id: toAnthropicToolCallId(m.toolCallId),
        content: parts.every((x) => x.type === 'text') ? parts.map((x) => (x.type === 'text' ? x.text : '')).join('') : parts.map(encodePart),
      };
      if (m.isError) block.is_error = true;
      push('user', [block]);
    } else {
      const blocks = nonEmpty(m.content).map((part, j) => {
        if (part.type !== 'text') throw new TranslationError('unsupported_content', 'assistant messages can only hold text', `${p}.content[${j}]`);
        return encodePart(part);
      });
      m.toolCalls.forEach((c, j) => {
        blocks.push({ type: 'tool_use', id: toAnthropicToolCallId(c.id), name: c.name, input: parseArguments(c.argumentsJson, `${p}.tool_calls[${j}].function.arguments`) });
      });
      push('assistant', blocks);
    }
  });
  if (!turns.length) throw invalidParam('messages', 'the conversation has no content Anthropic can take');
  if (turns[turns.length - 1].role === 'assistant' && !req.assistantPrefill) {
    // Anthropic would continue that message (prefill); the caller's API would answer after it.
    throw new TranslationError('unsupported_message_role', 'the last message must come from the user or a tool when served by Anthropic', 'messages');
  }

  const body: JsonObject = { model: upstreamModel, max_tokens: req.maxOutputTokens ?? options.defaultMaxTokens ?? 4096, messages: turns };
  if (req.system.length === 1) body.system = req.system[0];
  else if (req.system.length > 1) body.system = req.system.map((text) => ({ type: 'text', text }));
  if (req.stream) body.stream = true;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.stop !== undefined) body.stop_sequences = req.stop;
  if (req.tools) {
    body.tools = req.tools.map((t) => {
      const tool: JsonObject = { name: t.name, input_schema: t.jsonSchema };
      if (t.description !== undefined) tool.description = t.description;
      if (t.strict !== undefined) tool.strict = t.strict;
      return tool;
    });
  }
  const choice = req.toolChoice;
  let toolChoice: JsonObject | undefined;
  if (choice === 'auto') toolChoice = { type: 'auto' };
  else if (choice === 'none') toolChoice = { type: 'none' };
  else if (choice === 'required') toolChoice = { type: 'any' };
  else if (choice !== undefined) toolChoice = { type: 'tool', name: choice.name };
  if (req.parallelToolCalls === false && choice !== 'none') toolChoice = { ...(toolChoice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  if (toolChoice) body.tool_choice = toolChoice;
  if (req.responseFormat?.type === 'json_schema') body.output_config = { format: { type: 'json_schema', schema: req.responseFormat.schema } };
  if (req.user !== undefined) body.metadata = { user_id: req.user };
  return body;
}

const FINISH_FROM_ANTHROPIC: Record<string, CanonicalFinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

export function decodeAnthropicStopReason(v: unknown, param: string): CanonicalFinishReason {
  const r = typeof v === 'string' ? FINISH_FROM_ANTHROPIC[v] : undefined;
  if (!r) throw badUpstream(param, `stop_reason ${JSON.stringify(v)} cannot be translated`);
  return r;
}

export function encodeAnthropicStopReason(r: CanonicalFinishReason, stopSequence: string | undefined): string {
  switch (r) {
    case 'stop':
      return stopSequence !== undefined ? 'stop_sequence' : 'end_turn';
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      throw new TranslationError('upstream_error_finish', 'the upstream model stopped with an error', null, 502);
  }
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** Raw Anthropic usage counters (input_tokens EXCLUDES both cache counters). */
export interface AnthropicUsageCounters {
  input?: number;
  cacheRead?: number;
  cacheCreation?: number;
  output?: number;
  thinking?: number;
}

export function readAnthropicUsage(raw: unknown): AnthropicUsageCounters {
  const u = isObject(raw) ? raw : {};
  return {
    input: count(u.input_tokens),
    cacheRead: count(u.cache_read_input_tokens),
    cacheCreation: count(u.cache_creation_input_tokens),
    output: count(u.output_tokens),
    thinking: isObject(u.output_tokens_details) ? count(u.output_tokens_details.thinking_tokens) : undefined,
  };
}

/** Canonical input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens. */
export function anthropicInputUsage(c: AnthropicUsageCounters): Partial<CanonicalUsage> {
  const out: Partial<CanonicalUsage> = {};
  if (c.input === undefined) return out;
  out.inputTokens = c.input + (c.cacheRead ?? 0) + (c.cacheCreation ?? 0);
  if (c.cacheRead !== undefined) out.cachedInputTokens = c.cacheRead;
  if (c.cacheCreation !== undefined) out.cacheCreationInputTokens = c.cacheCreation;
  return out;
}

export function encodeAnthropicUsage(u: Partial<CanonicalUsage>): JsonObject {
  const cached = u.cachedInputTokens ?? 0;
  const creation = u.cacheCreationInputTokens ?? 0;
  const usage: JsonObject = {
    input_tokens: Math.max(0, (u.inputTokens ?? 0) - cached - creation),
    output_tokens: u.outputTokens ?? 0,
    cache_creation_input_tokens: creation,
    cache_read_input_tokens: cached,
  };
  if (u.reasoningTokens !== undefined) usage.output_tokens_details = { thinking_tokens: u.reasoningTokens };
  return usage;
}

export function decodeAnthropicResponse(body: unknown): CanonicalResponse {
  if (!isObject(body) || !Array.isArray(body.content)) throw badUpstream('content', 'the upstream answered without content');
  const content: CanonicalResponseBlock[] = [];
  body.content.forEach((raw, i) => {
    const block = isObject(raw) ? raw : {};
    if (block.type === 'text' && typeof block.text === 'string') content.push({ type: 'text', text: block.text });
    else if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string') {
      content.push({ type: 'tool_call', id: block.id, name: block.name, argumentsJson: JSON.stringify(block.input ?? {}) });
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') {
      throw badUpstream(`content.${i}`, `content block type '${String(block.type)}' cannot be translated`);
    }
  });
  const counters = readAnthropicUsage(body.usage);
  if (counters.input === undefined || counters.output === undefined) throw badUpstream('usage', 'the upstream did not report usage');
  const usage = { ...anthropicInputUsage(counters), outputTokens: counters.output } as CanonicalUsage;
  if (counters.thinking !== undefined) usage.reasoningTokens = counters.thinking;
  const res: CanonicalResponse = {
    id: typeof body.id === 'string' ? body.id : '',
    model: typeof body.model === 'string' ? body.model : '',
    content,
    finishReason: decodeAnthropicStopReason(body.stop_reason, 'stop_reason'),
    usage,
  };
  if (typeof body.stop_sequence === 'string') res.stopSequence = body.stop_sequence;
  return res;
}

export function encodeAnthropicResponse(res: CanonicalResponse, requestedModel: string, _options: EncodeResponseOptions = {}): JsonObject {
  const hasCalls = res.content.some((b) => b.type === 'tool_call');
  const content = res.content
    .filter((b) => !(b.type === 'text' && b.text === '' && hasCalls))
    .map((b) => (b.type === 'text' ? { type: 'text', text: b.text } : { type: 'tool_use', id: toAnthropicToolCallId(b.id), name: b.name, input: parseArguments(b.argumentsJson, 'tool_calls.arguments') }));
  return {
    id: res.id,
    type: 'message',
    role: 'assistant',
    model: requestedModel,
    content,
    stop_reason: encodeAnthropicStopReason(res.finishReason, res.stopSequence),
    stop_sequence: res.stopSequence ?? null,
    usage: encodeAnthropicUsage(res.usage),
  };
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

const ANTHROPIC_STATUS_BY_TYPE: Record<string, number> = Object.fromEntries(Object.entries(ANTHROPIC_ERROR_TYPES).map(([s, t]) => [t, Number(s)]));

/** HTTP status an Anthropic error type stands for (in-band stream errors carry only the type). */
export function anthropicErrorStatus(type: unknown): number {
  return (typeof type === 'string' && ANTHROPIC_STATUS_BY_TYPE[type]) || 500;
}

/** Anthropic's error body; it has no code/param fields, so the param prefixes the message like Anthropic's own. */
export function encodeAnthropicError(status: number, _code: string, message: string, param?: string | null): JsonObject {
  const type = ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return { type: 'error', error: { type, message: param ? `${param}: ${message}` : message } };
}
