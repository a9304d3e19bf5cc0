import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { costUsd } from './usage';

describe('usage and cost', () => {
  it('prices input, cached input and output separately', () => {
    const price = { inputPerMtokUsd: 2.5, outputPerMtokUsd: 10, cachedInputPerMtokUsd: 1.25 };
    // 1M uncached input = 2.5, 1M cached = 1.25, 0.5M output = 5
    assert.equal(costUsd({ inputTokens: 2_000_000, cachedInputTokens: 1_000_000, outputTokens: 500_000 }, price), 8.75);
    assert.equal(costUsd({ inputTokens: 10, cachedInputTokens: 0, outputTokens: 0 }, undefined), 0);
  });
});
