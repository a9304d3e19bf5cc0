import type { IncomingHttpHeaders } from 'node:http';
import { generate, PromptMeter, ToolChoice, ToolSpec } from './reply.generator';
import { alnum } from './sim-ids.util';
import { SimulatorError } from './simulator.error';
import type { RouteId } from './simulator.types';
import { ApiRequest, bearerKey, contentText, isRecord, Outcome, ProviderWire, sse, StreamDelta, stopList } from './wire.types';

// Anthropic Messages API: POST /v1/messages (+ stream events), /v1/messages/count_tokens, GET /v1/models.

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};
const FAULT_MESSAGES: Record<number, string> = {
  429: 'This request would exceed the rate limit for your organization. Please try again later.',
  500: 'Internal server error',
  503: 'Service unavailable',
  529: 'Overloaded',
};
const MODELS: Array<[string, string, string]> = [
  ['claude-opus-4-7', 'Claude Opus 4.7', '2026-01-01T00:00:00Z'],
  ['claude-sonnet-4-6', 'Claude Sonnet 4.6', '2026-01-01T00:00:00Z'],
  ['claude-haiku-4-5-20251001', 'Claude Haiku 4.5', '2025-10-01T00:00:00Z'],
];

function anthropicError(status: number, message: string) {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return { type: 'error', error: { type, message } };
}

function invalid(message: string, param: string | null = null): SimulatorError {
  return new SimulatorError(400, 'invalid_request', message, param);
}

interface ParsedMessages {
  meter: PromptMeter;
  promptText: string;
  toolResultText?: string;
  tools: ToolSpec[];
}

function parseConversation(body: Record<string, unknown>): ParsedMessages {
  if (typeof body.model !== 'string' || !body.model) throw invalid('model: Field required', 'model');
  if (body.messages === undefined) throw invalid('messages: Field required', 'messages');
  if (!Array.isArray(body.messages)) throw invalid('messages: Input should be a valid list', 'messages');
  if (!body.messages.length) throw invalid('messages: List should have at least 1 item after validation, not 0', 'messages');
  const meter = new PromptMeter();

  if (typeof body.system === 'string') meter.message(body.system);
  else if (Array.isArray(body.system)) meter.message(contentText(body.system).text);
  else if (body.system !== undefined) throw invalid('system: Input should be a valid string', 'system');

  let promptText = '';
  let toolResultText: string | undefined;
  body.messages.forEach((m, i) => {
    if (!isRecord(m)) throw invalid(`messages.${i}: Input should be a valid dictionary`, `messages.${i}`);
    if (m.role === 'system') {
      throw invalid('messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.', `messages.${i}.role`);
    }
    if (m.role !== 'user' && m.role !== 'assistant') throw invalid(`messages.${i}.role: Input should be 'user' or 'assistant'`, `messages.${i}.role`);
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) throw invalid(`messages.${i}.content: Field required`, `messages.${i}.content`);
    const { text: baseText, images } = contentText(m.content); // includes tool_result text
    let text = baseText;
    const results: string[] = [];
    const ownText: unknown[] = [];
    if (Array.isArray(m.content)) {
      for (const block of m.content) {
        if (!isRecord(block)) continue;
        if (block.type === 'tool_use') text += ` ${String(block.name ?? '')} ${JSON.stringify(block.input ?? {})}`;
        else if (block.type === 'tool_result') results.push(contentText(block.content).text);
        else if (block.type === 'text') ownText.push(block);
      }
    }
    meter.message(text, images);
    if (m.role === 'user') {
      toolResultText = results.length ? results.join(' ') : undefined;
      if (!results.length) promptText = baseText;
      else if (ownText.length) promptText = contentText(ownText).text;
    }
  });
  const last = body.messages[body.messages.length - 1];
  if (!isRecord(last) || last.role !== 'user') toolResultText = undefined;

  const tools: ToolSpec[] = [];
  if (Array.isArray(body.tools)) {
    body.tools.forEach((t, i) => {
      if (!isRecord(t)) throw invalid(`tools.${i}: Input should be a valid dictionary`, `tools.${i}`);
      if (t.type !== undefined && t.type !== 'custom') return; // server tools are not simulated
      if (typeof t.name !== 'string' || !t.name) throw invalid(`tools.${i}.custom.name: Field required`, `tools.${i}.name`);
      if (!isRecord(t.input_schema)) throw invalid(`tools.${i}.custom.input_schema: Field required`, `tools.${i}.input_schema`);
      tools.push({ name: t.name, parameters: t.input_schema });
    });
    if (tools.length) meter.extra(JSON.stringify(body.tools));
  }
  return { meter, promptText, toolResultText, tools };
}

function toolChoiceOf(v: unknown): ToolChoice {
  if (!isRecord(v)) return { mode: 'auto' };
  if (v.type === 'none') return { mode: 'none' };
  if (v.type === 'any') return { mode: 'required' };
  if (v.type === 'tool' && typeof v.name === 'string') return { mode: 'named', name: v.name };
  return { mode: 'auto' };
}

