import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { status } from '@grpc/grpc-js';
import { LoggerService } from '@nestjs/common';
import { Client } from 'pg';
import { secretsV1 } from '@asc/contracts';
import { createGrpcClient, freePort, GrpcCallError, GrpcClientHandle } from '@asc/service-kit';
import { missingInfra, testPki, throwawayDatabase } from '@asc/testing';
import { RunningSecretsService, startSecretsService } from './start-secrets';

const ADMIN_TOKEN = 'secrets-it-admin-token';


/** Keeps every line the service logs, at every level, to prove no secret is among them. */
class RecordingLogger implements LoggerService {
  readonly lines: string[] = [];
  private record = (...parts: unknown[]) => void this.lines.push(parts.map((p) => (typeof p === 'string' ? p : inspect(p, { depth: 5 }))).join(' '));
  log = this.record;
  error = this.record;
  warn = this.record;
  debug = this.record;
  verbose = this.record;
  fatal = this.record;
}

const isGrpc = (code: status) => (err: unknown) => err instanceof GrpcCallError && err.grpcCode === code;
/** Distinct, recognisable plaintexts, so any leak is found by a substring search. */
const plaintext = (label: string) => `sk-it-${label}-${randomBytes(12).toString('hex')}`;

describe('secrets service', async () => {
  const skip = await missingInfra('postgres');

  describe('admin API and Lease over gRPC', { skip }, () => {
    let db: { url: string; drop(): Promise<void> };
    let kekDir: string;
    let service: RunningSecretsService;
    let grpc: GrpcClientHandle<typeof secretsV1.SecretsServiceService>;
    const logger = new RecordingLogger();
    const secretsUsed: string[] = [];
    const responses: string[] = [];
    const TTL_MS = 60_000;

    const admin = async (method: string, path: string, body?: unknown, rawBody?: string) => {
      const res = await fetch(`${service.httpUrl}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined && rawBody === undefined ? {} : { 'content-type': 'application/json' }) },
        body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const text = await res.text();
      responses.push(text);
      return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> & { id: string } };
    };
    const createCredential = async (input: { name: string; tenantId?: string; provider?: string }) => {
      const secret = plaintext(input.name);
      secretsUsed.push(secret);
      const res = await admin('POST', '/credentials', { provider: 'openai', ...input, secret });
      assert.equal(res.status, 201, res.text);
      return { id: res.body.id, secret, body: res.body, text: res.text };
    };
    const lease = (tenantId: string, credentialId: string) => grpc.client.lease({ tenantId, credentialId, purpose: 'dep_test' });

    before(async () => {
      db = await throwawayDatabase();
      kekDir = mkdtempSync(join(tmpdir(), 'asc-secrets-it-'));
      const grpcPort = await freePort();
      service = await startSecretsService(
        {
          SECRETS_HTTP_HOST: '127.0.0.1',
          SECRETS_HTTP_PORT: 0,
          SECRETS_GRPC_URL: `127.0.0.1:${grpcPort}`,
          SECRETS_DATABASE_URL: db.url,
          ASC_ADMIN_TOKEN: ADMIN_TOKEN,
          KAFKA_BROKERS: [],
          KAFKA_TOPIC_PREFIX: '',
          SECRETS_KEK_FILE: join(kekDir, 'kek.key'),
          SECRETS_KEK: undefined,
          SECRETS_LEASE_TTL_MS: TTL_MS,
          ...testPki().config('secrets'),
        },
        { collectProcessMetrics: false, logger },
      );
      grpc = createGrpcClient(secretsV1.SecretsServiceService, `127.0.0.1:${grpcPort}`, { security: testPki().security('ingress'), service: 'secrets' });
    });

    after(async () => {
      grpc?.close();
      await service?.close();
      await db?.drop();
      if (kekDir) rmSync(kekDir, { recursive: true, force: true });
    });

    it('creates the key file on first start with mode 0600', () => {
      if (process.platform !== 'win32') assert.equal(statSync(join(kekDir, 'kek.key')).mode & 0o777, 0o600);
    });

    it('creates a credential (201) and answers with metadata only', async () => {
      const created = await createCredential({ name: 'openai-main', tenantId: 'tenant-a' });
      assert.match(created.id, /^cred_[0-9a-f]{20}$/);
      assert.equal(created.body.name, 'openai-main');
      assert.equal(created.body.provider, 'openai');
      assert.equal(created.body.tenantId, 'tenant-a');
      assert.equal(created.body.version, 1);
      assert.equal('secret' in created.body, false);
      assert.ok(!created.text.includes(created.secret));

      const listed = await admin('GET', '/credentials?tenantId=tenant-a');
      assert.equal(listed.status, 200);
      assert.deepEqual((listed.body as unknown as Array<{ id: string }>).map((c) => c.id), [created.id]);
      assert.ok(!listed.text.includes(created.secret));
      assert.equal((await admin('POST', '/credentials', { name: 'openai-main', tenantId: 'tenant-a', provider: 'openai', secret: 'x' })).status, 409);
    });

    it('never echoes a secret in a validation error', async () => {
      const secret = plaintext('rejected');
      secretsUsed.push(secret);
      const bad: Array<[unknown, string | undefined]> = [
        [{ name: 'n', provider: 'not-a-provider', secret }, 'provider'],
        [{ name: 'n', provider: 'openai', secret, extra: secret }, undefined],
        [{ name: 'n', provider: 'openai', secret: `${secret}${'x'.repeat(20_000)}` }, 'secret'],
        [{ name: '', provider: 'openai', secret }, 'name'],
        [{ name: 'n', provider: 'openai', secret: { value: secret } }, 'secret'],
        [{ name: 'n', provider: 'openai', secret: [secret] }, 'secret'],
        [{ name: 'n', provider: 'openai', secret, tenantId: 'Not A Tenant' }, 'tenantId'],
      ];
      for (const [body, param] of bad) {
        const res = await admin('POST', '/credentials', body);
        assert.equal(res.status, 400, res.text);
        assert.equal((res.body.error as { code: string }).code, 'invalid_request');
        if (param) assert.equal((res.body.error as { param?: string }).param, param);
        assert.ok(!res.text.includes(secret), res.text);
      }
      const malformed = await admin('POST', '/credentials', undefined, `{"name":"n","provider":"openai","secret": ${secret}}`);
      assert.equal(malformed.status, 400);
      assert.ok(!malformed.text.includes(secret), malformed.text);
      const rotateBad = await admin('POST', '/credentials/cred_unknown/rotate', { secret, other: secret });
      assert.equal(rotateBad.status, 400);
      assert.ok(!rotateBad.text.includes(secret));
    });

    it('leases the current plaintext to its tenant', async () => {
      const { id, secret } = await createCredential({ name: 'lease-me', tenantId: 'tenant-a' });
      const startedAt = Date.now();
      const res = await lease('tenant-a', id);
      assert.equal(res.credentialId, id);
      assert.equal(res.secret, secret);
      assert.equal(res.version, 1);
      assert.match(res.leaseId, /^lease_/);
      assert.ok(res.expiresAtMs >= startedAt + TTL_MS && res.expiresAtMs <= Date.now() + TTL_MS, `${res.expiresAtMs}`);
      const again = await lease('tenant-a', id);
      assert.equal(again.secret, secret);
      assert.notEqual(again.leaseId, res.leaseId);
    });

    it("answers NOT_FOUND for another tenant's credential, exactly as for a missing one", async () => {
      const { id } = await createCredential({ name: 'private-to-a', tenantId: 'tenant-a' });
      await lease('tenant-a', id); // now also in the service's decrypted cache
      const foreign = await lease('tenant-b', id).catch((err: unknown) => err);
      assert.ok(isGrpc(status.NOT_FOUND)(foreign), String(foreign));
      const missingId = `cred_${randomBytes(10).toString('hex')}`;
      const missing = await lease('tenant-b', missingId).catch((err: unknown) => err);
      assert.ok(isGrpc(status.NOT_FOUND)(missing), String(missing));
      assert.equal((foreign as Error).message.replace(id, '<id>'), (missing as Error).message.replace(missingId, '<id>'));
      await assert.rejects(lease('', id), isGrpc(status.INVALID_ARGUMENT));
    });

    it('leases a platform credential to any tenant', async () => {
      const { id, secret, body } = await createCredential({ name: 'platform-openai' });
      assert.equal(body.tenantId, null);
      assert.equal((await lease('tenant-a', id)).secret, secret);
      assert.equal((await lease('tenant-b', id)).secret, secret);
    });

    it('rotates: new version leased at once, old version retired and kept', async () => {
      const { id, secret: first } = await createCredential({ name: 'rotating', tenantId: 'tenant-a' });
      assert.equal((await lease('tenant-a', id)).secret, first); // cached before the rotation
      const second = plaintext('rotated');
      secretsUsed.push(second);
      const rotated = await admin('POST', `/credentials/${id}/rotate`, { secret: second });
      assert.equal(rotated.status, 200, rotated.text);
      assert.equal(rotated.body.version, 2);
      assert.ok(!rotated.text.includes(second));
      const leased = await lease('tenant-a', id);
      assert.equal(leased.version, 2);
      assert.equal(leased.secret, second);
      assert.equal((await admin('POST', '/credentials/cred_missing/rotate', { secret: 'whatever' })).status, 404);

      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        const versions = await client.query(
          `SELECT version, state, retired_at FROM secrets.credential_versions WHERE credential_id = $1 ORDER BY version`,
          [id],
        );
        assert.deepEqual(versions.rows.map((r: { version: number; state: string }) => [r.version, r.state]), [[1, 'retired'], [2, 'active']]);
        assert.ok(versions.rows[0].retired_at instanceof Date);
      } finally {
        await client.end();
      }
    });

    it('stores no plaintext: not in any row, response other than Lease, or log line', async () => {
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        const dump: Buffer[] = [];
        for (const table of ['secrets.credentials', 'secrets.credential_versions']) {
          const { rows } = await client.query(`SELECT * FROM ${table}`);
          assert.ok(rows.length > 0);
          for (const row of rows as Array<Record<string, unknown>>) {
            for (const value of Object.values(row)) dump.push(Buffer.isBuffer(value) ? value : Buffer.from(String(value)));
          }
        }
        const everything = Buffer.concat(dump);
        assert.ok(secretsUsed.length >= 5);
        // The recorder did see the service's lines, lease records included.
        assert.ok(logger.lines.some((line) => line.includes('lease lease_')), 'no lease was logged');
        for (const secret of secretsUsed) {
          assert.equal(everything.includes(Buffer.from(secret)), false, 'plaintext found in the database');
          assert.ok(!responses.some((text) => text.includes(secret)), 'plaintext found in an admin response');
          assert.ok(!logger.lines.some((line) => line.includes(secret)), 'plaintext found in a log line');
        }
      } finally {
        await client.end();
      }
    });
  });
});
