import { OPENAI_FAULT_MESSAGES, requireModel } from './openai-shared.util';
import { generate, OutputFormat, PromptMeter, ToolChoice, ToolSpec } from './reply.generator';
import { hex, nowSeconds } from './sim-ids.util';
import { SimulatorError } from './simulator.error';
import { ApiRequest, contentText, isRecord, Outcome, sse, StreamDelta } from './wire.types';

// The Responses API (POST /v1/responses): output items instead of choices, and a typed
// event stream (`event: response.created` … `response.completed`) with sequence numbers.

const MIN_OUTPUT_TOKENS = 16;

function inputPrompt(body: Record<string, unknown>, meter: PromptMeter): { promptText: string; toolResultText?: string } {
  if (typeof body.instructions === 'string' && body.instructions) meter.message(body.instructions);
  const input = body.input;
  if (typeof input === 'string') {
    meter.message(input);
    return { promptText: input };
  }
  if (!Array.isArray(input)) throw new SimulatorError(400, 'missing_parameter', "Missing required parameter: 'input'.", 'input');
  let promptText = '';
  input.forEach((item, i) => {
    if (!isRecord(item)) throw new SimulatorError(400, 'invalid_request', `Invalid type for 'input[${i}]': expected an object.`, `input[${i}]`);
    if (item.type === 'function_call_output') {
      meter.message(typeof item.output === 'string' ? item.output : contentText(item.output).text);
    } else if (item.type === 'function_call') {
      meter.message(`${String(item.name ?? '')} ${String(item.arguments ?? '')}`);
    } else if (item.type === undefined || item.type === 'message') {
      const { text, images } = contentText(item.content);
      meter.message(text, images);
      if (item.role === 'user') promptText = text;
    }
  });
  const trailing: string[] = [];
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i];
    if (!isRecord(item) || item.type !== 'function_call_output') break;
    trailing.unshift(typeof item.output === 'string' ? item.output : contentText(item.output).text);
  }
  return trailing.length ? { promptText, toolResultText: trailing.join(' ') } : { promptText };
}

function responseTools(body: Record<string, unknown>, meter: PromptMeter): ToolSpec[] {
  if (!Array.isArray(body.tools)) return [];
  const tools: ToolSpec[] = [];
  body.tools.forEach((t, i) => {
    if (!isRecord(t) || t.type !== 'function') return; // built-in tools are not simulated
    if (typeof t.name !== 'string' || !t.name) throw new SimulatorError(400, 'missing_parameter', `Missing required parameter: 'tools[${i}].name'.`, `tools[${i}].name`);
    tools.push({ name: t.name, parameters: t.parameters ?? { type: 'object', properties: {} } });
  });
  if (tools.length) meter.extra(JSON.stringify(body.tools));
  return tools;
}

function responseToolChoice(v: unknown): ToolChoice {
  if (v === 'none' || v === 'required' || v === 'auto') return { mode: v };
  if (isRecord(v) && v.type === 'function' && typeof v.name === 'string') return { mode: 'named', name: v.name };
  return { mode: 'auto' };
}

function responseFormat(body: Record<string, unknown>, meter: PromptMeter): { format: OutputFormat; text: Record<string, unknown> } {
  const text = isRecord(body.text) ? body.text : {};
  const fmt = isRecord(text.format) ? text.format : { type: 'text' };
  if (fmt.type === 'json_schema') {
    meter.extra(JSON.stringify(fmt.schema ?? {}));
    return { format: { type: 'json_schema', schema: fmt.schema ?? {} }, text: { format: fmt, verbosity: 'medium' } };
  }
  if (fmt.type === 'json_object') return { format: { type: 'json_object' }, text: { format: fmt, verbosity: 'medium' } };
  return { format: { type: 'text' }, text: { format: { type: 'text' }, verbosity: 'medium' } };
}

