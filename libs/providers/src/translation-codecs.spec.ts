import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeAnthropicRequest, decodeAnthropicResponse, encodeAnthropicError, encodeAnthropicRequest, encodeAnthropicResponse } from './anthropic-messages.codec';
import { AnthropicStreamDecoder, AnthropicStreamEncoder } from './anthropic-messages.stream';
import { CanonicalRequest, CanonicalStreamEvent, collectStream } from './canonical';
import { MistralStreamDecoder, OpenAIStreamDecoder } from './chat-stream.decoder';
import { MistralStreamEncoder, OpenAIStreamEncoder } from './chat-stream.encoder';
import { decodeMistralRequest, decodeMistralResponse, encodeMistralError, encodeMistralRequest } from './mistral-chat.codec';
import { decodeOpenAIRequest, decodeOpenAIResponse, encodeOpenAIError, encodeOpenAIRequest, encodeOpenAIResponse } from './openai-chat.codec';
import { SseParser } from './sse';
import { StreamUsageTracker } from './stream-usage.tracker';
import { toAnthropicToolCallId, toMistralToolCallId } from './tool-call-id.util';
import { TranslationError } from './translation.error';

const refused = (fn: () => unknown, code: string, param: string | null) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TranslationError, String(err));
    assert.deepEqual([err.code, err.param, err.status], [code, param, 400]);
    return true;
  });

const sseEvents = (wire: string) => {
  const p = new SseParser();
  return [...p.push(wire), ...p.end()];
};

const base: CanonicalRequest = { model: 'm', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], stream: false, streamUsage: false };