function messages(req: ApiRequest): Outcome {
  const body = req.body;
  const conv = parseConversation(body);
  const model = body.model as string;
  if (body.max_tokens === undefined) throw invalid('max_tokens: Field required', 'max_tokens');
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
    throw invalid('max_tokens: Input should be greater than or equal to 1', 'max_tokens');
  }
  const stops = stopList(body.stop_sequences);
  const gen = generate({
    promptText: conv.promptText,
    toolResultText: conv.toolResultText,
    tools: conv.tools,
    toolChoice: toolChoiceOf(body.tool_choice),
    forceTool: req.knobs.forceTool,
    maxTokens: body.max_tokens,
    stop: stops,
    format: { type: 'text' },
    replyWords: req.knobs.replyWords,
    replyText: req.knobs.replyText,
  });
  const promptTokens = conv.meter.total();
  const cached = Math.min(req.knobs.cachedTokens, promptTokens);
  const usage = { input_tokens: promptTokens - cached, cache_creation_input_tokens: 0, cache_read_input_tokens: cached, output_tokens: gen.tokens, service_tier: 'standard' };
  const reported = { inputTokens: promptTokens, outputTokens: gen.tokens, cachedInputTokens: cached };
  const id = `msg_01${alnum(22)}`;
  const toolId = `toolu_01${alnum(22)}`;
  const stopReason = gen.kind === 'tool' ? 'tool_use' : gen.finish === 'length' ? 'max_tokens' : gen.finish === 'stop_sequence' ? 'stop_sequence' : 'end_turn';
  const stopSequence = gen.kind === 'text' ? gen.stopSequence : null;

  if (body.stream !== true) {
    const content = gen.kind === 'tool' ? [{ type: 'tool_use', id: toolId, name: gen.name, input: JSON.parse(gen.arguments) as unknown }] : [{ type: 'text', text: gen.text }];
    return { kind: 'json', status: 200, tokens: gen.tokens, usage: reported, body: { id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: stopSequence, usage } };
  }

  let head = sse('message_start', {
    type: 'message_start',
    message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
  });
  let deltas: StreamDelta[];
  if (gen.kind === 'tool') {
    head += sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: toolId, name: gen.name, input: {} } });
    head += sse('ping', { type: 'ping' });
    deltas = gen.argPieces.map((p) => ({ frame: `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(p)}}}\n\n`, tokens: 1 }));
  } else {
    head += sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    head += sse('ping', { type: 'ping' });
    deltas = gen.pieces.map((p) => ({ frame: `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(p)}}}\n\n`, tokens: 1 }));
  }
  let tail = sse('content_block_stop', { type: 'content_block_stop', index: 0 });
  tail += sse('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: stopSequence }, usage: { output_tokens: gen.tokens } });
  tail += sse('message_stop', { type: 'message_stop' });
  const errorFrame = sse('error', anthropicError(529, FAULT_MESSAGES[529]));
  return { kind: 'sse', head, deltas, tail, errorFrame, tokens: gen.tokens, usage: reported };
}

function countTokensRoute(req: ApiRequest): Outcome {
  const conv = parseConversation(req.body);
  return { kind: 'json', status: 200, tokens: 0, body: { input_tokens: conv.meter.total() } };
}

function models(): Outcome {
  const data = MODELS.map(([id, display_name, created_at]) => ({ type: 'model', id, display_name, created_at }));
  return { kind: 'json', status: 200, tokens: 0, body: { data, has_more: false, first_id: data[0].id, last_id: data[data.length - 1].id } };
}

export const anthropicWire: ProviderWire = {
  provider: 'anthropic',
  requestIdHeader: 'request-id',
  newRequestId: () => `req_011C${alnum(20)}`,
  apiKey(headers: IncomingHttpHeaders) {
    const key = headers['x-api-key'];
    if (typeof key === 'string' && key.trim()) return key.trim();
    return bearerKey(headers);
  },
  preflight(_route: RouteId, headers: IncomingHttpHeaders) {
    if (typeof headers['anthropic-version'] !== 'string' || !headers['anthropic-version']) {
      throw new SimulatorError(400, 'missing_version', 'anthropic-version: header is required');
    }
  },
  errorBody(err, requestId) {
    let message = err.message;
    if (err.code === 'missing_api_key') message = 'x-api-key header is required';
    else if (err.code === 'invalid_api_key') message = 'invalid x-api-key';
    else if (err.code === 'rate_limited' || err.code === 'injected_fault') message = FAULT_MESSAGES[err.status] ?? err.message;
    return { ...anthropicError(err.status, message), request_id: requestId };
  },
  handle(req) {
    switch (req.route) {
      case 'anthropic.messages':
        return messages(req);
      case 'anthropic.count_tokens':
        return countTokensRoute(req);
      case 'anthropic.models':
        return models();
      default:
        throw new SimulatorError(404, 'not_found', 'Not found');
    }
  },
};
