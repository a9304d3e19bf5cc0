import { randomBytes } from 'node:crypto';
import {
  CanonicalContentPart,
  CanonicalFinishReason,
  CanonicalMessage,
  CanonicalRequest,
  CanonicalResponse,
  CanonicalResponseFormat,
  CanonicalStreamEvent,
  CanonicalTool,
  CanonicalToolChoice,
  CanonicalUsage,
  mergeUsage,
} from './canonical';
import type { StreamEncoder } from './chat-stream.encoder';
import { isObject, JsonObject, optBoolean, optInteger, optNumber, optString, rejectUnknownFields, requireArray, requireObject, requireString } from './json.util';
import { assignDefined, decodeMetadata, encodeOpenAIError, parseDataUrl } from './openai-chat.codec';
import { invalidParam, TranslationError, unsupported } from './translation.error';

// OpenAI Responses API (POST /v1/responses) <-> canonical, inbound side only: the gateway
// serves Responses clients from chat-style upstreams and never calls an upstream /responses.
// Shapes follow node_modules/openai/resources/responses/responses.d.ts. Nothing is stored:
// `store` is accepted and ignored (the echo says `store: false`), and everything that needs
// server-side state (previous_response_id, conversation, background, item_reference) is refused.

/**
 * Fields understood. `store`, `service_tier`, `prompt_cache_key`, `prompt_cache_retention`,
 * `safety_identifier` and `stream_options` (obfuscation is never added) have no effect on the output.
 */
const REQUEST_FIELDS = new Set([
  'model', 'input', 'instructions', 'tools', 'tool_choice', 'parallel_tool_calls', 'max_output_tokens', 'temperature', 'top_p', 'text',
  'stream', 'stream_options', 'user', 'metadata', 'store', 'service_tier', 'prompt_cache_key', 'prompt_cache_retention', 'safety_identifier',
  'previous_response_id', 'conversation', 'background', 'reasoning', 'include', 'truncation', 'max_tool_calls', 'top_logprobs',
]);

/** `include` values that are honoured trivially: no reasoning items are ever produced, so there is nothing to encrypt. */
const HARMLESS_INCLUDES = new Set(['reasoning.encrypted_content']);

const TOOL_FIELDS = new Set(['type', 'name', 'description', 'parameters', 'strict']);

const NO_STATE = 'is not supported: the gateway does not store responses';

function required(v: unknown, param: string): unknown {
  if (v === undefined || v === null) throw new TranslationError('missing_parameter', `Missing required parameter: '${param}'`, param);
  return v;
}

const requiredString = (v: unknown, param: string): string => requireString(required(v, param), param);

function imagePart(raw: JsonObject, p: string): CanonicalContentPart {
  if (raw.file_id !== undefined && raw.file_id !== null) throw new TranslationError('unsupported_content', 'images by file_id are not supported; send image_url', `${p}.file_id`);
  const url = requiredString(raw.image_url, `${p}.image_url`);
  const data = parseDataUrl(url);
  return { type: 'image', source: data ? { kind: 'base64', ...data } : { kind: 'url', url } };
}

/** Message or tool-output content: a string or a list of input_text/output_text(/input_image) parts. */
function decodeContent(content: unknown, param: string, opts: { images: boolean; textTypes: ReadonlySet<string> }): CanonicalContentPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return requireArray(required(content, param), param).map((raw, i): CanonicalContentPart => {
    const p = `${param}[${i}]`;
    const part = requireObject(raw, p);
    if (typeof part.type === 'string' && opts.textTypes.has(part.type)) return { type: 'text', text: requireString(part.text, `${p}.text`) };
    if (part.type === 'input_image' && opts.images) return imagePart(part, p);
    throw new TranslationError('unsupported_content', `content part type '${String(part.type)}' is not supported here`, `${p}.type`);
  });
}

const USER_TEXT = new Set(['input_text']);
const ASSISTANT_TEXT = new Set(['output_text', 'input_text']);
const ANY_TEXT = new Set(['input_text', 'output_text']);