describe('OpenAI chat codec', () => {
  it('decodes roles, system/developer hoisting, images, tool calls and settings', () => {
    const req = decodeOpenAIRequest({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'A' },
        { role: 'developer', content: [{ type: 'text', text: 'B' }] },
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'done' },
        { role: 'system', content: 'late' },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      max_tokens: 5,
      max_completion_tokens: 9,
      stop: 'END',
      seed: 3,
      stream: true,
      stream_options: { include_usage: true },
      store: false,
    });
    assert.deepEqual(req.system, ['A', 'B']);
    assert.deepEqual(req.messages[0], { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBOR' } }] });
    assert.deepEqual(req.messages[1], { role: 'assistant', content: [], toolCalls: [{ id: 'call_1', name: 'f', argumentsJson: '{"a":1}' }] });
    assert.deepEqual(req.messages[3], { role: 'system', content: 'late' });
    assert.deepEqual([req.toolChoice, req.maxOutputTokens, req.stop, req.seed, req.stream, req.streamUsage], [{ name: 'f' }, 9, ['END'], 3, true, true]);
  });

  it("refuses what OpenAI's API refuses, in OpenAI's codes, before anything that only stops translation", () => {
    const user = { role: 'user', content: 'x' };
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [user], n: 2 }), 'invalid_value', 'n');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [user], temperature: 3 }), 'invalid_value', 'temperature');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [user], max_tokens: '9' }), 'invalid_type', 'max_tokens');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [] }), 'invalid_value', 'messages');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [{ role: 'user', content: '' }] }), 'invalid_value', 'messages[0].content');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [user], tools: [{ type: 'function', function: { name: 'bad name!' } }] }), 'invalid_value', 'tools[0].function.name');
    // An untranslatable field earlier in the body does not hide a refusal later in it.
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [{ role: 'user', name: 'bob', content: 'x' }, { role: 'tool', content: 'y' }] }), 'invalid_value', 'messages[1].tool_call_id');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [user], logit_bias: { 1: 2 }, stop: ['a', 'b', 'c', 'd', 'e'] }), 'invalid_value', 'stop');
    // Checks only the decoder makes keep their code and their place after the untranslatable field.
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [user], presence_penalty: 3 }), 'invalid_parameter', 'presence_penalty');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [user], logit_bias: { 1: 2 }, presence_penalty: 3 }), 'unsupported_parameter', 'logit_bias');
  });

  it("keeps OpenAI's rules to OpenAI bodies: Mistral's decoder, which shares the message helpers, is as lenient as before", () => {
    const req = decodeMistralRequest({
      model: 'm',
      messages: [{ role: 'user', content: '' }, { role: 'assistant', content: 'ok', tool_calls: [{ id: 'abcDEF123', function: { name: 'f.x', arguments: { a: 1 } } }] }],
      tools: [{ type: 'function', function: { name: 'has space', parameters: null } }],
      stop: ['a', 'b', 'c', 'd', 'e'],
    });
    assert.deepEqual([req.messages.length, req.tools?.[0].name, req.stop?.length], [2, 'has space', 5]);
  });

  it('refuses what it cannot carry instead of dropping it', () => {
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], logit_bias: { 1: 2 } }), 'unsupported_parameter', 'logit_bias');
    refused(() => decodeOpenAIRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }), 'unsupported_content', 'messages[0].content[0].type');
    refused(() => encodeOpenAIRequest({ ...base, messages: [...base.messages, { role: 'assistant', content: [{ type: 'text', text: 'Sure' }], toolCalls: [] }], assistantPrefill: true }, 'gpt'), 'unsupported_parameter', 'messages');
    refused(() => encodeOpenAIRequest({ ...base, messages: [{ role: 'tool', toolCallId: 'x', content: [{ type: 'text', text: 'boom' }], isError: true }] }, 'gpt'), 'unsupported_parameter', 'messages[0].is_error');
  });

  it('always asks for usage when streaming upstream', () => {
    const body = encodeOpenAIRequest({ ...base, stream: true, maxOutputTokens: 10 }, 'gpt-4o');
    assert.deepEqual([body.stream, body.stream_options, body.max_completion_tokens, body.model], [true, { include_usage: true }, 10, 'gpt-4o']);
  });

  it('decodes a response (forced named tool call finishing with stop becomes tool_calls) and encodes usage', () => {
    const res = decodeOpenAIResponse({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 20, completion_tokens: 4, total_tokens: 24, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 2 } },
    });
    assert.equal(res.finishReason, 'tool_calls');
    assert.deepEqual(res.usage, { inputTokens: 20, outputTokens: 4, cachedInputTokens: 8, reasoningTokens: 2 });
    const anthropic = encodeAnthropicResponse(res, 'claude');
    assert.deepEqual(anthropic.usage, { input_tokens: 12, output_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 8, output_tokens_details: { thinking_tokens: 2 } });
    assert.equal(anthropic.stop_reason, 'tool_use');
  });

  it('encodes errors in its shape; an upstream error finish is a 502, not a silent stop', () => {
    assert.deepEqual(encodeOpenAIError(400, 'unsupported_parameter', 'no', 'seed'), { error: { message: 'no', type: 'invalid_request_error', param: 'seed', code: 'unsupported_parameter' } });
    assert.throws(() => encodeOpenAIResponse({ id: 'x', model: 'm', content: [], finishReason: 'error', usage: { inputTokens: 1, outputTokens: 0 } }, 'm'), (e: unknown) => e instanceof TranslationError && e.status === 502);
  });
});

