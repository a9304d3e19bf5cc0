import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { costUsd, openAIUsage } from './usage';

describe('usage and cost', () => {
  it('reads OpenAI usage including cached tokens and tolerates garbage', () => {
    assert.deepEqual(openAIUsage({ prompt_tokens: 12, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 4 } }), {
      inputTokens: 12,
      outputTokens: 5,
      cachedInputTokens: 4,
    });
    assert.deepEqual(openAIUsage({ prompt_tokens: -1, completion_tokens: 'x' }), { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 });
    assert.equal(openAIUsage(null), undefined);
  });

  it('prices input, cached input and output separately', () => {
    const price = { inputPerMtokUsd: 2.5, outputPerMtokUsd: 10, cachedInputPerMtokUsd: 1.25 };
    // 1M uncached input = 2.5, 1M cached = 1.25, 0.5M output = 5
    assert.equal(costUsd({ inputTokens: 2_000_000, cachedInputTokens: 1_000_000, outputTokens: 500_000 }, price), 8.75);
    assert.equal(costUsd({ inputTokens: 10, cachedInputTokens: 0, outputTokens: 0 }, undefined), 0);
  });
});
