import { embedText, toBase64Float32 } from './embedding.generator';
import { chatFormat, chatPrompt, chatTools } from './openai.wire';
import { generate, PromptMeter, ToolChoice } from './reply.generator';
import { alnum, hex, nowSeconds } from './sim-ids.util';
import { SimulatorError } from './simulator.error';
import { countTokens } from './tokenizer.util';
import { ApiRequest, bearerKey, isRecord, Outcome, ProviderWire, sse, StreamDelta, stopList } from './wire.types';

// Mistral's flavour of chat completions and embeddings: hex ids, 9-character tool call ids,
// usage in the last stream chunk, strict validation (unknown fields -> 422 extra_forbidden).

const CHAT_FIELDS = new Set([
  'model', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop', 'random_seed', 'metadata', 'messages', 'response_format', 'tools',
  'tool_choice', 'presence_penalty', 'frequency_penalty', 'n', 'prediction', 'parallel_tool_calls', 'prompt_mode', 'safe_prompt',
]);
const EMBEDDING_FIELDS = new Set(['model', 'metadata', 'input', 'output_dimension', 'output_dtype', 'encoding_format']);
const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const TOOL_CALL_ID = /^[a-zA-Z0-9]{9}$/;
const MODELS = ['mistral-large-latest', 'mistral-medium-latest', 'mistral-small-latest', 'codestral-latest', 'mistral-embed'];

type Loc = Array<string | number>;

function validation(type: string, loc: Loc, msg: string, input?: unknown): SimulatorError {
  return new SimulatorError(422, type === 'missing' ? 'missing_parameter' : type === 'extra_forbidden' ? 'extra_parameter' : 'invalid_request', msg, loc.join('.'), {
    type,
    loc,
    msg,
    input,
  });
}

function badRequest(message: string): SimulatorError {
  return new SimulatorError(400, 'invalid_request', message);
}

function checkFields(body: Record<string, unknown>, allowed: Set<string>, required: string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.has(key)) throw validation('extra_forbidden', ['body', key], 'Extra inputs are not permitted', body[key]);
  }
  for (const key of required) {
    if (body[key] === undefined) throw validation('missing', ['body', key], 'Field required', body);
  }
  if (typeof body.model !== 'string') throw validation('string_type', ['body', 'model'], 'Input should be a valid string', body.model);
}

function toolChoiceOf(v: unknown): ToolChoice {
  if (v === 'none' || v === 'auto') return { mode: v };
  if (v === 'any' || v === 'required') return { mode: 'required' };
  if (isRecord(v) && isRecord(v.function) && typeof v.function.name === 'string') return { mode: 'named', name: v.function.name };
  return { mode: 'auto' };
}

function validateMessages(messages: unknown[]): void {
  messages.forEach((m, i) => {
    if (!isRecord(m) || typeof m.role !== 'string' || !ROLES.has(m.role)) {
      throw validation('union_tag_invalid', ['body', 'messages', i], "Input tag does not match any of the expected tags: 'assistant', 'system', 'tool', 'user'", m);
    }
    const ids: unknown[] = [];
    if (m.role === 'tool' && m.tool_call_id !== undefined) ids.push(m.tool_call_id);
    if (Array.isArray(m.tool_calls)) for (const c of m.tool_calls) if (isRecord(c) && c.id !== undefined) ids.push(c.id);
    for (const id of ids) {
      if (typeof id !== 'string' || !TOOL_CALL_ID.test(id)) throw badRequest(`Tool call id was ${String(id)} but must be a-z, A-Z, 0-9, with a length of 9.`);
    }
  });
  const last = messages[messages.length - 1];
  if (isRecord(last) && last.role !== 'user' && last.role !== 'tool' && !(last.role === 'assistant' && last.prefix === true)) {
    throw badRequest(`Expected last role User or Tool (or Assistant with prefix True) for serving but got ${String(last.role)}`);
  }
}

