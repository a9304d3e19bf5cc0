// The behaviour every AnalyticsStore adapter must show, run by chdb.adapter.spec.ts (chdb,
// engine 26.x) and clickhouse-http.adapter.int-spec.ts (the 18.16 server): same schema,
// same SQL, same assertions. Not exported from the library.
import { strict as assert } from 'node:assert';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { AnalyticsError } from '../analytics.error';
import type { AnalyticsStore } from '../analytics-store.port';
import { insertRequestsIdempotent, requestRow, usageBy, usageByModel, type RequestEventRow } from '../requests.queries';
import { addColumn, appliedMigrations, dropPartitionsOlderThan, migrate, migrations, type Migration } from '../schema';
import { applyRetention, queryRollups } from '../rollups.queries';
import { chSql, ident, sqlLiteral, sqlTuple, type SqlValue } from '../sql-literal';

export interface StoreUnderTest {
  store: AnalyticsStore;
  /** A database name no other run uses. */
  database: string;
  /** Drops what the run created and closes the store. */
  dispose(): Promise<void>;
}

/** Hostile and boundary values whose literal must come back unchanged. */
export const ROUND_TRIP_CASES: ReadonlyArray<SqlValue> = [
  '',
  "it's",
  "' OR 1=1 --",
  "\\' OR 1=1 --",
  "x'); DROP TABLE t; --",
  '\\',
  "\\'",
  "''",
  '\\\\\'',
  '/* comment */ -- line',
  'line1\nline2\r\n\ttab',
  'nul\0inside',
  '\x01\x02\x1b[31m\x7f',
  '\b\f\v',
  'é ü ß 中文 日本語 한국어',
  '😀 👩‍👩‍👧 \u{10FFFF}',
  '\u2028\u2029\ufeff',
  '{"json": "value", "n": 1}',
  '%s %d ${x} {param:String}',
  0,
  1,
  -1,
  255,
  256,
  65535,
  -32768,
  2 ** 31,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  0.1,
  0.30000000000000004,
  -2.5,
  1e-7,
  1e21,
  1.7976931348623157e308,
  2.2250738585072014e-308,
  18446744073709551615n,
  -9223372036854775808n,
  true,
  false,
  null,
  [],
  ['a', "b'", 'c\\'],
  [1, -2, 3],
  [[1], [2, 3]],
];

/** SELECTs each literal back (many per query) and returns what the engine answered, decoded. */
export async function roundTrip(store: AnalyticsStore, values: readonly SqlValue[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < values.length; i += 200) {
    const chunk = values.slice(i, i + 200);
    const sql = `SELECT ${chunk.map((v, j) => `${sqlLiteral(v)} AS c${j}`).join(', ')}`;
    const [row] = await store.query<Record<string, unknown>>(sql);
    chunk.forEach((v, j) => out.push(decode(v, row[`c${j}`])));
  }
  return out;
}

/** Undoes the documented number contract: 64-bit integers arrive as strings, booleans as 1/0. */
function decode(sent: SqlValue, got: unknown): unknown {
  if (typeof sent === 'boolean') return got === 1;
  if (typeof sent === 'bigint') return typeof got === 'string' || typeof got === 'number' ? BigInt(got) : got;
  if (typeof sent === 'number' && typeof got === 'string') return Number(got);
  if (Array.isArray(sent) && Array.isArray(got)) return sent.map((s, i) => decode(s, got[i]));
  return got;
}

const normalise = (v: SqlValue): unknown => (typeof v === 'number' && Object.is(v, -0) ? 0 : v);

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 2, 15, 12, 0, 0); // 2024-03-15T12:00Z

export function event(overrides: Partial<RequestEventRow> = {}): RequestEventRow {
  return {
    event_id: 'ev-1',
    request_id: 'req-1',
    tenant_id: 'tenant-a',
    app_id: 'app-1',
    key_id: 'key-1',
    end_user_id: '',
    api: 'chat.completions',
    stream: false,
    requested_model: 'gpt-4o',
    served_model: 'gpt-4o-2024-08-06',
    provider: 'openai',
    deployment_id: 'dep-eu-1',
    region: 'eu-west-1',
    credential_id: 'cred-1',
    credential_version: 3,
    policy_id: 'pol-1',
    policy_version: 7,
    decision: 'allow',
    reason_code: '',
    status: 'ok',
    http_status: 200,
    input_tokens: 100,
    output_tokens: 50,
    cached_input_tokens: 10,
    reasoning_tokens: 0,
    usage_estimated: false,
    cost_usd: 0.0015,
    latency_ms: 850,
    ttft_ms: 120,
    started_at_ms: T0 - 850,
    occurred_at_ms: T0,
    fallback_count: 0,
    attempts: '[]',
    guardrail_actions: '[]',
    ...overrides,
  };
}

