import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AnalyticsError } from './analytics.error';
import { ChdbStore } from './chdb.adapter';
import { insertRequestsIdempotent, requestRow } from './requests.queries';
import { appliedMigrations, migrate } from './schema';
import { analyticsStoreContract, event } from './testing/analytics-store.contract';

// chdb is the real ClickHouse engine in-process, so these are unit tests of our SQL.
// libchdb holds one data directory per process: each test closes its store before the next opens.
describe('ChdbStore (ClickHouse 26.x in-process)', () => {
  analyticsStoreContract('chdb', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asc-chdb-'));
    const store = new ChdbStore({ path: dir });
    return {
      store,
      database: 'asc_test',
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe('ChdbStore lifecycle', () => {
  it('keeps tables and rows across a restart on the same data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asc-chdb-'));
    try {
      let store = new ChdbStore({ path: dir });
      await migrate(store, 'asc');
      await insertRequestsIdempotent(store, 'asc', [event({ event_id: 'persist-1', request_id: 'persist-req' })]);
      await store.close();

      store = new ChdbStore({ path: dir });
      assert.deepEqual(await appliedMigrations(store, 'asc'), [1, 2, 7]);
      assert.deepEqual(await migrate(store, 'asc'), []);
      assert.equal((await requestRow(store, 'asc', 'tenant-a', 'persist-req'))?.event_id, 'persist-1');
      assert.deepEqual(await insertRequestsIdempotent(store, 'asc', [event({ event_id: 'persist-1' })]), { inserted: 0, skipped: 1 });
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses work after close and reports ping=false', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asc-chdb-'));
    const store = new ChdbStore({ path: dir });
    await store.close();
    await store.close(); // idempotent
    assert.equal(await store.ping(), false);
    await assert.rejects(store.query('SELECT 1'), (err: unknown) => err instanceof AnalyticsError && err.code === 'analytics_unavailable');
    rmSync(dir, { recursive: true, force: true });
  });
});
