import { strict as assert } from 'node:assert';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Mistral } from '@mistralai/mistralai';
import OpenAI from 'openai';
import { startSimulator } from '@asc/simulator';
import type { SimulatorHandle } from '@asc/simulator';
import { MeteredUsage, StreamUsageTracker } from './stream-usage.tracker';
import { readJsonBody, simulatorHeaders } from './sdk-gateway.testing';
import { SseEvent, SseParser } from './sse';
import { TranslationError } from './translation.error';
import { WIRE_CODECS, WireApi } from './translation.registry';

// End-to-end-ish: a tiny translating gateway in front of the real simulator, called by the
// official SDKs. Proves an OpenAI client can be served by Anthropic/Mistral upstreams and an
// Anthropic client by an OpenAI upstream, stream and non-stream, with tool calls and exact usage.

interface Exchange {
  upstreamBody: Record<string, unknown>;
  /** Raw upstream answer: the JSON body, or the SSE events. */
  upstreamJson?: Record<string, unknown>;
  upstreamEvents?: SseEvent[];
  metered?: MeteredUsage;
}

async function startGateway(sim: SimulatorHandle, inbound: WireApi, upstream: WireApi, exchanges: Exchange[]): Promise<{ url: string; server: Server }> {
  const inCodec = WIRE_CODECS[inbound];
  const upCodec = WIRE_CODECS[upstream];
  const server = createServer((req, res) => {
    void (async () => {
      const ex: Exchange = { upstreamBody: {} };
      exchanges.push(ex);
      try {
        const canonical = inCodec.decodeRequest(await readJsonBody(req));
        ex.upstreamBody = upCodec.encodeRequest(canonical, `${upstream}-model`);
        const upstreamRes = await fetch(`${sim.url}/${upstream}/v1${upCodec.chatPath}`, { method: 'POST', headers: simulatorHeaders(upstream, req), body: JSON.stringify(ex.upstreamBody) });
        if (!upstreamRes.ok) throw new TranslationError('invalid_upstream_response', `upstream HTTP ${upstreamRes.status}: ${await upstreamRes.text()}`, null, 502);
        if (!canonical.stream) {
          ex.upstreamJson = (await upstreamRes.json()) as Record<string, unknown>;
          const out = inCodec.encodeResponse(upCodec.decodeResponse(ex.upstreamJson), canonical.model);
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const decoder = upCodec.streamDecoder();
        const encoder = inCodec.streamEncoder(canonical.model, canonical.streamUsage);
        const tracker = new StreamUsageTracker();
        const parser = new SseParser();
        ex.upstreamEvents = [];
        const handle = (events: SseEvent[]) => {
          for (const sse of events) {
            ex.upstreamEvents!.push(sse);
            for (const ev of decoder.push(sse)) {
              tracker.observe(ev);
              res.write(encoder.push(ev));
            }
          }
        };
        try {
          for await (const chunk of upstreamRes.body as unknown as AsyncIterable<Uint8Array>) handle(parser.push(Buffer.from(chunk).toString('utf8')));
          handle(parser.end());
        } catch {
          // upstream dropped: the encoder reports it in the client's shape below
        }
        ex.metered = tracker.usage();
        res.end(encoder.end());
      } catch (err) {
        const e = err instanceof TranslationError ? err : new TranslationError('invalid_request', String(err), null, 500);
        res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify(inCodec.encodeError(e.status, e.code, e.message, e.param)));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const dataOf = (events: SseEvent[]): Array<Record<string, unknown>> =>
  events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as Record<string, unknown>);

/** What an Anthropic upstream reported, in canonical terms (input includes cache reads). */
function anthropicReported(usage: Record<string, number>): { input: number; cached: number; output: number } {
  return { input: usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens, cached: usage.cache_read_input_tokens, output: usage.output_tokens };
}

const lookupTool: OpenAI.Chat.ChatCompletionTool = {
  type: 'function',
  function: { name: 'lookup_order', description: 'Find an order', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } },
};

describe('translation: OpenAI SDK served by an Anthropic upstream', () => {
  let sim: SimulatorHandle;
  let gw: { url: string; server: Server };
  const exchanges: Exchange[] = [];
  let client: OpenAI;

  before(async () => {
    sim = await startSimulator();
    gw = await startGateway(sim, 'openai', 'anthropic', exchanges);
    client = new OpenAI({ apiKey: 'asc-key', baseURL: gw.url, maxRetries: 0, defaultHeaders: { 'x-sim-cached-tokens': '7' } });
  });
  after(async () => {
    gw.server.close();
    await sim.close();
  });

  it('answers a non-stream completion with exact usage (cached tokens included in prompt_tokens)', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Describe Kyoto briefly' }] });
    const ex = exchanges[exchanges.length - 1];
    assert.equal(ex.upstreamBody.system, 'Be terse.');
    assert.equal(res.model, 'gpt-4o');
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.match(res.choices[0].message.content ?? '', /Describe Kyoto briefly/);
    const reported = anthropicReported(ex.upstreamJson!.usage as Record<string, number>);
    assert.equal(reported.cached, 7);
    assert.equal(res.usage?.prompt_tokens, reported.input);
    assert.equal(res.usage?.prompt_tokens_details?.cached_tokens, 7);
    assert.equal(res.usage?.completion_tokens, reported.output);
    assert.equal(res.usage?.total_tokens, reported.input + reported.output);
  });

  it('streams text with the final usage chunk equal to what Anthropic reported', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Stream a short story' }] });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) text += chunk.choices[0].delta.content;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    const ex = exchanges[exchanges.length - 1];
    const events = dataOf(ex.upstreamEvents!);
    const start = events.find((e) => e.type === 'message_start') as { message: { usage: Record<string, number> } };
    const delta = events.find((e) => e.type === 'message_delta') as { usage: { output_tokens: number } };
    const upstreamText = events.filter((e) => e.type === 'content_block_delta').map((e) => (e.delta as { text: string }).text).join('');
    assert.equal(text, upstreamText);
    assert.equal(finish, 'stop');
    const input = anthropicReported({ ...start.message.usage, output_tokens: 0 }).input;
    assert.deepEqual([usage?.prompt_tokens, usage?.completion_tokens, usage?.prompt_tokens_details?.cached_tokens], [input, delta.usage.output_tokens, 7]);
    assert.deepEqual({ input: ex.metered!.inputTokens, output: ex.metered!.outputTokens, estimated: ex.metered!.estimated }, { input, output: delta.usage.output_tokens, estimated: false });
  });

  it('round-trips a tool call (non-stream) with consistent ids', async () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Please use the lookup tool for order 42' }];
    const first = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: [lookupTool], tool_choice: 'required' });
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    const call = first.choices[0].message.tool_calls?.[0];
    assert.ok(call && call.type === 'function');
    assert.equal(call.function.name, 'lookup_order');
    assert.equal(typeof (JSON.parse(call.function.arguments) as { order_id: unknown }).order_id, 'string');
    const upstreamContent = (exchanges[exchanges.length - 1].upstreamJson!.content as Array<{ id: string }>)[0];
    assert.equal(call.id, upstreamContent.id);
    messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"status":"shipped"}' });
    const second = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: [lookupTool] });
    assert.equal(second.choices[0].finish_reason, 'stop');
    const sent = exchanges[exchanges.length - 1].upstreamBody.messages as Array<{ role: string; content: Array<Record<string, unknown>> }>;
    assert.deepEqual(sent.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(sent[1].content[0].id, call.id);
    assert.equal(sent[2].content[0].tool_use_id, call.id);
    assert.deepEqual(exchanges[exchanges.length - 1].upstreamBody.tool_choice, undefined);
  });

  it('streams a tool call whose arguments assemble to the upstream input', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, tools: [lookupTool], tool_choice: { type: 'function', function: { name: 'lookup_order' } }, messages: [{ role: 'user', content: 'find order 42' }] });
    let args = '';
    let id = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (tc.id) id = tc.id;
        args += tc.function?.arguments ?? '';
      }
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    const ex = exchanges[exchanges.length - 1];
    assert.deepEqual(ex.upstreamBody.tool_choice, { type: 'tool', name: 'lookup_order' });
    const events = dataOf(ex.upstreamEvents!);
    const start = events.find((e) => e.type === 'content_block_start') as { content_block: { id: string } };
    assert.equal(id, start.content_block.id);
    assert.equal(finish, 'tool_calls');
    assert.equal(typeof (JSON.parse(args) as { order_id: unknown }).order_id, 'string');
    assert.equal(usage?.completion_tokens, (events.find((e) => e.type === 'message_delta') as { usage: { output_tokens: number } }).usage.output_tokens);
  });

  it('meters a stream cut midway: reported input, estimated output, flagged', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Tell me a long story about the sea' }] },
      { headers: { 'x-sim-fail': 'disconnect-midstream', 'x-sim-reply-words': '40' } },
    );
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    });
    const ex = exchanges[exchanges.length - 1];
    const start = dataOf(ex.upstreamEvents!).find((e) => e.type === 'message_start') as { message: { usage: Record<string, number> } };
    assert.ok(text.length > 0);
    assert.equal(ex.metered!.inputTokens, anthropicReported({ ...start.message.usage, output_tokens: 0 }).input);
    assert.equal(ex.metered!.outputTokens, Math.ceil(text.length / 4));
    assert.equal(ex.metered!.estimated, true);
    assert.equal(ex.metered!.complete, false);
  });

  it('refuses what Anthropic cannot honour with a 400 in OpenAI shape', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', seed: 1, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'unsupported_parameter');
      assert.equal(err.param, 'seed');
      return true;
    });
  });
});

