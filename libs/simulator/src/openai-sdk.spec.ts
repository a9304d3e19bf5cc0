import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { PromptMeter } from './reply.generator';
import { countTokens } from './tokenizer.util';
import { startSimulator } from './simulator.server';
import type { SimulatorHandle } from './simulator.types';

// Fidelity: the official openai SDK (v6) must parse everything the simulator sends.

const weatherTool: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1 } },
      required: ['city', 'unit', 'days'],
      additionalProperties: false,
    },
  },
};

describe('simulator with the openai SDK', () => {
  let sim: SimulatorHandle;
  let client: OpenAI;

  before(async () => {
    sim = await startSimulator();
    client = new OpenAI({ apiKey: 'sk-test', baseURL: sim.baseUrls.openai, maxRetries: 0 });
  });
  after(() => sim.close());

  it('answers a chat completion with consistent usage', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me about Lisbon trams' }] });
    assert.match(res.id, /^chatcmpl-/);
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, 'gpt-4o-mini');
    const choice = res.choices[0];
    assert.equal(choice.finish_reason, 'stop');
    assert.equal(choice.message.role, 'assistant');
    assert.match(choice.message.content ?? '', /Lisbon trams/);
    assert.equal(res.usage?.completion_tokens, countTokens(choice.message.content ?? ''));
    assert.equal(res.usage?.total_tokens, (res.usage?.prompt_tokens ?? 0) + (res.usage?.completion_tokens ?? 0));
    assert.equal(res.usage?.prompt_tokens_details?.cached_tokens, 0);
    const meter = new PromptMeter();
    meter.message('Tell me about Lisbon trams');
    assert.equal(res.usage?.prompt_tokens, meter.total());
  });

  it('streams the same content and usage when include_usage is set', async () => {
    const params = { model: 'gpt-4o', messages: [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Explain streaming in three words' }] };
    const plain = await client.chat.completions.create(params);
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.choices[0]?.delta.content) text += chunk.choices[0].delta.content;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) {
        assert.equal(chunk.choices.length, 0);
        usage = chunk.usage;
      }
    }
    assert.ok(chunks > 3);
    assert.equal(finish, 'stop');
    assert.equal(text, plain.choices[0].message.content);
    assert.deepEqual(usage, plain.usage);
  });

  it('omits the usage chunk without include_usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    for await (const chunk of stream) assert.equal(chunk.usage, undefined);
  });

  it('feeds the chat stream helper (finalChatCompletion)', async () => {
    const runner = client.chat.completions.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'stream helper check' }], stream_options: { include_usage: true } });
    const final = await runner.finalChatCompletion();
    assert.match(final.choices[0].message.content ?? '', /stream helper check/);
    assert.equal(final.usage?.completion_tokens, countTokens(final.choices[0].message.content ?? ''));
  });

  it('honours max_tokens with finish_reason length, stream and non-stream alike', async () => {
    const params = { model: 'gpt-4o', max_completion_tokens: 5, messages: [{ role: 'user' as const, content: 'a fairly long prompt with many words to echo back' }] };
    const res = await client.chat.completions.create(params);
    assert.equal(res.choices[0].finish_reason, 'length');
    assert.equal(res.usage?.completion_tokens, 5);
    assert.equal(countTokens(res.choices[0].message.content ?? ''), 5);
    const final = await client.chat.completions.stream({ ...params, stream_options: { include_usage: true } }).finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'length');
    assert.equal(final.choices[0].message.content, res.choices[0].message.content);
    assert.equal(final.usage?.completion_tokens, 5);
  });

  it('cuts at a stop sequence', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o', stop: ['gamma'], messages: [{ role: 'user', content: 'alpha beta gamma delta' }] });
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.ok(res.choices[0].message.content?.endsWith('alpha beta '));
  });

  it('round-trips a tool call (non-stream)', async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris today?' }];
    const first = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: [weatherTool] });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls?.[0];
    assert.ok(call && call.type === 'function');
    assert.match(call.id, /^call_/);
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'celsius', days: 1 });

    messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '{"temp":21,"sky":"clear"}' });
    const second = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: [weatherTool] });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.match(second.choices[0].message.content ?? '', /^The tool returned: .*"temp":21/);
  });

  it('streams tool call deltas that the SDK reassembles', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      stream: true,
      stream_options: { include_usage: true },
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'weather for Oslo please' }],
    });
    let args = '';
    let name = '';
    let argumentDeltas = 0;
    for await (const chunk of stream) {
      const tc = chunk.choices[0]?.delta.tool_calls?.[0];
      if (!tc) continue;
      assert.equal(tc.index, 0);
      if (tc.function?.name) name = tc.function.name;
      if (tc.function?.arguments) {
        args += tc.function.arguments;
        argumentDeltas++;
      }
    }
    assert.equal(name, 'get_weather');
    assert.ok(argumentDeltas > 1, 'arguments arrive in fragments');
    assert.equal(JSON.parse(args).city, 'Oslo');

    const final = await client.chat.completions
      .stream({ model: 'gpt-4o', tools: [weatherTool], messages: [{ role: 'user', content: 'weather for Oslo please' }], stream_options: { include_usage: true } })
      .finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    const toolCall = final.choices[0].message.tool_calls?.[0];
    assert.ok(toolCall && toolCall.type === 'function');
    assert.equal(toolCall.function.arguments, args);
  });

  it('forces a tool with the x-sim-tool-call header', async () => {
    const res = await client.chat.completions.create(
      { model: 'gpt-4o', tools: [weatherTool], messages: [{ role: 'user', content: 'nothing about tools here' }] },
      { headers: { 'x-sim-tool-call': 'get_weather' } },
    );
    assert.equal(res.choices[0].message.tool_calls?.[0].type, 'function');
  });

  it('answers structured output that the SDK parses against a zod schema', async () => {
    const Weather = z.object({ city: z.string(), temperature: z.number(), conditions: z.array(z.enum(['sunny', 'rainy'])), note: z.string().nullable() });
    const res = await client.chat.completions.parse({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Weather report for Rome' }],
      response_format: zodResponseFormat(Weather, 'weather'),
    });
    const parsed = res.choices[0].message.parsed;
    assert.ok(parsed);
    assert.equal(parsed.city, 'Rome');
    assert.deepEqual(parsed.conditions, ['sunny']);

    const jsonMode = await client.chat.completions.create({ model: 'gpt-4o', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'json please' }] });
    assert.equal(typeof JSON.parse(jsonMode.choices[0].message.content ?? '').reply, 'string');
  });

  it('creates embeddings as floats and as base64 (the SDK default)', async () => {
    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['hello world', 'bye'], encoding_format: 'float', dimensions: 64 });
    assert.equal(floats.object, 'list');
    assert.equal(floats.data.length, 2);
    assert.equal(floats.data[1].index, 1);
    assert.equal(floats.data[0].embedding.length, 64);
    const norm = Math.sqrt(floats.data[0].embedding.reduce((s, v) => s + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-6);
    assert.equal(floats.usage.prompt_tokens, countTokens('hello world') + countTokens('bye'));

    const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['hello world', 'bye'], dimensions: 64 });
    assert.equal(decoded.data[0].embedding.length, 64);
    decoded.data[0].embedding.forEach((v, i) => assert.ok(Math.abs(v - floats.data[0].embedding[i]) < 1e-6));

    const full = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'float' });
    assert.equal(full.data[0].embedding.length, 1536);
    const ids = await client.embeddings.create({ model: 'text-embedding-3-small', input: [15339, 1917, 0], encoding_format: 'float' });
    assert.equal(ids.usage.prompt_tokens, 3);
  });

  it('answers the Responses API without streaming', async () => {
    const res = await client.responses.create({ model: 'gpt-4.1', instructions: 'Be terse.', input: 'Summarise the Responses API' });
    assert.match(res.id, /^resp_/);
    assert.equal(res.object, 'response');
    assert.equal(res.status, 'completed');
    assert.match(res.output_text, /Summarise the Responses API/);
    const item = res.output[0];
    assert.ok(item.type === 'message');
    assert.equal(res.usage?.output_tokens, countTokens(res.output_text));
    assert.equal(res.usage?.total_tokens, (res.usage?.input_tokens ?? 0) + (res.usage?.output_tokens ?? 0));
    assert.equal(res.usage?.input_tokens_details.cached_tokens, 0);
  });

  it('streams the Responses API event sequence and the accumulator agrees', async () => {
    const input = 'Stream me a response please';
    const events = await client.responses.create({ model: 'gpt-4.1', input, stream: true });
    const types: string[] = [];
    let seq = -1;
    let text = '';
    for await (const ev of events) {
      types.push(ev.type);
      assert.equal(ev.sequence_number, seq + 1);
      seq = ev.sequence_number;
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.equal(types[types.length - 1], 'response.completed');
    assert.ok(types.includes('response.output_text.done'));

    const final = await client.responses.stream({ model: 'gpt-4.1', input }).finalResponse();
    assert.equal(final.output_text, text);
    assert.equal(final.usage?.output_tokens, countTokens(text));
  });

  it('calls functions through the Responses API, streamed and not', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      { type: 'function', name: 'get_weather', strict: true, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } },
    ];
    const res = await client.responses.create({ model: 'gpt-4.1', input: 'weather in Berlin?', tools });
    const call = res.output[0];
    assert.ok(call.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Berlin' });

    const final = await client.responses.stream({ model: 'gpt-4.1', input: 'weather in Berlin?', tools }).finalResponse();
    const streamed = final.output[0];
    assert.ok(streamed.type === 'function_call');
    assert.equal(streamed.arguments, call.arguments);

    const next = await client.responses.create({
      model: 'gpt-4.1',
      tools,
      input: [{ role: 'user', content: 'weather in Berlin?' }, call, { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 24C' }],
    });
    assert.match(next.output_text, /The tool returned: sunny, 24C/);
  });

  it('marks a Responses answer incomplete at max_output_tokens', async () => {
    const res = await client.responses.create({ model: 'gpt-4.1', input: 'one two three four five six seven eight nine ten eleven twelve thirteen', max_output_tokens: 16 });
    assert.equal(res.status, 'incomplete');
    assert.equal(res.incomplete_details?.reason, 'max_output_tokens');
    assert.equal(res.usage?.output_tokens, 16);
  });

  it('lists models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes('gpt-4o'));
  });

  it('raises typed errors: 401, 400, 429 with Retry-After, 500', async () => {
    const strict = await startSimulator({ acceptedKeys: ['sk-good'] });
    try {
      const bad = new OpenAI({ apiKey: 'sk-bad', baseURL: strict.baseUrls.openai, maxRetries: 0 });
      await assert.rejects(bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.AuthenticationError);
        assert.equal(e.status, 401);
        assert.equal(e.code, 'invalid_api_key');
        assert.ok(!e.message.includes('sk-bad'), 'the key is not echoed');
        return true;
      });
    } finally {
      await strict.close();
    }

    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [] }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'messages');

    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fail': '429', 'x-sim-retry-after': '7' } }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.RateLimitError);
        assert.equal(e.headers?.get('retry-after'), '7');
        assert.equal(e.code, 'rate_limit_exceeded');
        assert.equal(e.type, 'requests');
        return true;
      },
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fail': '500' } }),
      (e: unknown) => e instanceof OpenAI.InternalServerError,
    );
  });

  it('lets the SDK retry after the Retry-After it was given', async () => {
    const retrying = new OpenAI({ apiKey: 'sk-test', baseURL: sim.baseUrls.openai, maxRetries: 2 });
    sim.reset();
    const res = await retrying.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'retry me' }] },
      { headers: { 'x-sim-fail': '429', 'x-sim-fail-times': '1', 'x-sim-retry-after': '0.15' } },
    );
    assert.equal(res.choices[0].finish_reason, 'stop');
    const [first, second] = sim.requests();
    assert.deepEqual([first.outcome, second.outcome], ['429', '200']);
    // The SDK's own backoff would wait at least 375 ms; ~150 ms proves Retry-After was used.
    const gap = second.at - first.at;
    assert.ok(gap >= 140 && gap < 370, `retried after ${gap} ms`);
  });
});
