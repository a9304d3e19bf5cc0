import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, credentials, Metadata, ServiceError, status } from '@grpc/grpc-js';
import { secretsV1 } from '@asc/contracts';
import { createGrpcClient, createLogger, freePort, GrpcCallError, GrpcSecurity, identityOfCertificate } from '@asc/service-kit';
import { eventually, missingInfra, testPki, throwawayDatabase } from '@asc/testing';
import { RunningSecretsService, startSecretsService } from './start-secrets';

const ADMIN_TOKEN = 'secrets-auth-it-admin-token';

/**
 * Who may take a lease: only a caller presenting the ingress certificate from the suite's
 * CA. Real secrets service, real gRPC server and TLS handshakes.
 */
describe('secrets gRPC: mutual TLS and per-RPC authorization', async () => {
  const skip = await missingInfra('postgres');
  let db: { url: string; drop(): Promise<void> };
  let kekDir: string;
  let service: RunningSecretsService;
  let target: string;
  let credentialId: string;

  const leaseAs = async (security: GrpcSecurity) => {
    const client = createGrpcClient(secretsV1.SecretsServiceService, target, { security, service: 'secrets' }, { deadlineMs: 5_000 });
    try {
      return await client.client.lease({ tenantId: 'tenant-a', credentialId, purpose: 'auth_test' });
    } finally {
      client.close();
    }
  };
  const rejectedWith = (...codes: status[]) => (err: unknown) => {
    assert.ok(err instanceof GrpcCallError, String(err));
    assert.ok(codes.includes(err.grpcCode), `got ${status[err.grpcCode]}: ${err.message}`);
    return true;
  };

  before(async () => {
    if (skip) return;
    db = await throwawayDatabase();
    kekDir = mkdtempSync(join(tmpdir(), 'asc-secrets-auth-'));
    const grpcPort = await freePort();
    target = `127.0.0.1:${grpcPort}`;
    service = await startSecretsService(
      {
        SECRETS_HTTP_HOST: '127.0.0.1',
        SECRETS_HTTP_PORT: 0,
        SECRETS_GRPC_URL: target,
        SECRETS_DATABASE_URL: db.url,
        ASC_ADMIN_TOKEN: ADMIN_TOKEN,
        KAFKA_BROKERS: [],
        KAFKA_TOPIC_PREFIX: '',
        SECRETS_KEK_FILE: join(kekDir, 'kek.key'),
        SECRETS_KEK: undefined,
        SECRETS_LEASE_TTL_MS: 60_000,
        ...testPki().config('secrets'),
      },
      { collectProcessMetrics: false, logger: createLogger('error') },
    );
    const res = await fetch(`${service.httpUrl}/admin/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'auth', provider: 'openai', tenantId: 'tenant-a', secret: `sk-auth-${randomBytes(12).toString('hex')}` }),
    });
    assert.equal(res.status, 201);
    credentialId = ((await res.json()) as { id: string }).id;
  });

  after(async () => {
    await service?.close();
    await db?.drop();
    if (kekDir) rmSync(kekDir, { recursive: true, force: true });
  });

  it('leases to ingress (its certificate names spiffe://asc/ingress)', { skip }, async () => {
    const lease = await leaseAs(testPki().security('ingress'));
    assert.match(lease.secret, /^sk-auth-/);
  });

  it('answers PERMISSION_DENIED to a metering certificate', { skip }, async () => {
    await assert.rejects(leaseAs(testPki().security('metering')), rejectedWith(status.PERMISSION_DENIED));
  });

  it('answers PERMISSION_DENIED to the admin identity too: only ingress takes leases', { skip }, async () => {
    await assert.rejects(leaseAs(testPki().security('admin')), rejectedWith(status.PERMISSION_DENIED));
  });

  it('refuses a client without a certificate (the TLS handshake fails)', { skip }, async () => {
    const ca = readFileSync(testPki().files.secrets.caFile);
    const noClientCert = credentials.createSsl(ca, null, null, { checkServerIdentity: (_h, cert) => (identityOfCertificate(cert) === 'secrets' ? undefined : new Error('not secrets')) });
    await assert.rejects(rawLease(target, noClientCert, credentialId), rejectedWith(status.UNAVAILABLE));
  });

  it('refuses a certificate from another CA, even one that claims to be ingress', { skip }, async () => {
    await assert.rejects(leaseAs(testPki('other').security('ingress')), rejectedWith(status.UNAVAILABLE));
  });

  it('refuses plaintext', { skip }, async () => {
    await assert.rejects(leaseAs({ mode: 'insecure', identity: 'ingress' }), rejectedWith(status.UNAVAILABLE));
  });

  it('a client refuses a server that is not the service it meant to call', { skip }, async () => {
    // ingress calling "policy" at the secrets address: the server's SAN is checked, not the host.
    const client = createGrpcClient(secretsV1.SecretsServiceService, target, { security: testPki().security('ingress'), service: 'policy' }, { deadlineMs: 5_000 });
    try {
      await assert.rejects(client.client.lease({ tenantId: 'tenant-a', credentialId, purpose: 'x' }), rejectedWith(status.UNAVAILABLE));
    } finally {
      client.close();
    }
  });
});

describe('secrets gRPC: certificates reloaded from disk', async () => {
  const skip = await missingInfra('postgres');

  it('picks up a new certificate, key and CA without a restart', { skip }, async () => {
    const db = await throwawayDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'asc-reload-'));
    const files = { cert: join(dir, 'secrets.crt'), key: join(dir, 'secrets.key'), ca: join(dir, 'ca.crt') };
    const install = (pki: ReturnType<typeof testPki>) => {
      const f = pki.files.secrets;
      copyFileSync(f.certFile, files.cert);
      copyFileSync(f.keyFile, files.key);
      copyFileSync(f.caFile, files.ca);
    };
    install(testPki());
    const target = `127.0.0.1:${await freePort()}`;
    const service = await startSecretsService(
      {
        SECRETS_HTTP_HOST: '127.0.0.1',
        SECRETS_HTTP_PORT: 0,
        SECRETS_GRPC_URL: target,
        SECRETS_DATABASE_URL: db.url,
        ASC_ADMIN_TOKEN: ADMIN_TOKEN,
        KAFKA_BROKERS: [],
        KAFKA_TOPIC_PREFIX: '',
        SECRETS_KEK_FILE: join(dir, 'kek.key'),
        SECRETS_KEK: undefined,
        SECRETS_LEASE_TTL_MS: 60_000,
        SECRETS_TLS_CERT_FILE: files.cert,
        SECRETS_TLS_KEY_FILE: files.key,
        SECRETS_TLS_CA_FILE: files.ca,
        ASC_GRPC_INSECURE: false,
        ASC_TLS_RELOAD_MS: 200,
      },
      { collectProcessMetrics: false, logger: createLogger('error') },
    );
    // A lease of a missing credential: NOT_FOUND proves the call got through TLS and the guard.
    const attempt = async (security: GrpcSecurity) => {
      const client = createGrpcClient(secretsV1.SecretsServiceService, target, { security, service: 'secrets' }, { deadlineMs: 3_000 });
      try {
        await client.client.lease({ tenantId: 'tenant-a', credentialId: 'cred_missing', purpose: 'reload' });
        return status.OK;
      } catch (err) {
        return err instanceof GrpcCallError ? err.grpcCode : status.UNKNOWN;
      } finally {
        client.close();
      }
    };
    try {
      assert.equal(await attempt(testPki().security('ingress')), status.NOT_FOUND);
      assert.equal(await attempt(testPki('rotated').security('ingress')), status.UNAVAILABLE);
      install(testPki('rotated'));
      await eventually(async () => assert.equal(await attempt(testPki('rotated').security('ingress')), status.NOT_FOUND), 20_000);
      assert.equal(await attempt(testPki().security('ingress')), status.UNAVAILABLE, 'the old CA is no longer trusted');
    } finally {
      await service.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A Lease call on a bare channel, for credentials createGrpcClient would never build. */
function rawLease(target: string, channelCredentials: ReturnType<typeof credentials.createSsl>, credentialId: string): Promise<unknown> {
  const channel = new Client(target, channelCredentials, { 'grpc.ssl_target_name_override': 'secrets.asc.internal' });
  const method = secretsV1.SecretsServiceService.lease;
  return new Promise((resolve, reject) => {
    channel.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { tenantId: 'tenant-a', credentialId, purpose: 'x' },
      new Metadata(),
      { deadline: Date.now() + 5_000 },
      (err: ServiceError | null, value?: unknown) => {
        channel.close();
        if (err) reject(new GrpcCallError(method.path, err.code, err.details));
        else resolve(value);
      },
    );
  });
}