describe('translation: OpenAI SDK served by a Mistral upstream', () => {
  let sim: SimulatorHandle;
  let gw: { url: string; server: Server };
  const exchanges: Exchange[] = [];
  let client: OpenAI;

  before(async () => {
    sim = await startSimulator();
    gw = await startGateway(sim, 'openai', 'mistral', exchanges);
    client = new OpenAI({ apiKey: 'asc-key', baseURL: gw.url, maxRetries: 0 });
  });
  after(async () => {
    gw.server.close();
    await sim.close();
  });

  it('round-trips a tool call: OpenAI ids become Mistral 9-char ids consistently', async () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'earlier question' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_abcdefghijklmnopqrstuvwx', type: 'function', function: { name: 'lookup_order', arguments: '{"order_id":"1"}' } }] },
      { role: 'tool', tool_call_id: 'call_abcdefghijklmnopqrstuvwx', content: 'delivered' },
    ];
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: [lookupTool] });
    const sent = exchanges[exchanges.length - 1].upstreamBody.messages as Array<Record<string, unknown>>;
    const id = (sent[1].tool_calls as Array<{ id: string }>)[0].id;
    assert.match(id, /^[a-zA-Z0-9]{9}$/);
    assert.equal(sent[2].tool_call_id, id);
    const raw = exchanges[exchanges.length - 1].upstreamJson!.usage as Record<string, number>;
    assert.deepEqual([res.usage?.prompt_tokens, res.usage?.completion_tokens], [raw.prompt_tokens, raw.completion_tokens]);
  });

  it('streams a whole Mistral tool call as OpenAI deltas with exact usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, tools: [lookupTool], messages: [{ role: 'user', content: 'Please use the lookup tool for order 42' }] });
    let id = '';
    let args = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (tc.id) id = tc.id;
        args += tc.function?.arguments ?? '';
      }
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    const events = dataOf(exchanges[exchanges.length - 1].upstreamEvents!);
    const upstreamCall = events.flatMap((e) => ((e.choices as Array<{ delta: { tool_calls?: Array<{ id: string; function: { arguments: string } }> } }>)[0]?.delta.tool_calls ?? []))[0];
    const upstreamUsage = events.find((e) => e.usage)!.usage as Record<string, number>;
    assert.equal(id, upstreamCall.id);
    assert.equal(args, upstreamCall.function.arguments);
    assert.equal(finish, 'tool_calls');
    assert.deepEqual([usage?.prompt_tokens, usage?.completion_tokens], [upstreamUsage.prompt_tokens, upstreamUsage.completion_tokens]);
  });
});

