import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { Mistral } from '@mistralai/mistralai';
import type { Messages } from '@mistralai/mistralai/models/components';
import { SDKError } from '@mistralai/mistralai/models/errors';
import { countTokens } from './tokenizer.util';
import { startSimulator } from './simulator.server';
import type { SimulatorHandle } from './simulator.types';

// Fidelity: the official @mistralai/mistralai SDK validates responses with zod, so every
// body and chunk the simulator sends must match its schemas exactly.

const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'convert_currency',
      description: 'Convert an amount',
      parameters: { type: 'object', properties: { amount: { type: 'number', minimum: 1 }, to: { type: 'string', enum: ['EUR', 'USD'] } }, required: ['amount', 'to'] },
    },
  },
];

describe('simulator with the Mistral SDK', () => {
  let sim: SimulatorHandle;
  let client: Mistral;

  before(async () => {
    sim = await startSimulator();
    client = new Mistral({ apiKey: 'mistral-test', serverURL: sim.baseUrls.mistral });
  });
  after(() => sim.close());

  it('answers chat.complete', async () => {
    const res = await client.chat.complete({ model: 'mistral-small-latest', messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Bonjour from Marseille' }] });
    assert.match(res.id, /^[0-9a-f]{32}$/);
    assert.equal(res.object, 'chat.completion');
    const choice = res.choices[0];
    assert.equal(choice.finishReason, 'stop');
    assert.equal(typeof choice.message.content, 'string');
    const text = choice.message.content as string;
    assert.match(text, /Bonjour from Marseille/);
    assert.equal(res.usage.completionTokens, countTokens(text));
    assert.equal(res.usage.totalTokens, (res.usage.promptTokens ?? 0) + (res.usage.completionTokens ?? 0));
  });

  it('streams chat.stream with usage in the final chunk, consistent with chat.complete', async () => {
    const params = { model: 'mistral-small-latest', messages: [{ role: 'user' as const, content: 'stream this sentence for me' }] };
    const plain = await client.chat.complete(params);
    const stream = await client.chat.stream(params);
    let text = '';
    let finish: string | null = null;
    let usage: unknown;
    for await (const event of stream) {
      const choice = event.data.choices[0];
      if (typeof choice.delta.content === 'string') text += choice.delta.content;
      if (choice.finishReason) finish = choice.finishReason;
      if (event.data.usage) usage = event.data.usage;
    }
    assert.equal(text, plain.choices[0].message.content);
    assert.equal(finish, 'stop');
    assert.deepEqual(usage, plain.usage);
  });

  it('honours max_tokens with finish_reason length', async () => {
    const res = await client.chat.complete({ model: 'mistral-small-latest', maxTokens: 3, messages: [{ role: 'user', content: 'one two three four five' }] });
    assert.equal(res.choices[0].finishReason, 'length');
    assert.equal(res.usage.completionTokens, 3);
  });

  it('round-trips a tool call with 9-character ids, streamed and not', async () => {
    const messages: Messages[] = [{ role: 'user', content: 'Please convert 20 dollars' }];
    const res = await client.chat.complete({ model: 'mistral-large-latest', tools, messages });
    const choice = res.choices[0];
    assert.equal(choice.finishReason, 'tool_calls');
    const call = choice.message.toolCalls?.[0];
    assert.ok(call);
    assert.match(call.id ?? '', /^[A-Za-z0-9]{9}$/);
    assert.equal(call.function.name, 'convert_currency');
    assert.deepEqual(JSON.parse(call.function.arguments as string), { amount: 1, to: 'EUR' });

    const stream = await client.chat.stream({ model: 'mistral-large-latest', tools, messages });
    let streamedArgs = '';
    let finish: string | null = null;
    for await (const event of stream) {
      const c = event.data.choices[0];
      const tc = c.delta.toolCalls?.[0];
      if (tc) streamedArgs += tc.function.arguments as string;
      if (c.finishReason) finish = c.finishReason;
    }
    assert.equal(streamedArgs, call.function.arguments);
    assert.equal(finish, 'tool_calls');

    messages.push({ role: 'assistant', content: '', toolCalls: choice.message.toolCalls }, { role: 'tool', toolCallId: call.id, name: call.function.name, content: '18.40 EUR' });
    const next = await client.chat.complete({ model: 'mistral-large-latest', tools, messages });
    assert.equal(next.choices[0].message.content, 'The tool returned: 18.40 EUR');
  });

  it('answers JSON mode', async () => {
    const res = await client.chat.complete({ model: 'mistral-small-latest', responseFormat: { type: 'json_object' }, messages: [{ role: 'user', content: 'as json' }] });
    assert.equal(typeof JSON.parse(res.choices[0].message.content as string).reply, 'string');
  });

  it('creates embeddings', async () => {
    const res = await client.embeddings.create({ model: 'mistral-embed', inputs: ['first text', 'second'] });
    assert.equal(res.data.length, 2);
    assert.equal(res.data[0].embedding?.length, 1024);
    assert.equal(res.usage.promptTokens, countTokens('first text') + countTokens('second'));
    const small = await client.embeddings.create({ model: 'mistral-embed', inputs: 'x', outputDimension: 8 });
    assert.equal(small.data[0].embedding?.length, 8);
  });

  it('lists models', async () => {
    const list = await client.models.list();
    assert.ok(list.data?.some((m) => m.id === 'mistral-small-latest'));
  });

  it('fails like Mistral: 401 gateway shape, 429, 422 extra_forbidden, tool call id format', async () => {
    const strict = await startSimulator({ acceptedKeys: ['good'] });
    try {
      const bad = new Mistral({ apiKey: 'bad', serverURL: strict.baseUrls.mistral });
      await assert.rejects(bad.chat.complete({ model: 'm', messages: [{ role: 'user', content: 'x' }] }), (e: unknown) => {
        assert.ok(e instanceof SDKError);
        assert.equal(e.statusCode, 401);
        assert.equal((JSON.parse(e.body) as { message: string }).message, 'Unauthorized');
        return true;
      });
    } finally {
      await strict.close();
    }
    await assert.rejects(
      client.chat.complete({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { fetchOptions: { headers: { 'x-sim-fail': '429', 'x-sim-retry-after': '2' } } }),
      (e: unknown) => e instanceof SDKError && e.statusCode === 429 && e.headers.get('retry-after') === '2',
    );

    const post = (body: unknown) =>
      fetch(`${sim.baseUrls.mistral}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const extra = await post({ model: 'm', max_completion_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(extra.status, 422);
    assert.deepEqual(await extra.json(), {
      object: 'error',
      message: { detail: [{ type: 'extra_forbidden', loc: ['body', 'max_completion_tokens'], msg: 'Extra inputs are not permitted', input: 10 }] },
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
    const badId = await post({
      model: 'm',
      messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call_abc', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_abc', content: 'r' },
      ],
    });
    assert.equal(badId.status, 400);
    assert.match(((await badId.json()) as { message: string }).message, /must be a-z, A-Z, 0-9, with a length of 9/);
  });
});
