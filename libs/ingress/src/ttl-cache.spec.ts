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

  it('answers from stale config only for transient failures (unreachable), never for a refusal', async () => {
    let now = 0;
    const cache = new TtlCache<string, string>(1_000, 10, 60_000, () => now, (err) => (err as Error).message === 'unavailable');
    await cache.getOrLoad('a', async () => 'good');
    now = 5_000;
    assert.equal(await cache.getOrLoad('a', async () => Promise.reject(new Error('unavailable'))), 'good');
    await assert.rejects(cache.getOrLoad('a', async () => Promise.reject(new Error('invalid argument'))), /invalid argument/);
  });

  it('loads a missing key once for concurrent callers, and refreshes a hot entry ahead of expiry', async () => {
    let now = 0;
    let loads = 0;
    const cache = new TtlCache<string, number>(1_000, 10, 0, () => now);
    const slow = () => new Promise<number>((r) => setTimeout(() => r(++loads), 10));
    const answers = await Promise.all(Array.from({ length: 20 }, () => cache.getOrLoad('k', slow)));
    assert.deepEqual(new Set(answers), new Set([1]));
    assert.equal(loads, 1, 'single flight');
    now = 850; // in the last fifth: served at once, refreshed in the background
    assert.equal(await cache.getOrLoad('k', slow), 1);
    await new Promise((r) => setTimeout(r, 30));
    now = 1_500; // past the first expiry: the refreshed entry is still fresh
    assert.equal(await cache.getOrLoad('k', slow), 2);
    assert.equal(loads, 2);
  });

  it('never stores a load that an invalidation overtook', async () => {
    const cache = new TtlCache<string, string>(60_000, 10, 0);
    let release!: (v: string) => void;
    const first = cache.getOrLoad('key', () => new Promise<string>((r) => (release = r)));
    cache.delete('key'); // e.g. the key was revoked while its lookup was in flight
    release('before-revocation');
    assert.equal(await first, 'before-revocation');
    assert.equal(await cache.getOrLoad('key', async () => 'after-revocation'), 'after-revocation');
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
