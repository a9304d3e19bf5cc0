import { strict as assert } from 'node:assert';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSimulator } from '@asc/simulator';
import type { SimulatorHandle } from '@asc/simulator';
import type { CanonicalResponse, CanonicalStreamEvent } from './canonical';
import { decodeResponsesRequest, encodeResponsesError, encodeResponsesResponse, ResponsesEncodeOptions, ResponsesStreamEncoder } from './openai-responses.codec';
import { readJsonBody, simulatorHeaders } from './sdk-gateway.testing';
import { SseEvent, SseParser } from './sse';
import { TranslationError } from './translation.error';
import { WIRE_CODECS, WireApi } from './translation.registry';

type Json = Record<string, unknown>;

function rejectsWith(fn: () => unknown, code: string, param: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TranslationError);
    assert.equal(err.code, code);
    assert.equal(err.param, param);
    assert.equal(err.status, 400);
    return true;
  });
}

/** The encoder's SSE text as (event name, payload) pairs. */
function parseEvents(text: string): Array<{ event: string | null; data: Json }> {
  return new SseParser().push(text).map((e) => ({ event: e.event ?? null, data: JSON.parse(e.data) as Json }));
}

describe('decodeResponsesRequest', () => {
  it('decodes a string input with instructions and sampling settings', () => {
    const req = decodeResponsesRequest({ model: 'gpt-4.1', input: 'Hello', instructions: 'Be terse.', temperature: 0.2, top_p: 0.9, max_output_tokens: 64, user: 'u1', metadata: { k: 'v' }, store: true });
    assert.deepEqual(req, {
      model: 'gpt-4.1',
      system: ['Be terse.'],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
      stream: false,
      streamUsage: true,
      maxOutputTokens: 64,
      temperature: 0.2,
      topP: 0.9,
      user: 'u1',
      metadata: { k: 'v' },
    });
  });

  it('maps message items: developer/system lead, parts, images, mid-conversation system', () => {
    const req = decodeResponsesRequest({
      model: 'm',
      instructions: 'I',
      input: [
        { role: 'developer', content: 'D' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'look' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'auto' }] },
        { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'ok', annotations: [] }] },
        { role: 'system', content: [{ type: 'input_text', text: 'S' }] },
        { role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png', detail: 'low' }] },
      ],
    });
    assert.deepEqual(req.system, ['I', 'D']);
    assert.deepEqual(req.messages, [
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'AAAA' } }] },
      { role: 'assistant', content: [{ type: 'text', text: 'ok' }], toolCalls: [] },
      { role: 'system', content: 'S' },
      { role: 'user', content: [{ type: 'image', source: { kind: 'url', url: 'https://x/y.png' } }] },
    ]);
  });

  it('folds assistant text and consecutive function_call items into one assistant turn', () => {
    const req = decodeResponsesRequest({
      model: 'm',
      input: [
        { role: 'user', content: 'weather in Paris and Rome?' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
        { type: 'function_call', id: 'fc_1', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
        { type: 'function_call', call_id: 'call_b', name: 'get_weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'call_a', output: 'sunny' },
        { type: 'function_call_output', call_id: 'call_b', output: [{ type: 'input_text', text: 'rain' }] },
        { type: 'function_call', call_id: 'call_c', name: 'get_time', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_c', output: 'noon' },
      ],
    });
    assert.deepEqual(req.messages, [
      { role: 'user', content: [{ type: 'text', text: 'weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [{ type: 'text', text: 'Checking.' }],
        toolCalls: [
          { id: 'call_a', name: 'get_weather', argumentsJson: '{"city":"Paris"}' },
          { id: 'call_b', name: 'get_weather', argumentsJson: '{"city":"Rome"}' },
        ],
      },
      { role: 'tool', toolCallId: 'call_a', content: [{ type: 'text', text: 'sunny' }] },
      { role: 'tool', toolCallId: 'call_b', content: [{ type: 'text', text: 'rain' }] },
      { role: 'assistant', content: [], toolCalls: [{ id: 'call_c', name: 'get_time', argumentsJson: '{}' }] },
      { role: 'tool', toolCallId: 'call_c', content: [{ type: 'text', text: 'noon' }] },
    ]);
  });

  it('decodes function tools, tool_choice, parallel_tool_calls, stream and text.format json_schema', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const req = decodeResponsesRequest({
      model: 'm',
      input: 'x',
      stream: true,
      tools: [{ type: 'function', name: 'f', description: 'does f', parameters: schema, strict: true }, { type: 'function', name: 'g', parameters: null, strict: null }],
      tool_choice: { type: 'function', name: 'f' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'out', schema, strict: true }, verbosity: 'medium' },
    });
    assert.equal(req.stream, true);
    assert.equal(req.streamUsage, true);
    assert.deepEqual(req.tools, [{ name: 'f', description: 'does f', jsonSchema: schema, strict: true }, { name: 'g', jsonSchema: { type: 'object', properties: {} } }]);
    assert.deepEqual(req.toolChoice, { name: 'f' });
    assert.equal(req.parallelToolCalls, false);
    assert.deepEqual(req.responseFormat, { type: 'json_schema', name: 'out', schema, strict: true });
    assert.deepEqual(decodeResponsesRequest({ model: 'm', input: 'x', tool_choice: 'required', text: { format: { type: 'json_object' } } }).responseFormat, { type: 'json_object' });
    assert.equal(decodeResponsesRequest({ model: 'm', input: 'x', tool_choice: 'required' }).toolChoice, 'required');
  });

  it('accepts the no-op fields clients send by default', () => {
    const req = decodeResponsesRequest({
      model: 'm', input: 'x', store: false, previous_response_id: null, conversation: null, background: false, reasoning: { effort: null }, include: ['reasoning.encrypted_content'],
      truncation: 'disabled', top_logprobs: 0, service_tier: 'auto', prompt_cache_key: 'k', safety_identifier: 's', stream_options: { include_obfuscation: false },
    });
    assert.equal(req.messages.length, 1);
  });

  const base = { model: 'm', input: 'x' };
  const rejections: Array<[string, Json, string, string]> = [
    ['previous_response_id', { ...base, previous_response_id: 'resp_1' }, 'unsupported_parameter', 'previous_response_id'],
    ['conversation', { ...base, conversation: 'conv_1' }, 'unsupported_parameter', 'conversation'],
    ['background', { ...base, background: true }, 'unsupported_parameter', 'background'],
    ['reasoning', { ...base, reasoning: { effort: 'high' } }, 'unsupported_parameter', 'reasoning.effort'],
    ['include', { ...base, include: ['reasoning.encrypted_content', 'file_search_call.results'] }, 'unsupported_parameter', 'include[1]'],
    ['truncation auto', { ...base, truncation: 'auto' }, 'unsupported_parameter', 'truncation'],
    ['unknown field', { ...base, prompt: { id: 'p' } }, 'unsupported_parameter', 'prompt'],
    ['hosted tool', { ...base, tools: [{ type: 'function', name: 'f' }, { type: 'web_search' }] }, 'unsupported_parameter', 'tools[1].type'],
    ['file_search tool', { ...base, tools: [{ type: 'file_search', vector_store_ids: [] }] }, 'unsupported_parameter', 'tools[0].type'],
    ['hosted tool_choice', { ...base, tool_choice: { type: 'web_search_preview' } }, 'unsupported_parameter', 'tool_choice.type'],
    ['reasoning item', { ...base, input: [{ role: 'user', content: 'x' }, { type: 'reasoning', id: 'rs_1', summary: [] }] }, 'unsupported_parameter', 'input[1].type'],
    ['item_reference', { ...base, input: [{ type: 'item_reference', id: 'msg_1' }] }, 'unsupported_parameter', 'input[0].type'],
    ['verbosity', { ...base, text: { verbosity: 'low' } }, 'unsupported_parameter', 'text.verbosity'],
    ['missing model', { input: 'x' }, 'missing_parameter', 'model'],
    ['missing input', { model: 'm' }, 'missing_parameter', 'input'],
    ['missing call_id', { ...base, input: [{ type: 'function_call_output', output: 'x' }] }, 'missing_parameter', 'input[0].call_id'],
    ['missing function name', { ...base, input: [{ type: 'function_call', call_id: 'c', arguments: '{}' }] }, 'missing_parameter', 'input[0].name'],
    ['missing tool name', { ...base, tools: [{ type: 'function' }] }, 'missing_parameter', 'tools[0].name'],
    ['missing schema name', { ...base, text: { format: { type: 'json_schema', schema: {} } } }, 'missing_parameter', 'text.format.name'],
    ['model type', { model: 3, input: 'x' }, 'invalid_parameter', 'model'],
    ['empty input', { model: 'm', input: [] }, 'invalid_parameter', 'input'],
    ['input type', { model: 'm', input: 5 }, 'invalid_parameter', 'input'],
    ['temperature', { ...base, temperature: 3 }, 'invalid_parameter', 'temperature'],
    ['max_output_tokens', { ...base, max_output_tokens: 1.5 }, 'invalid_parameter', 'max_output_tokens'],
    ['arguments type', { ...base, input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: {} }] }, 'invalid_parameter', 'input[0].arguments'],
    ['tool_choice', { ...base, tool_choice: 'any' }, 'invalid_parameter', 'tool_choice'],
    ['format type', { ...base, text: { format: { type: 'yaml' } } }, 'invalid_parameter', 'text.format.type'],
    ['input_file', { ...base, input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'unsupported_content', 'input[0].content[0].type'],
    ['image by file_id', { ...base, input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f', detail: 'auto' }] }] }, 'unsupported_content', 'input[0].content[0].file_id'],
    ['role', { ...base, input: [{ role: 'critic', content: 'x' }] }, 'unsupported_message_role', 'input[0].role'],
    ['missing role', { ...base, input: [{ content: 'x' }] }, 'missing_parameter', 'input[0].role'],
    ['missing content', { ...base, input: [{ role: 'user' }] }, 'missing_parameter', 'input[0].content'],
  ];
  for (const [name, body, code, param] of rejections) {
    it(`rejects ${name} with ${code} at '${param}'`, () => rejectsWith(() => decodeResponsesRequest(body), code, param));
  }
});

const sampleResponse = (over: Partial<CanonicalResponse> = {}): CanonicalResponse => ({
  id: 'chatcmpl-1',
  model: 'upstream',
  content: [
    { type: 'text', text: 'Let me check.' },
    { type: 'tool_call', id: 'call_1', name: 'lookup', argumentsJson: '{"id":"42"}' },
  ],
  finishReason: 'tool_calls',
  usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 40, reasoningTokens: 5, cacheCreationInputTokens: 3 },
  ...over,
});

describe('encodeResponsesResponse', () => {
  it('lists a message item and a function_call item with usage details', () => {
    const out = encodeResponsesResponse(sampleResponse(), 'gpt-4.1', { created: 1700000000 });
    assert.match(String(out.id), /^resp_/);
    assert.equal(out.object, 'response');
    assert.equal(out.created_at, 1700000000);
    assert.equal(out.status, 'completed');
    assert.equal(out.model, 'gpt-4.1');
    assert.equal(out.error, null);
    assert.equal(out.incomplete_details, null);
    assert.equal('output_text' in out, false);
    const [msg, call] = out.output as Json[];
    assert.match(String(msg.id), /^msg_/);
    assert.deepEqual({ ...msg, id: '' }, { id: '', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Let me check.', annotations: [], logprobs: [] }] });
    assert.match(String(call.id), /^fc_/);
    assert.deepEqual({ ...call, id: '' }, { id: '', type: 'function_call', status: 'completed', call_id: 'call_1', name: 'lookup', arguments: '{"id":"42"}' });
    assert.deepEqual(out.usage, {
      input_tokens: 100,
      input_tokens_details: { cached_tokens: 40, cache_write_tokens: 3 },
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 5 },
      total_tokens: 120,
    });
    assert.deepEqual([out.tool_choice, out.tools, out.temperature, out.top_p, out.parallel_tool_calls, out.instructions, out.metadata, out.store], ['auto', [], 1, 1, true, null, {}, false]);
  });

  it('echoes the request settings when given', () => {
    const request = decodeResponsesRequest({ model: 'm', input: 'x', instructions: 'I', temperature: 0.5, tool_choice: 'required', parallel_tool_calls: false, tools: [{ type: 'function', name: 'f', parameters: { type: 'object' }, strict: false }], metadata: { a: 'b' }, text: { format: { type: 'json_object' } } });
    const opts: ResponsesEncodeOptions = { request, instructions: 'I' };
    const out = encodeResponsesResponse(sampleResponse(), 'm', opts);
    assert.deepEqual([out.tool_choice, out.temperature, out.parallel_tool_calls, out.instructions, out.metadata, out.text], ['required', 0.5, false, 'I', { a: 'b' }, { format: { type: 'json_object' }, verbosity: 'medium' }]);
    assert.deepEqual(out.tools, [{ type: 'function', name: 'f', description: null, parameters: { type: 'object' }, strict: false }]);
  });

  it("reports a length stop as incomplete (max_output_tokens) and content_filter as incomplete too; refuses an 'error' finish", () => {
    const cut = encodeResponsesResponse(sampleResponse({ content: [{ type: 'text', text: 'partial' }], finishReason: 'length' }), 'm');
    assert.equal(cut.status, 'incomplete');
    assert.deepEqual(cut.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal((cut.output as Json[])[0].status, 'incomplete');
    const filtered = encodeResponsesResponse(sampleResponse({ finishReason: 'content_filter' }), 'm');
    assert.deepEqual([filtered.status, filtered.incomplete_details], ['incomplete', { reason: 'content_filter' }]);
    assert.throws(() => encodeResponsesResponse(sampleResponse({ finishReason: 'error' }), 'm'), (e: unknown) => e instanceof TranslationError && e.status === 502);
  });

  it('encodes errors in the OpenAI shape', () => {
    assert.deepEqual(encodeResponsesError(400, 'unsupported_parameter', 'no', 'previous_response_id'), { error: { message: 'no', type: 'invalid_request_error', param: 'previous_response_id', code: 'unsupported_parameter' } });
  });
});

describe('ResponsesStreamEncoder', () => {
  const run = (events: CanonicalStreamEvent[], end = true): Array<{ event: string | null; data: Json }> => {
    const enc = new ResponsesStreamEncoder('gpt-4.1', { created: 1 });
    let text = events.map((e) => enc.push(e)).join('');
    if (end) text += enc.end();
    return parseEvents(text);
  };

  it('interleaves text and tool items, numbers events, and ends with usage that arrived after the finish', () => {
    const out = run([
      { type: 'start', id: 'x', model: 'u' },
      { type: 'usage', usage: { inputTokens: 10 } },
      { type: 'text_delta', text: 'Hel' },
      { type: 'text_delta', text: 'lo' },
      { type: 'tool_call_start', index: 0, id: 'call_1', name: 'f' },
      { type: 'tool_call_delta', index: 0, argumentsDelta: '{"a":' },
      { type: 'tool_call_delta', index: 0, argumentsDelta: '1}' },
      { type: 'tool_call_start', index: 1, id: 'call_2', name: 'g' },
      { type: 'tool_call_delta', index: 1, argumentsDelta: '{}' },
      { type: 'finish', reason: 'tool_calls' },
      { type: 'usage', usage: { outputTokens: 7, cachedInputTokens: 2 } },
    ]);
    for (const e of out) assert.equal(e.event, e.data.type);
    assert.deepEqual(out.map((e) => e.data.sequence_number), out.map((_, i) => i));
    assert.deepEqual(out.map((e) => e.event), [
      'response.created', 'response.in_progress',
      'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
      'response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.delta', 'response.function_call_arguments.done', 'response.output_item.done',
      'response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.done', 'response.output_item.done',
      'response.completed',
    ]);
    const created = out[0].data.response as Json;
    assert.deepEqual([created.status, created.usage, created.output], ['in_progress', null, []]);
    assert.deepEqual([out[2].data.output_index, out[9].data.output_index, out[14].data.output_index], [0, 1, 2]);
    assert.equal(out[6].data.text, 'Hello');
    assert.equal(out[12].data.arguments, '{"a":1}');
    const final = out[out.length - 1].data.response as Json;
    assert.equal(final.id, created.id);
    assert.equal(final.status, 'completed');
    const items = final.output as Json[];
    assert.deepEqual(items.map((i) => [i.type, i.status]), [['message', 'completed'], ['function_call', 'completed'], ['function_call', 'completed']]);
    assert.deepEqual([items[1].call_id, items[1].arguments, items[2].name], ['call_1', '{"a":1}', 'g']);
    assert.deepEqual(final.usage, { input_tokens: 10, input_tokens_details: { cached_tokens: 2, cache_write_tokens: 0 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 17 });
  });

  it('ends a length stop with response.incomplete', () => {
    const out = run([{ type: 'start', id: 'x', model: 'u' }, { type: 'text_delta', text: 'cut' }, { type: 'finish', reason: 'length' }, { type: 'usage', usage: { inputTokens: 1, outputTokens: 1 } }]);
    const last = out[out.length - 1];
    assert.equal(last.event, 'response.incomplete');
    const response = last.data.response as Json;
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal((response.output as Json[])[0].status, 'incomplete');
  });

  it('turns an upstream error into response.failed plus an error event the SDK throws on', () => {
    const out = run([{ type: 'start', id: 'x', model: 'u' }, { type: 'text_delta', text: 'par' }, { type: 'error', status: 529, code: 'overloaded_error', message: 'Overloaded' }]);
    const names = out.map((e) => e.event);
    assert.deepEqual(names.slice(-5), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.failed', 'error']);
    const failed = out[out.length - 2].data.response as Json;
    assert.equal(failed.status, 'failed');
    assert.deepEqual(failed.error, { code: 'server_error', message: 'Overloaded' });
    assert.equal((failed.output as Json[])[0].status, 'incomplete');
    const err = out[out.length - 1].data;
    assert.deepEqual([err.code, err.message, (err.error as Json).code], ['overloaded_error', 'Overloaded', 'overloaded_error']);
  });

  it('fails a stream that ends without a finish, and one that never started', () => {
    const cut = run([{ type: 'start', id: 'x', model: 'u' }, { type: 'text_delta', text: 'par' }]);
    assert.deepEqual(cut.slice(-2).map((e) => e.event), ['response.failed', 'error']);
    assert.equal(cut[cut.length - 1].data.code, 'upstream_incomplete');
    const none = run([]);
    assert.deepEqual(none.map((e) => e.event), ['response.created', 'response.in_progress', 'response.failed', 'error']);
  });
});

// SDK fidelity: a tiny translating gateway serving /v1/responses from the real simulator
// behind each upstream API, called by the official openai SDK.

interface Exchange {
  upstreamBody: Json;
  upstreamJson?: Json;
  upstreamEvents?: SseEvent[];
}

async function startGateway(sim: SimulatorHandle, upstream: WireApi, exchanges: Exchange[]): Promise<{ url: string; server: Server }> {
  const up = WIRE_CODECS[upstream];
  const server = createServer((req, res) => {
    void (async () => {
      const ex: Exchange = { upstreamBody: {} };
      exchanges.push(ex);
      try {
        const body = (await readJsonBody(req)) as Json;
        const canonical = decodeResponsesRequest(body);
        const opts: ResponsesEncodeOptions = { request: canonical, instructions: typeof body.instructions === 'string' ? body.instructions : null };
        ex.upstreamBody = up.encodeRequest(canonical, `${upstream}-model`);
        const upstreamRes = await fetch(`${sim.url}/${upstream}/v1${up.chatPath}`, { method: 'POST', headers: simulatorHeaders(upstream, req), body: JSON.stringify(ex.upstreamBody) });
        if (!upstreamRes.ok) throw new TranslationError('invalid_upstream_response', `upstream HTTP ${upstreamRes.status}: ${await upstreamRes.text()}`, null, 502);
        if (!canonical.stream) {
          ex.upstreamJson = (await upstreamRes.json()) as Json;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(encodeResponsesResponse(up.decodeResponse(ex.upstreamJson), canonical.model, opts)));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const decoder = up.streamDecoder();
        const encoder = new ResponsesStreamEncoder(canonical.model, opts);
        const parser = new SseParser();
        ex.upstreamEvents = [];
        const handle = (events: SseEvent[]) => {
          for (const sse of events) {
            ex.upstreamEvents!.push(sse);
            for (const ev of decoder.push(sse)) res.write(encoder.push(ev));
          }
        };
        try {
          for await (const chunk of upstreamRes.body as unknown as AsyncIterable<Uint8Array>) handle(parser.push(Buffer.from(chunk).toString('utf8')));
          handle(parser.end());
        } catch (err) {
          const e = err instanceof TranslationError ? err : undefined;
          if (e) res.write(encoder.push({ type: 'error', status: e.status, code: e.code, message: e.message }));
          // a dropped upstream: end() reports the missing finish
        }
        res.end(encoder.end());
      } catch (err) {
        const e = err instanceof TranslationError ? err : new TranslationError('invalid_request', String(err), null, 500);
        res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify(encodeResponsesError(e.status, e.code, e.message, e.param)));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface Reported {
  input: number;
  output: number;
  cached: number;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** The usage the upstream simulator reported, read from its raw answer (not through our decoders). */
function upstreamUsage(api: WireApi, ex: Exchange): Reported {
  const fromChat = (u: Json): Reported => ({ input: num(u.prompt_tokens), output: num(u.completion_tokens), cached: num((u.prompt_tokens_details as Json | undefined)?.cached_tokens) });
  const fromAnthropic = (u: Json): Reported => ({ input: num(u.input_tokens) + num(u.cache_read_input_tokens) + num(u.cache_creation_input_tokens), output: num(u.output_tokens), cached: num(u.cache_read_input_tokens) });
  if (ex.upstreamJson) return api === 'anthropic' ? fromAnthropic(ex.upstreamJson.usage as Json) : fromChat(ex.upstreamJson.usage as Json);
  const events = (ex.upstreamEvents ?? []).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as Json);
  if (api !== 'anthropic') return fromChat(events.filter((e) => isJson(e.usage)).pop()!.usage as Json);
  const start = (events.find((e) => e.type === 'message_start')!.message as Json).usage as Json;
  const delta = events.find((e) => e.type === 'message_delta')!.usage as Json;
  return { ...fromAnthropic({ ...start, output_tokens: 0 }), output: num(delta.output_tokens) };
}

const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const lookupTool: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'lookup_order',
  description: 'Find an order',
  parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  strict: false,
};

function assertUsage(usage: OpenAI.Responses.ResponseUsage | undefined, reported: Reported): void {
  assert.ok(usage);
  assert.deepEqual(
    [usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.input_tokens_details.cached_tokens],
    [reported.input, reported.output, reported.input + reported.output, reported.cached],
  );
}

const UPSTREAMS: WireApi[] = ['openai', 'anthropic', 'mistral'];

for (const upstream of UPSTREAMS) {
  describe(`responses: openai SDK served by a ${upstream} upstream`, () => {
    let sim: SimulatorHandle;
    let gw: { url: string; server: Server };
    const exchanges: Exchange[] = [];
    let client: OpenAI;
    const last = (): Exchange => exchanges[exchanges.length - 1];

    before(async () => {
      sim = await startSimulator();
      gw = await startGateway(sim, upstream, exchanges);
      client = new OpenAI({ apiKey: 'asc-key', baseURL: `${gw.url}/v1`, maxRetries: 0, defaultHeaders: upstream === 'mistral' ? {} : { 'x-sim-cached-tokens': '7' } });
    });
    after(async () => {
      gw.server.close();
      await sim.close();
    });

    it('responses.create: text answer, instructions as system, exact usage', async () => {
      const res = await client.responses.create({ model: 'gpt-4.1', instructions: 'Be terse.', input: 'Describe Kyoto briefly', max_output_tokens: 200 });
      assert.equal(res.status, 'completed');
      assert.equal(res.model, 'gpt-4.1');
      assert.equal(res.instructions, 'Be terse.');
      assert.match(res.output_text, /simulated reply to: Describe Kyoto briefly/);
      const sent = JSON.stringify(last().upstreamBody);
      assert.match(sent, /Be terse\./);
      assertUsage(res.usage, upstreamUsage(upstream, last()));
    });

    it('responses.stream: deltas assemble to output_text, terminal event carries the upstream usage', async () => {
      const stream = client.responses.stream({ model: 'gpt-4.1', input: [{ role: 'user', content: 'Stream a short story' }] });
      let text = '';
      const types: string[] = [];
      const seqs: number[] = [];
      stream.on('event', (e) => {
        types.push(e.type);
        seqs.push(e.sequence_number);
      });
      stream.on('response.output_text.delta', (e) => (text += e.delta));
      const final = await stream.finalResponse();
      assert.equal(final.status, 'completed');
      assert.match(text, /Stream a short story/);
      assert.equal(final.output_text, text);
      assert.deepEqual([types[0], types[1], types[types.length - 1]], ['response.created', 'response.in_progress', 'response.completed']);
      assert.deepEqual(seqs, seqs.map((_, i) => i));
      assertUsage(final.usage, upstreamUsage(upstream, last()));
    });

    it('round-trips a function call: create, then create({stream:true}) with the function_call_output', async () => {
      const input: OpenAI.Responses.ResponseInput = [{ role: 'user', content: 'Please find order 42' }];
      const first = await client.responses.create({ model: 'gpt-4.1', input, tools: [lookupTool], tool_choice: 'required' });
      assert.equal(first.status, 'completed');
      const call = first.output.find((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
      assert.ok(call);
      assert.equal(call.name, 'lookup_order');
      assert.equal(typeof (JSON.parse(call.arguments) as { order_id: unknown }).order_id, 'string');
      assert.equal(first.output_text, '');
      assertUsage(first.usage, upstreamUsage(upstream, last()));

      // The same first turn streamed: the function call arrives as argument deltas.
      const streamed = client.responses.stream({ model: 'gpt-4.1', input, tools: [lookupTool], tool_choice: 'required' });
      let args = '';
      streamed.on('response.function_call_arguments.delta', (e) => (args += e.delta));
      const streamedFinal = await streamed.finalResponse();
      const streamedCall = streamedFinal.output.find((o) => o.type === 'function_call');
      assert.ok(streamedCall?.type === 'function_call');
      assert.deepEqual([streamedCall.name, streamedCall.arguments, args], ['lookup_order', call.arguments, call.arguments]);
      assertUsage(streamedFinal.usage, upstreamUsage(upstream, last()));

      // Replay the model's output items as they came back, plus the tool result.
      const second = await client.responses.create({
        model: 'gpt-4.1',
        stream: true,
        tools: [lookupTool],
        input: [...input, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { type: 'function_call_output', call_id: call.call_id, output: '{"status":"shipped"}' }],
      });
      let text = '';
      let completed: OpenAI.Responses.Response | undefined;
      for await (const ev of second) {
        if (ev.type === 'response.output_text.delta') text += ev.delta;
        if (ev.type === 'response.completed') completed = ev.response;
      }
      assert.ok(completed);
      assert.match(text, /The tool returned: \{"status":"shipped"\}/);
      assert.equal(completed.status, 'completed');
      assert.ok(completed.output.every((o) => o.type === 'message'));
      assertUsage(completed.usage, upstreamUsage(upstream, last()));
      const sent = JSON.stringify(last().upstreamBody);
      assert.ok(sent.includes('shipped'));
      assert.ok(upstream === 'anthropic' || sent.includes(call.call_id), 'the call id reaches the chat upstream unchanged');
    });

    it('reports a length cut as incomplete', async () => {
      const res = await client.responses.create({ model: 'gpt-4.1', input: 'Tell me a long story about the sea', max_output_tokens: 16 }, { headers: { 'x-sim-reply-words': '60' } });
      assert.equal(res.status, 'incomplete');
      assert.equal(res.incomplete_details?.reason, 'max_output_tokens');
      assertUsage(res.usage, upstreamUsage(upstream, last()));
    });

    it('a mid-stream upstream failure makes the SDK stream reject, not succeed truncated', async () => {
      for (const fault of ['error-midstream', 'disconnect-midstream']) {
        const stream = client.responses.stream({ model: 'gpt-4.1', input: 'Tell me a long story about the sea' }, { headers: { 'x-sim-fail': fault, 'x-sim-reply-words': '40' } });
        let failed: OpenAI.Responses.Response | undefined;
        stream.on('response.failed', (e) => (failed = e.response));
        await assert.rejects(stream.finalResponse(), (err: unknown) => err instanceof OpenAI.APIError);
        assert.equal(failed?.status, 'failed', fault);
      }
    });

    it('refuses previous_response_id with a 400 in OpenAI shape', async () => {
      await assert.rejects(client.responses.create({ model: 'gpt-4.1', input: 'hi', previous_response_id: 'resp_123' }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.equal(err.code, 'unsupported_parameter');
        assert.equal(err.param, 'previous_response_id');
        return true;
      });
    });
  });
}
