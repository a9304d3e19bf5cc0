import { embedText, toBase64Float32 } from './embedding.generator';
import { handleResponses } from './openai-responses.handler';
import { generate, Generation, OutputFormat, PromptMeter, ToolChoice, ToolSpec } from './reply.generator';
import { alnum, hex, nowSeconds } from './sim-ids.util';
import { SimulatorError } from './simulator.error';
import { ERROR_CODES, OPENAI_FAULT_MESSAGES, openaiError, requireModel } from './openai-shared.util';
import { countTokens } from './tokenizer.util';
import { ApiRequest, bearerKey, contentText, isRecord, Outcome, ProviderWire, sse, StreamDelta, stopList } from './wire.types';

const SYSTEM_FINGERPRINT = 'fp_5im0a7e1c0';
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const OPENAI_MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'o3-mini', 'text-embedding-3-small', 'text-embedding-3-large'];

function maxTokensOf(body: Record<string, unknown>, ...keys: string[]): number | undefined {
  for (const key of keys) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new SimulatorError(400, 'invalid_request', `Invalid '${key}': integer below minimum value. Expected a value >= 1, but got ${JSON.stringify(v)} instead.`, key);
    }
    return v;
  }
  return undefined;
}

/** `tools` of chat completions (OpenAI and Mistral share the shape). */
export function chatTools(body: Record<string, unknown>, meter: PromptMeter): ToolSpec[] {
  if (!Array.isArray(body.tools)) return [];
  const tools: ToolSpec[] = [];
  body.tools.forEach((t, i) => {
    const fn = isRecord(t) && isRecord(t.function) ? t.function : undefined;
    if (!fn || typeof fn.name !== 'string' || !fn.name) {
      throw new SimulatorError(400, 'missing_parameter', `Missing required parameter: 'tools[${i}].function.name'.`, `tools[${i}].function.name`);
    }
    tools.push({ name: fn.name, parameters: fn.parameters ?? { type: 'object', properties: {} } });
  });
  if (tools.length) meter.extra(JSON.stringify(body.tools));
  return tools;
}

export function chatToolChoice(v: unknown): ToolChoice {
  if (v === 'none' || v === 'required' || v === 'auto' || v === 'any') return { mode: v === 'any' ? 'required' : v };
  if (isRecord(v) && isRecord(v.function) && typeof v.function.name === 'string') return { mode: 'named', name: v.function.name };
  return { mode: 'auto' };
}

export function chatFormat(v: unknown, meter: PromptMeter): OutputFormat {
  if (!isRecord(v)) return { type: 'text' };
  if (v.type === 'json_object') return { type: 'json_object' };
  if (v.type === 'json_schema') {
    const js = isRecord(v.json_schema) ? v.json_schema : {};
    meter.extra(JSON.stringify(js.schema ?? {}));
    return { type: 'json_schema', schema: js.schema ?? {} };
  }
  return { type: 'text' };
}

/** Walks chat messages: meters them and finds the last user text / trailing tool results. */
export function chatPrompt(messages: unknown[], meter: PromptMeter, validateRole: boolean): { promptText: string; toolResultText?: string } {
  let promptText = '';
  messages.forEach((m, i) => {
    if (!isRecord(m)) throw new SimulatorError(400, 'invalid_request', `Invalid type for 'messages[${i}]': expected an object.`, `messages[${i}]`);
    if (validateRole && (typeof m.role !== 'string' || !ROLES.has(m.role))) {
      throw new SimulatorError(400, 'invalid_request', `Invalid value: '${String(m.role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`, `messages[${i}].role`);
    }
    const { text, images } = contentText(m.content);
    let all = text;
    if (Array.isArray(m.tool_calls)) {
      for (const c of m.tool_calls) {
        if (isRecord(c) && isRecord(c.function)) all += ` ${String(c.function.name ?? '')} ${typeof c.function.arguments === 'string' ? c.function.arguments : JSON.stringify(c.function.arguments ?? {})}`;
      }
    }
    meter.message(all, images);
    if (m.role === 'user') promptText = text;
  });
  const trailing: string[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (!isRecord(m) || (m.role !== 'tool' && m.role !== 'function')) break;
    trailing.unshift(contentText(m.content).text);
  }
  return trailing.length ? { promptText, toolResultText: trailing.join(' ') } : { promptText };
}

