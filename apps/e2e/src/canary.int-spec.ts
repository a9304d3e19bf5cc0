import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { auditV1, meteringV1 } from '@asc/contracts';
import { createGrpcClient, GrpcCallError } from '@asc/service-kit';
import { startSimulator } from '@asc/simulator';
import { eventually, infra, missingInfra, ProductionSuite, startProductionSuite } from '@asc/testing';

/**
 * The trust boundary as an operator would check it, on the six production processes:
 * a canary credential is created, used through ingress, rotated and deleted; then every
 * place a secret could leak to — process logs, every Kafka topic of the run, every
 * ClickHouse table, every Postgres table (audit included, secrets' ciphertext too) and
 * every response body the test saw — is searched for it: 0 hits. And the admin-only
 * reads refuse any other service identity.
 */
describe('trust boundary on the production processes', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  const run = randomBytes(4).toString('hex');
  const canaries = [`sk-canary-${randomBytes(16).toString('hex')}`, `sk-canary-${randomBytes(16).toString('hex')}`];
  const tenant = `canary-${run}`;
  const bodies: string[] = [];
  let suite: ProductionSuite | undefined;
  let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;

  const adminCall = async (service: 'secrets' | 'policy' | 'routing', method: string, path: string, body?: unknown) => {
    const res = await fetch(`${suite!.adminEndpoints[service]}${path}`, {
      method,
      headers: { authorization: `Bearer ${suite!.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, text };
  };

  before(async () => {
    if (skip) return;
    simulator = await startSimulator({ port: 0, acceptedKeys: canaries });
    suite = await startProductionSuite({ logLevel: 'debug', ingressEnv: { INGRESS_UPSTREAM_TIMEOUT_MS: '5000' } });
  });

  after(async () => {
    await suite?.stop();
    await simulator?.close();
  });

  it('a canary credential created, used, rotated and deleted appears nowhere', { skip }, async () => {
    const admin = suite!.admin;
    await admin.createTenant({ id: tenant, name: 'Canary' });
    const app = await admin.createApp(tenant, 'canary-app');
    const apiKey = (await admin.createApiKey(tenant, { appId: app.id })).key;
    await admin.putPolicy(tenant, { allowedModels: ['canary-chat'], allowedRegions: ['*'] });
    const credential = await admin.createCredential({ name: 'canary', provider: 'openai', tenantId: tenant, secret: canaries[0] });
    await admin.createDeployment({
      model: 'canary-chat', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu', baseUrl: `${simulator!.url}/v1`,
      credentialId: credential.id, price: { inputPerMtokUsd: 1, outputPerMtokUsd: 1 },
    });
    const chat = async () => {
      const res = await fetch(`${suite!.ingressBaseUrl}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'canary-chat', messages: [{ role: 'user', content: 'canary check' }] }),
      });
      const text = await res.text();
      bodies.push(text);
      return { status: res.status, text, requestId: res.headers.get('x-request-id') };
    };
    const first = await chat();
    assert.equal(first.status, 200, first.text);
    await admin.rotateCredential(credential.id, canaries[1]);
    // The rotation reaches ingress as a change event; eventually it leases (and uses) version 2.
    await eventually(async () => {
      const r = await chat();
      assert.equal(r.status, 200, r.text);
      const leases = await adminCall('secrets', 'GET', `/admin/v1/leases?credentialId=${credential.id}`);
      const versions = (JSON.parse(leases.text) as Array<{ version: number; caller: string }>).filter((l) => l.caller === 'ingress').map((l) => l.version);
      assert.ok(versions.includes(1) && versions.includes(2), leases.text);
    }, 30_000);
    assert.equal((await adminCall('secrets', 'DELETE', `/admin/v1/credentials/${credential.id}`)).status, 204);
    await eventually(async () => {
      const r = await chat();
      assert.notEqual(r.status, 200, 'a deleted credential is no longer served');
    }, 30_000);
    // Errors with the wrong credential id, a bad rotation and a bad create: bodies are searched too.
    await adminCall('secrets', 'POST', `/admin/v1/credentials/${credential.id}/rotate`, { secret: canaries[0] });
    await adminCall('secrets', 'POST', '/admin/v1/credentials', { name: 'x', provider: 'nope', secret: canaries[1] });
    await adminCall('secrets', 'POST', '/admin/v1/credentials', { name: 'x', provider: 'openai', secret: canaries[1], extra: canaries[0] });
    await eventually(async () => assert.ok((await admin.auditRecords(tenant)).records.length >= 2), 30_000);

    const places: Record<string, string> = {};
    for (const [name, p] of suite!.procs) places[`log:${name}`] = p.output();
    places['responses'] = bodies.join('\n');
    Object.assign(places, await kafkaText(suite!.topicPrefix));
    Object.assign(places, await clickhouseText(suite!.clickhouseDatabase));
    Object.assign(places, await postgresText(suite!.databaseUrl));
    places['audit-api'] = JSON.stringify(await admin.auditRecords(tenant));
    assert.ok(Object.keys(places).some((k) => k.startsWith('kafka:')), 'the run wrote to Kafka');
    assert.ok(Object.keys(places).some((k) => k.startsWith('clickhouse:')), 'the run wrote to ClickHouse');
    assert.ok(places['log:secrets'].length > 0 && places['log:ingress'].length > 0, 'debug logs were captured');
    const hits = Object.entries(places).flatMap(([where, text]) => canaries.filter((c) => text.includes(c)).map(() => where));
    assert.deepEqual(hits, [], `canary found in ${hits.join(', ')}`);
  });

  it('usage and audit reads require the admin identity; leases require ingress', { skip }, async () => {
    const metering = (identity: string) =>
      createGrpcClient(meteringV1.MeteringServiceService, `127.0.0.1:${suite!.grpc.metering}`, { security: suite!.pki.security(identity), service: 'metering' });
    const audit = (identity: string) =>
      createGrpcClient(auditV1.AuditServiceService, `127.0.0.1:${suite!.grpc.audit}`, { security: suite!.pki.security(identity), service: 'audit' });
    const denied = (err: unknown) => err instanceof GrpcCallError && err.grpcCode === status.PERMISSION_DENIED;
    for (const identity of ['ingress', 'policy', 'secrets']) {
      const m = metering(identity);
      const a = audit(identity);
      await assert.rejects(m.client.getUsage({ tenantId: tenant, fromMs: 0, toMs: 0 }), denied);
      await assert.rejects(a.client.listRecords({ tenantId: tenant, requestId: '', limit: 10 }), denied);
      m.close();
      a.close();
    }
    const m = metering('admin');
    const a = audit('admin');
    assert.ok(Array.isArray((await m.client.getUsage({ tenantId: tenant, fromMs: 0, toMs: 0 })).rows));
    assert.ok(await a.client.listRecords({ tenantId: tenant, requestId: '', limit: 10 }));
    m.close();
    a.close();
  });
});

