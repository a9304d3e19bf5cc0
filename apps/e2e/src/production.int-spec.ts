import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import OpenAI from 'openai';
import { AdminClient } from '@asc/admin-client';
import { ingressV1 } from '@asc/contracts';
import { createGrpcClient, freePort, GrpcCallError } from '@asc/service-kit';
import { startSimulator } from '@asc/simulator';
import { eventually, missingInfra, ProductionSuite, startNodeProcess, startProductionSuite } from '@asc/testing';

/**
 * Production mode: the six services as separate processes against the real PostgreSQL,
 * Kafka and ClickHouse server; configured only through the admin APIs; a request through
 * ingress must show up as a ClickHouse row and an audit record.
 */
describe('production mode: six processes on Postgres, Kafka and ClickHouse', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  const run = randomBytes(4).toString('hex');
  const providerKey = `sk-sim-${randomBytes(12).toString('hex')}`;
  let suite: ProductionSuite | undefined;
  let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;
  let admin: AdminClient;
  let apiKey: string;
  let baseURL: string;
  let ingressGrpc: string;
  const tenant = `acme-${run}`;
  const otherTenant = `globex-${run}`;

  before(async () => {
    if (skip) return;
    simulator = await startSimulator({ port: 0, acceptedKeys: [providerKey] });
    // A long cache TTL: changes must reach ingress as config-change events over Kafka.
    suite = await startProductionSuite({
      ingressEnv: { INGRESS_BODY_LIMIT_BYTES: String(32 * 1024), INGRESS_CONFIG_CACHE_TTL_MS: '600000', INGRESS_TTFT_TIMEOUT_MS: '5000', INGRESS_IDLE_TIMEOUT_MS: '5000' },
    });
    admin = suite.admin;
    baseURL = suite.ingressBaseUrl;
    ingressGrpc = `127.0.0.1:${suite.grpc.ingress}`;
    await admin.createTenant({ id: tenant, name: 'Acme' });
    await admin.createTenant({ id: otherTenant, name: 'Globex' });
    const app = await admin.createApp(tenant, 'support-bot');
    apiKey = (await admin.createApiKey(tenant, { appId: app.id })).key;
    await admin.putPolicy(tenant, { allowedModels: ['support-chat', 'broken-model'], allowedRegions: ['eu-west-1'] });
    const credential = await admin.createCredential({ name: 'sim', provider: 'openai', secret: providerKey });
    const price = { inputPerMtokUsd: 3, outputPerMtokUsd: 15 };
    await admin.createDeployment({ model: 'support-chat', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', baseUrl: `${simulator.url}/v1`, credentialId: credential.id, price });
    // Same alias in a region the tenant may not use: must never be chosen.
    await admin.createDeployment({ model: 'support-chat', provider: 'openai', upstreamModel: 'gpt-4o', region: 'us-east-1', baseUrl: `${simulator.url}/v1`, credentialId: credential.id, price, priority: -10 });
    const dead = await freePort();
    await admin.createDeployment({ model: 'broken-model', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', baseUrl: `http://127.0.0.1:${dead}/v1`, credentialId: credential.id, price });
  });

  after(async () => {
    for (const [name, p] of suite?.procs ?? []) {
      if (p.child.exitCode !== null) console.error(`${name} exited early (${p.child.exitCode}):\n${p.output().slice(-4000)}`);
    }
    await suite?.stop();
    await simulator?.close();
  });

  it('serves a chat completion end to end and records it in ClickHouse and the audit trail', { skip }, async () => {
    const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
    const raw = await client.chat.completions
      .create({ model: 'support-chat', messages: [{ role: 'user', content: 'Where is my order?' }] })
      .withResponse();
    const completion = raw.data;
    const requestId = raw.response.headers.get('x-request-id');
    assert.ok(requestId);
    assert.ok(completion.choices[0].message.content);
    const usage = completion.usage!;
    const row = await eventually(() => admin.meteredRequest(tenant, requestId), 30_000);
    assert.equal(row.tenant_id, tenant);
    assert.equal(row.requested_model, 'support-chat');
    assert.equal(row.served_model, 'gpt-4o-mini');
    assert.equal(row.region, 'eu-west-1', 'residency: the us-east-1 deployment is never used');
    assert.equal(row.provider, 'openai');
    assert.equal(Number(row.input_tokens), usage.prompt_tokens);
    assert.equal(Number(row.output_tokens), usage.completion_tokens);
    assert.equal(Number(row.credential_version), 1);
    assert.equal(row.status, 'ok');
    assert.equal(row.decision, 'allow');
    const expectedCost = (usage.prompt_tokens * 3 + usage.completion_tokens * 15) / 1e6;
    assert.ok(Math.abs(Number(row.cost_usd) - expectedCost) < 1e-9);
    const audit = await eventually(async () => {
      const r = await admin.auditRecords(tenant, requestId);
      assert.equal(r.records.length, 1);
      return r.records[0];
    }, 30_000);
    assert.equal(audit.decision, 'allow');
    assert.equal(audit.credentialId, row.credential_id);
    assert.ok(String(audit.policyId).startsWith('pol_'));
    // Never the provider secret, anywhere an analyst or auditor can look.
    assert.doesNotMatch(JSON.stringify(row) + JSON.stringify(audit), new RegExp(providerKey));
  });

  it('streams over SSE with exact usage', { skip }, async () => {
    const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'support-chat',
      messages: [{ role: 'user', content: 'Stream the status of my order' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.ok(text && usage);
    await eventually(async () => {
      const rows = await admin.usage(tenant);
      const total = rows.rows.find((r) => r.served_model === 'gpt-4o-mini');
      assert.ok(total && Number(total.requests) >= 2);
    }, 30_000);
  });

  it('gives one complete, ordered timeline per request: received … metering row written, audit record written', { skip }, async () => {
    // Its own app, whose policy redacts e-mail addresses: the timeline must show the guardrail's action.
    const app = await admin.createApp(tenant, `timeline-${run}`);
    const key = (await admin.createApiKey(tenant, { appId: app.id })).key;
    await admin.putAppPolicy(tenant, app.id, { guardrails: { detectors: { email: 'redact' } } });
    const client = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'support-chat', messages: [{ role: 'user', content: 'Write to jane.doe@example.com about my order' }], stream: true })
      .withResponse();
    for await (const chunk of stream) void chunk;
    const requestId = response.headers.get('x-request-id');
    assert.ok(requestId);
    const timeline = await eventually(async () => {
      const t = await admin.requestTimeline(tenant, requestId);
      assert.deepEqual(t.pending, [], 'the audit record is written');
      return t;
    }, 30_000);
    const names = timeline.steps.map((s) => s.step);
    const required = [
      'received',
      'authenticated',
      'policy_decision',
      'guardrail_action',
      'budget_reservation',
      'routing_attempt',
      'routed',
      'credential_lease',
      'first_token',
      'completed',
      'usage',
      'metering_row_written',
      'audit_record_written',
    ];
    assert.deepEqual(required.filter((n) => !names.includes(n)), [], `missing steps in ${names.join(', ')}`);
    const step = (name: string) => timeline.steps.find((s) => s.step === name)!;
    // In time order, each step at a real time: the request's own steps before the sinks wrote it down.
    assert.deepEqual(timeline.steps.map((s) => s.atMs), [...timeline.steps.map((s) => s.atMs)].sort((a, b) => a - b));
    assert.ok(step('received').atMs <= step('first_token').atMs && step('first_token').atMs <= step('completed').atMs);
    assert.ok(step('completed').atMs <= step('metering_row_written').atMs);
    assert.ok(step('completed').atMs <= step('audit_record_written').atMs);
    assert.ok(step('audit_record_written').atMs <= Date.now());
    assert.equal(step('policy_decision').detail.decision, 'allow');
    assert.ok(Number(step('policy_decision').detail.policyVersion) >= 1);
    assert.deepEqual([step('guardrail_action').detail.detector, step('guardrail_action').detail.action], ['email', 'redact']);
    assert.deepEqual([step('routing_attempt').detail.region, step('routing_attempt').detail.status, step('routing_attempt').detail.fallback], ['eu-west-1', 'ok', false]);
    assert.equal(step('credential_lease').detail.credentialVersion, 1);
    assert.ok(Number(step('usage').detail.costUsd) > 0);
    assert.equal(timeline.traceId.length, 32);
  });

  it('answers over the gRPC edge with the same governance', { skip }, async () => {
    const ingress = createGrpcClient(ingressV1.IngressServiceService, ingressGrpc, { security: suite!.pki.security('admin'), service: 'ingress' }, { deadlineMs: 10_000 });
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${apiKey}`);
    const reply = await ingress.client.createChatCompletion({ model: 'support-chat', messages: [{ role: 'user', content: 'hello over grpc' }], maxTokens: 0, temperature: 0 }, { metadata });
    assert.ok(reply.content);
    assert.ok(reply.usage && reply.usage.completionTokens > 0);
    const denied = new Metadata();
    denied.set('authorization', 'Bearer asc_wrong_key_123456');
    await assert.rejects(
      ingress.client.createChatCompletion({ model: 'support-chat', messages: [{ role: 'user', content: 'x' }], maxTokens: 0, temperature: 0 }, { metadata: denied }),
      (err: unknown) => err instanceof GrpcCallError && err.grpcCode === status.UNAUTHENTICATED,
    );
    ingress.close();
  });

  it('maps every bad input to a clear OpenAI-shaped error and records denials', { skip }, async () => {
    const post = async (body: string, key: string | null = apiKey) => {
      const res = await fetch(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body,
      });
      return { status: res.status, body: (await res.json()) as { error: { type: string; code: string; param: string | null; message: string } } };
    };
    const ok = JSON.stringify({ model: 'support-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal((await post(ok, null)).status, 401);
    assert.equal((await post(ok, 'asc_revoked_or_unknown_key')).body.error.code, 'invalid_api_key');
    const denied = await post(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'model_not_allowed');
    const wrongType = await post(JSON.stringify({ model: 'support-chat', messages: 'hi' }));
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.body.error.param, 'messages');
    const badTemp = await post(JSON.stringify({ model: 'support-chat', messages: [{ role: 'user', content: 'hi' }], temperature: 'hot' }));
    assert.equal(badTemp.body.error.param, 'temperature');
    assert.equal((await post('{"model":')).status, 400);
    assert.equal((await post(JSON.stringify({ model: 'support-chat', messages: [{ role: 'user', content: 'x'.repeat(40_000) }] }))).status, 413);
    const upstreamDown = await post(JSON.stringify({ model: 'broken-model', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(upstreamDown.status, 502);
    assert.equal(upstreamDown.body.error.type, 'api_error');
    assert.doesNotMatch(JSON.stringify(upstreamDown.body), /127\.0\.0\.1|ECONNREFUSED|at .*\.js/);
    await eventually(async () => {
      const records = (await admin.auditRecords(tenant)).records;
      assert.ok(records.some((r) => r.decision === 'deny' && r.reasonCode === 'model_not_allowed'));
      assert.ok(records.some((r) => r.status === 'upstream_error'));
    }, 30_000);
  });

  it('stops accepting a key as soon as it is revoked', { skip }, async () => {
    const app = await admin.createApp(tenant, `revocation-${run}`);
    const { id, key } = await admin.createApiKey(tenant, { appId: app.id });
    const client = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 });
    const ask = () => client.chat.completions.create({ model: 'support-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok((await ask()).choices[0].message.content);
    await admin.revokeApiKey(tenant, id);
    const revokedAt = Date.now();
    // Ingress caches keys for 10 minutes here: only the config-change event can evict it.
    await eventually(() => assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.AuthenticationError), 10_000, 100);
    assert.ok(Date.now() - revokedAt < 5_000, `revocation reached ingress in ${Date.now() - revokedAt} ms`);
  });

  it('applies a narrowed policy at once, despite the ingress cache', { skip }, async () => {
    const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
    const ask = () => client.chat.completions.create({ model: 'support-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok((await ask()).choices[0].message.content);
    await admin.putPolicy(tenant, { allowedModels: ['broken-model'], allowedRegions: ['eu-west-1'] });
    await eventually(() => assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.PermissionDeniedError), 10_000, 100);
    await admin.putPolicy(tenant, { allowedModels: ['support-chat', 'broken-model'], allowedRegions: ['eu-west-1'] });
    await eventually(async () => assert.ok((await ask()).choices[0].message.content), 10_000, 100);
  });

  it('keeps tenants apart: another tenant sees none of these records', { skip }, async () => {
    assert.deepEqual((await admin.auditRecords(otherTenant)).records, []);
    assert.deepEqual((await admin.usage(otherTenant)).rows, []);
  });

  it('fails to start with a message naming a missing variable', { skip }, async () => {
    const proc = startNodeProcess('apps/policy/src/main.js', { POLICY_HTTP_PORT: 'not-a-port' });
    const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(proc.output(), /POLICY_HTTP_PORT/);
    assert.match(proc.output(), /POLICY_DATABASE_URL is required/);
  });
});
