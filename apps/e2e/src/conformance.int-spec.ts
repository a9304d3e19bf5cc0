import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Mistral } from '@mistralai/mistralai';
import { HTTPClient } from '@mistralai/mistralai/lib/http.js';
import OpenAI from 'openai';
import { AdminClient } from '@asc/admin-client';
import { SimulatorHandle, SimulatorRequestRecord, startSimulator } from '@asc/simulator';
import { eventually, missingInfra, ProductionSuite, startProductionSuite } from '@asc/testing';

/**
 * The conformance matrix: each official SDK as a client of ingress × each upstream kind,
 * streamed and not, with a tool-call round trip. Asserts what the client sees (text, tool
 * name and arguments, finish reason, usage) and that the usage metered into ClickHouse is
 * exactly what the provider reported. Six processes on the real Postgres, Kafka and ClickHouse.
 */

type ClientKind = 'openai' | 'anthropic' | 'mistral';
type UpstreamKind = 'openai' | 'anthropic' | 'mistral' | 'openai-compatible';

interface Turn {
  text: string;
  toolName?: string;
  toolArgs?: string;
  toolId?: string;
  finish: string;
  usage: { input: number; output: number };
}

const WEATHER_TOOL_SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const QUESTION = 'Use the get_weather tool: what is the weather in Paris';
const TOOL_RESULT = '{"temperature_c":21,"sky":"clear"}';

/** Remembers the x-request-id of every response a client got (each SDK takes a fetch). */
function recordingFetch(ids: string[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    ids.push(res.headers.get('x-request-id') ?? '');
    return res;
  };
}

async function openAITurns(baseURL: string, apiKey: string, model: string, stream: boolean, ids: string[]): Promise<[Turn, Turn]> {
  const client = new OpenAI({ apiKey, baseURL, maxRetries: 0, fetch: recordingFetch(ids) });
  const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_TOOL_SCHEMA } }];
  const ask = async (messages: OpenAI.ChatCompletionMessageParam[]): Promise<Turn> => {
    if (!stream) {
      const c = await client.chat.completions.create({ model, messages, tools });
      const call = c.choices[0].message.tool_calls?.[0];
      const fn = call?.type === 'function' ? call.function : undefined;
      return { text: c.choices[0].message.content ?? '', toolName: fn?.name, toolArgs: fn?.arguments, toolId: call?.id, finish: c.choices[0].finish_reason, usage: { input: c.usage!.prompt_tokens, output: c.usage!.completion_tokens } };
    }
    const s = await client.chat.completions.create({ model, messages, tools, stream: true, stream_options: { include_usage: true } });
    const turn: Turn = { text: '', finish: '', usage: { input: -1, output: -1 } };
    for await (const chunk of s) {
      const choice = chunk.choices[0];
      turn.text += choice?.delta?.content ?? '';
      for (const tc of choice?.delta?.tool_calls ?? []) {
        if (tc.id) turn.toolId = tc.id;
        if (tc.function?.name) turn.toolName = tc.function.name;
        turn.toolArgs = (turn.toolArgs ?? '') + (tc.function?.arguments ?? '');
      }
      if (choice?.finish_reason) turn.finish = choice.finish_reason;
      if (chunk.usage) turn.usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens };
    }
    return turn;
  };
  const first = await ask([{ role: 'user', content: QUESTION }]);
  const second = await ask([
    { role: 'user', content: QUESTION },
    { role: 'assistant', content: null, tool_calls: [{ id: first.toolId ?? '', type: 'function', function: { name: first.toolName ?? '', arguments: first.toolArgs ?? '' } }] },
    { role: 'tool', tool_call_id: first.toolId ?? '', content: TOOL_RESULT },
  ]);
  return [first, second];
}

async function anthropicTurns(baseURL: string, apiKey: string, model: string, stream: boolean, ids: string[]): Promise<[Turn, Turn]> {
  const client = new Anthropic({ apiKey, baseURL, maxRetries: 0, fetch: recordingFetch(ids) });
  const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER_TOOL_SCHEMA as Anthropic.Tool.InputSchema }];
  const ask = async (messages: Anthropic.MessageParam[]): Promise<Turn> => {
    const message = stream
      ? await client.messages.stream({ model, max_tokens: 256, messages, tools }).finalMessage()
      : await client.messages.create({ model, max_tokens: 256, messages, tools });
    const toolUse = message.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    const text = message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    const u = message.usage;
    return {
      text,
      toolName: toolUse?.name,
      toolArgs: toolUse ? JSON.stringify(toolUse.input) : undefined,
      toolId: toolUse?.id,
      finish: message.stop_reason ?? '',
      usage: { input: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0), output: u.output_tokens },
    };
  };
  const first = await ask([{ role: 'user', content: QUESTION }]);
  const second = await ask([
    { role: 'user', content: QUESTION },
    { role: 'assistant', content: [{ type: 'tool_use', id: first.toolId ?? '', name: first.toolName ?? '', input: JSON.parse(first.toolArgs ?? '{}') as object }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: first.toolId ?? '', content: TOOL_RESULT }] },
  ]);
  return [first, second];
}