export function handleResponses(req: ApiRequest): Outcome {
  const body = req.body;
  const model = requireModel(body);
  let maxOutput: number | undefined;
  if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
    const v = body.max_output_tokens;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_OUTPUT_TOKENS) {
      throw new SimulatorError(400, 'invalid_request', `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= ${MIN_OUTPUT_TOKENS}, but got ${JSON.stringify(v)} instead.`, 'max_output_tokens');
    }
    maxOutput = v;
  }
  const meter = new PromptMeter();
  const { promptText, toolResultText } = inputPrompt(body, meter);
  const tools = responseTools(body, meter);
  const toolChoice = responseToolChoice(body.tool_choice);
  const { format, text } = responseFormat(body, meter);
  const gen = generate({ promptText, toolResultText, tools, toolChoice, forceTool: req.knobs.forceTool, maxTokens: maxOutput, stop: [], format, replyWords: req.knobs.replyWords, replyText: req.knobs.replyText });

  const inputTokens = meter.total();
  const usage = {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: Math.min(req.knobs.cachedTokens, inputTokens) },
    output_tokens: gen.tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + gen.tokens,
  };
  const incomplete = gen.kind === 'text' && gen.finish === 'length';
  const id = `resp_${hex(48)}`;
  const itemId = gen.kind === 'tool' ? `fc_${hex(48)}` : `msg_${hex(48)}`;
  const callId = `call_${hex(24)}`;
  const createdAt = nowSeconds();

  const envelope = (status: string, output: unknown[], withUsage: boolean) => ({
    id,
    object: 'response',
    created_at: createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: typeof body.instructions === 'string' ? body.instructions : null,
    max_output_tokens: maxOutput ?? null,
    max_tool_calls: null,
    model,
    output,
    parallel_tool_calls: body.parallel_tool_calls !== false,
    previous_response_id: typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
    prompt_cache_key: null,
    reasoning: { effort: null, summary: null },
    safety_identifier: null,
    service_tier: 'default',
    store: body.store !== false,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    text,
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_logprobs: 0,
    top_p: typeof body.top_p === 'number' ? body.top_p : 1,
    truncation: 'disabled',
    usage: withUsage ? usage : null,
    user: null,
    metadata: isRecord(body.metadata) ? body.metadata : {},
  });

  const finalStatus = incomplete ? 'incomplete' : 'completed';
  const itemStatus = incomplete ? 'incomplete' : 'completed';
  const textPart = (t: string) => ({ type: 'output_text', annotations: [], logprobs: [], text: t });
  const finalItem =
    gen.kind === 'tool'
      ? { id: itemId, type: 'function_call', status: 'completed', arguments: gen.arguments, call_id: callId, name: gen.name }
      : { id: itemId, type: 'message', status: itemStatus, content: [textPart(gen.text)], role: 'assistant' };

  if (body.stream !== true) {
    return { kind: 'json', status: 200, tokens: gen.tokens, body: envelope(finalStatus, [finalItem], true) };
  }

  let seq = 0;
  const ev = (type: string, fields: Record<string, unknown>) => sse(type, { type, ...fields, sequence_number: seq++ });
  let head = ev('response.created', { response: envelope('in_progress', [], false) });
  head += ev('response.in_progress', { response: envelope('in_progress', [], false) });
  let deltas: StreamDelta[];
  let tail: string;
  if (gen.kind === 'tool') {
    head += ev('response.output_item.added', { output_index: 0, item: { ...finalItem, status: 'in_progress', arguments: '' } });
    deltas = gen.argPieces.map((p) => ({ frame: ev('response.function_call_arguments.delta', { item_id: itemId, output_index: 0, delta: p }), tokens: 1 }));
    tail = ev('response.function_call_arguments.done', { item_id: itemId, output_index: 0, name: gen.name, arguments: gen.arguments });
  } else {
    head += ev('response.output_item.added', { output_index: 0, item: { id: itemId, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
    head += ev('response.content_part.added', { item_id: itemId, output_index: 0, content_index: 0, part: textPart('') });
    deltas = gen.pieces.map((p) => ({ frame: ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta: p, logprobs: [] }), tokens: 1 }));
    tail = ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text: gen.text, logprobs: [] });
    tail += ev('response.content_part.done', { item_id: itemId, output_index: 0, content_index: 0, part: textPart(gen.text) });
  }
  tail += ev('response.output_item.done', { output_index: 0, item: finalItem });
  tail += ev(`response.${finalStatus}`, { response: envelope(finalStatus, [finalItem], true) });
  const errorFrame = sse('error', { type: 'error', code: 'server_error', message: OPENAI_FAULT_MESSAGES[500], param: null, sequence_number: seq });
  return { kind: 'sse', head, deltas, tail, errorFrame, tokens: gen.tokens };
}
