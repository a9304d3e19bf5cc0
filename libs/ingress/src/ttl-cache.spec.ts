import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SourceAnswered, TtlCache } from './ttl-cache';

describe('TtlCache', () => {
  it('serves fresh values without reloading and reloads after the ttl', async () => {
    let now = 0;
    let loads = 0;
    const cache = new TtlCache<string, number>(100, 10, 0, () => now);
    const load = async () => ++loads;
    assert.equal(await cache.getOrLoad('a', load), 1);
    now = 99;
    assert.equal(await cache.getOrLoad('a', load), 1);
    now = 100;
    assert.equal(await cache.getOrLoad('a', load), 2);
  });

  it('serves the last good value while the source fails, but only within staleIfError', async () => {
    let now = 0;
    const cache = new TtlCache<string, string>(10, 10, 1000, () => now);
    await cache.getOrLoad('k', async () => 'good');
    now = 500;
    assert.equal(await cache.getOrLoad('k', () => Promise.reject(new Error('down'))), 'good');
    now = 1001;
    await assert.rejects(cache.getOrLoad('k', () => Promise.reject(new Error('down'))), /down/);
  });

  it('stays within its bound', async () => {
    const cache = new TtlCache<number, number>(1000, 3);
    for (let i = 0; i < 10; i++) await cache.getOrLoad(i, async () => i);
    assert.equal(cache.size, 3);
  });

  it('drops the entries a predicate selects (config-change invalidation)', async () => {
    const cache = new TtlCache<string, number>(60_000, 10);
    for (const k of ['acme\u0000a', 'acme\u0000b', 'globex\u0000a']) await cache.getOrLoad(k, async () => 1);
    assert.equal(cache.deleteWhere((k) => k.startsWith('acme\u0000')), 2);
    assert.equal(cache.size, 1);
  });

  it('caches nothing when ttl and stale window are zero', async () => {
    let loads = 0;
    const cache = new TtlCache<string, number>(0, 10, 0);
    await cache.getOrLoad('a', async () => ++loads);
    await cache.getOrLoad('a', async () => ++loads);
    assert.equal(loads, 2);
  });
});

describe('TtlCache and definitive answers', () => {
  it('never serves a stale value when the source answered "no such value"', async () => {
    let now = 0;
    const cache = new TtlCache<string, string>(10, 10, 1000, () => now);
    await cache.getOrLoad('k', async () => 'was valid');
    now = 20;
    await assert.rejects(cache.getOrLoad('k', () => Promise.reject(new SourceAnswered('gone'))), SourceAnswered);
    // The old entry is gone: a later outage cannot resurrect it either.
    await assert.rejects(cache.getOrLoad('k', () => Promise.reject(new Error('down'))), /down/);
  });
});
