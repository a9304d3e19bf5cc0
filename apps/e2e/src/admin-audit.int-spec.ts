import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AuditEntry, parseExport, parsePublicKey, verifyTrail } from '@asc/audit-proof';
import { loadAuditConfig, startAuditService } from '@asc/audit';
import { MemoryEventBus } from '@asc/events';
import { loadPolicyConfig, startPolicyService } from '@asc/policy';
import { loadRoutingConfig, startRoutingService } from '@asc/routing';
import { loadSecretsConfig, startSecretsService } from '@asc/secrets';
import { createLogger, freePort } from '@asc/service-kit';
import { eventually, missingInfra, testPki, throwawayDatabase, ThrowawayDatabase } from '@asc/testing';

/**
 * Every mutating admin call of policy, routing and secrets lands in the audit trail as an
 * admin change (actor, action, target, before/after without secrets, request id), in the
 * tenant's chain or the platform chain ('*'), and the exported chains verify.
 */
const ADMIN_TOKEN = 'admin-audit-it-token';

describe('admin changes are audited', async () => {
  const skip = await missingInfra('postgres');
  let db: ThrowawayDatabase;
  const bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
  const closers: Array<() => Promise<void>> = [];
  const urls: Record<'policy' | 'routing' | 'secrets' | 'audit', string> = { policy: '', routing: '', secrets: '', audit: '' };
  const providerSecret = `sk-admin-audit-${randomBytes(12).toString('hex')}`;
  const rotatedSecret = `sk-admin-audit-rotated-${randomBytes(12).toString('hex')}`;
  const importedKey = `asc_imported_${randomBytes(12).toString('hex')}`;

  const call = async (service: keyof typeof urls, method: string, path: string, body?: unknown, requestId?: string) => {
    const res = await fetch(`${urls[service]}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}), ...(requestId ? { 'x-request-id': requestId } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as Record<string, unknown> & { id: string };
  };

  before(async () => {
    if (skip) return;
    db = await throwawayDatabase('asc_admin_audit');
    const logger = createLogger('warn');
    const pki = testPki();
    const common = { ASC_ADMIN_TOKEN: ADMIN_TOKEN, KAFKA_BROKERS: '', ...pki.env('policy'), ...pki.env('routing'), ...pki.env('secrets'), ...pki.env('audit') };
    const port = async () => String(await freePort());
    const options = { collectProcessMetrics: false, logger, events: bus };
    const policy = await startPolicyService(loadPolicyConfig({ ...common, POLICY_HTTP_PORT: await port(), POLICY_GRPC_URL: `127.0.0.1:${await port()}`, POLICY_DATABASE_URL: db.url }), options);
    const routing = await startRoutingService(loadRoutingConfig({ ...common, ROUTING_HTTP_PORT: await port(), ROUTING_GRPC_URL: `127.0.0.1:${await port()}`, ROUTING_DATABASE_URL: db.url }), options);
    const secrets = await startSecretsService(
      loadSecretsConfig({ ...common, SECRETS_HTTP_PORT: await port(), SECRETS_GRPC_URL: `127.0.0.1:${await port()}`, SECRETS_DATABASE_URL: db.url, SECRETS_KEK: randomBytes(32).toString('base64') }),
      options,
    );
    const audit = await startAuditService(
      loadAuditConfig({
        ...common,
        AUDIT_HTTP_PORT: await port(),
        AUDIT_GRPC_URL: `127.0.0.1:${await port()}`,
        AUDIT_DATABASE_URL: db.url,
        AUDIT_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      }),
      { events: bus, collectProcessMetrics: false, logger },
    );
    Object.assign(urls, { policy: policy.httpUrl, routing: routing.httpUrl, secrets: secrets.httpUrl, audit: audit.httpUrl });
    closers.push(() => audit.close(), () => secrets.close(), () => routing.close(), () => policy.close());
  });

  after(async () => {
    for (const close of closers) await close().catch(() => undefined);
    await bus.close();
    await db?.drop();
  });

  it('records tenants, apps, keys, policies, credentials, deployments and weights with before/after and no secret', { skip }, async () => {
    const tenant = 'audited-tenant';
    await call('policy', 'POST', '/tenants', { id: tenant, name: 'Audited' }, 'req-tenant-create');
    const app = await call('policy', 'POST', `/tenants/${tenant}/apps`, { name: 'app' });
    const key = await call('policy', 'POST', `/tenants/${tenant}/keys`, { appId: app.id, key: importedKey });
    await call('policy', 'POST', `/tenants/${tenant}/keys/${key.id}/revoke`);
    await call('policy', 'PUT', `/tenants/${tenant}/policy`, { allowedModels: ['gpt-4o'], allowedRegions: ['*'] });
    await call('policy', 'PUT', `/tenants/${tenant}/policy`, { allowedModels: ['gpt-4o', 'claude'], allowedRegions: ['*'] });
    const platformCred = await call('secrets', 'POST', '/credentials', { name: 'platform', provider: 'openai', secret: providerSecret });
    await call('secrets', 'POST', `/credentials/${platformCred.id}/rotate`, { secret: rotatedSecret });
    const dep = await call('routing', 'POST', '/deployments', {
      tenantId: tenant, model: 'gpt-4o', provider: 'openai', upstreamModel: 'gpt-4o', region: 'eu-west-1', baseUrl: 'https://api.openai.com/v1',
      credentialId: platformCred.id, price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2 }, weight: 1,
    });
    await call('routing', 'PATCH', `/deployments/${dep.id}`, { weight: 5 }, 'req-weight');
    await call('routing', 'DELETE', `/deployments/${dep.id}`);

    const changes = async (chain: string) =>
      ((await call('audit', 'GET', `/tenants/${encodeURIComponent(chain)}/audit/admin-changes?limit=100`)).records as AuditEntry[]).reverse();
    const tenantChanges = await eventually(async () => {
      const list = await changes(tenant);
      assert.equal(list.length, 9, JSON.stringify(list.map((c) => c.fields.action)));
      return list;
    }, 15_000);
    assert.deepEqual(tenantChanges.map((c) => c.fields.action), [
      'tenant.create', 'app.create', 'api_key.create', 'api_key.revoke', 'policy.update', 'policy.update', 'deployment.create', 'deployment.update', 'deployment.disable',
    ]);
    assert.ok(tenantChanges.every((c) => c.fields.actor === 'operator' && c.requestId.length > 0));
    assert.equal(tenantChanges[0].requestId, 'req-tenant-create');
    const weight = tenantChanges[7];
    assert.equal(weight.requestId, 'req-weight');
    assert.equal((weight.fields.before as { weight: number }).weight, 1);
    assert.equal((weight.fields.after as { weight: number }).weight, 5);
    const policyChange = tenantChanges[5];
    assert.deepEqual((policyChange.fields.before as { document: { allowedModels: string[] } }).document.allowedModels, ['gpt-4o']);
    assert.deepEqual((policyChange.fields.after as { document: { allowedModels: string[] } }).document.allowedModels, ['gpt-4o', 'claude']);
    assert.equal((tenantChanges[2].fields.after as { key: string }).key, '[redacted]');

    const platform = await eventually(async () => {
      const list = await changes('*');
      assert.deepEqual(list.map((c) => c.fields.action), ['credential.create', 'credential.rotate']);
      return list;
    }, 15_000);
    assert.equal(platform[1].fields.targetId, platformCred.id);

    const publicKey = parsePublicKey(String((await call('audit', 'GET', '/audit/public-key')).publicKeyPem));
    for (const chain of [tenant, '*']) {
      const res = await fetch(`${urls.audit}/admin/v1/tenants/${encodeURIComponent(chain)}/audit/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const text = await res.text();
      for (const secret of [providerSecret, rotatedSecret, importedKey]) assert.ok(!text.includes(secret), `a secret in the ${chain} trail`);
      const exp = parseExport(text);
      assert.deepEqual(verifyTrail({ tenantId: chain, entries: exp.entries, checkpoints: exp.checkpoints, publicKey }).problems, []);
    }
  });
});