function decodeInput(raw: unknown): { system: string[]; messages: CanonicalMessage[] } {
  const input = required(raw, 'input');
  if (typeof input === 'string') return { system: [], messages: [{ role: 'user', content: [{ type: 'text', text: input }] }] };
  const items = requireArray(input, 'input');
  if (!items.length) throw invalidParam('input', "'input' must contain at least one item");
  const system: string[] = [];
  const messages: CanonicalMessage[] = [];
  items.forEach((it, i) => {
    const p = `input[${i}]`;
    const item = requireObject(it, p);
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = required(item.role, `${p}.role`);
      if (role === 'system' || role === 'developer') {
        const text = decodeContent(item.content, `${p}.content`, { images: false, textTypes: ANY_TEXT })
          .map((part) => (part.type === 'text' ? part.text : ''))
          .join('');
        if (messages.length === 0) system.push(text);
        else messages.push({ role: 'system', content: text });
      } else if (role === 'user') {
        messages.push({ role: 'user', content: decodeContent(item.content, `${p}.content`, { images: true, textTypes: USER_TEXT }) });
      } else if (role === 'assistant') {
        messages.push({ role: 'assistant', content: decodeContent(item.content, `${p}.content`, { images: false, textTypes: ASSISTANT_TEXT }), toolCalls: [] });
      } else {
        throw new TranslationError('unsupported_message_role', `message role '${String(role)}' is not supported`, `${p}.role`);
      }
    } else if (type === 'function_call') {
      const call = { id: requiredString(item.call_id, `${p}.call_id`), name: requiredString(item.name, `${p}.name`), argumentsJson: requiredString(item.arguments, `${p}.arguments`) };
      // Responses lists parallel calls (and the text before them) as separate items; canonical
      // (like chat completions and Anthropic) wants one assistant turn holding them all.
      const last = messages[messages.length - 1];
      if (last && last.role === 'assistant') last.toolCalls.push(call);
      else messages.push({ role: 'assistant', content: [], toolCalls: [call] });
    } else if (type === 'function_call_output') {
      const toolCallId = requiredString(item.call_id, `${p}.call_id`);
      messages.push({ role: 'tool', toolCallId, content: decodeContent(item.output, `${p}.output`, { images: true, textTypes: USER_TEXT }) });
    } else {
      throw unsupported(`${p}.type`, `input item type '${String(type)}' is not supported when the request is served by another provider`);
    }
  });
  return { system, messages };
}

function decodeTools(raw: unknown): CanonicalTool[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  return requireArray(raw, 'tools').map((t, i) => {
    const p = `tools[${i}]`;
    const tool = requireObject(t, p);
    if (tool.type !== 'function') throw unsupported(`${p}.type`, `tool type '${String(tool.type)}' is not supported when the request is served by another provider`);
    for (const key of Object.keys(tool)) {
      if (!TOOL_FIELDS.has(key) && tool[key] !== undefined && tool[key] !== null) throw unsupported(`${p}.${key}`, `'${p}.${key}' is not supported when the request is served by another provider`);
    }
    const out: CanonicalTool = {
      name: requiredString(tool.name, `${p}.name`),
      jsonSchema: tool.parameters === undefined || tool.parameters === null ? { type: 'object', properties: {} } : requireObject(tool.parameters, `${p}.parameters`),
    };
    assignDefined(out, 'description', optString(tool.description, `${p}.description`));
    assignDefined(out, 'strict', optBoolean(tool.strict, `${p}.strict`));
    return out;
  });
}

function decodeToolChoice(raw: unknown): CanonicalToolChoice | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (raw === 'auto' || raw === 'none' || raw === 'required') return raw;
  if (isObject(raw) && raw.type === 'function') return { name: requiredString(raw.name, 'tool_choice.name') };
  if (isObject(raw) && typeof raw.type === 'string') throw unsupported('tool_choice.type', `tool_choice type '${raw.type}' is not supported when the request is served by another provider`);
  throw invalidParam('tool_choice', "'tool_choice' must be 'auto', 'none', 'required' or {type: 'function', name}");
}

