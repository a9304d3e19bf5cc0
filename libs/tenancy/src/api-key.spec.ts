import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { generateApiKey, hashApiKey, isWellFormedApiKey } from './api-key';

describe('api keys', () => {
  it('are well formed, unique and hashed to 64 hex chars', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    assert.notEqual(a, b);
    assert.ok(isWellFormedApiKey(a));
    assert.match(hashApiKey(a), /^[0-9a-f]{64}$/);
    assert.notEqual(hashApiKey(a), hashApiKey(b));
  });

  it('rejects malformed keys before any lookup', () => {
    for (const bad of ['', 'sk-123', `asc_${'a'.repeat(42)}!`, ` ${generateApiKey()}`, 'a'.repeat(257), 'key with spaces']) {
      assert.equal(isWellFormedApiKey(bad), false, bad);
    }
  });
});
