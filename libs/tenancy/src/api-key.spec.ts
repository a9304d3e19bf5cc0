import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { apiKeyDisplayPrefix, estimateKeyEntropyBits, generateApiKey, hashApiKey, isStrongApiKey, isWellFormedApiKey } from './api-key';

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

describe('imported key rules', () => {
  it('accepts generated keys and 128-bit random keys in common encodings', () => {
    assert.ok(isStrongApiKey(generateApiKey()));
    assert.ok(isStrongApiKey(randomBytes(16).toString('hex')), 'hex of 16 random bytes');
    assert.ok(isStrongApiKey(`sk-${randomBytes(18).toString('base64url')}`), 'base64url of 18 random bytes');
  });

  it('rejects short, repetitive and sequential keys', () => {
    for (const weak of ['abcdefgh', 'sk-12345678', 'a'.repeat(64), 'ab'.repeat(40), 'abcdefghijklmnopqrstuvwxyz', '0123456789'.repeat(3), 'asc_wrong_key_123456']) {
      assert.equal(isStrongApiKey(weak), false, `${weak} (${estimateKeyEntropyBits(weak)} bits)`);
    }
  });

  it('shows asc_ and at most 8 characters, never a whole key', () => {
    const generated = generateApiKey();
    assert.equal(apiKeyDisplayPrefix(generated), generated.slice(0, 12));
    assert.equal(apiKeyDisplayPrefix('sk-abcdefgh'), 'asc_sk', 'a quarter of an 11-character key');
    for (const key of ['k', 'abcdefgh', 'asc_abcd', generated]) {
      const shown = apiKeyDisplayPrefix(key);
      assert.ok(shown.startsWith('asc_') && shown.length <= 12, shown);
      assert.ok(!shown.endsWith(key.replace(/^asc_/, '')) || key.replace(/^asc_/, '').length === 0, `${key} shown whole`);
    }
  });
});