function manyEvents(n: number, tenant: string, prefix: string): RequestEventRow[] {
  return Array.from({ length: n }, (_, i) =>
    event({
      event_id: `${prefix}-${i}`,
      request_id: `${prefix}-req-${i}`,
      tenant_id: tenant,
      served_model: i % 3 === 0 ? 'model-a' : 'model-b',
      input_tokens: i % 100,
      output_tokens: 1,
      cost_usd: 0.25,
      occurred_at_ms: T0 + i * 1000,
      started_at_ms: T0 + i * 1000 - 10,
    }),
  );
}

const rejects = (code: string) => (err: unknown) => err instanceof AnalyticsError && err.code === code;

export function analyticsStoreContract(engine: string, open: () => Promise<StoreUnderTest>): void {
  let sut: StoreUnderTest;
  let store: AnalyticsStore;
  let db: string;

  before(async () => {
    sut = await open();
    store = sut.store;
    db = sut.database;
    await migrate(store, db);
  });
  after(async () => sut?.dispose());

  describe(`${engine}: literals`, () => {
    it('round-trips hostile and boundary values exactly', async () => {
      const got = await roundTrip(store, ROUND_TRIP_CASES);
      assert.deepEqual(got, ROUND_TRIP_CASES.map(normalise));
    });

    it('round-trips random strings and doubles', async () => {
      const strings = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 300, seed: 42 });
      const doubles = fc
        .sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { numRuns: 300, seed: 42 })
        .filter((d) => d === 0 || Math.abs(d) >= 2.2250738585072014e-308);
      const ints = fc.sample(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { numRuns: 100, seed: 42 });
      const values: SqlValue[] = [...strings, ...doubles, ...ints];
      assert.deepEqual(await roundTrip(store, values), values.map(normalise));
    });

    it('keeps an injection attempt a value', async () => {
      const evil = "x' OR 1=1 --";
      const rows = await store.query<{ n: string }>(chSql`SELECT count() AS n FROM system.one WHERE ${evil} = 'x'`);
      assert.equal(rows[0].n, '0');
    });
  });

  describe(`${engine}: store`, () => {
    it('answers ping', async () => {
      assert.equal(await store.ping(), true);
    });

    it('inserts JSONEachRow and returns 64-bit integers as strings, narrower ones as numbers', async () => {
      await store.command(`CREATE TABLE IF NOT EXISTS ${ident(db, 'kinds')} (
        u64 UInt64, i64 Int64, u32 UInt32, u8 UInt8, f Float64, s String, arr Array(String), d Date
      ) ENGINE = MergeTree() ORDER BY u64`);
      await store.insert(`${db}.kinds`, [
        { u64: 18446744073709551615n, i64: -9223372036854775808n, u32: 4294967295, u8: true, f: 0.1, s: "a'\\\n\0😀", arr: ['x', "y'"], d: '2024-03-15' },
        { u64: 1, i64: -1, u32: 0, u8: false, f: -2.5, s: 'lone\ud800', arr: [], d: '1971-01-01' },
      ]);
      const rows = await store.query<Record<string, unknown>>(`SELECT * FROM ${ident(db, 'kinds')} ORDER BY u64`);
      assert.deepEqual(rows, [
        { u64: '1', i64: '-1', u32: 0, u8: 0, f: -2.5, s: 'lone\ufffd', arr: [], d: '1971-01-01' },
        { u64: '18446744073709551615', i64: '-9223372036854775808', u32: 4294967295, u8: 1, f: 0.1, s: "a'\\\n\0😀", arr: ['x', "y'"], d: '2024-03-15' },
      ]);
      const [agg] = await store.query<{ n: unknown; s: unknown }>(`SELECT count() AS n, sum(u32) AS s FROM ${ident(db, 'kinds')}`);
      assert.deepEqual(agg, { n: '2', s: '4294967295' });
    });

    it('ignores an empty insert and refuses bad rows and table names before sending', async () => {
      await store.insert(`${db}.kinds`, []);
      await assert.rejects(store.insert(`${db}.kinds; DROP TABLE x`, [{ u64: 1 }]), rejects('analytics_invalid_identifier'));
      await assert.rejects(store.insert(`${db}.kinds`, [{ f: NaN }]), rejects('analytics_invalid_row'));
      await assert.rejects(store.insert(`${db}.kinds`, [{ 'u64) --': 1 }]), rejects('analytics_invalid_row'));
    });

    it('reports engine errors with the ClickHouse code', async () => {
      await assert.rejects(store.query(`SELECT * FROM ${ident(db, 'no_such_table')}`), (err: unknown) => {
        assert.ok(err instanceof AnalyticsError);
        assert.equal(err.code, 'analytics_query_failed');
        assert.equal(err.clickhouseCode, 60);
        return true;
      });
      await assert.rejects(store.command('SELEC 1'), (err: unknown) => err instanceof AnalyticsError && err.clickhouseCode === 62);
      await assert.rejects(store.insert(`${db}.kinds`, [{ nope: 1 }]), (err: unknown) => err instanceof AnalyticsError && err.code === 'analytics_query_failed');
    });

    it('returns [] for an empty result', async () => {
      assert.deepEqual(await store.query('SELECT 1 AS x FROM system.one WHERE 0'), []);
    });
  });

  describe(`${engine}: schema`, () => {
    it('migrates once and records the version', async () => {
      assert.deepEqual(await migrate(store, db), []);
      assert.deepEqual(await appliedMigrations(store, db), migrations.map((m) => m.version));
    });

    it('has the migration 2 columns with their types', async () => {
      const cols = await store.query<{ name: string; type: string }>(
        chSql`SELECT name, type FROM system.columns WHERE database = ${db} AND table = ${'requests'} AND name IN ${sqlTuple(['reasoning_tokens', 'usage_estimated'])} ORDER BY name`,
      );
      assert.deepEqual(cols, [
        { name: 'reasoning_tokens', type: 'UInt32' },
        { name: 'usage_estimated', type: 'UInt8' },
      ]);
    });

    it('has the migration 4 columns (end user, guardrail actions) with their types', async () => {
      const cols = await store.query<{ name: string; type: string }>(
        chSql`SELECT name, type FROM system.columns WHERE database = ${db} AND table = ${'requests'} AND name IN ${sqlTuple(['end_user_id', 'guardrail_actions'])} ORDER BY name`,
      );
      assert.deepEqual(cols, [
        { name: 'end_user_id', type: 'String' },
        { name: 'guardrail_actions', type: 'String' },
      ]);
    });

    it('migrates a fresh database twice, and concurrently, without error', async () => {
      for (const name of [`${db}_twice`, `${db}_race`]) await store.command(`DROP DATABASE IF EXISTS ${ident(name)}`);
      try {
        assert.deepEqual(await migrate(store, `${db}_twice`), migrations.map((m) => m.version));
        assert.deepEqual(await migrate(store, `${db}_twice`), []);
        // Forget the record so migration 2's steps run again over columns that exist.
        await store.command(`DROP TABLE ${ident(`${db}_twice`, 'schema_migrations')}`);
        assert.deepEqual(await migrate(store, `${db}_twice`), migrations.map((m) => m.version));
        // Several processes starting at once: none fails, the schema ends up complete.
        await Promise.all([1, 2, 3].map(() => migrate(store, `${db}_race`)));
        assert.deepEqual(await appliedMigrations(store, `${db}_race`), migrations.map((m) => m.version));
        const [n] = await store.query<{ n: string }>(
          chSql`SELECT count() AS n FROM system.columns WHERE database = ${`${db}_race`} AND table = ${'requests'} AND name IN ${sqlTuple(['reasoning_tokens', 'usage_estimated'])}`,
        );
        assert.equal(n.n, '2');
      } finally {
        for (const name of [`${db}_twice`, `${db}_race`]) await store.command(`DROP DATABASE IF EXISTS ${ident(name)}`);
      }
    });

    it('upgrades a version-1 table holding rows: old rows read 0 for the new columns', async () => {
      const up = `${db}_upgrade`;
      await store.command(`DROP DATABASE IF EXISTS ${ident(up)}`);
      try {
        assert.deepEqual(await migrate(store, up, migrations.slice(0, 1)), [1]);
        const { reasoning_tokens: _r, usage_estimated: _u, end_user_id: _e, guardrail_actions: _g, fallback_count: _f, attempts: _a, ...v1 } = event({ event_id: 'up-1', request_id: 'up-req' });
        await store.insert(`${up}.requests`, [{ ...v1, stream: 0, inserted_at_ms: 1 }]);
        assert.deepEqual(await migrate(store, up), migrations.map((m) => m.version).filter((v) => v > 1));
        const got = await requestRow(store, up, v1.tenant_id, 'up-req');
        assert.deepEqual(
          [got?.event_id, got?.reasoning_tokens, got?.usage_estimated, got?.routing_version, got?.end_user_id, got?.guardrail_actions],
          ['up-1', 0, 0, 0, '', ''],
        );
      } finally {
        await store.command(`DROP DATABASE IF EXISTS ${ident(up)}`);
      }
    });

    it('treats ADD COLUMN losing a race (the column appeared after the check) as done', async () => {
      // The engine's answer is real; only the first existence check is made to miss, as when
      // another process adds the column between this one's check and its ALTER.
      let misses = 1;
      const racing: AnalyticsStore = {
        command: (sql) => store.command(sql),
        insert: (table, rows) => store.insert(table, rows),
        ping: () => store.ping(),
        close: async () => undefined,
        query: async <T,>(sql: string) => (sql.includes('system.columns') && misses-- > 0 ? [] : store.query<T>(sql)),
      };
      const again: Migration = { version: 997, name: 'again', up: () => [addColumn('requests', 'reasoning_tokens', 'UInt32')] };
      assert.deepEqual(await migrate(racing, db, [...migrations, again]), [997]);
      assert.equal(misses, -1, 'the step checked, lost the race, and checked again');
    });

    it('refuses a column that exists with another type', async () => {
      const clash: Migration = { version: 998, name: 'clash', up: () => [addColumn('requests', 'reasoning_tokens', 'UInt64')] };
      await assert.rejects(migrate(store, db, [...migrations, clash]), rejects('analytics_query_failed'));
      assert.ok(!(await appliedMigrations(store, db)).includes(998));
    });

    it('applies only new migrations', async () => {
      const extra: Migration = {
        version: 999,
        name: 'probe',
        up: (d) => [`CREATE TABLE IF NOT EXISTS ${ident(d, 'probe')} (x UInt8) ENGINE = MergeTree() ORDER BY x`],
      };
      assert.deepEqual(await migrate(store, db, [...migrations, extra]), [999]);
      assert.deepEqual(await migrate(store, db, [...migrations, extra]), []);
      assert.deepEqual(await store.query(`SELECT count() AS n FROM ${ident(db, 'probe')}`), [{ n: '0' }]);
    });

    it('derives day in UTC from occurred_at_ms', async () => {
      await insertRequestsIdempotent(store, db, [
        event({ event_id: 'day-1', request_id: 'day-req-1', tenant_id: 'tenant-day', occurred_at_ms: Date.UTC(2024, 0, 31, 23, 59, 59, 999) }),
        event({ event_id: 'day-2', request_id: 'day-req-2', tenant_id: 'tenant-day', occurred_at_ms: Date.UTC(2024, 1, 1) }),
      ]);
      const rows = await store.query<{ event_id: string; day: string }>(
        chSql`SELECT event_id, day FROM ${ident(db, 'requests')} WHERE tenant_id = ${'tenant-day'} ORDER BY event_id`,
      );
      assert.deepEqual(rows, [
        { event_id: 'day-1', day: '2024-01-31' },
        { event_id: 'day-2', day: '2024-02-01' },
      ]);
    });
  });

  describe(`${engine}: requests`, () => {
    it('stores a request event and reads it back for its tenant only', async () => {
      const row = event({ event_id: 'rr-1', request_id: 'rr-req', tenant_id: 'tenant-rr', stream: true, reason_code: "q'uote", routing_version: 42 });
      assert.deepEqual(await insertRequestsIdempotent(store, db, [row]), { inserted: 1, skipped: 0 });
      const got = await requestRow(store, db, 'tenant-rr', 'rr-req');
      assert.ok(got);
      const { inserted_at_ms, day, ...rest } = got;
      // Columns the row does not set (added by later migrations) read their type's zero.
      const others = Object.entries(rest).filter(([k]) => !(k in row));
      assert.ok(others.every(([, v]) => v === 0 || v === '' || v === '0'), JSON.stringify(others));
      assert.deepEqual(Object.fromEntries(Object.entries(rest).filter(([k]) => k in row)), { ...row, stream: 1, usage_estimated: 0 });
      assert.equal(day, '2024-03-15');
      assert.ok(Math.abs(inserted_at_ms - Date.now()) < 60_000);
      assert.equal(await requestRow(store, db, 'tenant-other', 'rr-req'), undefined);
      assert.equal(await requestRow(store, db, "tenant-rr' OR 1=1 --", 'rr-req'), undefined);
    });

    it('stores reasoning_tokens and usage_estimated (migration 2) and reads them back', async () => {
      const rows = [
        event({ event_id: 'rt-1', request_id: 'rt-req-1', tenant_id: 'tenant-rt', output_tokens: 900, reasoning_tokens: 640, usage_estimated: true }),
        event({ event_id: 'rt-2', request_id: 'rt-req-2', tenant_id: 'tenant-rt', output_tokens: 2 ** 32 - 1, reasoning_tokens: 2 ** 32 - 1, usage_estimated: 1 }),
        event({ event_id: 'rt-3', request_id: 'rt-req-3', tenant_id: 'tenant-rt', reasoning_tokens: 0, usage_estimated: 0 }),
      ];
      assert.deepEqual(await insertRequestsIdempotent(store, db, rows), { inserted: 3, skipped: 0 });
      const got = await Promise.all(rows.map((r) => requestRow(store, db, 'tenant-rt', r.request_id)));
      assert.deepEqual(
        got.map((r) => [r?.reasoning_tokens, r?.usage_estimated]),
        [[640, 1], [2 ** 32 - 1, 1], [0, 0]],
      );
      const [agg] = await store.query<{ reas: string; est: string }>(
        chSql`SELECT sum(reasoning_tokens) AS reas, sum(usage_estimated) AS est FROM ${ident(db, 'requests')} FINAL WHERE tenant_id = ${'tenant-rt'}`,
      );
      assert.deepEqual(agg, { reas: String(640 + 2 ** 32 - 1), est: '2' });
    });

    it('stores the spend columns (migration 5) and budget events, old writers reading 0', async () => {
      const rows = [
        event({ event_id: 'sp-1', request_id: 'sp-req-1', tenant_id: 'tenant-sp', cost_usd: 0, cache_hit: true, cost_saved_usd: 0.0125 }),
        event({ event_id: 'sp-2', request_id: 'sp-req-2', tenant_id: 'tenant-sp', cost_usd: 0.02, budget_reserved_usd: 0.05 }),
      ];
      assert.deepEqual(await insertRequestsIdempotent(store, db, rows), { inserted: 2, skipped: 0 });
      const got = await Promise.all(rows.map((r) => requestRow(store, db, 'tenant-sp', r.request_id)));
      assert.deepEqual(
        got.map((r) => [r?.cache_hit, r?.cost_saved_usd, r?.budget_reserved_usd]),
        [[1, 0.0125, 0], [0, 0, 0.05]],
      );
      await store.insert(`${db}.budget_events`, [
        { event_id: 'be-1', tenant_id: 'tenant-sp', scope: 'key', scope_id: 'k1', period: 'month', period_key: '2026-11', threshold: 0.8, limit_usd: 100, spent_usd: 80.25, occurred_at_ms: Date.parse('2026-11-30T12:00:00Z'), inserted_at_ms: 1 },
      ]);
      const events = await store.query<Record<string, unknown>>(
        chSql`SELECT scope_id, threshold, spent_usd, toString(day) AS day FROM ${ident(db, 'budget_events')} FINAL WHERE tenant_id = ${'tenant-sp'}`,
      );
      assert.deepEqual(events, [{ scope_id: 'k1', threshold: 0.8, spent_usd: 80.25, day: '2026-11-30' }]);
    });

    it('reads 0 for reasoning_tokens/usage_estimated from a row written without them (older metering)', async () => {
      const { reasoning_tokens: _r, usage_estimated: _u, ...old } = event({ event_id: 'old-1', request_id: 'old-req', tenant_id: 'tenant-old' });
      await store.insert(`${db}.requests`, [{ ...old, stream: 0, inserted_at_ms: Date.now() }]);
      const got = await requestRow(store, db, 'tenant-old', 'old-req');
      assert.equal(got?.reasoning_tokens, 0);
      assert.equal(got?.usage_estimated, 0);
    });

    it('skips event_ids already stored or repeated in the batch', async () => {
      const batch = [event({ event_id: 'idem-1', tenant_id: 'tenant-idem' }), event({ event_id: 'idem-2', tenant_id: 'tenant-idem' })];
      assert.deepEqual(await insertRequestsIdempotent(store, db, batch), { inserted: 2, skipped: 0 });
      assert.deepEqual(await insertRequestsIdempotent(store, db, [...batch, batch[0]]), { inserted: 0, skipped: 3 });
      const third = event({ event_id: 'idem-3', tenant_id: 'tenant-idem' });
      assert.deepEqual(await insertRequestsIdempotent(store, db, [third, third, batch[1]]), { inserted: 1, skipped: 2 });
      const [n] = await store.query<{ n: string }>(chSql`SELECT count() AS n FROM ${ident(db, 'requests')} WHERE tenant_id = ${'tenant-idem'}`);
      assert.equal(n.n, '3');
    });

    it('skips stored ids also when their key range already holds many rows (a replay of old events)', async () => {
      // 5,000 stored rows in one millisecond of one tenant: more than the range read takes, so the ids are checked by name.
      const stored = Array.from({ length: 5_000 }, (_, i) => event({ event_id: `busy-${i}`, request_id: `busy-req-${i}`, tenant_id: 'tenant-busy', occurred_at_ms: T0 }));
      await store.insert(`${db}.requests`, stored.map((r) => ({ ...r, stream: 0, inserted_at_ms: Date.now() })));
      const fresh = Array.from({ length: 5 }, (_, i) => event({ event_id: `busy-new-${i}`, request_id: `busy-new-req-${i}`, tenant_id: 'tenant-busy', occurred_at_ms: T0 }));
      assert.deepEqual(await insertRequestsIdempotent(store, db, [...stored.slice(100, 105), ...fresh, stored[4_999]]), { inserted: 5, skipped: 6 });
      const [n] = await store.query<{ n: string }>(chSql`SELECT count() AS n FROM ${ident(db, 'requests')} WHERE tenant_id = ${'tenant-busy'}`);
      assert.equal(n.n, '5005');
    });

    it('does not double-count a duplicate that slipped past the check (FINAL)', async () => {
      const rows = manyEvents(20, 'tenant-dup', 'dup').map((r) => ({ ...r, stream: 0, inserted_at_ms: Date.now() }));
      // Two separate inserts = two parts, as when two consumers race on the same events.
      await store.insert(`${db}.requests`, rows);
      await store.insert(`${db}.requests`, rows.map((r) => ({ ...r, inserted_at_ms: r.inserted_at_ms + 1 })));
      const [raw] = await store.query<{ n: string }>(chSql`SELECT count() AS n FROM ${ident(db, 'requests')} WHERE tenant_id = ${'tenant-dup'}`);
      assert.equal(raw.n, '40', 'both copies are stored until a merge');
      const usage = await usageByModel(store, db, 'tenant-dup', T0, T0 + DAY);
      assert.deepEqual(usage, [
        { served_model: 'model-b', requests: 13, input_tokens: sumWhere(20, (i) => i % 3 !== 0), output_tokens: 13, reasoning_tokens: 0, cost_usd: 3.25 },
        { served_model: 'model-a', requests: 7, input_tokens: sumWhere(20, (i) => i % 3 === 0), output_tokens: 7, reasoning_tokens: 0, cost_usd: 1.75 },
      ]);
      const one = await requestRow(store, db, 'tenant-dup', 'dup-req-4');
      assert.equal(one?.event_id, 'dup-4');
    });

    it('aggregates usage by model within [from, to) and only for the tenant', async () => {
      await insertRequestsIdempotent(store, db, [
        event({ event_id: 'u-1', tenant_id: 'tenant-u', served_model: 'm1', input_tokens: 10, output_tokens: 1, reasoning_tokens: 1, cost_usd: 0.5, occurred_at_ms: T0 }),
        event({ event_id: 'u-2', tenant_id: 'tenant-u', served_model: 'm1', input_tokens: 20, output_tokens: 2, cost_usd: 0.25, occurred_at_ms: T0 + DAY - 1 }),
        event({ event_id: 'u-3', tenant_id: 'tenant-u', served_model: 'm2', input_tokens: 5, output_tokens: 5, reasoning_tokens: 4, cost_usd: 2, occurred_at_ms: T0 + 1 }),
        event({ event_id: 'u-4', tenant_id: 'tenant-u', served_model: 'm1', input_tokens: 999, reasoning_tokens: 999, cost_usd: 9, occurred_at_ms: T0 + DAY }),
        event({ event_id: 'u-5', tenant_id: 'tenant-u', served_model: 'm1', input_tokens: 999, cost_usd: 9, occurred_at_ms: T0 - 1 }),
        event({ event_id: 'u-6', tenant_id: 'tenant-v', served_model: 'm1', input_tokens: 999, cost_usd: 9, occurred_at_ms: T0 }),
      ]);
      assert.deepEqual(await usageByModel(store, db, 'tenant-u', T0, T0 + DAY), [
        { served_model: 'm2', requests: 1, input_tokens: 5, output_tokens: 5, reasoning_tokens: 4, cost_usd: 2 },
        { served_model: 'm1', requests: 2, input_tokens: 30, output_tokens: 3, reasoning_tokens: 1, cost_usd: 0.75 },
      ]);
      assert.deepEqual(await usageByModel(store, db, 'tenant-nobody', T0, T0 + DAY), []);
      assert.deepEqual(await usageByModel(store, db, 'tenant-u', T0, T0), []);
      await assert.rejects(usageByModel(store, db, '', T0, T0 + DAY), rejects('analytics_invalid_literal'));
    });

    it('groups usage by app, key and end user, and stores the guardrail actions as written', async () => {
      const actions = JSON.stringify([{ detector: 'us_ssn', action: 'redact', count: 2 }]);
      await insertRequestsIdempotent(store, db, [
        event({ event_id: 'g-1', tenant_id: 'tenant-g', app_id: 'app-a', key_id: 'k1', end_user_id: 'alice', cost_usd: 1, occurred_at_ms: T0, guardrail_actions: actions, request_id: 'g-req-1' }),
        event({ event_id: 'g-2', tenant_id: 'tenant-g', app_id: 'app-a', key_id: 'k2', end_user_id: 'bob', cost_usd: 2, occurred_at_ms: T0 + 1 }),
        event({ event_id: 'g-3', tenant_id: 'tenant-g', app_id: 'app-b', key_id: 'k3', end_user_id: 'alice', cost_usd: 4, occurred_at_ms: T0 + 2 }),
        event({ event_id: 'g-4', tenant_id: 'tenant-g', app_id: 'app-b', key_id: 'k3', end_user_id: '', cost_usd: 0.5, occurred_at_ms: T0 + 3 }),
        event({ event_id: 'g-5', tenant_id: 'tenant-h', app_id: 'app-a', end_user_id: 'alice', cost_usd: 100, occurred_at_ms: T0 }),
      ]);
      const keys = async (dimension: Parameters<typeof usageBy>[3]) =>
        (await usageBy(store, db, 'tenant-g', dimension, T0, T0 + DAY)).map((r) => [r.key, r.requests, r.cost_usd]);
      assert.deepEqual(await keys('end_user'), [['alice', 2, 5], ['bob', 1, 2], ['', 1, 0.5]]);
      assert.deepEqual(await keys('app'), [['app-b', 2, 4.5], ['app-a', 2, 3]]);
      assert.deepEqual(await keys('key'), [['k3', 2, 4.5], ['k2', 1, 2], ['k1', 1, 1]]);
      assert.deepEqual(await keys('tenant'), [['tenant-g', 4, 7.5]]);
      const row = await requestRow(store, db, 'tenant-g', 'g-req-1');
      assert.deepEqual([row?.end_user_id, JSON.parse(String(row?.guardrail_actions))], ['alice', JSON.parse(actions)]);
      await assert.rejects(usageBy(store, db, 'tenant-g', 'colour' as 'app', T0, T0 + DAY), rejects('analytics_invalid_literal'));
    });

    it('refuses rows the columns cannot hold', async () => {
      for (const bad of [
        event({ input_tokens: -1 }),
        event({ input_tokens: 2 ** 32 }),
        event({ reasoning_tokens: -1 }),
        event({ reasoning_tokens: 2 ** 32 }),
        event({ reasoning_tokens: 0.5 }),
        event({ usage_estimated: 2 }),
        { ...event(), reasoning_tokens: undefined } as unknown as RequestEventRow,
        { ...event(), usage_estimated: 'yes' } as unknown as RequestEventRow,
        event({ http_status: 70000 }),
        event({ cost_usd: NaN }),
        event({ tenant_id: '' }),
        event({ latency_ms: 1.5 }),
        { ...event(), served_model: undefined } as unknown as RequestEventRow,
      ]) {
        await assert.rejects(insertRequestsIdempotent(store, db, [bad]), rejects('analytics_invalid_row'));
      }
    });

    it('inserts 10k events idempotently and reads them back exactly', async (t: TestContext) => {
      const rows = manyEvents(10_000, 'tenant-bulk', 'bulk');
      let started = performance.now();
      assert.deepEqual(await insertRequestsIdempotent(store, db, rows), { inserted: 10_000, skipped: 0 });
      const first = performance.now() - started;
      started = performance.now();
      assert.deepEqual(await insertRequestsIdempotent(store, db, rows), { inserted: 0, skipped: 10_000 });
      const again = performance.now() - started;
      await store.command(`CREATE TABLE IF NOT EXISTS ${ident(db, 'raw_bulk')} AS ${ident(db, 'requests')}`);
      started = performance.now();
      await store.insert(`${db}.raw_bulk`, rows.map((r) => ({ ...r, stream: 0, inserted_at_ms: 1 })));
      const raw = performance.now() - started;
      started = performance.now();
      const usage = await usageByModel(store, db, 'tenant-bulk', T0, T0 + 10_000_000);
      const read = performance.now() - started;
      assert.equal(usage.reduce((n, u) => n + u.requests, 0), 10_000);
      assert.equal(usage.reduce((n, u) => n + u.cost_usd, 0), 2500);
      t.diagnostic(
        `${engine}: 10k rows: store.insert ${raw.toFixed(0)} ms; insertRequestsIdempotent ${first.toFixed(0)} ms ` +
          `(all new), ${again.toFixed(0)} ms (all present); usageByModel FINAL ${read.toFixed(0)} ms`,
      );
    });
  });

  describe(`${engine}: hourly rollups (migration 6)`, () => {
    const H = Date.UTC(2025, 5, 1, 10, 0, 0); // an hour no other test writes to
    const rows = (tenant: string, n: number, over: (i: number) => Partial<RequestEventRow>) =>
      Array.from({ length: n }, (_, i) =>
        event({ event_id: `roll-${tenant}-${i}`, request_id: `roll-${tenant}-r${i}`, tenant_id: tenant, occurred_at_ms: H + i * 60_000, ...over(i) }),
      );

    it('counts requests, errors, denials, tokens, cost and streamed TTFT quantiles per tenant and model, once per event', async () => {
      const a = rows('roll-a', 6, (i) => ({
        stream: i < 3,
        ttft_ms: i < 3 ? (i + 1) * 100 : 0,
        decision: i === 4 ? 'deny' : 'allow',
        status: i === 4 ? 'denied' : i === 5 ? 'upstream_error' : 'ok',
        reason_code: i === 4 ? 'model_not_allowed' : i === 5 ? 'upstream_timeout' : '',
        served_model: i % 2 ? 'model-odd' : 'model-even',
        input_tokens: 10,
        output_tokens: 5,
        cost_usd: 0.5,
        trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      }));
      const b = rows('roll-b', 2, () => ({ provider: 'anthropic', served_model: 'claude' }));
      await insertRequestsIdempotent(store, db, [...a, ...b]);
      await insertRequestsIdempotent(store, db, a); // redelivered: skipped, so the rollup is not inflated
      const window = { fromMs: H, toMs: H + 3_600_000 };
      const [all] = await queryRollups(store, db, { ...window, tenantId: 'roll-a', groupBy: [] });
      assert.equal(all.requests, 6);
      assert.equal(all.errors, 2);
      assert.equal(all.policy_denials, 1);
      assert.equal(all.input_tokens, 60);
      assert.equal(all.output_tokens, 30);
      assert.ok(Math.abs(all.cost_usd - 3) < 1e-9);
      assert.equal(all.ttft_p50_ms, 200, 'TTFT over the streamed requests only');
      assert.deepEqual([all.fallbacks, all.cache_hits, all.guardrail_actions], [0, 0, 0]);
      const byModel = await queryRollups(store, db, { ...window, tenantId: 'roll-a', groupBy: ['model'] });
      assert.deepEqual(byModel.map((r) => [r.model, r.requests]), [['model-even', 3], ['model-odd', 3]]);
      const byReason = await queryRollups(store, db, { ...window, tenantId: 'roll-a', groupBy: ['reason', 'hour'] });
      assert.deepEqual(byReason.map((r) => [r.reason, r.hour, r.requests]), [['', H, 4], ['model_not_allowed', H, 1], ['upstream_timeout', H, 1]]);
      const stored = await requestRow(store, db, 'roll-a', 'roll-roll-a-r0');
      assert.equal(stored?.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
    });

    it('answers the platform view across tenants, and filters by provider', async () => {
      const window = { fromMs: H, toMs: H + 3_600_000 };
      const byTenant = await queryRollups(store, db, { ...window, groupBy: ['tenant'] });
      assert.deepEqual(byTenant.map((r) => [r.tenant, r.requests]), [['roll-a', 6], ['roll-b', 2]]);
      const anthropic = await queryRollups(store, db, { ...window, groupBy: ['tenant', 'provider'], provider: 'anthropic' });
      assert.deepEqual(anthropic.map((r) => [r.tenant, r.provider, r.requests]), [['roll-b', 'anthropic', 2]]);
      assert.deepEqual(await queryRollups(store, db, { fromMs: H + 3_600_000, toMs: H + 7_200_000, groupBy: ['tenant'] }), []);
      await assert.rejects(queryRollups(store, db, { ...window, groupBy: ['nope' as 'tenant'] }), rejects('analytics_invalid_literal'));
    });
  });

  describe(`${engine}: retention`, () => {
    it('drops monthly partitions older than the window, keeps the rest', async () => {
      await store.command(`CREATE TABLE IF NOT EXISTS ${ident(db, 'retention')} AS ${ident(db, 'requests')}`);
      const months = [Date.UTC(2023, 11, 31), Date.UTC(2024, 0, 10), Date.UTC(2024, 1, 10), Date.UTC(2024, 2, 10)];
      await store.insert(
        `${db}.retention`,
        months.map((ms, i) => ({ ...event({ event_id: `ret-${i}`, occurred_at_ms: ms }), stream: 0, inserted_at_ms: 1 })),
      );
      const now = Date.UTC(2024, 2, 15);
      assert.deepEqual(await dropPartitionsOlderThan(store, db, 'retention', 1, now), [202312, 202401]);
      assert.deepEqual(await dropPartitionsOlderThan(store, db, 'retention', 1, now), []);
      const left = await store.query<{ event_id: string }>(`SELECT event_id FROM ${ident(db, 'retention')} ORDER BY event_id`);
      assert.deepEqual(left.map((r) => r.event_id), ['ret-2', 'ret-3']);
      await assert.rejects(dropPartitionsOlderThan(store, db, 'retention; DROP', 1, now), rejects('analytics_invalid_identifier'));
    });

    it('keeps raw rows N days and rollups M months (the metering retention job)', async () => {
      const now = Date.UTC(2025, 5, 20, 0, 0, 0);
      await insertRequestsIdempotent(store, db, [
        event({ event_id: 'keep-raw', request_id: 'keep-raw', tenant_id: 'ret-t', occurred_at_ms: Date.UTC(2025, 5, 15) }),
        event({ event_id: 'old-raw', request_id: 'old-raw', tenant_id: 'ret-t', occurred_at_ms: Date.UTC(2025, 5, 2) }),
      ]);
      const result = await applyRetention(store, db, { rawDays: 10, rollupMonths: 12 }, now);
      assert.equal(result.rawRowsDeleteIssued, true);
      assert.ok(result.rawPartitionsDropped.includes(202403), 'whole old months go as partitions');
      // ALTER … DELETE is a mutation: applied in the background on 18.16.
      const deadline = Date.now() + 30_000;
      let left: string[] = [];
      do {
        left = (await store.query<{ event_id: string }>(chSql`SELECT event_id FROM ${ident(db, 'requests')} WHERE tenant_id = 'ret-t'`)).map((r) => r.event_id);
        if (left.length === 1) break;
        await new Promise((r) => setTimeout(r, 200));
      } while (Date.now() < deadline);
      assert.deepEqual(left, ['keep-raw']);
      const rollup = await queryRollups(store, db, { tenantId: 'ret-t', fromMs: Date.UTC(2025, 5, 1), toMs: now, groupBy: [] });
      assert.equal(rollup[0]?.requests, 2, 'rollups outlive the raw rows');
      const later = await applyRetention(store, db, { rawDays: 10, rollupMonths: 0 }, Date.UTC(2025, 7, 1));
      assert.ok(later.rollupPartitionsDropped.includes(202506));
    });
  });
}

function sumWhere(n: number, keep: (i: number) => boolean): number {
  let s = 0;
  for (let i = 0; i < n; i++) if (keep(i)) s += i % 100;
  return s;
}