async function mistralTurns(serverURL: string, apiKey: string, model: string, stream: boolean, ids: string[]): Promise<[Turn, Turn]> {
  const client = new Mistral({ apiKey, serverURL, httpClient: new HTTPClient({ fetcher: recordingFetch(ids) }) });
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_TOOL_SCHEMA } }];
  type Messages = Parameters<typeof client.chat.complete>[0]['messages'];
  const ask = async (messages: Messages): Promise<Turn> => {
    if (!stream) {
      const c = await client.chat.complete({ model, messages, tools });
      const choice = c.choices[0];
      const call = choice.message.toolCalls?.[0];
      const args = call?.function.arguments;
      return {
        text: typeof choice.message.content === 'string' ? choice.message.content : '',
        toolName: call?.function.name,
        toolArgs: typeof args === 'string' ? args : args === undefined ? undefined : JSON.stringify(args),
        toolId: call?.id,
        finish: choice.finishReason,
        usage: { input: c.usage.promptTokens ?? -1, output: c.usage.completionTokens ?? -1 },
      };
    }
    const s = await client.chat.stream({ model, messages, tools });
    const turn: Turn = { text: '', finish: '', usage: { input: -1, output: -1 } };
    for await (const event of s) {
      const choice = event.data.choices[0];
      if (typeof choice?.delta.content === 'string') turn.text += choice.delta.content;
      for (const tc of choice?.delta.toolCalls ?? []) {
        turn.toolId = tc.id;
        turn.toolName = tc.function.name;
        turn.toolArgs = typeof tc.function.arguments === 'string' ? tc.function.arguments : JSON.stringify(tc.function.arguments);
      }
      if (choice?.finishReason) turn.finish = choice.finishReason;
      if (event.data.usage) turn.usage = { input: event.data.usage.promptTokens ?? -1, output: event.data.usage.completionTokens ?? -1 };
    }
    return turn;
  };
  const first = await ask([{ role: 'user', content: QUESTION }]);
  const second = await ask([
    { role: 'user', content: QUESTION },
    { role: 'assistant', content: '', toolCalls: [{ id: first.toolId ?? '', type: 'function', function: { name: first.toolName ?? '', arguments: first.toolArgs ?? '' } }] },
    { role: 'tool', toolCallId: first.toolId ?? '', name: first.toolName ?? '', content: TOOL_RESULT },
  ]);
  return [first, second];
}

const TOOL_FINISH: Record<ClientKind, string> = { openai: 'tool_calls', anthropic: 'tool_use', mistral: 'tool_calls' };
const TEXT_FINISH: Record<ClientKind, string> = { openai: 'stop', anthropic: 'end_turn', mistral: 'stop' };
const CLIENT_API: Record<ClientKind, string> = { openai: 'openai.chat.completions', anthropic: 'anthropic.messages', mistral: 'mistral.chat.completions' };

