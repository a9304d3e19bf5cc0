import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { policyV1 } from '@asc/contracts';
import { hashApiKey } from '@asc/tenancy';
import { createGrpcClient, createLogger, freePort, GrpcClientHandle } from '@asc/service-kit';
import { eventually, missingInfra, throwawayDatabase, testPki } from '@asc/testing';
import { openServiceDatabase } from '@asc/db';
import { InitialPolicy1764230400000 } from './migrations/1764230400000-initial-policy';
import { RunningPolicyService, startPolicyService } from './start-policy';

const ADMIN_TOKEN = 'policy-it-admin-token';
const { DECISION_ALLOW, DECISION_DENY } = policyV1.Decision;

type Body = Record<string, unknown> & { id: string; version: number; error?: { code: string; param?: string; message: string } };

describe('policy service', async () => {
  const skip = await missingInfra('postgres');

  describe('versioned policies that narrow per app and key, scoped and expiring keys', { skip }, () => {
    let db: { url: string; drop(): Promise<void> };
    let service: RunningPolicyService;
    let grpc: GrpcClientHandle<typeof policyV1.PolicyServiceService>;

    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${service.httpUrl}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Body };
    };
    const ok = async (method: string, path: string, body?: unknown) => {
      const res = await admin(method, path, body);
      assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    let tenantSeq = 0;
    const setupTenant = async () => {
      const tenant = (await ok('POST', '/tenants', { id: `pol-it-${++tenantSeq}-${Date.now() % 100000}`, name: 'Policy IT' })).id;
      const app = (await ok('POST', `/tenants/${tenant}/apps`, { name: 'support-bot' })).id;
      return { tenant, app };
    };
    const decide = (tenantId: string, appId: string, keyId: string, model: string, operation = 'chat.completions') =>
      grpc.client.decide({ tenantId, appId, keyId, model, operation });

    before(async () => {
      db = await throwawayDatabase();
      const grpcPort = await freePort();
      service = await startPolicyService(
        {
          POLICY_HTTP_HOST: '127.0.0.1',
          POLICY_HTTP_PORT: 0,
          POLICY_GRPC_URL: `127.0.0.1:${grpcPort}`,
          POLICY_DATABASE_URL: db.url,
          ASC_ADMIN_TOKEN: ADMIN_TOKEN,
          KAFKA_BROKERS: [],
          KAFKA_TOPIC_PREFIX: '',
          ...testPki().config('policy'),
        },
        { collectProcessMetrics: false, logger: createLogger('warn') },
      );
      grpc = createGrpcClient(policyV1.PolicyServiceService, `127.0.0.1:${grpcPort}`, { security: testPki().security('ingress'), service: 'policy' });
    });

    after(async () => {
      grpc?.close();
      await service?.close();
      await db?.drop();
    });

    it('default deny: a tenant without a policy, or a model outside it, is refused', async () => {
      const { tenant, app } = await setupTenant();
      const none = await decide(tenant, app, '', 'gpt-4o');
      assert.equal(none.decision, DECISION_DENY);
      assert.equal(none.reasonCode, 'no_policy');
      await ok('PUT', `/tenants/${tenant}/policy`, { allowedModels: ['gpt-4o'], allowedRegions: ['eu-west-1'] });
      assert.equal((await decide(tenant, app, '', 'gpt-4o')).decision, DECISION_ALLOW);
      assert.equal((await decide(tenant, app, '', 'claude')).reasonCode, 'model_not_allowed');
    });

    it('an app and a key narrow the tenant, and a key can never widen its app or tenant', async () => {
      const { tenant, app } = await setupTenant();
      await ok('PUT', `/tenants/${tenant}/policy`, {
        allowedModels: ['gpt-4o', 'claude', 'mistral-small'],
        allowedRegions: ['eu-west-1', 'us-east-1'],
        maxInputTokens: 8000,
        guardrails: { detectors: { email: 'redact' } },
        limits: { tenant: { rpm: 600, tpm: 100000 } },
        budgets: [{ scope: 'tenant', period: 'month', usd: 100 }],
      });
      const key = await ok('POST', `/tenants/${tenant}/keys`, { appId: app });
      await ok('PUT', `/tenants/${tenant}/apps/${app}/policy`, {
        allowedModels: ['claude', 'gpt-4o'],
        allowedRegions: ['eu-west-1'],
        maxOutputTokens: 1000,
        budgets: [{ scope: 'app', period: 'day', usd: 5 }],
      });
      // The key asks for more than its app and tenant: every field is narrowed back.
      await ok('PUT', `/tenants/${tenant}/keys/${key.id}/policy`, {
        allowedModels: ['*', 'mistral-small', 'gpt-5'],
        allowedRegions: ['*'],
        maxInputTokens: 1_000_000,
        maxOutputTokens: 200,
        guardrails: { detectors: { email: 'allow', us_ssn: 'block' } },
        limits: { tenant: { rpm: 100000 }, key: { rpm: 30 } },
        budgets: [{ scope: 'key', period: 'day', usd: 1 }],
      });
      for (const model of ['mistral-small', 'gpt-5']) {
        const d = await decide(tenant, app, key.id, model);
        assert.equal(d.decision, DECISION_DENY, `${model} must stay denied`);
        assert.equal(d.reasonCode, 'model_not_allowed');
      }
      const d = await decide(tenant, app, key.id, 'claude');
      assert.equal(d.decision, DECISION_ALLOW);
      assert.deepEqual(d.allowedRegions, ['eu-west-1']);
      assert.equal(d.maxInputTokens, 8000);
      assert.equal(d.maxOutputTokens, 200);
      assert.equal(d.appId, app);
      assert.deepEqual(d.tenantLimit, { rpm: 600, tpm: 100000 });
      assert.deepEqual(d.keyLimit, { rpm: 30, tpm: 0 });
      assert.deepEqual(
        d.budgets.map((b) => `${b.scope}/${b.period}/${b.usd}`),
        ['tenant/month/100', 'app/day/5', 'key/day/1'],
      );
      const detectors = Object.fromEntries(d.guardrails!.detectors.map((r) => [r.detector, r.action]));
      assert.deepEqual(detectors, { email: policyV1.GuardrailAction.GUARDRAIL_ACTION_REDACT, us_ssn: policyV1.GuardrailAction.GUARDRAIL_ACTION_BLOCK });
      // Another key of the same app is not touched by this key's document.
      const other = await ok('POST', `/tenants/${tenant}/keys`, { appId: app });
      assert.equal((await decide(tenant, app, other.id, 'gpt-4o')).maxOutputTokens, 1000);
      const effective = await ok('GET', `/tenants/${tenant}/apps/${app}/effective-policy?keyId=${key.id}`);
      assert.deepEqual((effective.policy as { allowedModels: string[] }).allowedModels, ['gpt-4o', 'claude'], 'in the tenant order');
      // A policy of another tenant's key cannot be written through this tenant.
      const foreign = await setupTenant();
      assert.equal((await admin('PUT', `/tenants/${foreign.tenant}/keys/${key.id}/policy`, { maxInputTokens: 1 })).status, 404);
    });

    it('key scopes limit models and operations; an expired key is refused with the instant it expired', async () => {
      const { tenant, app } = await setupTenant();
      await ok('PUT', `/tenants/${tenant}/policy`, { allowedModels: ['*'], allowedRegions: ['*'] });
      const expiresAt = new Date(Date.now() + 1500);
      const scoped = await ok('POST', `/tenants/${tenant}/keys`, {
        appId: app,
        models: ['gpt-4o'],
        operations: ['chat.completions'],
        expiresAt: expiresAt.toISOString(),
      });
      const auth = await grpc.client.authenticateKey({ keyHash: hashApiKey(scoped.key as string) });
      assert.equal(auth.found, true);
      assert.deepEqual(auth.principal?.modelScopes, ['gpt-4o']);
      assert.equal(auth.principal?.expiresAtMs, expiresAt.getTime());
      assert.equal((await decide(tenant, app, scoped.id, 'gpt-4o')).decision, DECISION_ALLOW);
      assert.equal((await decide(tenant, app, scoped.id, 'claude')).reasonCode, 'model_not_in_key_scope');
      assert.equal((await decide(tenant, app, scoped.id, 'gpt-4o', 'embeddings')).reasonCode, 'operation_not_in_key_scope');
      // The answer above is cached; the expiry still applies on time.
      await eventually(async () => {
        const later = await grpc.client.authenticateKey({ keyHash: hashApiKey(scoped.key as string) });
        assert.equal(later.found, false);
        assert.equal(later.reason, 'expired');
        assert.equal(later.expiredAtMs, expiresAt.getTime());
      }, 10_000);
    });

    it('keeps every version: concurrent PUTs get distinct versions, a stale expectedVersion gets 409', async () => {
      const { tenant, app } = await setupTenant();
      const puts = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          admin('PUT', i % 2 ? `/tenants/${tenant}/apps/${app}/policy` : `/tenants/${tenant}/policy`, {
            allowedModels: [`m-${i}`],
            ...(i % 2 ? {} : { allowedRegions: ['*'] }),
          }),
        ),
      );
      assert.deepEqual(puts.map((p) => p.status), Array(12).fill(200));
      const versions = puts.map((p) => p.body.version).sort((a, b) => a - b);
      assert.deepEqual(versions, Array.from({ length: 12 }, (_, i) => i + 1), 'distinct, gap-free versions');
      const listed = await ok('GET', `/tenants/${tenant}/policy/versions`);
      assert.equal((listed.versions as unknown[]).length, 12);
      const current = await ok('GET', `/tenants/${tenant}/policy`);
      // Racing writers that both name the version they read: exactly one wins.
      const racing = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          admin('PUT', `/tenants/${tenant}/policy`, { expectedVersion: current.version, allowedModels: [`race-${i}`], allowedRegions: ['*'] }),
        ),
      );
      assert.deepEqual(racing.map((r) => r.status).sort(), [200, 409, 409, 409, 409, 409]);
      const conflict = racing.find((r) => r.status === 409)!;
      assert.equal(conflict.body.error?.code, 'policy_version_conflict');
      assert.equal(conflict.body.error?.param, 'expectedVersion');
    });

    it('diffs two versions and rolls back to one as a new version that decisions use', async () => {
      const { tenant, app } = await setupTenant();
      const v1 = await ok('PUT', `/tenants/${tenant}/policy`, { allowedModels: ['gpt-4o'], allowedRegions: ['*'], guardrails: { detectors: { email: 'redact' } } });
      assert.equal((await decide(tenant, app, '', 'gpt-4o')).policyVersion, v1.version);
      const v2 = await ok('PUT', `/tenants/${tenant}/policy`, { allowedModels: ['claude'], allowedRegions: ['*'], guardrails: { detectors: { email: 'block' } } });
      assert.equal((await decide(tenant, app, '', 'gpt-4o')).reasonCode, 'model_not_allowed', 'the write invalidated the cached decision');
      const diff = await ok('GET', `/tenants/${tenant}/policy/diff?from=${v1.version}&to=${v2.version}`);
      assert.deepEqual(diff.changes, [
        { path: 'allowedModels', from: ['gpt-4o'], to: ['claude'] },
        { path: 'guardrails.detectors.email', from: 'redact', to: 'block' },
      ]);
      const v3 = await ok('POST', `/tenants/${tenant}/policy/versions/${v1.version}/rollback`, {});
      assert.equal(v3.version, v2.version + 1);
      assert.equal(v3.rolledBackTo, v1.version);
      assert.deepEqual(v3.document, v1.document);
      const d = await decide(tenant, app, '', 'gpt-4o');
      assert.equal(d.decision, DECISION_ALLOW);
      assert.equal(d.policyVersion, v3.version);
      const history = (await ok('GET', `/tenants/${tenant}/policy/versions?scope=tenant`)).versions as Body[];
      assert.deepEqual(history.map((v) => v.version), [v3.version, v2.version, v1.version]);
      // History is append-only, even to someone holding the database.
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        await assert.rejects(client.query(`UPDATE policy.policy_versions SET document = '{}' WHERE tenant_id = $1`, [tenant]), /append-only/);
        await assert.rejects(client.query(`DELETE FROM policy.policy_versions WHERE tenant_id = $1`, [tenant]), /append-only/);
      } finally {
        await client.end();
      }
    });

    it('bad input to every policy endpoint is a 400 naming the field', async () => {
      const { tenant, app } = await setupTenant();
      const key = await ok('POST', `/tenants/${tenant}/keys`, { appId: app });
      const cases: Array<[string, string, unknown, string]> = [
        ['PUT', `/tenants/${tenant}/policy`, { allowedModels: ['*'] }, 'allowedRegions'],
        ['PUT', `/tenants/${tenant}/policy`, { allowedModels: ['*'], allowedRegions: ['*'], maxInputTokens: -1 }, 'maxInputTokens'],
        ['PUT', `/tenants/${tenant}/policy`, { allowedModels: ['*'], allowedRegions: ['*'], guardrails: { detectors: { email: 'mask' } } }, 'guardrails.detectors.email'],
        ['PUT', `/tenants/${tenant}/policy`, { allowedModels: ['*'], allowedRegions: ['*'], guardrails: { customPatterns: [{ name: 'x', pattern: '[', action: 'block' }] } }, 'guardrails.customPatterns.0.pattern'],
        ['PUT', `/tenants/${tenant}/policy`, { allowedModels: ['*'], allowedRegions: ['*'], expectedVersion: 'one' }, 'expectedVersion'],
        ['PUT', `/tenants/${tenant}/apps/${app}/policy`, { budgets: [{ scope: 'tenant', period: 'day', usd: 1 }] }, 'budgets.0.scope'],
        ['PUT', `/tenants/${tenant}/apps/${app}/policy`, { limits: { app: { rpm: 1.5 } } }, 'limits.app.rpm'],
        ['PUT', `/tenants/${tenant}/keys/${key.id}/policy`, { allowedOperations: ['Chat Completions'] }, 'allowedOperations.0'],
        ['PUT', `/tenants/${tenant}/keys/${key.id}/policy`, { spoolOverflowMode: 'count' }, ''],
        ['POST', `/tenants/${tenant}/keys`, { appId: app, expiresAt: 'tomorrow' }, 'expiresAt'],
        ['POST', `/tenants/${tenant}/keys`, { appId: app, operations: ['*bad'] }, 'operations.0'],
        ['GET', `/tenants/${tenant}/policy/versions?scope=team`, undefined, 'scope'],
        ['GET', `/tenants/${tenant}/policy/versions/abc`, undefined, 'version'],
        ['GET', `/tenants/${tenant}/policy/diff?from=1`, undefined, 'to'],
        ['POST', `/tenants/${tenant}/policy/versions/0/rollback`, {}, 'version'],
        ['GET', `/tenants/${tenant}/apps/${app}/effective-policy?keyId=`, undefined, 'keyId'],
      ];
      for (const [method, path, body, param] of cases) {
        const res = await admin(method, path, body);
        assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
        if (param) assert.equal(res.body.error?.param, param, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
        else assert.match(res.body.error?.message ?? '', /spoolOverflowMode/);
      }
      assert.equal((await admin('GET', `/tenants/${tenant}/apps/app_missing/policy`)).status, 404);
      assert.equal((await admin('GET', `/tenants/${tenant}/policy/versions/99`)).status, 404);
    });
  });
});

