import { generateKeyPairSync } from 'node:crypto';
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, MemoryEventBus, type RequestCompletedV1 } from '@asc/events';
import { createLogger, freePort, RunningService } from '@asc/service-kit';
import { eventually, missingInfra, throwawayDatabase, testPki } from '@asc/testing';
import { startAuditService } from './start-audit';

const ADMIN_TOKEN = 'audit-it-admin-token';

function request(overrides: Partial<RequestCompletedV1>): RequestCompletedV1 {
  return {
    requestId: 'req',
    tenantId: 'acme',
    appId: 'app_1',
    keyId: 'key_1',
    api: 'openai.chat.completions',
    stream: false,
    requestedModel: 'm',
    servedModel: 'm',
    provider: 'openai',
    deploymentId: 'dep_1',
    region: 'eu-west-1',
    credentialId: 'cred_1',
    credentialVersion: 1,
    policyId: 'pol_1',
    policyVersion: 3,
    decision: 'allow',
    reasonCode: '',
    status: 'ok',
    httpStatus: 200,
    inputTokens: 1,
    outputTokens: 1,
    cachedInputTokens: 0,
    costUsd: 0,
    latencyMs: 1,
    ttftMs: 0,
    startedAtMs: Date.now(),
    ...overrides,
  };
}

describe('audit service', async () => {
  const skip = await missingInfra('postgres');

  describe('records carry the end user and the guardrail actions', { skip }, () => {
    let db: { url: string; drop(): Promise<void> };
    let bus: MemoryEventBus;
    let service: RunningService;

    before(async () => {
      db = await throwawayDatabase();
      bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
      service = await startAuditService(
        {
          AUDIT_HTTP_HOST: '127.0.0.1',
          AUDIT_HTTP_PORT: 0,
          AUDIT_GRPC_URL: `127.0.0.1:${await freePort()}`,
          AUDIT_DATABASE_URL: db.url,
          AUDIT_CONSUMER_GROUP: 'asc-audit-it',
          KAFKA_BROKERS: [],
          KAFKA_TOPIC_PREFIX: '',
          ASC_ADMIN_TOKEN: ADMIN_TOKEN,
          ...testPki().config('audit'),
          AUDIT_CHECKPOINT_EVERY_RECORDS: 1000,
          AUDIT_CHECKPOINT_INTERVAL_MS: 60_000,
          AUDIT_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        },
        { events: bus, collectProcessMetrics: false, logger: createLogger('warn') },
      );
    });

    after(async () => {
      await service?.close();
      await bus?.close();
      await db?.drop();
    });

    it('stores endUserId and guardrails (detector, action, count) and answers them per request', async () => {
      const guardrails = [
        { detector: 'us_ssn', action: 'redact' as const, count: 1 },
        { detector: 'prompt_injection', action: 'block' as const, count: 1 },
      ];
      bus.publish(createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: 'acme', source: 'asc/test' }, request({ requestId: 'req-att', endUserId: 'patient-portal-user-9', guardrails })));
      // An event from an ingress older than the fields: '' and [].
      bus.publish(createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: 'acme', source: 'asc/test' }, request({ requestId: 'req-old' })));
      const fetchRecords = async (requestId: string) => {
        const res = await fetch(`${service.httpUrl}/admin/v1/tenants/acme/audit?requestId=${requestId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        const body = (await res.json()) as { records: Array<{ endUserId: string; guardrails: unknown[] }> };
        assert.equal(body.records.length, 1);
        return body.records[0]!;
      };
      const record = await eventually(() => fetchRecords('req-att'), 10_000);
      assert.equal(record.endUserId, 'patient-portal-user-9');
      assert.deepEqual(record.guardrails, guardrails);
      const old = await eventually(() => fetchRecords('req-old'), 10_000);
      assert.deepEqual([old.endUserId, old.guardrails], ['', []]);
    });
  });
});
