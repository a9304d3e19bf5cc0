import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GrpcControlPlane } from '@asc/ingress';
import { RunningPolicyService, startPolicyService } from '@asc/policy';
import { createLogger, freePort } from '@asc/service-kit';
import { hashApiKey } from '@asc/tenancy';
import { missingInfra, testPki, throwawayDatabase, ThrowawayDatabase } from '@asc/testing';

const ADMIN_TOKEN = 'trust-boundary-it-admin';

/**
 * Keys and concurrent writes against the real policy service (Postgres, mTLS gRPC), and
 * ingress's key cache against it: what an attacker guessing keys, and two operators
 * writing at once, would meet.
 */
describe('trust boundary: keys, key cache and concurrent admin writes', async () => {
  const skip = await missingInfra('postgres');
  let db: ThrowawayDatabase;
  let policy: RunningPolicyService;
  let grpcTarget: string;
  let policyRunning = false;

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${policy.httpUrl}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
  };

  before(async () => {
    if (skip) return;
    db = await throwawayDatabase();
    grpcTarget = `127.0.0.1:${await freePort()}`;
    policy = await startPolicyService(
      {
        POLICY_HTTP_HOST: '127.0.0.1',
        POLICY_HTTP_PORT: 0,
        POLICY_GRPC_URL: grpcTarget,
        POLICY_DATABASE_URL: db.url,
        ASC_ADMIN_TOKEN: ADMIN_TOKEN,
        KAFKA_BROKERS: [],
        KAFKA_TOPIC_PREFIX: '',
        ...testPki().config('policy'),
      },
      { collectProcessMetrics: false, logger: createLogger('error') },
    );
    policyRunning = true;
  });

  after(async () => {
    if (policyRunning) await policy.close();
    await db?.drop();
  });

  it('concurrent createTenant of one id: exactly one 201, the rest 409, never a 500', { skip }, async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => admin('POST', '/tenants', { id: 'race-tenant', name: 'Race' })));
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(statuses));
    assert.deepEqual([...new Set(statuses.filter((s) => s !== 201))], [409], results.map((r) => r.text).join('\n'));
  });

  it('concurrent policy writes each get their own version', { skip }, async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => admin('PUT', '/tenants/race-tenant/policy', { allowedModels: [`m-${i}`], allowedRegions: ['*'] })),
    );
    assert.deepEqual(results.map((r) => r.status), Array(12).fill(200), results.map((r) => r.text).join('\n'));
    const versions = results.map((r) => Number(r.body.version)).sort((a, b) => a - b);
    assert.deepEqual(versions, Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('refuses an imported key below 128 bits of entropy with a 400 naming the rule', { skip }, async () => {
    const app = await admin('POST', '/tenants/race-tenant/apps', { name: 'keys' });
    for (const weak of ['abcd1234', 'sk-test-123456789', 'a'.repeat(80)]) {
      const res = await admin('POST', '/tenants/race-tenant/keys', { appId: app.body.id, key: weak });
      assert.equal(res.status, 400, res.text);
      assert.match(res.text, /"param":"key"/);
      assert.match(res.text, /128 bits of entropy/);
      assert.ok(!res.text.includes(weak), 'the rejected key is not echoed');
    }
  });

  it('shows asc_ and at most 8 characters of a key, never the key', { skip }, async () => {
    const app = await admin('POST', '/tenants/race-tenant/apps', { name: 'display' });
    const imported = `imp-${randomBytes(16).toString('hex')}`;
    const created = await admin('POST', '/tenants/race-tenant/keys', { appId: app.body.id, key: imported });
    assert.equal(created.status, 201, created.text);
    const generated = await admin('POST', '/tenants/race-tenant/keys', { appId: app.body.id });
    const listed = await admin('GET', '/tenants/race-tenant/keys');
    const prefixes = (listed.body as unknown as Array<{ displayPrefix: string }>).map((k) => k.displayPrefix);
    for (const p of prefixes) assert.match(p, /^asc_.{1,8}$/);
    assert.ok(!listed.text.includes(imported) && !listed.text.includes(String(generated.body.key)));
  });

  it('a flood of unknown keys cannot evict a valid key from ingress cache', { skip }, async () => {
    const app = await admin('POST', '/tenants/race-tenant/apps', { name: 'cache' });
    const { body } = await admin('POST', '/tenants/race-tenant/keys', { appId: app.body.id });
    const validHash = hashApiKey(String(body.key));
    const controlPlane = new GrpcControlPlane({
      policyTarget: grpcTarget,
      routingTarget: '127.0.0.1:1',
      secretsTarget: '127.0.0.1:1',
      cacheTtlMs: 600_000,
      staleIfErrorMs: 0,
      deadlineMs: 5_000,
      maxEntries: 4,
      security: testPki().security('ingress'),
    });
    try {
      assert.equal((await controlPlane.authenticate(validHash))?.tenantId, 'race-tenant');
      for (let i = 0; i < 50; i++) assert.equal(await controlPlane.authenticate(hashApiKey(`guess-${i}`)), undefined);
      // With policy gone, only the cache can answer: the valid key is still there.
      policyRunning = false;
      await policy.close();
      assert.equal((await controlPlane.authenticate(validHash))?.tenantId, 'race-tenant');
    } finally {
      await controlPlane.close();
    }
  });
});
