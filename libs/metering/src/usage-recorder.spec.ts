import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChdbStore, migrate, requestRow } from '@asc/analytics';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, parseEvent, serializeEvent, type RequestCompletedV1 } from '@asc/events';
import { recordRequestEvents, toRequestRow } from './usage-recorder';

const TENANT = 'tenant_m';

function payload(overrides: Partial<RequestCompletedV1> = {}): RequestCompletedV1 {
  return {
    requestId: 'req_m1',
    tenantId: TENANT,
    appId: 'app_1',
    keyId: 'key_1',
    api: 'openai.chat.completions',
    stream: true,
    requestedModel: 'o4-mini',
    servedModel: 'o4-mini-2025-04-16',
    provider: 'openai',
    deploymentId: 'dep_1',
    region: 'eu-west-1',
    credentialId: 'cred_1',
    credentialVersion: 2,
    policyId: 'pol_1',
    policyVersion: 4,
    decision: 'allow',
    reasonCode: '',
    status: 'ok',
    httpStatus: 200,
    inputTokens: 100,
    outputTokens: 700,
    cachedInputTokens: 0,
    reasoningTokens: 512,
    usageEstimated: false,
    costUsd: 0.01,
    latencyMs: 1234.6,
    ttftMs: 300.2,
    startedAtMs: 1_760_000_000_000,
    ...overrides,
  };
}

const event = (overrides: Partial<RequestCompletedV1> = {}) =>
  createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: TENANT, source: 'asc/test' }, payload(overrides));

/** The event as metering receives it from an ingress that predates reasoningTokens/usageEstimated. */
function fromOlderIngress(requestId: string) {
  const json = JSON.parse(serializeEvent(event({ requestId }))) as { data: Record<string, unknown> };
  delete json.data.reasoningTokens;
  delete json.data.usageEstimated;
  delete json.data.endUserId;
  delete json.data.guardrails;
  const parsed = parseEvent(JSON.stringify(json));
  assert.ok(parsed.ok && parsed.event.type === EVENT_GATEWAY_REQUEST_COMPLETED);
  return parsed.event;
}

describe('toRequestRow', () => {
  it('maps reasoningTokens and usageEstimated', () => {
    const row = toRequestRow(event({ reasoningTokens: 512, usageEstimated: true }));
    assert.equal(row.reasoning_tokens, 512);
    assert.equal(row.usage_estimated, 1);
    assert.equal(row.output_tokens, 700);
    assert.equal(row.latency_ms, 1235);
  });

  it('maps an event from an older ingress to 0 / not estimated / no end user / no guardrail action', () => {
    const row = toRequestRow(fromOlderIngress('req_old'));
    assert.equal(row.reasoning_tokens, 0);
    assert.equal(row.usage_estimated, 0);
    assert.equal(row.end_user_id, '');
    assert.equal(row.guardrail_actions, '[]');
  });

  it('maps the end user and the guardrail findings (detector, action, count) as JSON', () => {
    const guardrails = [
      { detector: 'email', action: 'redact' as const, count: 2 },
      { detector: 'prompt_injection', action: 'block' as const, count: 1 },
    ];
    const row = toRequestRow(event({ endUserId: 'user-7', guardrails }));
    assert.equal(row.end_user_id, 'user-7');
    assert.deepEqual(JSON.parse(row.guardrail_actions), guardrails);
  });
});

describe('recordRequestEvents (chdb)', () => {
  let dir: string;
  let store: ChdbStore;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'asc-metering-'));
    store = new ChdbStore({ path: dir });
    await migrate(store, 'asc');
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the new fields, and defaults for an older event, once per event id', async () => {
    const fresh = event({ requestId: 'req_new', reasoningTokens: 640, usageEstimated: true, endUserId: 'u-1', guardrails: [{ detector: 'iban', action: 'redact', count: 1 }] });
    const old = fromOlderIngress('req_old');
    await recordRequestEvents(store, 'asc', [fresh, old]);
    await recordRequestEvents(store, 'asc', [fresh]); // redelivered
    const got = await requestRow(store, 'asc', TENANT, 'req_new');
    assert.equal(got?.reasoning_tokens, 640);
    assert.equal(got?.usage_estimated, 1);
    assert.equal(got?.end_user_id, 'u-1');
    assert.deepEqual(JSON.parse(String(got?.guardrail_actions)), [{ detector: 'iban', action: 'redact', count: 1 }]);
    const gotOld = await requestRow(store, 'asc', TENANT, 'req_old');
    assert.equal(gotOld?.reasoning_tokens, 0);
    assert.equal(gotOld?.usage_estimated, 0);
    const [n] = await store.query<{ n: string }>(`SELECT count() AS n FROM asc.requests`);
    assert.equal(n.n, '2');
  });
});
