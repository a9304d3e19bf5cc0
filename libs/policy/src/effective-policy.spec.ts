import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { policyV1 } from '@asc/contracts';
import { allows, decideWith, effectivePolicy, EffectivePolicy } from './effective-policy';
import { diffPolicyDocuments } from './policy-diff';
import { appPolicyDocument, keyPolicyDocument, NarrowingPolicyDocument, tenantPolicyDocument, TenantPolicyDocument } from './policy-document';

const ctx = { policyId: 'pol_1', policyVersion: 7, appId: 'app_1' };
const tenant: TenantPolicyDocument = tenantPolicyDocument.parse({
  allowedModels: ['gpt-4o', 'claude', 'mistral-small'],
  allowedRegions: ['eu-west-1', 'us-east-1'],
  allowedOperations: ['chat.completions', 'embeddings', 'models'],
  maxInputTokens: 8000,
  maxOutputTokens: 0,
  guardrails: { detectors: { email: 'redact', us_ssn: 'block' }, denyTerms: ['project-x'], denyTermsAction: 'redact' },
  limits: { tenant: { rpm: 1000, tpm: 1_000_000 }, endUser: { rpm: 20 } },
  budgets: [{ scope: 'tenant', period: 'month', usd: 500 }],
  cache: { enabled: true, ttlSeconds: 600 },
});

