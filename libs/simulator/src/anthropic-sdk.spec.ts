import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { PromptMeter } from './reply.generator';
import { countTokens } from './tokenizer.util';
import { startSimulator } from './simulator.server';
import type { SimulatorHandle } from './simulator.types';

// Fidelity: the official @anthropic-ai/sdk must parse the simulator's Messages API.

const tools: Anthropic.Tool[] = [
  {
    name: 'lookup_order',
    description: 'Find an order',
    input_schema: { type: 'object', properties: { order_id: { type: 'string' }, include_items: { type: 'boolean' } }, required: ['order_id'] },
  },
];

describe('simulator with the Anthropic SDK', () => {
  let sim: SimulatorHandle;
  let client: Anthropic;

  before(async () => {
    sim = await startSimulator();
    client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.baseUrls.anthropic, maxRetries: 0 });
  });
  after(() => sim.close());

  it('answers messages.create with a system prompt', async () => {
    const msg = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 256, system: 'You are terse.', messages: [{ role: 'user', content: 'Describe Kyoto briefly' }] });
    assert.match(msg.id, /^msg_01/);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.stop_sequence, null);
    const block = msg.content[0];
    assert.ok(block.type === 'text');
    assert.match(block.text, /Describe Kyoto briefly/);
    assert.equal(msg.usage.output_tokens, countTokens(block.text));
    assert.equal(msg.usage.cache_read_input_tokens, 0);
    assert.equal(msg.usage.cache_creation_input_tokens, 0);

    const counted = await client.messages.countTokens({ model: 'claude-sonnet-4-6', system: 'You are terse.', messages: [{ role: 'user', content: 'Describe Kyoto briefly' }] });
    assert.equal(counted.input_tokens, msg.usage.input_tokens);
    const meter = new PromptMeter();
    meter.message('You are terse.');
    meter.message('Describe Kyoto briefly');
    assert.equal(msg.usage.input_tokens, meter.total());
  });

  it('streams with messages.stream() and finalMessage() matches the non-stream answer', async () => {
    const params: Anthropic.MessageCreateParamsNonStreaming = { model: 'claude-sonnet-4-6', max_tokens: 256, messages: [{ role: 'user', content: 'Stream a short story' }] };
    const plain = await client.messages.create(params);
    const stream = client.messages.stream(params);
    let text = '';
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    assert.deepEqual(final.content, plain.content);
    assert.equal(final.stop_reason, 'end_turn');
    assert.deepEqual(final.usage, plain.usage);
    const block = final.content[0];
    assert.ok(block.type === 'text');
    assert.equal(text, block.text);
  });

  it('emits the raw event sequence including ping', async () => {
    const stream = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'events' }] });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    assert.equal(types[0], 'message_start');
    assert.equal(types[1], 'content_block_start');
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    const raw = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'events' }] }),
    });
    assert.match(await raw.text(), /event: ping\ndata: \{"type":"ping"\}/);
  });

  it('stops at max_tokens and at stop sequences', async () => {
    const capped = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 4, messages: [{ role: 'user', content: 'many many words in this prompt' }] });
    assert.equal(capped.stop_reason, 'max_tokens');
    assert.equal(capped.usage.output_tokens, 4);
    const streamed = await client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 4, messages: [{ role: 'user', content: 'many many words in this prompt' }] }).finalMessage();
    assert.equal(streamed.stop_reason, 'max_tokens');
    assert.deepEqual(streamed.content, capped.content);

    const stopped = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 100, stop_sequences: ['STOP'], messages: [{ role: 'user', content: 'go on until STOP then more' }] });
    assert.equal(stopped.stop_reason, 'stop_sequence');
    assert.equal(stopped.stop_sequence, 'STOP');
    const block = stopped.content[0];
    assert.ok(block.type === 'text' && block.text.endsWith('go on until '));
  });

  it('round-trips tool_use and tool_result, streamed and not', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Please lookup order A-1234 for Maria' }];
    const first = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 512, tools, messages });
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content[0];
    assert.ok(use.type === 'tool_use');
    assert.match(use.id, /^toolu_01/);
    assert.equal(use.name, 'lookup_order');
    assert.deepEqual(use.input, { order_id: 'Maria', include_items: true });

    const streamed = client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 512, tools, messages });
    let partial = '';
    streamed.on('inputJson', (delta) => (partial += delta));
    const final = await streamed.finalMessage();
    const streamedUse = final.content[0];
    assert.ok(streamedUse.type === 'tool_use');
    assert.deepEqual(streamedUse.input, use.input);
    assert.equal(partial, JSON.stringify(use.input));
    assert.equal(final.stop_reason, 'tool_use');
    assert.equal(final.usage.output_tokens, first.usage.output_tokens);

    messages.push({ role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'shipped yesterday' }] });
    const second = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 512, tools, messages });
    assert.equal(second.stop_reason, 'end_turn');
    const answer = second.content[0];
    assert.ok(answer.type === 'text');
    assert.equal(answer.text, 'The tool returned: shipped yesterday');
  });

  it('honours tool_choice any and none', async () => {
    const forced = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 100, tools, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'hello' }] });
    assert.equal(forced.content[0].type, 'tool_use');
    const none = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 100, tools, tool_choice: { type: 'none' }, messages: [{ role: 'user', content: 'lookup order 1' }] });
    assert.equal(none.content[0].type, 'text');
  });

  it('reports cached input tokens the way Anthropic splits them', async () => {
    const params: Anthropic.MessageCreateParamsNonStreaming = { model: 'claude-sonnet-4-6', max_tokens: 50, messages: [{ role: 'user', content: 'cache me' }] };
    const plain = await client.messages.create(params);
    const cached = await client.messages.create(params, { headers: { 'x-sim-cached-tokens': '5' } });
    assert.equal(cached.usage.cache_read_input_tokens, 5);
    assert.equal(cached.usage.input_tokens, plain.usage.input_tokens - 5);
  });

  it('raises typed errors in Anthropic shape', async () => {
    const strict = await startSimulator({ acceptedKeys: ['sk-ant-good'] });
    try {
      const bad = new Anthropic({ apiKey: 'sk-ant-bad', baseURL: strict.baseUrls.anthropic, maxRetries: 0 });
      await assert.rejects(bad.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (e: unknown) => {
        assert.ok(e instanceof Anthropic.AuthenticationError);
        assert.deepEqual((e.error as { type: string; error: unknown }).error, { type: 'authentication_error', message: 'invalid x-api-key' });
        assert.ok(e.requestID?.startsWith('req_'));
        return true;
      });
    } finally {
      await strict.close();
    }
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fail': '429', 'x-sim-retry-after': '30' } }),
      (e: unknown) => {
        assert.ok(e instanceof Anthropic.RateLimitError);
        assert.equal(e.headers?.get('retry-after'), '30');
        assert.equal((e.error as { error: { type: string } }).error.type, 'rate_limit_error');
        return true;
      },
    );
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fail': '529' } }),
      (e: unknown) => e instanceof Anthropic.InternalServerError && e.status === 529 && (e.error as { error: { type: string } }).error.type === 'overloaded_error',
    );
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'x' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming),
      (e: unknown) => e instanceof Anthropic.BadRequestError && e.message.includes('max_tokens: Field required'),
    );
    const noVersion = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(noVersion.status, 400);
    assert.deepEqual(((await noVersion.json()) as { error: unknown }).error, { type: 'invalid_request_error', message: 'anthropic-version: header is required' });
  });

  it('surfaces an in-band overloaded error mid-stream', async () => {
    const stream = client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 100, messages: [{ role: 'user', content: 'a b c d e f g h' }] }, { headers: { 'x-sim-fail': 'error-midstream' } });
    await assert.rejects(stream.finalMessage(), (e: unknown) => e instanceof Anthropic.APIError && (e.error as { error: { type: string } }).error.type === 'overloaded_error');
  });

  it('lists models', async () => {
    const page = await client.models.list();
    assert.ok(page.data.some((m) => m.id.startsWith('claude-')));
  });
});
