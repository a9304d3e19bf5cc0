import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { InclusionProof, parseExport, parsePublicKey, readTrailFromDatabase, verifyInclusionProof, verifyTrail } from '@asc/audit-proof';
import {
  ALL_TENANTS,
  AnyEventEnvelope,
  createEvent,
  EVENT_ADMIN_CHANGE_RECORDED,
  EVENT_GATEWAY_REQUEST_COMPLETED,
  KafkaEventBus,
  publishAdminChange,
  silentEventBusLogger,
} from '@asc/events';
import { freePort, RunningService } from '@asc/service-kit';
import { eventually, infra, missingInfra, testPki, throwawayDatabase, ThrowawayDatabase } from '@asc/testing';
import { AuditTrailService } from './audit-trail.service';
import { loadAuditConfig } from './audit.config';
import { openServiceDatabase } from '@asc/db';
import { InitialAudit1764230400001 } from './migrations/1764230400001-initial-audit';
import { AUDIT_MIGRATIONS, startAuditService } from './start-audit';
import { AuditSigningKey } from './signing-key';

const ADMIN_TOKEN = 'audit-it-admin-token';
const RUN = `audit-it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const TENANTS = ['tenant_a', 'tenant_b', 'tenant_c'];
const PER_TENANT = 45;

function requestEvent(tenantId: string, n: number) {
  return createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId, source: 'asc/test' }, {
    requestId: `${tenantId}:${n}`, tenantId, appId: 'app_1', keyId: `key_${n % 2}`, api: 'openai.chat.completions', stream: false,
    requestedModel: n % 3 ? 'gpt-4o' : 'claude-3-5', servedModel: n % 3 ? 'gpt-4o-2024-08-06' : 'claude-3-5-sonnet', provider: n % 3 ? 'openai' : 'anthropic',
    deploymentId: `dep_${n % 3}`, region: 'eu-west-1', credentialId: `cred_${n % 3}`, credentialVersion: 1 + (n % 2), policyId: `pol_${tenantId}`,
    policyVersion: 3, decision: 'allow', reasonCode: '', status: 'ok', httpStatus: 200, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0,
    costUsd: 0.001, latencyMs: 100, ttftMs: 0, startedAtMs: Date.now(), routingVersion: 7,
  });
}

describe('audit trail', async () => {
  const skip = await missingInfra('postgres', 'kafka');

  describe('two replicas in one consumer group, with redelivery', { skip, timeout: 240_000 }, () => {
    let db: ThrowawayDatabase;
    const buses: KafkaEventBus[] = [];
    const replicas: RunningService[] = [];
    let publisher: KafkaEventBus;
    const published: AnyEventEnvelope[] = [];
    const signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    const admin = async (replica: RunningService, path: string) => {
      const res = await fetch(`${replica.httpUrl}/admin/v1${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return { status: res.status, text: await res.text() };
    };
    const recordCount = async (): Promise<Map<string, number>> => {
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        const r = await client.query<{ tenant_id: string; n: string }>('SELECT tenant_id, count(*) AS n FROM audit.records GROUP BY tenant_id');
        return new Map(r.rows.map((row) => [row.tenant_id, Number(row.n)]));
      } finally {
        await client.end();
      }
    };
    const bus = () => {
      const b = new KafkaEventBus({
        brokers: infra.kafkaBrokers,
        clientId: 'asc-audit-it',
        topicPrefix: `${RUN}.`,
        logger: silentEventBusLogger,
        topics: { partitions: 3 },
        consumer: { maxWaitTimeMs: 200, retry: { initialMs: 100, maxMs: 500 } },
      });
      buses.push(b);
      return b;
    };
    const startReplica = async () => {
      const events = bus();
      const [grpcPort, httpPort] = [await freePort(), await freePort()];
      const replica = await startAuditService(
        loadAuditConfig({
          ...testPki().env('audit'),
          AUDIT_HTTP_PORT: String(httpPort),
          AUDIT_GRPC_URL: `127.0.0.1:${grpcPort}`,
          AUDIT_DATABASE_URL: db.url,
          AUDIT_CONSUMER_GROUP: `${RUN}.audit`,
          ASC_ADMIN_TOKEN: ADMIN_TOKEN,
          AUDIT_SIGNING_KEY: signingKey,
          AUDIT_CHECKPOINT_EVERY_RECORDS: '7',
          AUDIT_CHECKPOINT_INTERVAL_MS: '300',
        }),
        { events, collectProcessMetrics: false },
      );
      replicas.push(replica);
      return replica;
    };

    before(async () => {
      db = await throwawayDatabase('asc_audit_it');
      publisher = bus();
      await publisher.ensureTopics();
      await startReplica();
      await startReplica();
    });

    after(async () => {
      for (const r of replicas) await r.close().catch(() => undefined);
      for (const b of buses) await b.close().catch(() => undefined);
      const kafkaAdmin = new Kafka({ brokers: infra.kafkaBrokers, clientId: 'asc-audit-it-admin', logLevel: logLevel.NOTHING }).admin();
      await kafkaAdmin.connect();
      const topics = (await kafkaAdmin.listTopics()).filter((t) => t.startsWith(RUN));
      if (topics.length) await kafkaAdmin.deleteTopics({ topics }).catch(() => undefined);
      await kafkaAdmin.disconnect();
      await db?.drop();
    });

    it('appends every event exactly once, in order per tenant, and the exported trails verify', async () => {
      for (let n = 1; n <= PER_TENANT; n++) {
        for (const t of TENANTS) {
          const e = requestEvent(t, n);
          published.push(e);
          publisher.publish(e);
        }
        if (n === 20) {
          // Admin changes join the same chains; a platform-wide one goes to the '*' chain.
          publishAdminChange(publisher, 'asc/test', { tenantId: 'tenant_a', action: 'policy.update', targetType: 'policy', targetId: 'pol_tenant_a', before: { allowedModels: [] }, after: { allowedModels: ['gpt-4o'] } });
          publishAdminChange(publisher, 'asc/test', { tenantId: ALL_TENANTS, action: 'credential.rotate', targetType: 'credential', targetId: 'cred_1', after: { id: 'cred_1', secret: 'sk-should-never-appear' } });
        }
      }
      // Redelivery: the same envelopes (same ids) again, as Kafka does after a rebalance or a failed commit.
      for (const e of published.filter((_, i) => i % 4 === 0)) publisher.publish(e);
      await publisher.flush({ timeoutMs: 30_000 });
      // And two replicas handling the same batch at the same moment (a rebalance mid-batch).
      const trails = replicas.map((r) => r.app.get(AuditTrailService));
      const batch = published.filter((e) => e.tenantId === 'tenant_b').slice(0, 10) as Parameters<AuditTrailService['append']>[0];
      await Promise.all(trails.map((t) => t.append(batch)));

      const counts = await eventually(async () => {
        const c = await recordCount();
        for (const t of TENANTS) assert.equal(c.get(t), PER_TENANT + (t === 'tenant_a' ? 1 : 0), `records of ${t}`);
        assert.equal(c.get(ALL_TENANTS), 1);
        return c;
      }, 90_000, 250);
      assert.equal([...counts.values()].reduce((a, b) => a + b, 0), published.length + 2);

      const key = JSON.parse((await admin(replicas[1], '/audit/public-key')).text) as { publicKeyPem: string; keyId: string };
      const publicKey = parsePublicKey(key.publicKeyPem);
      for (const tenantId of [...TENANTS, ALL_TENANTS]) {
        const res = await admin(replicas[0], `/tenants/${encodeURIComponent(tenantId)}/audit/export`);
        assert.equal(res.status, 200);
        const exp = parseExport(res.text);
        const result = verifyTrail({ tenantId, entries: exp.entries, checkpoints: exp.checkpoints, publicKey });
        assert.deepEqual(result.problems, [], `trail of ${tenantId}`);
        assert.equal(new Set(exp.entries.map((e) => e.eventId)).size, exp.entries.length, 'no duplicates');
        assert.ok(exp.checkpoints.length >= 1);
        const order = exp.entries.filter((e) => e.kind === 'request').map((e) => Number(e.requestId.split(':')[1]));
        assert.deepEqual(order, [...order].sort((a, b) => a - b), `publish order of ${tenantId}`);
      }
      const platform = parseExport((await admin(replicas[0], '/tenants/*/audit/export')).text);
      assert.equal(platform.entries[0].fields.action, 'credential.rotate');
      assert.doesNotMatch(JSON.stringify(platform), /sk-should-never-appear/);
    });

    it('proves one request is in the trail with an inclusion proof checked by the public key only', async () => {
      const key = JSON.parse((await admin(replicas[0], '/audit/public-key')).text) as { publicKeyPem: string };
      const res = await admin(replicas[1], '/tenants/tenant_c/audit/proof?requestId=tenant_c:33');
      assert.equal(res.status, 200, res.text);
      const proof = JSON.parse(res.text) as InclusionProof;
      assert.equal(proof.entry.requestId, 'tenant_c:33');
      assert.deepEqual(verifyInclusionProof(proof, parsePublicKey(key.publicKeyPem)), { ok: true, problems: [] });
      assert.equal((await admin(replicas[1], '/tenants/tenant_c/audit/proof?requestId=nope')).status, 404);
    });

    it('answers the point-in-time question with filters, and names the field of a bad one', async () => {
      const from = new Date(Date.now() - 3_600_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      const res = await admin(replicas[0], `/audit/usage?tenantId=tenant_a&credentialId=cred_1&from=${from}&to=${to}`);
      assert.equal(res.status, 200, res.text);
      const body = JSON.parse(res.text) as { rows: Array<{ tenantId: string; credentialId: string; credentialVersion: number; deploymentId: string; policyVersion: number; routingVersion: number; requests: number }> };
      assert.ok(body.rows.length > 0);
      assert.ok(body.rows.every((r) => r.tenantId === 'tenant_a' && r.credentialId === 'cred_1' && r.deploymentId === 'dep_1' && r.policyVersion === 3 && r.routingVersion === 7));
      // n % 3 === 1 for n in 1..45: 15 requests, split over two credential versions.
      assert.equal(body.rows.reduce((s, r) => s + r.requests, 0), 15);
      const at = JSON.parse((await admin(replicas[0], `/audit/usage?at=${to}&model=claude-3-5&keyId=key_0`)).text) as { rows: Array<{ requestedModel: string }> };
      assert.ok(at.rows.length > 0 && at.rows.every((r) => r.requestedModel === 'claude-3-5'));
      const bad = await admin(replicas[0], '/audit/usage?from=yesterday&to=now');
      assert.equal(bad.status, 400);
      assert.match(bad.text, /"param":"from"/);
    });

    it('an export of a row changed in the database no longer verifies', async () => {
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        // What an attacker with the table owner's rights can do: lift the append-only trigger and edit.
        await client.query('ALTER TABLE audit.records DISABLE TRIGGER records_append_only');
        await client.query(`UPDATE audit.records SET credential_id = 'cred_forged' WHERE tenant_id = 'tenant_b' AND request_id = 'tenant_b:9'`);
        await client.query('ALTER TABLE audit.records ENABLE TRIGGER records_append_only');
      } finally {
        await client.end();
      }
      const key = JSON.parse((await admin(replicas[0], '/audit/public-key')).text) as { publicKeyPem: string };
      // The verifier's database mode (asc-audit-verify verify --database) reads the same rows.
      const reader = new Client({ connectionString: db.url });
      await reader.connect();
      try {
        const pk = parsePublicKey(key.publicKeyPem);
        const intact = await readTrailFromDatabase(reader, 'tenant_a');
        assert.deepEqual(verifyTrail({ tenantId: 'tenant_a', ...intact, publicKey: pk, allowUnsignedTail: true }).problems, []);
        const changed = verifyTrail({ tenantId: 'tenant_b', ...(await readTrailFromDatabase(reader, 'tenant_b')), publicKey: pk, allowUnsignedTail: true });
        assert.ok(changed.problems.some((p) => p.code === 'hash_mismatch' && p.seq === 9));
      } finally {
        await reader.end();
      }
      const exp = parseExport((await admin(replicas[0], '/tenants/tenant_b/audit/export')).text);
      const result = verifyTrail({ tenantId: 'tenant_b', entries: exp.entries, checkpoints: exp.checkpoints, publicKey: parsePublicKey(key.publicKeyPem) });
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.code === 'hash_mismatch' && p.seq === 9));
    });
  });

  describe('checkpoints', { skip, timeout: 120_000 }, () => {
    it('signs over records of its own transaction as computed, and refuses a record changed in the database since it was written', async () => {
      const db = await throwawayDatabase('asc_audit_checkpoints');
      const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const dataSource = await openServiceDatabase({ url: db.url, schema: 'audit', entities: [], migrations: AUDIT_MIGRATIONS });
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        const signingKey = AuditSigningKey.fromPem(pem);
        const trail = new AuditTrailService(dataSource, signingKey, { everyRecords: 10 });
        const batch = (tenant: string, from: number) => Array.from({ length: 6 }, (_, i) => requestEvent(tenant, from + i));
        // Six records each (under the checkpoint size), then one of t_changed's is edited
        // behind the trail's back, then six more each cross the size: checkpoints of 1..10 and 11..12.
        await trail.append([...batch('t_intact', 1), ...batch('t_changed', 1)]);
        await client.query('ALTER TABLE audit.records DISABLE TRIGGER records_append_only');
        await client.query(`UPDATE audit.records SET credential_id = 'cred_forged' WHERE tenant_id = 't_changed' AND chain_seq = 3`);
        await client.query('ALTER TABLE audit.records ENABLE TRIGGER records_append_only');
        await trail.append([...batch('t_intact', 7), ...batch('t_changed', 7)]);

        const checkpoints = await client.query<{ tenant_id: string; from_seq: string; to_seq: string }>('SELECT tenant_id, from_seq, to_seq FROM audit.checkpoints ORDER BY tenant_id');
        assert.deepEqual(checkpoints.rows.map((r) => [r.tenant_id, Number(r.from_seq), Number(r.to_seq)]), [['t_intact', 1, 10], ['t_intact', 11, 12]], 'nothing signed over the changed record');
        const publicKey = parsePublicKey(signingKey.publicKeyPem);
        const intact = verifyTrail({ tenantId: 't_intact', ...(await readTrailFromDatabase(client, 't_intact')), publicKey, allowUnsignedTail: true });
        assert.deepEqual(intact.problems, [], 'records 7..10, signed as computed in their own transaction, verify against the database');
        // The periodic run refuses it too, every time.
        await trail.checkpointDue();
        assert.equal((await client.query(`SELECT count(*)::int AS n FROM audit.checkpoints WHERE tenant_id = 't_changed'`)).rows[0].n, 0);
      } finally {
        await client.end();
        await dataSource.destroy();
        await db.drop();
      }
    });
  });

  describe('stored as sent', { skip, timeout: 120_000 }, () => {
    it('keeps every field byte for byte across insert batches, whatever the characters, and the rows re-hash to their chain', async () => {
      const db = await throwawayDatabase('asc_audit_stored');
      const dataSource = await openServiceDatabase({ url: db.url, schema: 'audit', entities: [], migrations: AUDIT_MIGRATIONS });
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        const signingKey = AuditSigningKey.fromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
        const trail = new AuditTrailService(dataSource, signingKey, { everyRecords: 100_000 });
        // What an array literal must escape, and what a careless encoder turns into NULL or splits.
        const hostile = ['NULL', 'a,b', '{x}', '"quoted"', 'back\\slash', 'new\nline', 'ünï €😀', ' spaced ', '', '\\N'];
        const events: AnyEventEnvelope[] = [];
        // 1,003 records: more than one insert (1,000 rows each), one chain across them.
        for (let n = 1; n <= 1003; n++) {
          const e = requestEvent('t_stored', n) as Extract<AnyEventEnvelope, { type: typeof EVENT_GATEWAY_REQUEST_COMPLETED }>;
          const odd = hostile[n % hostile.length];
          Object.assign(e.data, { keyId: `key ${odd}`, reasonCode: odd, endUserId: odd, guardrails: n % 2 ? [{ detector: `d ${odd}`, action: 'redact', count: n }] : [] });
          if (n % 3 === 0) e.traceparent = `00-${n.toString(16).padStart(32, 'a')}-${'b'.repeat(16)}-01`;
          events.push(e);
        }
        await trail.append(events as Parameters<AuditTrailService['append']>[0]);
        const admin = createEvent(EVENT_ADMIN_CHANGE_RECORDED, { tenantId: 't_stored', source: 'asc/test' }, {
          tenantId: 't_stored', actor: 'ops "root"', action: 'policy.update', targetType: 'policy', targetId: 'pol,1',
          before: { note: hostile.join('|'), list: hostile }, after: { nested: { NULL: null, '{}': ['"', '\\'] } }, requestId: '', occurredAtMs: Date.now(),
        });
        await trail.append([admin] as Parameters<AuditTrailService['append']>[0]);

        const rows = await client.query<{ key_id: string; reason_code: string; end_user_id: string; traceparent: string | null; guardrail_actions: unknown; chain_seq: string; details: unknown; kind: string }>(
          `SELECT key_id, reason_code, end_user_id, traceparent, guardrail_actions, chain_seq, details, kind FROM audit.records WHERE tenant_id = 't_stored' ORDER BY chain_seq`,
        );
        assert.equal(rows.rows.length, 1004);
        assert.deepEqual(rows.rows.map((r) => Number(r.chain_seq)), Array.from({ length: 1004 }, (_, i) => i + 1));
        for (let i = 0; i < 1003; i++) {
          const sent = events[i] as Extract<AnyEventEnvelope, { type: typeof EVENT_GATEWAY_REQUEST_COMPLETED }>;
          const row = rows.rows[i];
          assert.deepEqual([row.key_id, row.reason_code, row.end_user_id, row.traceparent], [sent.data.keyId, sent.data.reasonCode, sent.data.endUserId, sent.traceparent ?? null], `record ${i + 1}`);
          assert.deepEqual(row.guardrail_actions, sent.data.guardrails, `guardrails of record ${i + 1}`);
          assert.equal(row.details, null);
        }
        const last = rows.rows[1003];
        assert.equal(last.kind, 'admin_change');
        const details = last.details as { actor: string; before: unknown; after: unknown };
        assert.deepEqual([details.actor, details.before, details.after], [admin.data.actor, admin.data.before, admin.data.after]);
        const read = await readTrailFromDatabase(client, 't_stored');
        assert.deepEqual(verifyTrail({ tenantId: 't_stored', ...read, publicKey: parsePublicKey(signingKey.publicKeyPem), allowUnsignedTail: true }).problems, []);
      } finally {
        await client.end();
        await dataSource.destroy();
        await db.drop();
      }
    });
  });

  describe('upgrade from the unchained trail', { skip, timeout: 120_000 }, () => {
    it('chains the records written before the migration, in their order, and signs them', async () => {
      const db = await throwawayDatabase('asc_audit_upgrade');
      let service: RunningService | undefined;
      const events = new KafkaEventBus({ brokers: infra.kafkaBrokers, clientId: 'asc-audit-it-upgrade', topicPrefix: `${RUN}-up.`, logger: silentEventBusLogger });
      try {
        const old = await openServiceDatabase({ url: db.url, schema: 'audit', entities: [], migrations: [InitialAudit1764230400001] });
        for (const [i, tenant] of ['t_old', 't_old', 't_other', 't_old'].entries()) {
          await old.query(
            `INSERT INTO audit.records (event_id, event_type, tenant_id, request_id, app_id, key_id, decision, reason_code, requested_model, served_model,
               provider, deployment_id, region, credential_id, credential_version, policy_id, policy_version, status, http_status, occurred_at)
             VALUES ($1, 'asc.gateway.request.completed', $2, $3, 'app', 'key', 'allow', '', 'm', 'm', 'openai', 'dep', 'eu', 'cred', 1, 'pol', 2, 'ok', 200, now())`,
            [`old-${i}`, tenant, `req-old-${i}`],
          );
        }
        await old.destroy();
        await events.ensureTopics();
        const [grpcPort, httpPort] = [await freePort(), await freePort()];
        service = await startAuditService(
          loadAuditConfig({
            ...testPki().env('audit'),
            AUDIT_HTTP_PORT: String(httpPort), AUDIT_GRPC_URL: `127.0.0.1:${grpcPort}`, AUDIT_DATABASE_URL: db.url, AUDIT_CONSUMER_GROUP: `${RUN}-up.audit`,
            ASC_ADMIN_TOKEN: ADMIN_TOKEN, AUDIT_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          }),
          { events, collectProcessMetrics: false },
        );
        const get = async (path: string) => (await fetch(`${service!.httpUrl}/admin/v1${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
        const publicKey = parsePublicKey((JSON.parse(await get('/audit/public-key')) as { publicKeyPem: string }).publicKeyPem);
        const exp = parseExport(await get('/tenants/t_old/audit/export'));
        assert.deepEqual(exp.entries.map((e) => e.requestId), ['req-old-0', 'req-old-1', 'req-old-3']);
        assert.deepEqual(verifyTrail({ tenantId: 't_old', entries: exp.entries, checkpoints: exp.checkpoints, publicKey }).problems, []);
      } finally {
        await service?.close();
        await events.close();
        await db.drop();
      }
    });
  });
});
