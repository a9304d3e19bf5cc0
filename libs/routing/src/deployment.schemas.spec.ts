import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { createDeploymentSchema, updateDeploymentSchema } from './deployment.schemas';

const valid = {
  model: 'support-chat',
  provider: 'anthropic',
  upstreamModel: 'claude-sonnet-4-5',
  region: 'eu-central-1',
  baseUrl: 'https://api.anthropic.com',
  price: { inputPerMtokUsd: 3, outputPerMtokUsd: 15 },
};

const paramOf = (input: unknown, schema: { safeParse(v: unknown): { success: boolean; error?: { issues: Array<{ path: Array<string | number> }> } } }) => {
  const result = schema.safeParse(input);
  return result.success ? undefined : result.error?.issues[0]?.path.join('.');
};

describe('deployment schemas', () => {
  it('accept a platform deployment and an openai-compatible one on plain http', () => {
    assert.equal(createDeploymentSchema.safeParse(valid).success, true);
    const local = { ...valid, provider: 'openai-compatible', baseUrl: 'http://vllm.internal:8000/v1', tenantId: 'acme', credentialId: null };
    assert.equal(createDeploymentSchema.safeParse(local).success, true);
  });

  it('name the field that is wrong', () => {
    assert.equal(paramOf({ ...valid, provider: 'bedrock' }, createDeploymentSchema), 'provider');
    assert.equal(paramOf({ ...valid, baseUrl: 'file:///etc/passwd' }, createDeploymentSchema), 'baseUrl');
    assert.equal(paramOf({ ...valid, baseUrl: 'https://key:sk-1@api.example.com' }, createDeploymentSchema), 'baseUrl');
    assert.equal(paramOf({ ...valid, price: { inputPerMtokUsd: 1, outputPerMtokUsd: -0.01 } }, createDeploymentSchema), 'price.outputPerMtokUsd');
    assert.equal(paramOf({ ...valid, region: '*' }, createDeploymentSchema), 'region');
    assert.equal(paramOf({ ...valid, weight: 1.5 }, createDeploymentSchema), 'weight');
    assert.equal(paramOf({ ...valid, model: 'two words' }, createDeploymentSchema), 'model');
  });

  it('take partial updates but not an empty one', () => {
    assert.equal(updateDeploymentSchema.safeParse({ price: { cachedInputPerMtokUsd: 0.3 } }).success, true);
    assert.equal(updateDeploymentSchema.safeParse({}).success, false);
    assert.equal(updateDeploymentSchema.safeParse({ model: 'x' }).success, false);
  });
});
