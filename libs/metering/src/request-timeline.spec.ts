import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChdbStore, migrate, requestRow } from '@asc/analytics';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, type RequestCompletedV1 } from '@asc/events';
import { eventually } from '@asc/testing';
import { buildTimeline } from './request-timeline';
import { scheduleRetention } from './start-metering';
import { recordRequestEvents } from './usage-recorder';

const TENANT = 'tenant_tl';
const T0 = 1_760_000_000_000;

function payload(overrides: Partial<RequestCompletedV1> = {}): RequestCompletedV1 {
  return {
    requestId: 'req_tl', tenantId: TENANT, appId: 'app_1', keyId: 'key_1', api: 'openai.chat.completions', stream: true,
    requestedModel: 'chat', servedModel: 'gpt-4o-mini', provider: 'openai', deploymentId: 'dep_1', region: 'eu-west-1',
    credentialId: 'cred_1', credentialVersion: 2, policyId: 'pol_1', policyVersion: 4, decision: 'allow', reasonCode: '',
    status: 'ok', httpStatus: 200, inputTokens: 100, outputTokens: 20, cachedInputTokens: 0, costUsd: 0.01, latencyMs: 900,
    ttftMs: 150, startedAtMs: T0, ...overrides,
  };
}

describe('request timeline (chdb)', () => {
  let dir: string;
  let store: ChdbStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'asc-timeline-'));
    store = new ChdbStore({ path: dir });
    await migrate(store, 'asc');
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('orders what is known of a request: received … lease, first token … usage, metering row and audit record written', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await recordRequestEvents(store, 'asc', [createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: TENANT, source: 'asc/test', traceparent }, payload())]);
    const row = await requestRow(store, 'asc', TENANT, 'req_tl');
    assert.ok(row);
    const auditAt = Number(row.inserted_at_ms) + 5;
    const timeline = buildTimeline(row, { eventId: 'ev_1', recordedAtMs: auditAt });
    assert.equal(timeline.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.deepEqual(timeline.steps.map((s) => s.step), [
      'received',
      'authenticated',
      'policy_decision',
      'budget_reservation',
      'routed',
      'credential_lease',
      'first_token',
      'completed',
      'usage',
      'metering_row_written',
      'audit_record_written',
    ]);
    assert.deepEqual(timeline.steps.map((s) => s.atMs).slice(0, 9), [T0, T0, T0, T0, T0, T0, T0 + 150, T0 + 900, T0 + 900]);
    assert.equal(timeline.steps[2].detail.policyVersion, 4);
    assert.equal(timeline.steps[4].detail.region, 'eu-west-1');
    assert.deepEqual(timeline.steps[5].detail, { credentialId: 'cred_1', credentialVersion: 2 });
    assert.deepEqual(timeline.steps.at(-1), { atMs: auditAt, step: 'audit_record_written', detail: { eventId: 'ev_1' } });
    assert.deepEqual(timeline.pending, []);
    // Before the audit record exists (or while audit cannot be asked) the step is reported pending, not left out silently.
    const early = buildTimeline(row);
    assert.equal(early.steps.some((s) => s.step === 'audit_record_written'), false);
    assert.deepEqual(early.pending, ['audit_record_written']);
  });

  it('renders whatever step list the record carries (the runner’s attempts), in time order', () => {
    const base = { started_at_ms: T0, latency_ms: 900, ttft_ms: 0, inserted_at_ms: T0 + 2000, decision: 'allow', deployment_id: '' };
    const record = {
      ...base,
      attempts: [
        { deploymentId: 'dep_a', status: 'upstream_error', reasonCode: 'timeout', latencyMs: 300, startedAtMs: T0 + 10 },
        { deploymentId: 'dep_b', status: 'ok', latencyMs: 500, startedAtMs: T0 + 320 },
      ],
    } as unknown as Parameters<typeof buildTimeline>[0];
    const steps = buildTimeline(record).steps;
    const attempts = steps.filter((s) => s.step === 'routing_attempt');
    assert.deepEqual(attempts.map((a) => a.detail.deploymentId), ['dep_a', 'dep_b']);
    assert.deepEqual(attempts.map((a) => a.detail.fallback), [false, true]);
    assert.ok(steps.indexOf(attempts[1]) < steps.findIndex((s) => s.step === 'completed'));
    // As stored in ClickHouse: the same list as JSON text.
    const stored = { ...record, attempts: JSON.stringify((record as unknown as { attempts: unknown[] }).attempts) } as unknown as Parameters<typeof buildTimeline>[0];
    assert.deepEqual(buildTimeline(stored).steps.filter((s) => s.step === 'routing_attempt').map((a) => a.detail.deploymentId), ['dep_a', 'dep_b']);
  });
});

describe('scheduleRetention', () => {
  it('runs the job on its interval, survives a failing run, and stops', async () => {
    let calls = 0;
    const schedule = scheduleRetention(async () => {
      calls++;
      if (calls === 1) throw new Error('ClickHouse down');
    }, 20);
    await eventually(() => assert.ok(schedule.runs() >= 3));
    schedule.stop();
    const after = calls;
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(calls <= after + 1);
  });
});