describe('translation: Anthropic SDK served by an OpenAI upstream', () => {
  let sim: SimulatorHandle;
  let gw: { url: string; server: Server };
  const exchanges: Exchange[] = [];
  let client: Anthropic;
  const tools: Anthropic.Tool[] = [{ name: 'lookup_order', description: 'Find an order', input_schema: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } }];

  before(async () => {
    sim = await startSimulator();
    gw = await startGateway(sim, 'anthropic', 'openai', exchanges);
    client = new Anthropic({ apiKey: 'asc-key', baseURL: gw.url, maxRetries: 0, defaultHeaders: { 'x-sim-cached-tokens': '5' } });
  });
  after(async () => {
    gw.server.close();
    await sim.close();
  });

  it('answers messages.create with usage split the Anthropic way', async () => {
    const msg = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 256, system: 'You are terse.', messages: [{ role: 'user', content: 'Describe Kyoto briefly' }] });
    const ex = exchanges[exchanges.length - 1];
    assert.deepEqual((ex.upstreamBody.messages as unknown[])[0], { role: 'system', content: 'You are terse.' });
    assert.equal(ex.upstreamBody.max_completion_tokens, 256);
    const raw = ex.upstreamJson!.usage as { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } };
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.model, 'claude-sonnet-4-6');
    const block = msg.content[0];
    assert.ok(block.type === 'text');
    assert.match(block.text, /Describe Kyoto briefly/);
    assert.equal(msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0), raw.prompt_tokens);
    assert.equal(msg.usage.cache_read_input_tokens, raw.prompt_tokens_details.cached_tokens);
    assert.equal(msg.usage.output_tokens, raw.completion_tokens);
  });

  it('streams with messages.stream(): finalMessage matches the upstream text and usage', async () => {
    const stream = client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 256, messages: [{ role: 'user', content: 'Stream a short story' }] });
    let text = '';
    stream.on('text', (d) => (text += d));
    const final = await stream.finalMessage();
    const ex = exchanges[exchanges.length - 1];
    assert.deepEqual(ex.upstreamBody.stream_options, { include_usage: true });
    const events = dataOf(ex.upstreamEvents!);
    const raw = events.find((e) => Array.isArray(e.choices) && (e.choices as unknown[]).length === 0)!.usage as { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } };
    const block = final.content[0];
    assert.ok(block.type === 'text');
    assert.equal(block.text, text);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.input_tokens + (final.usage.cache_read_input_tokens ?? 0), raw.prompt_tokens);
    assert.equal(final.usage.cache_read_input_tokens, raw.prompt_tokens_details.cached_tokens);
    assert.equal(final.usage.output_tokens, raw.completion_tokens);
    assert.equal(ex.metered!.estimated, false);
    assert.equal(ex.metered!.inputTokens, raw.prompt_tokens);
  });

  it('round-trips tool_use / tool_result (stream, then non-stream)', async () => {
    const stream = client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 256, tools, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'find order 42' }] });
    const first = await stream.finalMessage();
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content.find((b) => b.type === 'tool_use');
    assert.ok(use && use.type === 'tool_use');
    assert.equal(use.name, 'lookup_order');
    assert.equal(typeof (use.input as { order_id: unknown }).order_id, 'string');
    assert.equal(exchanges[exchanges.length - 1].upstreamBody.tool_choice, 'required');
    const second = await client.messages.create({
      model: 'claude-sonnet-4-6',
      max_tokens: 256,
      tools,
      messages: [
        { role: 'user', content: 'find order 42' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'shipped' }] },
      ],
    });
    assert.equal(second.stop_reason, 'end_turn');
    const sent = exchanges[exchanges.length - 1].upstreamBody.messages as Array<Record<string, unknown>>;
    assert.deepEqual(sent.map((m) => m.role), ['user', 'assistant', 'tool']);
    assert.equal((sent[1].tool_calls as Array<{ id: string }>)[0].id, use.id);
    assert.equal(sent[2].tool_call_id, use.id);
  });

  it('refuses extended thinking with a 400 in Anthropic shape', async () => {
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => {
        assert.ok(err instanceof Anthropic.BadRequestError);
        assert.match(err.message, /thinking/);
        return true;
      },
    );
  });
});