describe('Anthropic messages codec', () => {
  it('decodes system blocks, tool_result blocks (first, as tool messages), is_error, prefill and tool_choice', () => {
    const req = decodeAnthropicRequest({
      model: 'claude',
      max_tokens: 100,
      system: [{ type: 'text', text: 'S1', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'S2' }],
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: [{ type: 'text', text: 'let me check' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'oops' }], is_error: true }, { type: 'text', text: 'and?' }] },
        { role: 'assistant', content: 'The answer is' },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      metadata: { user_id: 'u1' },
    });
    assert.deepEqual(req.system, ['S1', 'S2']);
    assert.deepEqual(req.messages[1], { role: 'assistant', content: [{ type: 'text', text: 'let me check' }], toolCalls: [{ id: 'toolu_1', name: 'f', argumentsJson: '{"a":1}' }] });
    assert.deepEqual(req.messages[2], { role: 'tool', toolCallId: 'toolu_1', content: [{ type: 'text', text: 'oops' }], isError: true });
    assert.deepEqual(req.messages[3], { role: 'user', content: [{ type: 'text', text: 'and?' }] });
    assert.deepEqual([req.assistantPrefill, req.toolChoice, req.parallelToolCalls, req.user, req.streamUsage], [true, 'required', false, 'u1', true]);
    refused(() => encodeOpenAIRequest(req, 'gpt'), 'unsupported_parameter', 'messages');
    const mistral = encodeMistralRequest({ ...req, messages: req.messages.filter((m) => m.role !== 'tool') }, 'mistral-small');
    assert.equal((mistral.messages as Array<Record<string, unknown>>).at(-1)?.prefix, true);
  });

  it('refuses Anthropic-only features and invalid input', () => {
    const ok = { model: 'c', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] };
    refused(() => decodeAnthropicRequest({ ...ok, thinking: { type: 'enabled', budget_tokens: 1024 } }), 'unsupported_parameter', 'thinking');
    refused(() => decodeAnthropicRequest({ ...ok, top_k: 5 }), 'unsupported_parameter', 'top_k');
    refused(() => decodeAnthropicRequest({ ...ok, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }), 'unsupported_parameter', 'tools.0.type');
    refused(() => decodeAnthropicRequest({ ...ok, max_tokens: undefined }), 'missing_parameter', 'max_tokens');
    refused(() => decodeAnthropicRequest({ ...ok, messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }), 'unsupported_content', 'messages.0.content.0.type');
  });

  it('encodes: merges tool results into one user turn, maps tool choice, defaults max_tokens, refuses what Anthropic lacks', () => {
    const req: CanonicalRequest = {
      ...base,
      system: ['sys'],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'q' }] },
        { role: 'assistant', content: [], toolCalls: [{ id: 'call_a', name: 'f', argumentsJson: '{"x":1}' }, { id: 'call b!', name: 'g', argumentsJson: '{}' }] },
        { role: 'tool', toolCallId: 'call_a', content: [{ type: 'text', text: 'r1' }] },
        { role: 'tool', toolCallId: 'call b!', content: [{ type: 'text', text: 'r2' }] },
        { role: 'user', content: [{ type: 'text', text: 'thanks' }] },
      ],
      toolChoice: { name: 'f' },
      parallelToolCalls: false,
      stop: ['###'],
      user: 'u',
    };
    const body = encodeAnthropicRequest(req, 'claude-sonnet-4-6');
    const hashed = toAnthropicToolCallId('call b!');
    assert.match(hashed, /^toolu_[A-Za-z0-9]{24}$/);
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'q' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_a', name: 'f', input: { x: 1 } }, { type: 'tool_use', id: hashed, name: 'g', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_a', content: 'r1' }, { type: 'tool_result', tool_use_id: hashed, content: 'r2' }, { type: 'text', text: 'thanks' }] },
    ]);
    assert.deepEqual([body.system, body.max_tokens, body.tool_choice, body.stop_sequences, body.metadata], ['sys', 4096, { type: 'tool', name: 'f', disable_parallel_tool_use: true }, ['###'], { user_id: 'u' }]);
    refused(() => encodeAnthropicRequest({ ...base, seed: 1 }, 'c'), 'unsupported_parameter', 'seed');
    refused(() => encodeAnthropicRequest({ ...base, presencePenalty: 0.5 }, 'c'), 'unsupported_parameter', 'presence_penalty');
    refused(() => encodeAnthropicRequest({ ...base, responseFormat: { type: 'json_object' } }, 'c'), 'unsupported_parameter', 'response_format');
    refused(() => encodeAnthropicRequest({ ...base, temperature: 1.5 }, 'c'), 'invalid_parameter', 'temperature');
    refused(() => encodeAnthropicRequest({ ...base, temperature: 0.5 }, 'c', { samplingParams: false }), 'unsupported_parameter', 'temperature');
    refused(() => encodeAnthropicRequest({ ...base, messages: [...base.messages, { role: 'system', content: 'late' }, ...base.messages] }, 'c'), 'unsupported_message_role', 'messages[1].role');
    refused(() => encodeAnthropicRequest({ ...base, messages: [...base.messages, { role: 'assistant', content: [{ type: 'text', text: 'a' }], toolCalls: [] }] }, 'c'), 'unsupported_message_role', 'messages');
    refused(() => encodeAnthropicRequest({ ...base, messages: [{ role: 'assistant', content: [], toolCalls: [{ id: 'x', name: 'f', argumentsJson: '{"trunc' }] }, ...base.messages] }, 'c'), 'invalid_tool_arguments', 'messages[0].tool_calls[0].function.arguments');
    const schema = encodeAnthropicRequest({ ...base, responseFormat: { type: 'json_schema', name: 'n', schema: { type: 'object' } } }, 'c');
    assert.deepEqual(schema.output_config, { format: { type: 'json_schema', schema: { type: 'object' } } });
  });

  it('decodes usage as total input (cache read and creation included) and maps stop reasons', () => {
    const res = decodeAnthropicResponse({
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      model: 'claude',
      content: [{ type: 'text', text: 'Hello' }],
      stop_reason: 'stop_sequence',
      stop_sequence: '###',
      usage: { input_tokens: 10, cache_read_input_tokens: 5, cache_creation_input_tokens: 3, output_tokens: 7 },
    });
    assert.deepEqual(res.usage, { inputTokens: 18, cachedInputTokens: 5, cacheCreationInputTokens: 3, outputTokens: 7 });
    assert.deepEqual([res.finishReason, res.stopSequence], ['stop', '###']);
    const openai = encodeOpenAIResponse(res, 'gpt-4o', { created: 1 });
    assert.deepEqual(openai.usage, { prompt_tokens: 18, completion_tokens: 7, total_tokens: 25, prompt_tokens_details: { cached_tokens: 5 }, completion_tokens_details: { reasoning_tokens: 0 } });
    const back = encodeAnthropicResponse(res, 'claude');
    assert.deepEqual([back.stop_reason, back.stop_sequence, back.usage], ['stop_sequence', '###', { input_tokens: 10, output_tokens: 7, cache_creation_input_tokens: 3, cache_read_input_tokens: 5 }]);
  });

  it('encodes errors in its shape', () => {
    assert.deepEqual(encodeAnthropicError(400, 'unsupported_parameter', 'not supported', 'seed'), { type: 'error', error: { type: 'invalid_request_error', message: 'seed: not supported' } });
    assert.deepEqual(encodeAnthropicError(529, 'overloaded', 'Overloaded'), { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });
});