function chatRequestMessages(body: Record<string, unknown>): unknown[] {
  if (body.messages === undefined) throw new SimulatorError(400, 'missing_parameter', "Missing required parameter: 'messages'.", 'messages');
  if (!Array.isArray(body.messages)) throw new SimulatorError(400, 'invalid_request', "Invalid type for 'messages': expected an array of objects.", 'messages');
  if (!body.messages.length) throw new SimulatorError(400, 'invalid_request', "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages');
  return body.messages;
}

function usageOf(promptTokens: number, completionTokens: number, cached: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: Math.min(cached, promptTokens), audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function finishReason(gen: Generation, choice: ToolChoice): string {
  // Like the real API: a call forced by a named tool_choice finishes with 'stop'.
  if (gen.kind === 'tool') return choice.mode === 'named' ? 'stop' : 'tool_calls';
  return gen.finish === 'length' ? 'length' : 'stop';
}

function chatCompletions(req: ApiRequest): Outcome {
  const body = req.body;
  const model = requireModel(body);
  const messages = chatRequestMessages(body);
  const meter = new PromptMeter();
  const { promptText, toolResultText } = chatPrompt(messages, meter, true);
  const tools = chatTools(body, meter);
  const toolChoice = chatToolChoice(body.tool_choice);
  const format = chatFormat(body.response_format, meter);
  const maxTokens = maxTokensOf(body, 'max_completion_tokens', 'max_tokens');
  const gen = generate({ promptText, toolResultText, tools, toolChoice, forceTool: req.knobs.forceTool, maxTokens, stop: stopList(body.stop), format, replyWords: req.knobs.replyWords, replyText: req.knobs.replyText });
  const promptTokens = meter.total();
  const usage = usageOf(promptTokens, gen.tokens, req.knobs.cachedTokens);
  const reported = { inputTokens: promptTokens, outputTokens: gen.tokens, cachedInputTokens: usage.prompt_tokens_details.cached_tokens };
  const id = `chatcmpl-${alnum(29)}`;
  const created = nowSeconds();
  const finish = finishReason(gen, toolChoice);
  const callId = `call_${alnum(24)}`;

  if (body.stream !== true) {
    const message: Record<string, unknown> = { role: 'assistant', content: gen.kind === 'text' ? gen.text : null, refusal: null, annotations: [] };
    if (gen.kind === 'tool') message.tool_calls = [{ id: callId, type: 'function', function: { name: gen.name, arguments: gen.arguments } }];
    return {
      kind: 'json',
      status: 200,
      tokens: gen.tokens,
      usage: reported,
      body: { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: finish }], usage, service_tier: 'default', system_fingerprint: SYSTEM_FINGERPRINT },
    };
  }

  const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
  // Chunks share everything but the choice; building the JSON by hand keeps streaming cheap.
  const prefix = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"service_tier":"default","system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
  const suffix = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const chunk = (delta: string, finishReasonJson = 'null') => `${prefix}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finishReasonJson}}${suffix}`;

  let head: string;
  let deltas: StreamDelta[];
  if (gen.kind === 'tool') {
    head = chunk(JSON.stringify({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: callId, type: 'function', function: { name: gen.name, arguments: '' } }], refusal: null }));
    deltas = gen.argPieces.map((p) => ({ frame: chunk(`{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(p)}}}]}`), tokens: 1 }));
    if (deltas.length) deltas[0].tokens += countTokens(gen.name);
  } else {
    head = chunk('{"role":"assistant","content":"","refusal":null}');
    deltas = gen.pieces.map((p) => ({ frame: chunk(`{"content":${JSON.stringify(p)}}`), tokens: 1 }));
  }
  let tail = chunk('{}', `"${finish}"`);
  if (includeUsage) {
    tail += `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: SYSTEM_FINGERPRINT, choices: [], usage })}\n\n`;
  }
  tail += 'data: [DONE]\n\n';
  const errorFrame = sse(null, openaiError(500, OPENAI_FAULT_MESSAGES[500], 'server_error'));
  return { kind: 'sse', head, deltas, tail, errorFrame, tokens: gen.tokens, usage: includeUsage ? reported : undefined };
}

