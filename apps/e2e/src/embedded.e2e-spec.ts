import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Mistral } from '@mistralai/mistralai';
import OpenAI from 'openai';
import { AdminClient, AdminEndpoints } from '@asc/admin-client';
import { freePort } from '@asc/service-kit';
import { eventually, NodeProcess, startNodeProcess } from '@asc/testing';


/**
 * The embedded default as a user meets it: one process from `npm start`, driven by the
 * official OpenAI SDK, then checked the way an operator would (usage in ClickHouse via
 * metering, decisions in the audit trail).
 */
describe('embedded suite (npm start) driven by the openai SDK', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'asc-e2e-'));
  const demoKey = `demo_${randomBytes(16).toString('hex')}`;
  let proc: NodeProcess;
  let baseURL: string;
  let opsURL: string;
  let admin: AdminClient;
  let client: OpenAI;

  async function boot(): Promise<void> {
    const range = { from: 20_000, to: 32_000 }; // outside the ephemeral range outgoing connections use
    const [http, grpc] = await Promise.all([freePort('127.0.0.1', range), freePort('127.0.0.1', range)]);
    proc = startNodeProcess('apps/embedded/src/main.js', {
      ASC_DATA_DIR: dataDir,
      ASC_HTTP_PORT: String(http),
      ASC_GRPC_PORT: String(grpc),
      ASC_EMBEDDED_PORTS: 'auto',
      ASC_DEMO_API_KEY: demoKey,
      INGRESS_BODY_LIMIT_BYTES: String(64 * 1024),
      // Long enough that only config-change events can explain a revocation taking effect.
      INGRESS_CONFIG_CACHE_TTL_MS: '600000',
    });
    await proc.waitForLine(/^ASC_READY=1$/m, 120_000);
    baseURL = `${(await proc.waitForLine(/^ASC_INGRESS_URL=(.+)$/m))[1]}/v1`;
    opsURL = (await proc.waitForLine(/^ASC_OPS_URL=(.+)$/m))[1];
    const endpoints = JSON.parse((await proc.waitForLine(/^ASC_ADMIN_ENDPOINTS=(.+)$/m))[1]) as AdminEndpoints;
    const { readFileSync } = await import('node:fs');
    admin = new AdminClient(endpoints, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim());
    client = new OpenAI({ apiKey: demoKey, baseURL, maxRetries: 0 });
  }

  before(boot);
  after(async () => {
    await proc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the demo key it was given and answers a chat completion', async () => {
    assert.match(proc.output(), new RegExp(`ASC_DEMO_API_KEY=${demoKey}`));
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello to the embedded gateway' }],
    });
    assert.equal(completion.object, 'chat.completion');
    assert.ok(completion.choices[0].message.content?.length);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.ok(completion.usage && completion.usage.prompt_tokens > 0 && completion.usage.completion_tokens > 0);
  });

  it('streams with SSE and reports usage when asked, metered exactly in ClickHouse', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream me a short answer please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;

    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(text.length > 0);
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens > 0);
    const records = await eventually(async () => {
      const r = await admin.auditRecords('demo');
      const streamed = r.records.filter((x) => x.status === 'ok');
      assert.ok(streamed.length >= 2, 'both requests are in the audit trail');
      return r.records;
    });
    const requestId = String(records[0].requestId);
    const row = await eventually(async () => admin.meteredRequest('demo', requestId));
    assert.equal(Number(row.stream), 1);
    assert.equal(Number(row.input_tokens), usage.prompt_tokens);
    assert.equal(Number(row.output_tokens), usage.completion_tokens);
    assert.equal(row.served_model, 'gpt-4o-mini');
    assert.ok(Number(row.cost_usd) > 0);
    assert.ok(Number(row.ttft_ms) > 0, 'time to first token is recorded for streams');
  });

  it('does not send the usage chunk when the client did not ask for it', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'no usage please' }],
      stream: true,
    });
    for await (const chunk of stream) assert.equal(chunk.usage ?? undefined, undefined);
  });

  it('refuses a wrong key with 401 in the OpenAI shape', async () => {
    const bad = new OpenAI({ apiKey: 'asc_not-a-real-key-at-all', baseURL, maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      return true;
    });
  });

  it('refuses a model outside the tenant policy with 403', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'o3-pro', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError);
      assert.equal(err.code, 'model_not_allowed');
      return true;
    });
  });

  it('names the field of a malformed request (400) and refuses huge bodies (413)', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'hi' }] } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'messages[0].role',
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 413,
    );
    const raw = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' },
      body: '{"model": "gpt-4o-mini", "messages": [',
    });
    assert.equal(raw.status, 400);
    const body = (await raw.json()) as { error: { type: string; message: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.doesNotMatch(JSON.stringify(body), /at .*\.js:\d+/, 'no stack trace');
  });

  it('refuses a revoked key at once, although ingress caches keys for 10 minutes', async () => {
    const appId = (await admin.createApp('demo', `revoke-${Date.now()}`)).id;
    const { id, key } = await admin.createApiKey('demo', { appId });
    const revocable = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 });
    const ask = () => revocable.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await ask();
    await admin.revokeApiKey('demo', id);
    const revokedAt = Date.now();
    await eventually(() => assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.AuthenticationError), 5_000, 100);
    assert.ok(Date.now() - revokedAt < 3_000, `revocation reached ingress in ${Date.now() - revokedAt} ms`);
  });

  it('shows an app budget spent by a request, from the counters ingress keeps in process', async () => {
    const appId = (await admin.createApp('demo', `budget-${Date.now()}`)).id;
    await admin.putAppPolicy('demo', appId, { budgets: [{ scope: 'app', period: 'day', usd: 1 }] });
    const { key } = await admin.createApiKey('demo', { appId });
    await new OpenAI({ apiKey: key, baseURL, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const status = await eventually(async () => {
      const s = await admin.budgetStatus('demo', { appId });
      assert.ok((s.budgets[0]?.spentUsd ?? 0) > 0, JSON.stringify(s));
      return s;
    }, 5_000, 100);
    assert.equal(status.counters, 'memory');
    const [line] = status.budgets;
    assert.deepEqual([line.scope, line.scopeId, line.limitUsd, line.reservedUsd], ['app', appId, 1, 0]);
    assert.ok(Math.abs(line.remainingUsd! - (1 - line.spentUsd!)) < 1e-9);
  });

  it('serves the seeded Anthropic and Mistral models to every SDK, translated where the APIs differ', async () => {
    const origin = baseURL.replace(/\/v1$/, '');
    const anthropic = new Anthropic({ apiKey: demoKey, baseURL: origin, maxRetries: 0 });
    const message = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello Claude' }] });
    assert.equal(message.stop_reason, 'end_turn');
    assert.ok(message.content[0].type === 'text' && message.content[0].text.length > 0);
    // An OpenAI client on the Anthropic deployment, streamed.
    const stream = await client.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.ok(text.length > 0 && usage && usage.completion_tokens > 0);
    const mistral = new Mistral({ apiKey: demoKey, serverURL: `${origin}/mistral` });
    const chat = await mistral.chat.complete({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'Bonjour' }] });
    assert.equal(chat.choices[0].finishReason, 'stop');
    const listed = (await client.models.list()).data.map((m) => m.id);
    for (const model of ['claude-sonnet-4-5', 'mistral-small-latest', 'demo-chat']) assert.ok(listed.includes(model), `${model} is listed`);
  });

  it('exposes per-tenant request metrics and time to first token on the ops port, not on the data plane', async () => {
    assert.equal((await fetch(`${baseURL.replace(/\/v1$/, '')}/metrics`)).status, 404);
    const text = await (await fetch(`${opsURL}/metrics`)).text();
    assert.match(text, /asc_ingress_requests_total\{[^}]*tenant_id="demo"[^}]*status="ok"[^}]*\} [1-9]/);
    assert.match(text, /asc_ingress_requests_total\{[^}]*status="denied"[^}]*code="403"[^}]*\} [1-9]/);
    assert.match(text, /asc_ingress_time_to_first_token_seconds_count\{[^}]*\} [1-9]/);
    assert.match(text, /asc_events_lost\{[^}]*\} 0/);
  });

  it('keeps its data across a restart', async () => {
    const before = await admin.usage('demo');
    const requestsBefore = before.rows.reduce((n, r) => n + Number(r.requests), 0);
    assert.ok(requestsBefore >= 2);
    await proc.stop();
    await boot();
    const completion = await client.chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'after restart' }] });
    assert.ok(completion.choices[0].message.content);
    await eventually(async () => {
      const after = await admin.usage('demo');
      assert.ok(after.rows.reduce((n, r) => n + Number(r.requests), 0) > requestsBefore);
    });
  });
});