describe('Mistral chat codec', () => {
  it('maps tool call ids to [a-zA-Z0-9]{9} deterministically and keeps valid ones', () => {
    assert.equal(toMistralToolCallId('abcDEF123'), 'abcDEF123');
    const id = toMistralToolCallId('toolu_01ABCDEFGHIJKLMNOPQRSTUV');
    assert.match(id, /^[a-zA-Z0-9]{9}$/);
    assert.equal(toMistralToolCallId('toolu_01ABCDEFGHIJKLMNOPQRSTUV'), id);
    assert.notEqual(toMistralToolCallId('toolu_01ABCDEFGHIJKLMNOPQRSTUW'), id);
    const body = encodeMistralRequest(
      { ...base, messages: [...base.messages, { role: 'assistant', content: [], toolCalls: [{ id: 'toolu_01ABCDEFGHIJKLMNOPQRSTUV', name: 'f', argumentsJson: '{}' }] }, { role: 'tool', toolCallId: 'toolu_01ABCDEFGHIJKLMNOPQRSTUV', content: [{ type: 'text', text: 'r' }] }], seed: 7, user: 'u' },
      'mistral-small-latest',
    );
    const msgs = body.messages as Array<Record<string, unknown>>;
    assert.equal((msgs[1].tool_calls as Array<{ id: string }>)[0].id, id);
    assert.equal(msgs[2].tool_call_id, id);
    assert.equal(body.random_seed, 7);
    assert.equal(body.user, undefined);
  });

  it('decodes Mistral-specific fields and refuses the ones others cannot honour', () => {
    const req = decodeMistralRequest({ model: 'mistral-small', messages: [{ role: 'user', content: 'x' }], random_seed: 4, tool_choice: 'any', safe_prompt: false });
    assert.deepEqual([req.seed, req.toolChoice, req.streamUsage], [4, 'required', true]);
    refused(() => decodeMistralRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], safe_prompt: true }), 'unsupported_parameter', 'safe_prompt');
    refused(() => decodeMistralRequest({ model: 'm', messages: [{ role: 'developer', content: 'x' }] }), 'unsupported_message_role', 'messages[0].role');
    refused(() => encodeMistralRequest({ ...base, temperature: 1.8 }, 'm'), 'invalid_parameter', 'temperature');
  });

  it('decodes the simulator-shaped response and encodes errors in its shape', () => {
    const res = decodeMistralResponse({
      id: 'a1b2',
      object: 'chat.completion',
      created: 1,
      model: 'mistral-small-latest',
      choices: [{ index: 0, message: { role: 'assistant', tool_calls: [{ id: 'Ab3dE6gH9', function: { name: 'f', arguments: '{"q":1}' }, index: 0 }], content: '' }, finish_reason: 'tool_calls', logprobs: null }],
      usage: { prompt_tokens: 30, total_tokens: 35, completion_tokens: 5 },
    });
    assert.deepEqual(res.content, [{ type: 'tool_call', id: 'Ab3dE6gH9', name: 'f', argumentsJson: '{"q":1}' }]);
    assert.deepEqual(res.usage, { inputTokens: 30, outputTokens: 5 });
    assert.deepEqual(encodeMistralError(400, 'unsupported_parameter', 'no', 'seed'), { object: 'error', message: 'no', type: 'invalid_request_error', param: 'seed', code: 'unsupported_parameter' });
  });
});