function decodeTextFormat(raw: unknown): CanonicalResponseFormat | undefined {
  if (raw === undefined || raw === null) return undefined;
  const text = requireObject(raw, 'text');
  rejectUnknownFields(text, new Set(['format', 'verbosity']), 'text.');
  if (text.verbosity !== undefined && text.verbosity !== null && text.verbosity !== 'medium') {
    throw unsupported('text.verbosity', "only 'text.verbosity': 'medium' is supported when the request is served by another provider");
  }
  if (text.format === undefined || text.format === null) return undefined;
  const f = requireObject(text.format, 'text.format');
  if (f.type === 'text' || f.type === 'json_object') return { type: f.type };
  if (f.type === 'json_schema') {
    const out: CanonicalResponseFormat = {
      type: 'json_schema',
      name: requiredString(f.name, 'text.format.name'),
      schema: requireObject(required(f.schema, 'text.format.schema'), 'text.format.schema'),
    };
    assignDefined(out, 'description', optString(f.description, 'text.format.description'));
    assignDefined(out, 'strict', optBoolean(f.strict, 'text.format.strict'));
    return out;
  }
  throw invalidParam('text.format.type', `text.format type '${String(f.type)}' is not supported`);
}

/** Refuses what needs server-side state or cannot be honoured by a chat-style upstream. */
function rejectUnservable(b: JsonObject): void {
  for (const key of ['previous_response_id', 'conversation'] as const) {
    if (b[key] !== undefined && b[key] !== null) throw unsupported(key, `'${key}' ${NO_STATE}; send the whole conversation in 'input'`);
  }
  if (optBoolean(b.background, 'background')) throw unsupported('background', `'background': true ${NO_STATE}`);
  if (b.reasoning !== undefined && b.reasoning !== null) {
    const r = requireObject(b.reasoning, 'reasoning');
    const set = Object.keys(r).find((k) => r[k] !== undefined && r[k] !== null);
    if (set) throw unsupported(`reasoning.${set}`, 'reasoning options are not supported when the request is served by another provider');
  }
  if (b.include !== undefined && b.include !== null) {
    requireArray(b.include, 'include').forEach((v, i) => {
      if (typeof v !== 'string' || !HARMLESS_INCLUDES.has(v)) throw unsupported(`include[${i}]`, `include ${JSON.stringify(v)} is not supported when the request is served by another provider`);
    });
  }
  if (b.truncation !== undefined && b.truncation !== null && b.truncation !== 'disabled') throw unsupported('truncation', "only 'truncation': 'disabled' is supported");
  if (b.max_tool_calls !== undefined && b.max_tool_calls !== null) throw unsupported('max_tool_calls', "'max_tool_calls' is not supported when the request is served by another provider");
  const topLogprobs = optInteger(b.top_logprobs, 'top_logprobs', 0);
  if (topLogprobs) throw unsupported('top_logprobs', 'logprobs are not supported when the request is served by another provider');
  optBoolean(b.store, 'store');
}

export function decodeResponsesRequest(body: unknown): CanonicalRequest {
  const b = requireObject(body, 'body');
  rejectUnknownFields(b, REQUEST_FIELDS);
  rejectUnservable(b);
  const model = requiredString(b.model, 'model');
  const { system, messages } = decodeInput(b.input);
  const instructions = optString(b.instructions, 'instructions');
  if (b.stream_options !== undefined && b.stream_options !== null) requireObject(b.stream_options, 'stream_options');
  const req: CanonicalRequest = {
    model,
    system: instructions !== undefined && instructions !== '' ? [instructions, ...system] : system,
    messages,
    stream: optBoolean(b.stream, 'stream') ?? false,
    // response.completed always carries usage.
    streamUsage: true,
  };
  assignDefined(req, 'tools', decodeTools(b.tools));
  assignDefined(req, 'toolChoice', decodeToolChoice(b.tool_choice));
  assignDefined(req, 'parallelToolCalls', optBoolean(b.parallel_tool_calls, 'parallel_tool_calls'));
  assignDefined(req, 'maxOutputTokens', optInteger(b.max_output_tokens, 'max_output_tokens', 1));
  assignDefined(req, 'temperature', optNumber(b.temperature, 'temperature', 0, 2));
  assignDefined(req, 'topP', optNumber(b.top_p, 'top_p', 0, 1));
  assignDefined(req, 'responseFormat', decodeTextFormat(b.text));
  assignDefined(req, 'user', optString(b.user, 'user'));
  assignDefined(req, 'metadata', decodeMetadata(b.metadata, 'metadata'));
  return req;
}

