import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { keyFingerprint, startSimulator } from './simulator.server';
import type { SimulatorHandle } from './simulator.types';

const chatBody = (content = 'hello there', extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content }], ...extra });

describe('simulator server: routing, auth, faults, timing, stats', () => {
  let sim: SimulatorHandle;
  const post = (path: string, body: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(`${sim.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer sk-live-123', 'content-type': 'application/json', ...headers }, body, signal });

  before(async () => {
    sim = await startSimulator();
  });
  after(() => sim.close());

  it('mounts providers at /v1 and under prefixes, with 404s in the provider shape', async () => {
    assert.equal((await post('/v1/chat/completions', chatBody())).status, 200);
    assert.equal((await post('/openai/v1/chat/completions', chatBody())).status, 200);
    const mistral = await post('/mistral/v1/chat/completions', chatBody());
    assert.match(((await mistral.json()) as { id: string }).id, /^[0-9a-f]{32}$/);

    const missing = await post('/v1/nope', '{}');
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: { message: 'Invalid URL (POST /v1/nope)', type: 'invalid_request_error', param: null, code: null } });
    const anthropic404 = await post('/anthropic/v1/chat/completions', '{}', { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' });
    assert.equal(anthropic404.status, 404);
    assert.equal(((await anthropic404.json()) as { type: string }).type, 'error');

    const models = await fetch(`${sim.url}/v1/models`, { headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' } });
    assert.ok(((await models.json()) as { has_more: boolean }).has_more === false, 'GET /v1/models with anthropic-version answers like Anthropic');
  });

  it('requires a key and validates bodies in the provider shape', async () => {
    const noKey = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody() });
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as { error: { type: string } }).error.type, 'invalid_request_error');

    const badJson = await post('/v1/chat/completions', '{"model":');
    assert.equal(badJson.status, 400);
    const noModel = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }));
    assert.deepEqual(await noModel.json(), { error: { message: 'you must provide a model parameter', type: 'invalid_request_error', param: 'model', code: 'missing_required_parameter' } });
    const noMessages = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o' }));
    assert.equal(((await noMessages.json()) as { error: { param: string } }).error.param, 'messages');

    const anthropicNoKey = await post('/v1/messages', '{}', { authorization: '', 'anthropic-version': '2023-06-01' });
    assert.deepEqual(((await anthropicNoKey.json()) as { error: unknown }).error, { type: 'authentication_error', message: 'x-api-key header is required' });
    const mistralMissing = await post('/mistral/v1/chat/completions', JSON.stringify({ model: 'm' }));
    assert.equal(mistralMissing.status, 422);
  });

  it('records requests without secrets and counts them by route and status', async () => {
    sim.reset();
    await post('/v1/chat/completions', chatBody('count me'), { 'x-trace': 'abc' });
    await post('/v1/embeddings', JSON.stringify({ model: 'text-embedding-3-small', input: 'x' }));
    await post('/v1/chat/completions', chatBody(), { 'x-sim-fail': '503' });
    const stats = sim.stats();
    assert.equal(stats.total, 3);
    assert.deepEqual(stats.byRoute, { 'openai.chat.completions': 2, 'openai.embeddings': 1 });
    assert.deepEqual(stats.byStatus, { '200': 2, '503': 1 });
    assert.equal(stats.faultsInjected, 1);
    const [first] = sim.requests();
    assert.equal(first.headers['x-trace'], 'abc');
    assert.equal(first.headers.authorization, undefined);
    assert.equal(first.keyFingerprint, keyFingerprint('sk-live-123'));
    assert.ok(!JSON.stringify(sim.requests()).includes('sk-live-123'));
    assert.equal(first.model, 'gpt-4o');
    assert.equal(first.outcome, '200');
    const overHttp = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { total: number };
    assert.equal(overHttp.total, 3);
  });

  it('adds latency, time-to-first-token and a token pace', async () => {
    let t0 = Date.now();
    await post('/v1/chat/completions', chatBody(), { 'x-sim-latency-ms': '120' });
    assert.ok(Date.now() - t0 >= 115);

    // 10 words -> 'This is a simulated reply to: ...' = 16 tokens at 200/s after a 200 ms TTFT.
    t0 = Date.now();
    const res = await post('/v1/chat/completions', chatBody('w', { stream: true }), { 'x-sim-ttft-ms': '200', 'x-sim-tokens-per-sec': '200', 'x-sim-reply-words': '10' });
    const headersAt = Date.now() - t0;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let firstContentAt = -1;
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (firstContentAt < 0 && /"content":"[^"]/.test(text)) firstContentAt = Date.now() - t0;
    }
    const total = Date.now() - t0;
    const tokens = (text.match(/"content":"[^"]/g) ?? []).length;
    assert.ok(headersAt < 150, `headers after ${headersAt} ms (before the TTFT)`);
    assert.ok(firstContentAt >= 195, `first token after ${firstContentAt} ms`);
    assert.ok(total >= 195 + ((tokens - 1) * 1000) / 200 - 10, `stream took ${total} ms for ${tokens} tokens`);

    t0 = Date.now();
    await post('/v1/chat/completions', chatBody('w'), { 'x-sim-ttft-ms': '50', 'x-sim-tokens-per-sec': '200', 'x-sim-reply-words': '10' });
    assert.ok(Date.now() - t0 >= 50 + ((tokens - 1) * 1000) / 200 - 10, 'non-stream waits for the whole generation');
  });

  it('holds timed-out requests open and drops connections on demand', async () => {
    sim.reset();
    await assert.rejects(post('/v1/chat/completions', chatBody(), { 'x-sim-fail': 'timeout' }, AbortSignal.timeout(150)), /abort|timeout/i);
    await assert.rejects(post('/v1/chat/completions', chatBody(), { 'x-sim-fail': 'disconnect' }), /fetch failed/);
    const client = new OpenAI({ apiKey: 'k', baseURL: sim.baseUrls.openai, maxRetries: 0 });
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fail': 'disconnect' } }),
      (e: unknown) => e instanceof OpenAI.APIConnectionError,
    );
    const stats = sim.stats();
    assert.equal(stats.byStatus.timeout, 1);
    assert.equal(stats.byStatus.disconnect, 2);
  });

  it('breaks streams midway: by disconnecting or with an in-band error', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: sim.baseUrls.openai, maxRetries: 0 });
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'one two three four five six' }] },
      { headers: { 'x-sim-fail': 'disconnect-midstream', 'x-sim-fail-after-tokens': '3' } },
    );
    let got = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) got += chunk.choices[0]?.delta.content ?? '';
    });
    assert.equal(got, 'This is a');

    const errStream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x y z' }] }, { headers: { 'x-sim-fail': 'error-midstream' } });
    await assert.rejects(
      async () => {
        for await (const _ of errStream) void _;
      },
      (e: unknown) => e instanceof OpenAI.APIError && /server had an error/.test(e.message),
    );

    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fail': 'disconnect-midstream' } }),
      (e: unknown) => e instanceof Error,
    );
  });

  it('limits a header fault to the first N identical requests', async () => {
    const headers = { 'x-sim-fail': '500', 'x-sim-fail-times': '2' };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post('/v1/chat/completions', chatBody('budget'), headers)).status);
    assert.deepEqual(statuses, [500, 500, 200]);
    const fault = await post('/v1/chat/completions', chatBody('budget', { n: 1 }), { ...headers, 'x-sim-retry-after': '3' });
    assert.equal(fault.status, 500, 'a different body has its own budget');
    assert.equal(fault.headers.get('retry-after'), '3');
  });

  it('applies server-wide faults at a deterministic rate, changeable at runtime', async () => {
    const flaky = await startSimulator({ fail: 429, failRate: 0.5, retryAfterSec: 4, acceptedKeys: ['good'] });
    try {
      const call = (headers: Record<string, string> = {}) =>
        fetch(`${flaky.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer good', 'content-type': 'application/json', ...headers }, body: chatBody() });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await call()).status);
      assert.deepEqual(statuses.sort(), [200, 200, 429, 429]);
      assert.equal((await call({ 'x-sim-fail': 'none' })).status, 200, 'a request can opt out');
      const limited = await call({ 'x-sim-fail': '429' });
      assert.equal(limited.headers.get('retry-after'), '4');

      flaky.configure({ fail: undefined, acceptedKeys: ['other'] });
      assert.equal((await call()).status, 401);
      flaky.configure({ acceptedKeys: undefined });
      assert.equal((await call()).status, 200);
    } finally {
      await flaky.close();
    }
  });

  it('closes promptly even with requests held open', async () => {
    const s = await startSimulator();
    const pending = fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer k', 'x-sim-fail': 'timeout' }, body: chatBody() }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 500);
    assert.ok((await pending) instanceof Error);
  });
});