function chat(req: ApiRequest): Outcome {
  const body = req.body;
  checkFields(body, CHAT_FIELDS, ['model', 'messages']);
  const model = body.model as string;
  if (!Array.isArray(body.messages)) throw validation('list_type', ['body', 'messages'], 'Input should be a valid list', body.messages);
  if (!body.messages.length) throw badRequest('Invalid messages: at least one message is required');
  validateMessages(body.messages);
  let maxTokens: number | undefined;
  if (body.max_tokens !== undefined && body.max_tokens !== null) {
    if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 0) {
      throw validation('greater_than_equal', ['body', 'max_tokens'], 'Input should be greater than or equal to 0', body.max_tokens);
    }
    maxTokens = body.max_tokens;
  }
  const meter = new PromptMeter();
  const { promptText, toolResultText } = chatPrompt(body.messages, meter, false);
  const tools = chatTools(body, meter);
  const format = chatFormat(body.response_format, meter);
  const gen = generate({ promptText, toolResultText, tools, toolChoice: toolChoiceOf(body.tool_choice), forceTool: req.knobs.forceTool, maxTokens, stop: stopList(body.stop), format, replyWords: req.knobs.replyWords, replyText: req.knobs.replyText });
  const promptTokens = meter.total();
  const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens + gen.tokens, completion_tokens: gen.tokens };
  const reported = { inputTokens: promptTokens, outputTokens: gen.tokens, cachedInputTokens: 0 };
  const id = hex(32);
  const created = nowSeconds();
  const finish = gen.kind === 'tool' ? 'tool_calls' : gen.finish === 'length' ? 'length' : 'stop';
  const toolCalls = gen.kind === 'tool' ? [{ id: alnum(9), function: { name: gen.name, arguments: gen.arguments }, index: 0 }] : null;

  if (body.stream !== true) {
    const message = { role: 'assistant', tool_calls: toolCalls, content: gen.kind === 'text' ? gen.text : '' };
    return { kind: 'json', status: 200, tokens: gen.tokens, usage: reported, body: { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, finish_reason: finish, logprobs: null }], usage } };
  }

  const prefix = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  const chunk = (delta: string, finishJson = 'null', usageJson = '') => `${prefix}{"index":0,"delta":${delta},"finish_reason":${finishJson}}]${usageJson}}\n\n`;
  const head = chunk('{"role":"assistant","content":""}');
  let deltas: StreamDelta[];
  if (toolCalls) {
    // Mistral sends a tool call whole, in a single delta.
    deltas = [{ frame: chunk(JSON.stringify({ tool_calls: toolCalls })), tokens: gen.tokens }];
  } else if (gen.kind === 'text') {
    deltas = gen.pieces.map((p) => ({ frame: chunk(`{"content":${JSON.stringify(p)}}`), tokens: 1 }));
  } else deltas = [];
  const tail = chunk('{"content":""}', `"${finish}"`, `,"usage":${JSON.stringify(usage)}`) + 'data: [DONE]\n\n';
  const errorFrame = sse(null, { object: 'error', message: 'Internal server error', type: 'internal_server_error', param: null, code: null });
  return { kind: 'sse', head, deltas, tail, errorFrame, tokens: gen.tokens, usage: reported };
}

function embeddings(req: ApiRequest): Outcome {
  const body = req.body;
  checkFields(body, EMBEDDING_FIELDS, ['model', 'input']);
  const inputs = typeof body.input === 'string' ? [body.input] : Array.isArray(body.input) && body.input.every((s) => typeof s === 'string') ? (body.input as string[]) : null;
  if (!inputs) throw validation('string_type', ['body', 'input'], 'Input should be a valid string', body.input);
  if (body.encoding_format !== undefined && body.encoding_format !== 'float' && body.encoding_format !== 'base64') {
    throw validation('enum', ['body', 'encoding_format'], "Input should be 'float' or 'base64'", body.encoding_format);
  }
  const dims = typeof body.output_dimension === 'number' && body.output_dimension > 0 ? Math.floor(body.output_dimension) : req.embeddingDims ?? 1024;
  let tokens = 0;
  const data = inputs.map((text, index) => {
    tokens += countTokens(text);
    const v = embedText(text, dims);
    return { object: 'embedding', embedding: body.encoding_format === 'base64' ? toBase64Float32(v) : v, index };
  });
  return { kind: 'json', status: 200, tokens: 0, usage: { inputTokens: tokens, outputTokens: 0, cachedInputTokens: 0 }, body: { id: hex(32), object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_audio_seconds: null } } };
}

function models(): Outcome {
  const data = MODELS.map((id) => ({
    id,
    object: 'model',
    created: 1_727_740_800,
    owned_by: 'mistralai',
    capabilities: { completion_chat: id !== 'mistral-embed', completion_fim: id === 'codestral-latest', function_calling: id !== 'mistral-embed', fine_tuning: false, vision: false, classification: false },
    name: id,
    description: `Simulated ${id}`,
    max_context_length: 131072,
    aliases: [],
    deprecation: null,
    default_model_temperature: 0.3,
    type: 'base',
  }));
  return { kind: 'json', status: 200, tokens: 0, body: { object: 'list', data } };
}

const FAULT_TYPES: Record<number, [string, string]> = {
  500: ['internal_server_error', 'Internal server error'],
  502: ['bad_gateway', 'Bad gateway'],
  503: ['service_unavailable', 'Service unavailable'],
  504: ['gateway_timeout', 'Gateway timeout'],
};

export const mistralWire: ProviderWire = {
  provider: 'mistral',
  requestIdHeader: 'x-request-id',
  newRequestId: () => hex(32),
  apiKey: bearerKey,
  errorBody(err, requestId) {
    // Authentication and rate limiting answer from Mistral's API gateway, in its own shape.
    if (err.code === 'missing_api_key' || err.code === 'invalid_api_key') return { message: 'Unauthorized', request_id: requestId };
    if (err.status === 429) return { message: 'Requests rate limit exceeded', request_id: requestId };
    if (err.status === 404 && err.code === 'not_found') return { detail: 'Not Found' };
    if (err.status === 422 && err.details !== undefined) {
      return { object: 'error', message: { detail: [err.details] }, type: 'invalid_request_error', param: null, code: null };
    }
    if (err.status >= 500) {
      const [type, message] = FAULT_TYPES[err.status] ?? ['internal_server_error', 'Internal server error'];
      return { object: 'error', message, type, param: null, code: null };
    }
    return { object: 'error', message: err.message, type: 'invalid_request_error', param: null, code: null };
  },
  handle(req) {
    switch (req.route) {
      case 'mistral.chat.completions':
        return chat(req);
      case 'mistral.embeddings':
        return embeddings(req);
      case 'mistral.models':
        return models();
      default:
        throw new SimulatorError(404, 'not_found', 'Not Found');
    }
  },
};