export interface ResponsesEncodeOptions {
  /** Unix seconds for `created_at`; default now. */
  created?: number;
  /** The decoded request, to echo its settings (tools, tool_choice, temperature, …); defaults otherwise. */
  request?: CanonicalRequest;
  /** The caller's `instructions` to echo (canonical merges them into `system`); default null. */
  instructions?: string | null;
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const newResponseId = (): string => `resp_${hex(24)}`;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export function encodeResponsesUsage(u: CanonicalUsage): JsonObject {
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: { cached_tokens: u.cachedInputTokens ?? 0, cache_write_tokens: u.cacheCreationInputTokens ?? 0 },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}

function encodeTextConfig(rf: CanonicalResponseFormat | undefined): JsonObject {
  let format: JsonObject = { type: 'text' };
  if (rf && rf.type !== 'json_schema') format = { type: rf.type };
  else if (rf) format = { type: 'json_schema', name: rf.name, schema: rf.schema, description: rf.description ?? null, strict: rf.strict ?? null };
  return { format, verbosity: 'medium' };
}

type Terminal = 'in_progress' | 'completed' | 'incomplete' | 'failed';

const INCOMPLETE_REASON: Partial<Record<CanonicalFinishReason, string>> = { length: 'max_output_tokens', content_filter: 'content_filter' };

/** The Response object with the request's settings echoed (shared by the JSON answer and the stream events). */
function envelope(
  head: { id: string; createdAt: number; model: string },
  status: Terminal,
  output: JsonObject[],
  opts: ResponsesEncodeOptions,
  extra: { usage?: CanonicalUsage; finish?: CanonicalFinishReason; error?: JsonObject } = {},
): JsonObject {
  const req = opts.request;
  const reason = status === 'incomplete' && extra.finish ? INCOMPLETE_REASON[extra.finish] : undefined;
  const out: JsonObject = {
    id: head.id,
    object: 'response',
    created_at: head.createdAt,
    status,
    background: false,
    completed_at: status === 'completed' ? nowSeconds() : null,
    error: extra.error ?? null,
    incomplete_details: reason ? { reason } : null,
    instructions: opts.instructions ?? null,
    max_output_tokens: req?.maxOutputTokens ?? null,
    max_tool_calls: null,
    model: head.model,
    output,
    parallel_tool_calls: req?.parallelToolCalls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: false,
    temperature: req?.temperature ?? 1,
    text: encodeTextConfig(req?.responseFormat),
    tool_choice: req?.toolChoice === undefined ? 'auto' : typeof req.toolChoice === 'string' ? req.toolChoice : { type: 'function', name: req.toolChoice.name },
    tools: (req?.tools ?? []).map((t) => ({ type: 'function', name: t.name, description: t.description ?? null, parameters: t.jsonSchema, strict: t.strict ?? null })),
    top_logprobs: 0,
    top_p: req?.topP ?? 1,
    truncation: 'disabled',
    usage: extra.usage ? encodeResponsesUsage(extra.usage) : null,
    metadata: req?.metadata ?? {},
  };
  if (req?.user !== undefined) out.user = req.user;
  return out;
}

const textPart = (text: string): JsonObject => ({ type: 'output_text', annotations: [], logprobs: [], text });

const messageItem = (id: string, status: string, text: string | null): JsonObject => ({
  id,
  type: 'message',
  status,
  role: 'assistant',
  content: text === null ? [] : [textPart(text)],
});

const functionCallItem = (id: string, status: string, call: { callId: string; name: string; args: string }): JsonObject => ({
  id,
  type: 'function_call',
  status,
  call_id: call.callId,
  name: call.name,
  arguments: call.args,
});

function terminalStatus(reason: CanonicalFinishReason): 'completed' | 'incomplete' {
  if (reason === 'error') throw new TranslationError('upstream_error_finish', 'the upstream model stopped with an error', null, 502);
  return INCOMPLETE_REASON[reason] ? 'incomplete' : 'completed';
}

/** Canonical -> a Responses object (`output_text` is left to the SDK, which derives it from `output`). */
export function encodeResponsesResponse(res: CanonicalResponse, requestedModel: string, opts: ResponsesEncodeOptions = {}): JsonObject {
  const status = terminalStatus(res.finishReason);
  const output: JsonObject[] = [];
  res.content.forEach((block, i) => {
    // Items before the last were finished; the last one is what a length/filter stop cut.
    const itemStatus = status === 'incomplete' && i === res.content.length - 1 ? 'incomplete' : 'completed';
    if (block.type === 'text') output.push(messageItem(`msg_${hex(24)}`, itemStatus, block.text));
    else output.push(functionCallItem(`fc_${hex(24)}`, itemStatus, { callId: block.id, name: block.name, args: block.argumentsJson }));
  });
  const head = { id: newResponseId(), createdAt: opts.created ?? nowSeconds(), model: requestedModel };
  return envelope(head, status, output, opts, { usage: res.usage, finish: res.finishReason });
}

/** Same error body as OpenAI's other endpoints. */
export const encodeResponsesError = encodeOpenAIError;

const sse = (event: string, payload: JsonObject): string => `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
const EARLY_END = 'the upstream stream ended before it finished';

interface OpenItem {
  kind: 'text' | 'tool';
  id: string;
  outputIndex: number;
  text: string;
  call?: { callId: string; name: string; args: string };
  /** Final form once closed (what response.completed lists). */
  done?: JsonObject;
}

/**
 * Canonical events -> the Responses event stream: response.created, response.in_progress,
 * then output items one at a time (a text item is closed before a tool call starts), then
 * response.completed / response.incomplete from end(), when the usage (which may follow the
 * finish) is known. A failure ends with response.failed followed by an `error` event whose
 * top-level `error` key makes the official SDKs throw, so a cut stream never reads as a
 * short success.
 */
export class ResponsesStreamEncoder implements StreamEncoder {
  private readonly head: { id: string; createdAt: number; model: string };
  private seq = 0;
  private started = false;
  private failed = false;
  private finish: CanonicalFinishReason | undefined;
  private usage: CanonicalUsage = { inputTokens: 0, outputTokens: 0 };
  private readonly items: OpenItem[] = [];
  private open: OpenItem | null = null;
  /** Canonical tool call index -> its item. */
  private readonly calls = new Map<number, OpenItem>();

  constructor(
    requestedModel: string,
    private readonly options: ResponsesEncodeOptions = {},
  ) {
    this.head = { id: newResponseId(), createdAt: options.created ?? nowSeconds(), model: requestedModel };
  }

  push(ev: CanonicalStreamEvent): string {
    if (this.failed) return '';
    switch (ev.type) {
      case 'start':
        return this.begin();
      case 'usage':
        this.usage = mergeUsage(this.usage, ev.usage);
        return '';
      case 'text_delta': {
        let out = this.begin();
        if (this.open?.kind !== 'text') out += this.openItem({ kind: 'text', id: `msg_${hex(24)}`, outputIndex: this.items.length, text: '' });
        const item = this.open as OpenItem;
        item.text += ev.text;
        return out + this.event('response.output_text.delta', { item_id: item.id, output_index: item.outputIndex, content_index: 0, delta: ev.text, logprobs: [] });
      }
      case 'tool_call_start': {
        const item: OpenItem = { kind: 'tool', id: `fc_${hex(24)}`, outputIndex: this.items.length, text: '', call: { callId: ev.id, name: ev.name, args: '' } };
        const out = this.begin() + this.openItem(item);
        this.calls.set(ev.index, item);
        return out;
      }
      case 'tool_call_delta': {
        const item = this.calls.get(ev.index);
        if (!item?.call || !ev.argumentsDelta) return '';
        item.call.args += ev.argumentsDelta;
        // Upstreams finish one call before the next; should a late delta come, the final output still carries it.
        if (item.done) item.done.arguments = item.call.args;
        return this.event('response.function_call_arguments.delta', { item_id: item.id, output_index: item.outputIndex, delta: ev.argumentsDelta });
      }
      case 'finish':
        if (ev.reason === 'error') return this.fail(502, 'upstream_error_finish', 'the upstream model stopped with an error');
        this.finish = ev.reason;
        return this.begin() + this.closeItem(INCOMPLETE_REASON[ev.reason] ? 'incomplete' : 'completed');
      case 'error':
        return this.fail(ev.status, ev.code, ev.message);
    }
  }

  end(): string {
    if (this.failed) return '';
    if (!this.finish) return this.fail(502, 'upstream_incomplete', EARLY_END);
    const status = terminalStatus(this.finish);
    const out = this.begin() + this.closeItem(status);
    return out + this.event(`response.${status}`, { response: envelope(this.head, status, this.output(), this.options, { usage: this.usage, finish: this.finish }) });
  }

  private output(): JsonObject[] {
    return this.items.map((it) => it.done ?? this.finalItem(it, 'in_progress'));
  }

  private finalItem(it: OpenItem, status: string): JsonObject {
    return it.kind === 'text' ? messageItem(it.id, status, it.text) : functionCallItem(it.id, status, it.call as NonNullable<OpenItem['call']>);
  }

  private event(type: string, fields: JsonObject): string {
    return sse(type, { type, ...fields, sequence_number: this.seq++ });
  }

  private begin(): string {
    if (this.started) return '';
    this.started = true;
    const response = envelope(this.head, 'in_progress', [], this.options);
    return this.event('response.created', { response }) + this.event('response.in_progress', { response });
  }

  private openItem(item: OpenItem): string {
    let out = this.closeItem('completed');
    this.items.push(item);
    this.open = item;
    if (item.kind === 'text') {
      out += this.event('response.output_item.added', { output_index: item.outputIndex, item: messageItem(item.id, 'in_progress', null) });
      out += this.event('response.content_part.added', { item_id: item.id, output_index: item.outputIndex, content_index: 0, part: textPart('') });
    } else {
      out += this.event('response.output_item.added', { output_index: item.outputIndex, item: this.finalItem(item, 'in_progress') });
    }
    return out;
  }

  private closeItem(status: string): string {
    const item = this.open;
    if (!item) return '';
    this.open = null;
    item.done = this.finalItem(item, status);
    const at = { item_id: item.id, output_index: item.outputIndex };
    let out = '';
    if (item.kind === 'text') {
      out += this.event('response.output_text.done', { ...at, content_index: 0, text: item.text, logprobs: [] });
      out += this.event('response.content_part.done', { ...at, content_index: 0, part: textPart(item.text) });
    } else {
      const call = item.call as NonNullable<OpenItem['call']>;
      out += this.event('response.function_call_arguments.done', { ...at, name: call.name, arguments: call.args });
    }
    return out + this.event('response.output_item.done', { output_index: item.outputIndex, item: item.done });
  }

  private fail(status: number, code: string, message: string): string {
    this.failed = true;
    const out = this.begin() + this.closeItem('incomplete');
    // ResponseError.code is an enum; the precise code travels in the `error` event.
    const error = { code: status === 429 ? 'rate_limit_exceeded' : 'server_error', message };
    const failed = this.event('response.failed', { response: envelope(this.head, 'failed', this.output(), this.options, { usage: this.usage, error }) });
    const wire = encodeOpenAIError(status, code, message).error as JsonObject;
    return out + failed + this.event('error', { code, message, param: null, error: wire });
  }
}
