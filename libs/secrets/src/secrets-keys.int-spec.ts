import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { Client } from 'pg';
import { secretsV1 } from '@asc/contracts';
import { createGrpcClient, createLogger, freePort, GrpcCallError } from '@asc/service-kit';
import { missingInfra, testPki, throwawayDatabase, ThrowawayDatabase } from '@asc/testing';
import { LeaseListener } from './credentials.service';
import { credentialAad, sealSecret } from './crypto/envelope';
import { LocalKeyEncryptionKey } from './crypto/local-key-encryption-key.adapter';
import { RunningSecretsService, startSecretsService } from './start-secrets';

const ADMIN_TOKEN = 'secrets-keys-it-admin';
const newKek = () => randomBytes(32).toString('base64');
const secretOf = (label: string) => `sk-keys-${label}-${randomBytes(10).toString('hex')}`;

/**
 * Data keys, KEK rotation, BYOK and leases against a real secrets service on Postgres,
 * restarted with different KEK configurations the way an operator rotates.
 */
describe('secrets: tenant data keys, KEK rotation, BYOK and leases', async () => {
  const skip = await missingInfra('postgres');
  let db: ThrowawayDatabase;
  const dbs: ThrowawayDatabase[] = [];
  let tenantKekDir: string;
  let service: RunningSecretsService | undefined;
  let target: string;
  const events: Parameters<LeaseListener>[0][] = [];

  const start = async (kek: { current: string; previous?: string }, rewrapAtStart = true) => {
    await service?.close();
    service = undefined;
    target = `127.0.0.1:${await freePort()}`;
    service = await startSecretsService(
      {
        SECRETS_HTTP_HOST: '127.0.0.1',
        SECRETS_HTTP_PORT: 0,
        SECRETS_GRPC_URL: target,
        SECRETS_DATABASE_URL: db.url,
        ASC_ADMIN_TOKEN: ADMIN_TOKEN,
        KAFKA_BROKERS: [],
        KAFKA_TOPIC_PREFIX: '',
        SECRETS_KEK: kek.current,
        SECRETS_KEK_FILE: undefined,
        SECRETS_KEK_PREVIOUS: kek.previous,
        SECRETS_KEK_PREVIOUS_FILE: undefined,
        SECRETS_TENANT_KEK_DIR: tenantKekDir,
        SECRETS_LEASE_TTL_MS: 60_000,
        ...testPki().config('secrets'),
      },
      { collectProcessMetrics: false, logger: createLogger('error'), leaseListener: (e) => events.push(e), rewrapAtStart },
    );
    return service;
  };
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${service!.httpUrl}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
  };
  const create = async (tenantId: string, label: string) => {
    const secret = secretOf(label);
    const res = await admin('POST', '/credentials', { name: label, provider: 'openai', tenantId, secret });
    assert.equal(res.status, 201, res.text);
    return { id: String(res.body.id), secret };
  };
  const lease = async (tenantId: string, credentialId: string, purpose = 'dep_keys_test') => {
    const client = createGrpcClient(secretsV1.SecretsServiceService, target, { security: testPki().security('ingress'), service: 'secrets' }, { deadlineMs: 10_000 });
    try {
      return await client.client.lease({ tenantId, credentialId, purpose });
    } finally {
      client.close();
    }
  };

  /** Each test its own database: KEKs of one test are unknown to the next. */
  const freshDatabase = async () => {
    await service?.close();
    service = undefined;
    db = await throwawayDatabase();
    dbs.push(db);
  };

  before(async () => {
    if (skip) return;
    tenantKekDir = mkdtempSync(join(tmpdir(), 'asc-tenant-keks-'));
  });

  after(async () => {
    await service?.close();
    for (const d of dbs) await d.drop();
    if (tenantKekDir) rmSync(tenantKekDir, { recursive: true, force: true });
  });

  it('records every lease with the caller identity, and revokes it', { skip }, async () => {
    await freshDatabase();
    await start({ current: newKek() });
    const cred = await create('tenant-a', 'leased');
    const granted = await lease('tenant-a', cred.id, 'dep_123');
    assert.equal(granted.secret, cred.secret);
    const listed = await admin('GET', `/leases?credentialId=${cred.id}`);
    assert.equal(listed.status, 200);
    const [record] = listed.body as unknown as Array<Record<string, unknown>>;
    assert.equal(record.id, granted.leaseId);
    assert.equal(record.caller, 'ingress');
    assert.equal(record.purpose, 'dep_123');
    assert.equal(record.version, 1);
    assert.equal(record.tenantId, 'tenant-a');
    assert.equal(new Date(String(record.expiresAt)).getTime(), granted.expiresAtMs);
    assert.ok(!listed.text.includes(cred.secret));
    assert.ok(events.some((e) => e.kind === 'granted' && e.lease.id === granted.leaseId));
    const revoked = await admin('POST', `/leases/${granted.leaseId}/revoke`);
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
    assert.ok(events.some((e) => e.kind === 'revoked' && e.lease.id === granted.leaseId));
    assert.equal((await admin('POST', '/leases/lease_nope/revoke')).status, 404);
  });

  it('rotates the KEK online: re-wraps every data key, resumable, then the old KEK is no longer needed', { skip }, async () => {
    await freshDatabase();
    const [kekA, kekB] = [newKek(), newKek()];
    await start({ current: kekA });
    const creds = [];
    for (const t of ['rot-1', 'rot-2', 'rot-3', 'rot-4']) creds.push({ tenant: t, ...(await create(t, `rot-${t}`)) });
    // Rotation: B is current, A still held. Interrupt the boot re-wrap's work by checking a partial run.
    const running = await start({ current: kekB, previous: kekA });
    await running.rewrap;
    const status1 = await admin('GET', '/kek');
    assert.equal(status1.body.remaining, 0, status1.text);
    for (const c of creds) assert.equal((await lease(c.tenant, c.id)).secret, c.secret, 'readable during and after the re-wrap');
    // Only the new KEK: everything still opens.
    await start({ current: kekB });
    for (const c of creds) assert.equal((await lease(c.tenant, c.id)).secret, c.secret);
    // Resumable: rotate again to C, one data key per batch, a batch at a time.
    const kekC = newKek();
    await start({ current: kekC, previous: kekB }).then((s) => s.rewrap);
    await start({ current: newKek(), previous: kekC });
    await service!.rewrap?.catch(() => undefined);
    const partial = await service!.tenantKeys.rewrap({ batchSize: 1, maxBatches: 1 });
    assert.equal(partial.remaining, 0);
  });

  it('resumes a re-wrap that was cut short, and moves versions written before data keys', { skip }, async () => {
    await freshDatabase();
    const [kekA, kekB] = [newKek(), newKek()];
    await start({ current: kekA });
    const count = Number(process.env.ASC_REWRAP_MEASURE_COUNT ?? 300);
    const tenants = 20;
    const legacy = await insertLegacyCredentials(db.url, LocalKeyEncryptionKey.fromBase64(kekA), count, tenants);
    // New KEK, old one still held; start without the automatic re-wrap racing the measurement.
    const running = await start({ current: kekB, previous: kekA });
    await running.rewrap;
    assert.equal((await admin('GET', '/kek')).body.remaining, 0);
    const sample = legacy.filter((_, i) => i % Math.ceil(count / 5) === 0);
    for (const c of sample) assert.equal((await lease(c.tenant, c.id)).secret, c.secret);
    // A cut-short run (one batch) leaves the rest for the next: both KEKs keep everything readable meanwhile.
    const kekC = newKek();
    await start({ current: kekC, previous: kekB });
    await service!.rewrap;
    const kekD = newKek();
    const svc = await start({ current: kekD, previous: kekC });
    await svc.rewrap;
    const legacy2 = await insertLegacyCredentials(db.url, LocalKeyEncryptionKey.fromBase64(kekD), count, tenants, 'm2');
    const t0 = process.hrtime.bigint();
    const first = await svc.tenantKeys.rewrap({ batchSize: Math.ceil(count / 4), maxBatches: 1 });
    const t1 = process.hrtime.bigint();
    assert.ok(first.remaining > 0, 'a single batch leaves work');
    for (const c of legacy2.slice(-3)) assert.equal((await lease(c.tenant, c.id)).secret, c.secret, 'not yet moved, still readable');
    const t2 = process.hrtime.bigint();
    const rest = await svc.tenantKeys.rewrap();
    assert.equal(rest.remaining, 0);
    const ms = Number(t1 - t0 + (process.hrtime.bigint() - t2)) / 1e6;
    for (const c of legacy2.slice(0, 3)) assert.equal((await lease(c.tenant, c.id)).secret, c.secret, 'moved, readable');
    console.log(`[measure] move of ${count} credential versions under their tenants' data keys: ${ms.toFixed(0)} ms → ${((ms / count) * 10_000 / 1000).toFixed(1)} s per 10,000`);
    // The KEK rotation proper, worst case: every credential its own tenant, so one data key per credential.
    await insertLegacyCredentials(db.url, LocalKeyEncryptionKey.fromBase64(kekD), count, count, 'm3');
    await svc.tenantKeys.rewrap();
    const rotated = await start({ current: newKek(), previous: kekD }, false);
    const r0 = process.hrtime.bigint();
    const rotation = await rotated.tenantKeys.rewrap();
    const rms = Number(process.hrtime.bigint() - r0) / 1e6;
    assert.equal(rotation.remaining, 0);
    assert.ok(rotation.rewrappedDataKeys >= count);
    console.log(`[measure] KEK rotation re-wrapped ${rotation.rewrappedDataKeys} tenant data keys: ${rms.toFixed(0)} ms → ${((rms / rotation.rewrappedDataKeys) * 10_000 / 1000).toFixed(1)} s per 10,000`);
  });

  it('BYOK: revoking the tenant KEK makes its credentials unreadable, for good, and only its own', { skip }, async () => {
    await freshDatabase();
    const platformKek = newKek();
    await start({ current: platformKek });
    const before = await create('byok-t', 'before-byok');
    const set = await admin('PUT', '/tenants/byok-t/kek', { key: randomBytes(32).toString('base64') });
    assert.equal(set.status, 200, set.text);
    const after = await create('byok-t', 'after-byok');
    const other = await create('other-t', 'other');
    assert.equal((await lease('byok-t', before.id)).secret, before.secret);
    assert.equal((await lease('byok-t', after.id)).secret, after.secret);
    assert.equal((await admin('DELETE', '/tenants/byok-t/kek')).status, 204);
    const unreadable = (err: unknown) => err instanceof GrpcCallError && err.grpcCode === status.NOT_FOUND && !err.message.includes('sk-keys');
    await assert.rejects(lease('byok-t', before.id), unreadable);
    await assert.rejects(lease('byok-t', after.id), unreadable);
    // A restart with the platform KEK and the whole database still cannot read them.
    await start({ current: platformKek });
    await assert.rejects(lease('byok-t', before.id), unreadable);
    await assert.rejects(lease('byok-t', after.id), unreadable);
    assert.equal((await lease('other-t', other.id)).secret, other.secret);
    assert.equal((await admin('PUT', '/tenants/byok-t/kek', { key: 'short' })).status, 400);
  });
});