describe('conformance matrix: official SDKs × upstream kinds through ingress', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  const run = randomBytes(4).toString('hex');
  const providerKey = `sk-sim-${randomBytes(12).toString('hex')}`;
  const tenant = `conf-${run}`;
  let suite: ProductionSuite | undefined;
  let simulator: SimulatorHandle | undefined;
  let selfHosted: SimulatorHandle | undefined;
  let admin: AdminClient;
  let apiKey: string;
  let ingressOrigin: string;

  before(async () => {
    if (skip) return;
    simulator = await startSimulator({ port: 0, acceptedKeys: [providerKey] });
    // A self-hosted OpenAI-compatible server (vLLM, Ollama) that takes no key.
    selfHosted = await startSimulator({ port: 0, anonymous: true });
    // A small body limit: an oversized body is then refused while it still fits the socket buffers (no EPIPE race in the client).
    suite = await startProductionSuite({ ingressEnv: { INGRESS_TTFT_TIMEOUT_MS: '10000', INGRESS_IDLE_TIMEOUT_MS: '10000', INGRESS_BODY_LIMIT_BYTES: String(256 * 1024) } });
    admin = suite.admin;
    ingressOrigin = suite.ingressBaseUrl.replace(/\/v1$/, '');
    await admin.createTenant({ id: tenant, name: 'Conformance' });
    const app = await admin.createApp(tenant, 'matrix');
    apiKey = (await admin.createApiKey(tenant, { appId: app.id })).key;
    await admin.putPolicy(tenant, { allowedModels: ['*'], allowedRegions: ['eu-west-1'] });
    const price = { inputPerMtokUsd: 2, outputPerMtokUsd: 8, cachedInputPerMtokUsd: 1 };
    const upstreams: Array<[UpstreamKind, string, string]> = [
      ['openai', `${simulator.url}/openai/v1`, 'gpt-4o-mini'],
      ['anthropic', `${simulator.url}/anthropic/v1`, 'claude-sonnet-4-5'],
      ['mistral', `${simulator.url}/mistral/v1`, 'mistral-small-latest'],
    ];
    for (const [provider, baseUrl, upstreamModel] of upstreams) {
      const credential = await admin.createCredential({ name: `sim-${provider}`, provider, secret: providerKey });
      // A per-tenant alias: clients never name the provider's model.
      await admin.createDeployment({ tenantId: tenant, model: `conf-${provider}`, provider, upstreamModel, region: 'eu-west-1', baseUrl, credentialId: credential.id, price });
    }
    await admin.createDeployment({ tenantId: tenant, model: 'conf-openai-compatible', provider: 'openai-compatible', upstreamModel: 'llama-3.1-8b-instruct', region: 'eu-west-1', baseUrl: `${selfHosted.url}/v1`, price });
  });

  after(async () => {
    for (const [name, p] of suite?.procs ?? []) {
      if (p.child.exitCode !== null) console.error(`${name} exited early (${p.child.exitCode}):\n${p.output().slice(-4000)}`);
    }
    await suite?.stop();
    await simulator?.close();
    await selfHosted?.close();
  });

  const clients: ClientKind[] = ['openai', 'anthropic', 'mistral'];
  const upstreamKinds: UpstreamKind[] = ['openai', 'anthropic', 'mistral', 'openai-compatible'];
  for (const clientKind of clients) {
    for (const upstream of upstreamKinds) {
      for (const stream of [false, true]) {
        it(`${clientKind} SDK → ${upstream} upstream, ${stream ? 'streamed' : 'not streamed'}: tool round trip, exact usage in ClickHouse`, { skip }, async () => {
          const sim = upstream === 'openai-compatible' ? selfHosted! : simulator!;
          const ids: string[] = [];
          const model = `conf-${upstream}`;
          const before = sim.requests().length;
          const turns =
            clientKind === 'openai'
              ? await openAITurns(`${ingressOrigin}/v1`, apiKey, model, stream, ids)
              : clientKind === 'anthropic'
                ? await anthropicTurns(ingressOrigin, apiKey, model, stream, ids)
                : await mistralTurns(`${ingressOrigin}/mistral`, apiKey, model, stream, ids);
          const upstreamCalls = sim.requests().slice(before);
          assert.equal(upstreamCalls.length, 2, 'one upstream call per client call');
          assert.equal(ids.length, 2);

          const [call, answer] = turns;
          assert.equal(call.toolName, 'get_weather');
          assert.deepEqual(JSON.parse(call.toolArgs ?? ''), { city: 'Paris' });
          assert.equal(call.finish, TOOL_FINISH[clientKind]);
          assert.match(answer.text, /The tool returned/);
          assert.match(answer.text, /temperature_c/);
          assert.equal(answer.finish, TEXT_FINISH[clientKind]);

          for (const [i, turn] of turns.entries()) {
            const reported = (upstreamCalls[i] as SimulatorRequestRecord).reportedUsage;
            assert.ok(reported, 'the provider reported usage');
            assert.deepEqual(turn.usage, { input: reported.inputTokens, output: reported.outputTokens }, 'the client sees the provider’s usage');
            const row = await eventually(() => admin.meteredRequest(tenant, ids[i]), 30_000);
            assert.equal(Number(row.input_tokens), reported.inputTokens);
            assert.equal(Number(row.output_tokens), reported.outputTokens);
            assert.equal(row.api, CLIENT_API[clientKind]);
            assert.equal(row.provider, upstream);
            assert.equal(row.requested_model, model);
            assert.equal(Number(row.stream), stream ? 1 : 0);
            assert.equal(row.status, 'ok');
            const cost = (reported.inputTokens * 2 + reported.outputTokens * 8) / 1e6;
            assert.ok(Math.abs(Number(row.cost_usd) - cost) < 1e-9, `cost ${row.cost_usd} ≠ ${cost}`);
          }
        });
      }
    }
  }

  it('serves the Responses API (openai SDK) from an Anthropic deployment, streamed and not, with a function call round trip', { skip }, async () => {
    const ids: string[] = [];
    const client = new OpenAI({ apiKey, baseURL: `${ingressOrigin}/v1`, maxRetries: 0, fetch: recordingFetch(ids) });
    const tools: OpenAI.Responses.FunctionTool[] = [{ type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_TOOL_SCHEMA, strict: false }];
    const before = simulator!.requests().length;
    const first = await client.responses.create({ model: 'conf-anthropic', input: QUESTION, tools, instructions: 'Be brief.' });
    const call = first.output.find((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
    assert.ok(call, 'a function_call item');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    const stream = client.responses.stream({
      model: 'conf-anthropic',
      input: [{ role: 'user', content: QUESTION }, call, { type: 'function_call_output', call_id: call.call_id, output: TOOL_RESULT }],
      tools,
    });
    let deltas = '';
    stream.on('response.output_text.delta', (e) => (deltas += e.delta));
    const final = await stream.finalResponse();
    assert.equal(final.status, 'completed');
    assert.match(final.output_text, /The tool returned/);
    assert.equal(deltas, final.output_text);
    const upstream = simulator!.requests().slice(before);
    assert.deepEqual(upstream.map((r) => r.route), ['anthropic.messages', 'anthropic.messages']);
    for (const [i, res] of [first, final].entries()) {
      const reported = upstream[i].reportedUsage!;
      assert.deepEqual([res.usage?.input_tokens, res.usage?.output_tokens], [reported.inputTokens, reported.outputTokens]);
      const row = await eventually(() => admin.meteredRequest(tenant, ids[i]), 30_000);
      assert.equal(row.api, 'openai.responses');
      assert.equal(row.provider, 'anthropic');
      assert.deepEqual([Number(row.input_tokens), Number(row.output_tokens)], [reported.inputTokens, reported.outputTokens]);
    }
  });

  it('serves embeddings to OpenAI and Mistral clients from either provider, and refuses them on Anthropic in the caller’s shape', { skip }, async () => {
    const ids: string[] = [];
    const openai = new OpenAI({ apiKey, baseURL: `${ingressOrigin}/v1`, maxRetries: 0, fetch: recordingFetch(ids) });
    const mistral = new Mistral({ apiKey, serverURL: `${ingressOrigin}/mistral`, httpClient: new HTTPClient({ fetcher: recordingFetch(ids) }) });
    const before = simulator!.requests().length;
    const a = await openai.embeddings.create({ model: 'conf-mistral', input: ['first text', 'second text'] });
    assert.equal(a.data.length, 2);
    assert.equal(a.model, 'conf-mistral');
    const b = await mistral.embeddings.create({ model: 'conf-openai', inputs: ['only text'] });
    assert.equal(b.data.length, 1);
    assert.ok((b.data[0].embedding?.length ?? 0) > 0);
    const upstream = simulator!.requests().slice(before);
    assert.deepEqual(upstream.map((r) => r.route), ['mistral.embeddings', 'openai.embeddings']);
    for (const [i, usage] of [a.usage.prompt_tokens, b.usage.promptTokens].entries()) {
      assert.equal(usage, upstream[i].reportedUsage?.inputTokens);
      const row = await eventually(() => admin.meteredRequest(tenant, ids[i]), 30_000);
      assert.equal(Number(row.input_tokens), usage);
      assert.equal(Number(row.output_tokens), 0);
    }
    await assert.rejects(openai.embeddings.create({ model: 'conf-anthropic', input: 'x' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal((err.error as { code?: string }).code, 'unsupported_operation');
      return true;
    });
  });

  it('lists only the models the tenant may use, in each SDK’s shape', { skip }, async () => {
    const narrow = `narrow-${run}`;
    await admin.createTenant({ id: narrow, name: 'Narrow' });
    const app = await admin.createApp(narrow, 'list');
    const narrowKey = (await admin.createApiKey(narrow, { appId: app.id })).key;
    await admin.putPolicy(narrow, { allowedModels: ['conf-openai', 'narrow-own'], allowedRegions: ['eu-west-1'] });
    const cred = await admin.createCredential({ name: 'narrow', provider: 'openai', secret: providerKey });
    await admin.createDeployment({ tenantId: narrow, model: 'narrow-own', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', baseUrl: `${simulator!.url}/openai/v1`, credentialId: cred.id, price: { inputPerMtokUsd: 1, outputPerMtokUsd: 1 } });
    // Allowed by policy but only deployed outside the tenant's regions: not listed.
    await admin.createDeployment({ tenantId: narrow, model: 'conf-openai', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'us-east-1', baseUrl: `${simulator!.url}/openai/v1`, credentialId: cred.id, price: { inputPerMtokUsd: 1, outputPerMtokUsd: 1 } });

    const openaiIds = (await new OpenAI({ apiKey: narrowKey, baseURL: `${ingressOrigin}/v1`, maxRetries: 0 }).models.list()).data.map((m) => m.id);
    assert.deepEqual(openaiIds, ['narrow-own'], 'the other tenant’s conf-* aliases never show');
    const anthropicIds = (await new Anthropic({ apiKey: narrowKey, baseURL: ingressOrigin, maxRetries: 0 }).models.list()).data.map((m) => m.id);
    assert.deepEqual(anthropicIds, ['narrow-own']);
    const mistralIds = (await new Mistral({ apiKey: narrowKey, serverURL: `${ingressOrigin}/mistral` }).models.list()).data?.map((m) => m.id);
    assert.deepEqual(mistralIds, ['narrow-own']);
    const all = (await new OpenAI({ apiKey, baseURL: `${ingressOrigin}/v1`, maxRetries: 0 }).models.list()).data.map((m) => m.id);
    assert.deepEqual(all, ['conf-anthropic', 'conf-mistral', 'conf-openai', 'conf-openai-compatible']);
  });

  it('counts tokens on an Anthropic deployment and refuses where no exact count exists', { skip }, async () => {
    const client = new Anthropic({ apiKey, baseURL: ingressOrigin, maxRetries: 0 });
    const counted = await client.messages.countTokens({ model: 'conf-anthropic', messages: [{ role: 'user', content: QUESTION }] });
    const direct = (await (
      await fetch(`${simulator!.url}/anthropic/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': providerKey, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: QUESTION }] }),
      })
    ).json()) as { input_tokens: number };
    assert.equal(counted.input_tokens, direct.input_tokens);
    await assert.rejects(client.messages.countTokens({ model: 'conf-openai', messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.BadRequestError);
      assert.equal((err.error as { type?: string }).type, 'error');
      return true;
    });
  });

  it('meters a stream the client abandons: exact input, output up to what was produced, marked cancelled and estimated', { skip }, async () => {
    const ids: string[] = [];
    const client = new OpenAI({ apiKey, baseURL: `${ingressOrigin}/v1`, maxRetries: 0, fetch: recordingFetch(ids) });
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Tell me a long story about the sea' }];
    simulator!.configure({ replyWords: 400 });
    try {
      const whole = await client.chat.completions.create({ model: 'conf-anthropic', messages, max_tokens: 1000 });
      simulator!.configure({ replyWords: 400, tokensPerSec: 200 });
      const stream = await client.chat.completions.create({ model: 'conf-anthropic', messages, max_tokens: 1000, stream: true });
      let received = '';
      for await (const chunk of stream) {
        received += chunk.choices[0]?.delta?.content ?? '';
        if (received.length > 200) break; // the client goes away midway
      }
      const row = await eventually(async () => {
        const r = await admin.meteredRequest(tenant, ids[1]);
        assert.equal(r.status, 'cancelled');
        return r;
      }, 30_000);
      assert.equal(Number(row.input_tokens), whole.usage!.prompt_tokens, 'Anthropic reports input at message_start: exact');
      assert.ok(Number(row.output_tokens) > 0 && Number(row.output_tokens) < whole.usage!.completion_tokens, `output ${row.output_tokens} of ${whole.usage!.completion_tokens}`);
      assert.equal(Number(row.usage_estimated), 1);
    } finally {
      simulator!.configure({ replyWords: undefined, tokensPerSec: 0 });
    }
  });

  it('answers bad input in the Anthropic and Mistral error shapes, naming the problem', { skip }, async () => {
    const post = async (path: string, body: string, headers: Record<string, string>) => {
      const res = await fetch(`${ingressOrigin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      // Every answer, an error found before the runner (malformed JSON, 413) included, names its request.
      assert.match(res.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{32}$/, `${path} ${res.status}: x-request-id`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const anth = { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' };
    const msg = (extra: object) => JSON.stringify({ model: 'conf-anthropic', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra });
    const anthropicCases: Array<[string, string, Record<string, string>, number, RegExp]> = [
      ['malformed JSON', '{"model":', anth, 400, /JSON|body/i],
      ['wrong role', msg({ messages: [{ role: 'robot', content: 'hi' }] }), anth, 400, /messages.0.role/],
      ['empty messages', msg({ messages: [] }), anth, 400, /messages/],
      ['wrong type', msg({ max_tokens: 'many' }), anth, 400, /max_tokens/],
      ['invalid tool schema', msg({ tools: [{ name: 'bad name!', input_schema: 'nope' }] }), anth, 400, /tools.0/],
      ['unknown model', msg({ model: 'no-such-model' }), anth, 404, /no-such-model/],
      ['missing version header', msg({}), { 'x-api-key': apiKey }, 400, /anthropic-version/],
      ['invalid key', msg({}), { ...anth, 'x-api-key': 'asc_not_a_real_key_0000' }, 401, /API key/],
    ];
    for (const [name, body, headers, status, message] of anthropicCases) {
      const res = await post('/v1/messages', body, headers);
      assert.equal(res.status, status, name);
      assert.equal(res.body.type, 'error', name);
      const error = res.body.error as { type: string; message: string };
      assert.match(error.message, message, name);
      assert.ok(typeof error.type === 'string' && error.type.endsWith('_error'), name);
    }
    const big = await post('/v1/messages', msg({ messages: [{ role: 'user', content: 'x'.repeat(300 * 1024) }] }), anth);
    assert.equal(big.status, 413);
    assert.equal(big.body.type, 'error');

    const mis = { authorization: `Bearer ${apiKey}` };
    const chat = (extra: object) => JSON.stringify({ model: 'conf-mistral', messages: [{ role: 'user', content: 'hi' }], ...extra });
    const mistralCases: Array<[string, string, number, RegExp]> = [
      ['wrong role', chat({ messages: [{ role: 'robot', content: 'hi' }] }), 400, /robot.*messages\[0\]\.role/],
      ['empty messages', chat({ messages: [] }), 400, /messages/],
      ['wrong type', chat({ temperature: 'hot' }), 400, /temperature/],
      ['unknown model', chat({ model: 'no-such-model' }), 404, /no-such-model/],
    ];
    for (const [name, body, status, message] of mistralCases) {
      const res = await post('/mistral/v1/chat/completions', body, mis);
      assert.equal(res.status, status, name);
      assert.equal(res.body.object, 'error', name);
      assert.match(`${String(res.body.message)} (param ${String(res.body.param)})`, message, name);
    }

    const openaiCases: Array<[string, string, string, number, string | null]> = [
      ['responses: server-side state', '/v1/responses', JSON.stringify({ model: 'conf-openai', input: 'hi', previous_response_id: 'resp_123' }), 400, 'previous_response_id'],
      ['responses: unknown model', '/v1/responses', JSON.stringify({ model: 'no-such-model', input: 'hi' }), 404, 'model'],
      ['responses: hosted tool', '/v1/responses', JSON.stringify({ model: 'conf-anthropic', input: 'hi', tools: [{ type: 'web_search' }] }), 400, 'tools[0].type'],
      ['embeddings: empty input', '/v1/embeddings', JSON.stringify({ model: 'conf-openai', input: '' }), 400, 'input'],
      ['embeddings: wrong type', '/v1/embeddings', JSON.stringify({ model: 'conf-openai', input: [1.5, 'x'] }), 400, 'input[0]'],
      ['chat: invalid tool schema', '/v1/chat/completions', JSON.stringify({ model: 'conf-anthropic', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'bad name!' } }] }), 400, 'tools[0].function.name'],
    ];
    for (const [name, path, body, status, param] of openaiCases) {
      const res = await post(path, body, mis);
      assert.equal(res.status, status, name);
      const error = res.body.error as { message: string; type: string; param: string | null; code: string };
      assert.equal(error.param, param, name);
      assert.ok(error.message && error.type && error.code, name);
    }
  });
});