describe('stream decoders on the providers\' wire', () => {
  it('Anthropic: message_start input (placeholder output ignored), deltas, cumulative output in message_delta', () => {
    const wire =
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":1}}}\n\n' +
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
      'event: ping\ndata: {"type":"ping"}\n\n' +
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n' +
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
      'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}\n\n' +
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":"}}\n\n' +
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}\n\n' +
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    const decoder = new AnthropicStreamDecoder();
    const events = sseEvents(wire).flatMap((e) => decoder.push(e));
    assert.ok(decoder.done);
    assert.deepEqual(events.slice(0, 2), [{ type: 'start', id: 'msg_01', model: 'claude' }, { type: 'usage', usage: { inputTokens: 16, cachedInputTokens: 4, cacheCreationInputTokens: 0 } }]);
    const res = collectStream(events);
    assert.deepEqual(res.content, [{ type: 'text', text: 'Hi' }, { type: 'tool_call', id: 'toolu_1', name: 'f', argumentsJson: '{"a":1}' }]);
    assert.deepEqual([res.finishReason, res.usage], ['tool_calls', { inputTokens: 16, cachedInputTokens: 4, cacheCreationInputTokens: 0, outputTokens: 9 }]);
    const cut = new StreamUsageTracker();
    events.slice(0, 4).forEach((e) => cut.observe(e));
    assert.deepEqual(cut.usage(), { inputTokens: 16, cachedInputTokens: 4, cacheCreationInputTokens: 0, outputTokens: 1, estimated: true, complete: false });
  });

  it('OpenAI: role chunk, tool call deltas by index, finish, usage chunk, [DONE]; in-band error', () => {
    const chunk = (delta: unknown, finish: string | null = null) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }], usage: null })}\n\n`;
    const wire =
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }) +
      chunk({}, 'tool_calls') +
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o', choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } })}\n\n` +
      'data: [DONE]\n\n';
    const decoder = new OpenAIStreamDecoder();
    const res = collectStream(sseEvents(wire).flatMap((e) => decoder.push(e)));
    assert.ok(decoder.done);
    assert.deepEqual(res.content, [{ type: 'tool_call', id: 'call_1', name: 'f', argumentsJson: '{"a":1}' }]);
    assert.deepEqual(res.usage, { inputTokens: 5, outputTokens: 3 });
    const err = new OpenAIStreamDecoder().push({ data: '{"error":{"message":"boom","type":"server_error","param":null,"code":null}}' });
    assert.deepEqual(err, [{ type: 'error', status: 502, code: 'server_error', message: 'boom' }]);
  });

  it('Mistral: whole tool call in one delta and usage on the finishing chunk', () => {
    const wire =
      'data: {"id":"h1","object":"chat.completion.chunk","created":1,"model":"mistral-small","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n' +
      'data: {"id":"h1","object":"chat.completion.chunk","created":1,"model":"mistral-small","choices":[{"index":0,"delta":{"tool_calls":[{"id":"Ab3dE6gH9","function":{"name":"f","arguments":"{\\"q\\":1}"},"index":0}]},"finish_reason":null}]}\n\n' +
      'data: {"id":"h1","object":"chat.completion.chunk","created":1,"model":"mistral-small","choices":[{"index":0,"delta":{"content":""},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"total_tokens":35,"completion_tokens":5}}\n\n' +
      'data: [DONE]\n\n';
    const decoder = new MistralStreamDecoder();
    const res = collectStream(sseEvents(wire).flatMap((e) => decoder.push(e)));
    assert.deepEqual([res.content, res.finishReason, res.usage], [[{ type: 'tool_call', id: 'Ab3dE6gH9', name: 'f', argumentsJson: '{"q":1}' }], 'tool_calls', { inputTokens: 30, outputTokens: 5 }]);
  });
});