/** Credentials as a release before per-tenant data keys wrote them: each version's data key wrapped by the KEK itself. */
async function insertLegacyCredentials(url: string, kek: LocalKeyEncryptionKey, count: number, tenants: number, tag = 'm') {
  const pg = new Client({ connectionString: url });
  await pg.connect();
  const out: Array<{ id: string; tenant: string; secret: string }> = [];
  try {
    for (let start = 0; start < count; start += 500) {
      const values: unknown[] = [];
      const versions: unknown[] = [];
      const rows: string[] = [];
      const vrows: string[] = [];
      for (let i = start; i < Math.min(count, start + 500); i++) {
        const id = `cred_${tag}_${i}_${randomBytes(4).toString('hex')}`;
        const tenant = `legacy-${tag}-${i % tenants}`;
        const secret = secretOf(`${tag}${i}`);
        const sealed = await sealSecret(kek, secret, credentialAad(id, 1));
        out.push({ id, tenant, secret });
        const b = values.length;
        values.push(id, tenant, `n-${id}`);
        rows.push(`($${b + 1}, $${b + 2}, $${b + 3}, 'openai', 1)`);
        const v = versions.length;
        versions.push(id, sealed.dek.kekId, sealed.dek.wrappedDek, sealed.dek.iv, sealed.dek.tag, sealed.iv, sealed.tag, sealed.ciphertext);
        vrows.push(`($${v + 1}, 1, $${v + 2}, $${v + 3}, $${v + 4}, $${v + 5}, $${v + 6}, $${v + 7}, $${v + 8}, 'active')`);
      }
      await pg.query(`INSERT INTO secrets.credentials (id, tenant_id, name, provider, current_version) VALUES ${rows.join(',')}`, values);
      await pg.query(
        `INSERT INTO secrets.credential_versions (credential_id, version, kek_id, wrapped_dek, dek_iv, dek_tag, iv, tag, ciphertext, state) VALUES ${vrows.join(',')}`,
        versions,
      );
    }
  } finally {
    await pg.end();
  }
  return out;
}
