import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { PolicyDecision } from './control-plane.port';
import { allowDecision } from './decision.fixture';
import { spendPolicyOfDecision } from './spend-policy.mapper';

const base: PolicyDecision = allowDecision({ tenantLimit: undefined, appLimit: undefined, keyLimit: undefined, endUserLimit: undefined, modelLimit: undefined });

describe('spend policy from a decision', () => {
  it('is undefined for a decision without limits, budgets or cache (no spend control, nothing to count)', () => {
    assert.equal(spendPolicyOfDecision(base), undefined);
    assert.equal(spendPolicyOfDecision(undefined), undefined);
  });

  it('maps the fields issue 8 adds, dropping a budget with an unknown scope or period', () => {
    const decision = {
      ...base,
      keyLimit: { rpm: 60, tpm: 10_000 },
      budgets: [{ scope: 'app', period: 'month', usd: 50 }, { scope: 'team', period: 'day', usd: 1 }, { scope: 'key', period: 'week', usd: 1 }],
      cacheEnabled: true,
      cacheTtlSeconds: 120,
      limitsFailureMode: 'closed',
    };
    const policy = spendPolicyOfDecision(decision);
    assert.deepEqual(policy?.budgets, [{ scope: 'app', period: 'month', usd: 50 }]);
    assert.deepEqual(policy?.keyLimit, { rpm: 60, tpm: 10_000 });
    assert.equal(policy?.cacheEnabled, true);
    assert.equal(policy?.limitsFailureMode, 'closed');
  });

  it('maps a cached decision once: the same decision gives the same, frozen policy; another decision its own', () => {
    const decision = { ...base, keyLimit: { rpm: 60, tpm: 0 }, cacheEnabled: true };
    const policy = spendPolicyOfDecision(decision);
    assert.equal(spendPolicyOfDecision(decision), policy);
    assert.ok(Object.isFrozen(policy));
    const next = spendPolicyOfDecision({ ...decision, keyLimit: { rpm: 30, tpm: 0 } });
    assert.deepEqual(next?.keyLimit, { rpm: 30, tpm: 0 });
    assert.equal(spendPolicyOfDecision(base), undefined);
    assert.equal(spendPolicyOfDecision(base), undefined, 'a decision without spend controls is remembered as such');
  });
});
