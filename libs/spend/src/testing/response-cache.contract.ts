// The behaviour every ResponseCache adapter must show (in process and Redis).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { eventually } from '@asc/testing';
import { responseCacheKey } from '../response-cache-key';
import type { CachedResponse, ResponseCache } from '../response-cache.port';

export interface ResponseCacheUnderTest {
  cache: ResponseCache;
  dispose(): Promise<void>;
}

export const answer = (text: string): CachedResponse => ({
  response: { id: 'chatcmpl-1', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] },
  usage: { inputTokens: 12, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0, costUsd: 0.00042 },
  servedModel: 'gpt-4o-mini-2024-07-18',
  createdAtMs: 1_700_000_000_000,
});

export function responseCacheContract(name: string, make: () => Promise<ResponseCacheUnderTest>): void {
  async function withCache(fn: (cache: ResponseCache) => Promise<void>): Promise<void> {
    const s = await make();
    try {
      await fn(s.cache);
    } finally {
      await s.dispose();
    }
  }
  const request = { model: 'fast', messages: [{ role: 'user', content: 'What is 2+2?' }], temperature: 0 };

  describe(`ResponseCache contract: ${name}`, () => {
    it('returns what was stored, usage included, and misses before', () =>
      withCache(async (cache) => {
        const key = responseCacheKey({ tenantId: 't1', modelAlias: 'fast', request });
        assert.equal(await cache.get(key), undefined);
        await cache.set(key, answer('4'), 60);
        assert.deepEqual(await cache.get(key), answer('4'));
      }));

    it('never serves one tenant the answer cached for another', () =>
      withCache(async (cache) => {
        const a = responseCacheKey({ tenantId: 'tenant-a', modelAlias: 'fast', request });
        const b = responseCacheKey({ tenantId: 'tenant-b', modelAlias: 'fast', request });
        assert.notEqual(a, b);
        await cache.set(a, answer('secret of A'), 60);
        assert.equal(await cache.get(b), undefined);
      }));

    it('serves a streamed and a non-streamed request from one entry, but not a different temperature', () =>
      withCache(async (cache) => {
        const plain = responseCacheKey({ tenantId: 't1', modelAlias: 'fast', request });
        const streamed = responseCacheKey({ tenantId: 't1', modelAlias: 'fast', request: { ...request, stream: true, stream_options: { include_usage: true } } });
        const hotter = responseCacheKey({ tenantId: 't1', modelAlias: 'fast', request: { ...request, temperature: 1 } });
        await cache.set(plain, answer('4'), 60);
        assert.deepEqual(await cache.get(streamed), answer('4'));
        assert.equal(await cache.get(hotter), undefined);
      }));

    it('forgets an entry after its TTL', () =>
      withCache(async (cache) => {
        const key = responseCacheKey({ tenantId: 't1', modelAlias: 'fast', request: { ...request, seed: 7 } });
        await cache.set(key, answer('4'), 1);
        assert.ok(await cache.get(key));
        await eventually(async () => assert.equal(await cache.get(key), undefined), 5000, 100);
      }));
  });
}