describe('translation: Mistral SDK (zod-validated) served by an Anthropic upstream', () => {
  let sim: SimulatorHandle;
  let gw: { url: string; server: Server };
  const exchanges: Exchange[] = [];
  let client: Mistral;
  const tools = [{ type: 'function' as const, function: { name: 'lookup_order', description: 'Find an order', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } } }];

  before(async () => {
    sim = await startSimulator();
    gw = await startGateway(sim, 'mistral', 'anthropic', exchanges);
    client = new Mistral({ apiKey: 'asc-key', serverURL: gw.url });
  });
  after(async () => {
    gw.server.close();
    await sim.close();
  });

  it('chat.complete with a tool call, then the tool result round trip', async () => {
    const first = await client.chat.complete({ model: 'mistral-small-latest', tools, toolChoice: 'any', messages: [{ role: 'user', content: 'find order 42' }] });
    const call = first.choices[0].message.toolCalls?.[0];
    assert.ok(call?.id);
    assert.match(call.id, /^[a-zA-Z0-9]{9}$/);
    assert.equal(first.choices[0].finishReason, 'tool_calls');
    const raw = exchanges[exchanges.length - 1].upstreamJson!.usage as Record<string, number>;
    assert.equal(first.usage.promptTokens, anthropicReported(raw).input);
    assert.equal(first.usage.completionTokens, raw.output_tokens);
    const second = await client.chat.complete({
      model: 'mistral-small-latest',
      tools,
      messages: [{ role: 'user', content: 'find order 42' }, { role: 'assistant', content: '', toolCalls: [call] }, { role: 'tool', toolCallId: call.id, content: 'shipped' }],
    });
    assert.equal(second.choices[0].finishReason, 'stop');
    const sent = exchanges[exchanges.length - 1].upstreamBody.messages as Array<{ content: Array<Record<string, unknown>> }>;
    assert.equal(sent[1].content[0].id, call.id);
    assert.equal(sent[2].content[0].tool_use_id, call.id);
  });

  it('chat.stream with usage in the final chunk equal to what Anthropic reported', async () => {
    const stream = await client.chat.stream({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'stream this sentence for me' }] });
    let text = '';
    let usage: { promptTokens?: number; completionTokens?: number } | undefined;
    for await (const event of stream) {
      const choice = event.data.choices[0];
      if (typeof choice?.delta.content === 'string') text += choice.delta.content;
      if (event.data.usage) usage = event.data.usage;
    }
    const events = dataOf(exchanges[exchanges.length - 1].upstreamEvents!);
    const start = events.find((e) => e.type === 'message_start') as { message: { usage: Record<string, number> } };
    const delta = events.find((e) => e.type === 'message_delta') as { usage: { output_tokens: number } };
    assert.match(text, /stream this sentence/);
    assert.deepEqual([usage?.promptTokens, usage?.completionTokens], [anthropicReported({ ...start.message.usage, output_tokens: 0 }).input, delta.usage.output_tokens]);
  });
});