describe('policy service upgrade', async () => {
  const skip = await missingInfra('postgres');

  it('turns each tenant policy of the first schema into version rows of the same number', { skip }, async () => {
    const db = await throwawayDatabase();
    let service: RunningPolicyService | undefined;
    const grpcPort = await freePort();
    try {
      // A database as the first release left it: one mutable policy row per tenant.
      const old = await openServiceDatabase({ url: db.url, schema: 'policy', entities: [], migrations: [InitialPolicy1764230400000] });
      await old.query(`INSERT INTO policy.tenants (id, name) VALUES ('legacy', 'Legacy')`);
      await old.query(`INSERT INTO policy.tenant_policies (tenant_id, policy_id, version, allowed_models, allowed_regions) VALUES ('legacy', 'pol_legacy', 4, '{gpt-4o}', '{eu-west-1}')`);
      await old.destroy();
      service = await startPolicyService(
        {
          POLICY_HTTP_HOST: '127.0.0.1',
          POLICY_HTTP_PORT: 0,
          POLICY_GRPC_URL: `127.0.0.1:${grpcPort}`,
          POLICY_DATABASE_URL: db.url,
          ASC_ADMIN_TOKEN: ADMIN_TOKEN,
          KAFKA_BROKERS: [],
          KAFKA_TOPIC_PREFIX: '',
          ...testPki().config('policy'),
        },
        { collectProcessMetrics: false, logger: createLogger('warn') },
      );
      const decision = await service.policies.decide({ tenantId: 'legacy', appId: '', keyId: '', model: 'gpt-4o', operation: 'chat.completions' });
      assert.equal(decision.decision, DECISION_ALLOW);
      assert.deepEqual([decision.policyId, decision.policyVersion, decision.allowedRegions], ['pol_legacy', 4, ['eu-west-1']]);
      const next = await service.policies.put('legacy', 'tenant', '', { allowedModels: ['gpt-4o', 'claude'], allowedRegions: ['eu-west-1'] });
      assert.deepEqual([next.version, next.policyId], [5, 'pol_legacy'], 'numbering and id continue');
    } finally {
      await service?.close();
      await db.drop();
    }
  });
});