describe('effective policy', () => {
  it('default deny: a model or operation the tenant did not name is refused', () => {
    const p = effectivePolicy(tenant, null, null);
    assert.equal(decideWith(p, 'gpt-4o', 'chat.completions', ctx).decision, policyV1.Decision.DECISION_ALLOW);
    const model = decideWith(p, 'gpt-5', 'chat.completions', ctx);
    assert.equal(model.decision, policyV1.Decision.DECISION_DENY);
    assert.equal(model.reasonCode, 'model_not_allowed');
    assert.equal(model.guardrails, undefined, 'a deny carries no effective policy');
    assert.equal(decideWith(p, 'gpt-4o', 'count_tokens', ctx).reasonCode, 'operation_not_allowed');
    const empty = effectivePolicy(tenantPolicyDocument.parse({ allowedModels: [], allowedRegions: ['*'] }), null, null);
    assert.equal(decideWith(empty, 'gpt-4o', 'chat.completions', ctx).reasonCode, 'model_not_allowed');
  });

  it('a tenant document without operations allows every operation (older documents keep working)', () => {
    const p = effectivePolicy(tenantPolicyDocument.parse({ allowedModels: ['*'], allowedRegions: ['*'] }), null, null);
    assert.equal(decideWith(p, 'any-model', 'count_tokens', ctx).decision, policyV1.Decision.DECISION_ALLOW);
    assert.deepEqual(decideWith(p, 'any-model', 'embeddings', ctx).allowedOperations, ['*']);
  });

  it('an app narrows models, regions, operations, token caps, limits, budgets and the cache', () => {
    const app = appPolicyDocument.parse({
      allowedModels: ['claude', 'not-in-tenant'],
      allowedRegions: ['eu-west-1'],
      allowedOperations: ['chat.completions'],
      maxInputTokens: 4000,
      maxOutputTokens: 500,
      limits: { tenant: { rpm: 5000 }, app: { rpm: 100, tpm: 50_000 }, endUser: { rpm: 10 } },
      budgets: [{ scope: 'app', period: 'day', usd: 20 }],
      cache: { enabled: true, ttlSeconds: 60 },
    });
    const d = decideWith(effectivePolicy(tenant, app, null), 'claude', 'chat.completions', ctx);
    assert.equal(d.decision, policyV1.Decision.DECISION_ALLOW);
    assert.deepEqual(d.allowedRegions, ['eu-west-1']);
    assert.deepEqual(d.allowedOperations, ['chat.completions']);
    assert.equal(d.maxInputTokens, 4000);
    assert.equal(d.maxOutputTokens, 500, 'a cap below "none" applies');
    assert.deepEqual(d.tenantLimit, { rpm: 1000, tpm: 1_000_000 }, 'the app cannot raise the tenant limit');
    assert.deepEqual(d.appLimit, { rpm: 100, tpm: 50_000 });
    assert.deepEqual(d.endUserLimit, { rpm: 10, tpm: 0 });
    assert.deepEqual(d.budgets, [
      { scope: 'tenant', period: 'month', usd: 500 },
      { scope: 'app', period: 'day', usd: 20 },
    ]);
    assert.equal(d.cacheTtlSeconds, 60);
    assert.equal(d.appId, 'app_1');
    assert.equal(d.policyVersion, 7);
    const p = effectivePolicy(tenant, app, null);
    assert.equal(decideWith(p, 'not-in-tenant', 'chat.completions', ctx).reasonCode, 'model_not_allowed', 'an app cannot add a model');
    assert.equal(decideWith(p, 'gpt-4o', 'chat.completions', ctx).reasonCode, 'model_not_allowed');
    assert.equal(decideWith(p, 'claude', 'embeddings', ctx).reasonCode, 'operation_not_allowed');
  });

  it('a key narrows its app, and its scopes narrow both; scope denials say so', () => {
    const app = appPolicyDocument.parse({ allowedModels: ['claude', 'gpt-4o'] });
    const key = keyPolicyDocument.parse({ maxInputTokens: 100, guardrails: { detectors: { email: 'block', phone: 'redact' } } });
    const p = effectivePolicy(tenant, app, key, { models: ['gpt-4o'], operations: ['chat.completions'] });
    const d = decideWith(p, 'gpt-4o', 'chat.completions', ctx);
    assert.equal(d.maxInputTokens, 100);
    const actions = Object.fromEntries(d.guardrails!.detectors.map((r) => [r.detector, r.action]));
    assert.equal(actions.email, policyV1.GuardrailAction.GUARDRAIL_ACTION_BLOCK, 'stricter than the tenant redact');
    assert.equal(actions.us_ssn, policyV1.GuardrailAction.GUARDRAIL_ACTION_BLOCK, 'inherited');
    assert.equal(actions.phone, policyV1.GuardrailAction.GUARDRAIL_ACTION_REDACT, 'switched on below');
    assert.equal(decideWith(p, 'claude', 'chat.completions', ctx).reasonCode, 'model_not_in_key_scope');
    assert.equal(decideWith(p, 'gpt-4o', 'embeddings', ctx).reasonCode, 'operation_not_in_key_scope');
  });

  it('a key can never loosen a guardrail: allow below a block stays block', () => {
    const key = keyPolicyDocument.parse({ guardrails: { detectors: { us_ssn: 'allow', email: 'allow' }, denyTermsAction: 'allow', applyToResponse: false } });
    const g = effectivePolicy(tenant, null, key).guardrails;
    assert.equal(g.detectors.us_ssn, 'block');
    assert.equal(g.detectors.email, 'redact');
    assert.equal(g.denyTermsAction, 'redact');
    assert.deepEqual(g.denyTerms, ['project-x']);
  });

  it('regions with nothing in common deny with no_region', () => {
    const p = effectivePolicy(tenant, appPolicyDocument.parse({ allowedRegions: ['ap-south-1'] }), null);
    assert.equal(decideWith(p, 'claude', 'chat.completions', ctx).reasonCode, 'no_region');
  });

  it('a lower level can turn the cache off but not on', () => {
    const off = tenantPolicyDocument.parse({ allowedModels: ['*'], allowedRegions: ['*'] });
    assert.equal(effectivePolicy(off, appPolicyDocument.parse({ cache: { enabled: true, ttlSeconds: 60 } }), null).cacheEnabled, false);
    assert.equal(effectivePolicy(tenant, null, keyPolicyDocument.parse({ cache: { enabled: false } })).cacheEnabled, false);
  });

  it('documents refuse what a level may not set, naming the field', () => {
    const tooWide = appPolicyDocument.safeParse({ budgets: [{ scope: 'tenant', period: 'day', usd: 1 }] });
    assert.equal(tooWide.success, false);
    assert.deepEqual(tooWide.error?.issues[0]?.path, ['budgets', 0, 'scope']);
    const badRegex = tenantPolicyDocument.safeParse({ allowedModels: ['*'], allowedRegions: ['*'], guardrails: { injectionPatterns: ['(unclosed'] } });
    assert.deepEqual(badRegex.error?.issues[0]?.path, ['guardrails', 'injectionPatterns', 0]);
    const failureMode = keyPolicyDocument.safeParse({ limitsFailureMode: 'closed' });
    assert.equal(failureMode.success, false, 'failure modes are a tenant setting');
    const missingRegions = tenantPolicyDocument.safeParse({ allowedModels: ['*'] });
    assert.deepEqual(missingRegions.error?.issues[0]?.path, ['allowedRegions']);
    const unknownDetector = tenantPolicyDocument.safeParse({ allowedModels: ['*'], allowedRegions: ['*'], guardrails: { detectors: { passport: 'block' } } });
    assert.equal(unknownDetector.success, false);
  });

  it('property: for any app and key documents, the effective policy never allows more than the tenant', () => {
    const models = ['a', 'b', 'c', 'd', '*'];
    const list = fc.option(fc.subarray(models), { nil: undefined });
    const cap = fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined });
    const action = fc.constantFrom('allow' as const, 'redact' as const, 'block' as const);
    const limit = fc.option(fc.record({ rpm: fc.integer({ min: 0, max: 1000 }), tpm: fc.integer({ min: 0, max: 10_000 }) }), { nil: undefined });
    const narrowing = fc.record({
      allowedModels: list,
      allowedRegions: list,
      allowedOperations: list,
      maxInputTokens: cap,
      maxOutputTokens: cap,
      guardrails: fc.option(fc.record({ detectors: fc.option(fc.record({ email: action, us_ssn: action }), { nil: undefined }) }), { nil: undefined }),
      limits: fc.option(fc.record({ tenant: limit, key: limit }), { nil: undefined }),
    });
    const tenantDoc = fc.record({
      allowedModels: fc.subarray(models),
      allowedRegions: fc.subarray(models, { minLength: 1 }),
      allowedOperations: list,
      maxInputTokens: cap,
      maxOutputTokens: cap,
      guardrails: fc.record({ detectors: fc.record({ email: action, us_ssn: action }) }),
      limits: fc.record({ tenant: fc.record({ rpm: fc.integer({ min: 0, max: 1000 }), tpm: fc.integer({ min: 0, max: 10_000 }) }) }),
    });
    const strict = { allow: 0, redact: 1, block: 2 } as const;
    const capOk = (upper: number, lower: number) => upper === 0 || (lower !== 0 && lower <= upper);
    fc.assert(
      fc.property(tenantDoc, narrowing, narrowing, fc.subarray(['a', 'b', 'c']), (t, a, k, keyModels) => {
        const top = effectivePolicy(t as TenantPolicyDocument, null, null);
        const p: EffectivePolicy = effectivePolicy(t as TenantPolicyDocument, a as NarrowingPolicyDocument, k as NarrowingPolicyDocument, {
          models: keyModels,
          operations: [],
        });
        for (const m of [...models, 'zzz']) {
          if (allows(p.allowedModels, m)) assert.ok(allows(top.allowedModels, m), `model ${m} widened`);
          if (allows(p.allowedRegions, m)) assert.ok(allows(top.allowedRegions, m), `region ${m} widened`);
          if (allows(p.allowedOperations, m)) assert.ok(allows(top.allowedOperations, m), `operation ${m} widened`);
          if (keyModels.length && allows(p.allowedModels, m)) assert.ok(keyModels.includes(m), `model ${m} outside the key scope`);
        }
        assert.ok(capOk(top.maxInputTokens, p.maxInputTokens));
        assert.ok(capOk(top.maxOutputTokens, p.maxOutputTokens));
        assert.ok(capOk(top.limits.tenant.rpm, p.limits.tenant.rpm));
        assert.ok(capOk(top.limits.tenant.tpm, p.limits.tenant.tpm));
        for (const d of ['email', 'us_ssn'] as const) {
          assert.ok(strict[p.guardrails.detectors[d]!] >= strict[top.guardrails.detectors[d]!], `${d} loosened`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('policy diff', () => {
  it('names each changed field with its old and new value', () => {
    const changes = diffPolicyDocuments(
      { allowedModels: ['a'], allowedRegions: ['*'], guardrails: { detectors: { email: 'redact' } } },
      { allowedModels: ['a', 'b'], allowedRegions: ['*'], guardrails: { detectors: { email: 'block', phone: 'redact' } }, maxInputTokens: 10 },
    );
    assert.deepEqual(changes, [
      { path: 'allowedModels', from: ['a'], to: ['a', 'b'] },
      { path: 'guardrails.detectors.email', from: 'redact', to: 'block' },
      { path: 'guardrails.detectors.phone', to: 'redact' },
      { path: 'maxInputTokens', to: 10 },
    ]);
    assert.deepEqual(diffPolicyDocuments({ a: 1 }, { a: 1 }), []);
  });
});