describe('stream encoders', () => {
  const events: CanonicalStreamEvent[] = [
    { type: 'start', id: 'x1', model: 'up' },
    { type: 'usage', usage: { inputTokens: 10, cachedInputTokens: 2 } },
    { type: 'text_delta', text: 'Hel' },
    { type: 'text_delta', text: 'lo' },
    { type: 'tool_call_start', index: 0, id: 'call_1', name: 'f' },
    { type: 'tool_call_delta', index: 0, argumentsDelta: '{}' },
    { type: 'finish', reason: 'tool_calls' },
    { type: 'usage', usage: { outputTokens: 6 } },
  ];
  const run = (enc: { push(e: CanonicalStreamEvent): string; end(): string }) => events.map((e) => enc.push(e)).join('') + enc.end();

  it('Anthropic: the full event sequence with input in message_start and exact usage in message_delta', () => {
    const wire = run(new AnthropicStreamEncoder('claude-sonnet-4-6'));
    const types = sseEvents(wire).map((e) => e.event);
    assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    const parsed = sseEvents(wire).map((e) => JSON.parse(e.data) as Record<string, { usage?: unknown }>);
    assert.deepEqual(parsed[0].message.usage, { input_tokens: 8, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 2 });
    assert.deepEqual(parsed[8].usage, { input_tokens: 8, output_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 2 });
    assert.deepEqual((parsed[8] as unknown as { delta: unknown }).delta, { stop_reason: 'tool_use', stop_sequence: null });
  });

  it('OpenAI: usage chunk only with include_usage, then [DONE]; a cut upstream becomes an in-band error', () => {
    const withUsage = sseEvents(run(new OpenAIStreamEncoder('gpt-4o', true, { created: 1 })));
    assert.equal(withUsage.at(-1)?.data, '[DONE]');
    assert.deepEqual((JSON.parse(withUsage.at(-2)!.data) as { choices: unknown[]; usage: unknown }).usage, { prompt_tokens: 10, completion_tokens: 6, total_tokens: 16, prompt_tokens_details: { cached_tokens: 2 }, completion_tokens_details: { reasoning_tokens: 0 } });
    const without = sseEvents(run(new OpenAIStreamEncoder('gpt-4o', false)));
    assert.ok(without.every((e) => !e.data.includes('"usage"')));
    const cut = new OpenAIStreamEncoder('gpt-4o', true);
    const text = events.slice(0, 3).map((e) => cut.push(e)).join('') + cut.end();
    assert.match(sseEvents(text).at(-1)!.data, /"code":"upstream_incomplete"/);
  });

  it('Mistral: the tool call sent whole with a 9-char id, usage on the finishing chunk', () => {
    const wire = sseEvents(run(new MistralStreamEncoder('mistral-small', { created: 1 })));
    const chunks = wire.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as { choices: Array<{ delta: { tool_calls?: Array<{ id: string; function: { arguments: string } }> }; finish_reason: string | null }>; usage?: unknown });
    const call = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    assert.equal(call.length, 1);
    assert.match(call[0].id, /^[a-zA-Z0-9]{9}$/);
    assert.equal(call[0].function.arguments, '{}');
    assert.deepEqual([chunks.at(-1)!.choices[0].finish_reason, chunks.at(-1)!.usage], ['tool_calls', { prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 }]);
  });
});