/** Every message of every topic of this run, as text. */
async function kafkaText(prefix: string): Promise<Record<string, string>> {
  const kafka = new Kafka({ clientId: 'canary-search', brokers: infra.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const out: Record<string, string> = {};
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      const expected = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
      if (expected === 0) continue;
      const consumer = kafka.consumer({ groupId: `canary-search-${randomBytes(4).toString('hex')}` });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const texts: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`read ${texts.length}/${expected} of ${topic}`)), 30_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            texts.push(`${message.key?.toString() ?? ''} ${message.value?.toString() ?? ''} ${JSON.stringify(message.headers ?? {})}`);
            if (texts.length >= expected) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
      await consumer.disconnect();
      out[`kafka:${topic}`] = texts.join('\n');
    }
  } finally {
    await admin.disconnect();
  }
  return out;
}

/** Every row of every table of the run's ClickHouse database, as text. */
async function clickhouseText(database: string): Promise<Record<string, string>> {
  const q = async (sql: string) => (await fetch(infra.clickhouseUrl, { method: 'POST', body: sql })).text();
  const tables = (await q(`SELECT name FROM system.tables WHERE database = '${database}' FORMAT TSV`)).split('\n').filter(Boolean);
  const out: Record<string, string> = {};
  for (const t of tables) out[`clickhouse:${t}`] = await q(`SELECT * FROM ${database}.${t} FORMAT TSV`);
  return out;
}

/** Every row of every table of the run's Postgres database (all services' schemas), as text. */
async function postgresText(url: string): Promise<Record<string, string>> {
  const pg = new Client({ connectionString: url });
  await pg.connect();
  const out: Record<string, string> = {};
  try {
    const { rows } = await pg.query<{ s: string; t: string }>(
      `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema') AND table_type = 'BASE TABLE'`,
    );
    for (const { s, t } of rows) {
      const res = await pg.query(`SELECT x::text AS row FROM "${s}"."${t}" x`);
      out[`postgres:${s}.${t}`] = res.rows.map((r: { row: string }) => r.row).join('\n');
    }
  } finally {
    await pg.end();
  }
  return out;
}