/** Inputs as [text to embed, token count]; token-id arrays count one token per id. */
function embeddingInputs(input: unknown): Array<[string, number]> | null {
  const isIds = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((n) => typeof n === 'number');
  if (typeof input === 'string') return [[input, countTokens(input)]];
  if (!Array.isArray(input) || !input.length) return null;
  if (isIds(input)) return [[input.join(' '), input.length]];
  if (input.every((x) => typeof x === 'string')) return (input as string[]).map((t) => [t, countTokens(t)]);
  if (input.every(isIds)) return (input as number[][]).map((ids) => [ids.join(' '), ids.length]);
  return null;
}

function embeddings(req: ApiRequest): Outcome {
  const body = req.body;
  const model = requireModel(body);
  if (body.input === undefined) throw new SimulatorError(400, 'missing_parameter', "Missing required parameter: 'input'.", 'input');
  const inputs = embeddingInputs(body.input);
  if (!inputs || inputs.some(([s]) => s === '')) {
    throw new SimulatorError(400, 'invalid_request', "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
  }
  const dims = typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.floor(body.dimensions) : req.embeddingDims ?? 1536;
  const base64 = body.encoding_format === 'base64';
  if (body.encoding_format !== undefined && body.encoding_format !== 'float' && !base64) {
    throw new SimulatorError(400, 'invalid_request', `Invalid value: '${String(body.encoding_format)}'. Supported values are: 'float' and 'base64'.`, 'encoding_format');
  }
  let tokens = 0;
  const data = inputs.map(([text, count], index) => {
    tokens += count;
    const v = embedText(text, dims);
    return { object: 'embedding', index, embedding: base64 ? toBase64Float32(v) : v };
  });
  return { kind: 'json', status: 200, tokens: 0, usage: { inputTokens: tokens, outputTokens: 0, cachedInputTokens: 0 }, body: { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } } };
}

function models(): Outcome {
  return { kind: 'json', status: 200, tokens: 0, body: { object: 'list', data: OPENAI_MODELS.map((id) => ({ id, object: 'model', created: 1_715_367_049, owned_by: 'system' })) } };
}

export const openaiWire: ProviderWire = {
  provider: 'openai',
  requestIdHeader: 'x-request-id',
  newRequestId: () => `req_${hex(32)}`,
  apiKey: bearerKey,
  errorBody(err) {
    if (err.code === 'missing_api_key') {
      return openaiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error');
    }
    if (err.code === 'invalid_api_key') {
      // Unlike the real API, the key is not echoed back even partially.
      return openaiError(401, 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key');
    }
    if (err.code === 'rate_limited' || err.code === 'injected_fault') {
      return openaiError(err.status, OPENAI_FAULT_MESSAGES[err.status] ?? err.message, undefined, ERROR_CODES[err.code] ?? null);
    }
    return openaiError(err.status, err.message, undefined, ERROR_CODES[err.code] ?? null, err.param);
  },
  handle(req) {
    switch (req.route) {
      case 'openai.chat.completions':
        return chatCompletions(req);
      case 'openai.embeddings':
        return embeddings(req);
      case 'openai.responses':
        return handleResponses(req);
      case 'openai.models':
        return models();
      default:
        throw new SimulatorError(404, 'not_found', 'Invalid URL', null);
    }
  },
};
