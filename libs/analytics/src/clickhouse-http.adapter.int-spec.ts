import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { infra, missingInfra } from '@asc/testing';
import { AnalyticsError } from './analytics.error';
import { ChdbStore } from './chdb.adapter';
import { ClickHouseHttpStore } from './clickhouse-http.adapter';
import { analyticsStoreContract, ROUND_TRIP_CASES, roundTrip } from './testing/analytics-store.contract';

// CommonJS has no top-level await: the suite function is async instead.
describe('analytics on the ClickHouse server', async () => {
  const skip = await missingInfra('clickhouse');

  // The same contract as chdb.adapter.spec.ts (engine 26.x), against the real server
  // (ClickHouse 18.16 in CI): one schema, one set of queries, both engines.
  describe('ClickHouseHttpStore (server)', { skip }, () => {
    analyticsStoreContract('clickhouse-server', async () => {
      const store = new ClickHouseHttpStore({ url: infra.clickhouseUrl });
      const database = `asc_test_${randomBytes(4).toString('hex')}`;
      const [{ version }] = await store.query<{ version: string }>('SELECT version() AS version');
      console.log(`# clickhouse server ${version}`);
      return {
        store,
        database,
        dispose: async () => {
          await store.command(`DROP DATABASE IF EXISTS ${database}`);
          await store.close();
        },
      };
    });
  });

  describe('literals on both engines', { skip }, () => {
    it('come back unchanged from the server and from chdb alike', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'asc-chdb-'));
      const engines = [new ClickHouseHttpStore({ url: infra.clickhouseUrl }), new ChdbStore({ path: dir })];
      try {
        const expected = ROUND_TRIP_CASES.map((v) => (Object.is(v, -0) ? 0 : v));
        const [server, chdb] = await Promise.all(engines.map((e) => roundTrip(e, ROUND_TRIP_CASES)));
        assert.deepEqual(server, expected);
        assert.deepEqual(chdb, expected);
      } finally {
        for (const e of engines) await e.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('ClickHouseHttpStore connection handling', { skip }, () => {
    const secret = 'hunter2-do-not-print';

    it('never puts the password in an error', async () => {
      const store = new ClickHouseHttpStore({ url: infra.clickhouseUrl, user: 'asc_no_such_user', password: secret });
      try {
        await assert.rejects(store.query('SELECT 1'), (err: unknown) => {
          assert.ok(err instanceof AnalyticsError);
          assert.ok(!JSON.stringify({ m: err.message, s: err.stack, c: String(err.cause) }).includes(secret));
          return true;
        });
        assert.equal(await store.ping(), false);
      } finally {
        await store.close();
      }
    });

    it('refuses credentials inside the URL without echoing them', () => {
      const url = new URL(infra.clickhouseUrl);
      url.username = 'default';
      url.password = secret;
      assert.throws(
        () => new ClickHouseHttpStore({ url: url.toString() }),
        (err: unknown) => err instanceof AnalyticsError && err.code === 'analytics_config_invalid' && !err.message.includes(secret),
      );
    });

    it('reports an unreachable server as unavailable, and ping=false', async () => {
      const store = new ClickHouseHttpStore({ url: 'http://127.0.0.1:1', password: secret, requestTimeoutMs: 2000 });
      try {
        await assert.rejects(store.query('SELECT 1'), (err: unknown) => {
          assert.ok(err instanceof AnalyticsError);
          assert.equal(err.code, 'analytics_unavailable');
          assert.ok(!err.message.includes(secret));
          return true;
        });
        assert.equal(await store.ping(), false);
      } finally {
        await store.close();
      }
    });

    it('times out a slow statement', async () => {
      const store = new ClickHouseHttpStore({ url: infra.clickhouseUrl, requestTimeoutMs: 200 });
      try {
        await assert.rejects(store.query('SELECT sleep(1)'), (err: unknown) => err instanceof AnalyticsError && err.code === 'analytics_timeout');
      } finally {
        await store.close();
      }
    });

    it('refuses work after close', async () => {
      const store = new ClickHouseHttpStore({ url: infra.clickhouseUrl });
      await store.close();
      await store.close();
      assert.equal(await store.ping(), false);
      await assert.rejects(store.command('SELECT 1'), (err: unknown) => err instanceof AnalyticsError && err.code === 'analytics_unavailable');
    });
  });
});
