import { AnalyticsError } from './analytics.error';
import type { AnalyticsStore } from './analytics-store.port';
import { assertSqlIdentifier, chSql, ident } from './sql-literal';

/*
 * DDL that both ClickHouse 18.16 and 26.x accept. Rules learned the hard way:
 * - no DateTime64, Map, TTL, LowCardinality, Nullable-by-default, or {param:Type};
 * - `toDate(<integer>)` means "day number" on 18.16 but "unix seconds" on 26.x for large
 *   values, and toDateTime() depends on the server time zone: the day is computed as
 *   `toDate('1970-01-01') + intDiv(ms, 86400000)`, which is plain UTC arithmetic on both;
 * - `day` is MATERIALIZED, not DEFAULT: 18.16 fills fields missing from a JSONEachRow row
 *   with the type's zero instead of evaluating DEFAULT, MATERIALIZED is always computed.
 */

export interface Migration {
  version: number;
  name: string;
  /** Statements run in order. Each must be idempotent (IF NOT EXISTS…): there are no transactions. */
  up(database: string): string[];
}

export const REQUESTS_TABLE = 'requests';
export const MIGRATIONS_TABLE = 'schema_migrations';

/** UTC day of an epoch-ms expression, identical on 18.16 and 26.x and independent of the server time zone. */
export function utcDayOfMsSql(column: string): string {
  return `toDate('1970-01-01') + intDiv(${assertSqlIdentifier(column, 'column')}, 86400000)`;
}

/**
 * One row per request event, written by metering.
 *
 * ReplacingMergeTree(inserted_at_ms) collapses copies of a re-delivered event: a copy has
 * the same (tenant_id, occurred_at_ms, event_id), hence the same sorting key and the same
 * partition (day derives from occurred_at_ms). Collapsing happens at merge time, so exact
 * reads use FINAL (the helpers in requests.queries.ts do).
 *
 * ORDER BY (tenant_id, occurred_at_ms, event_id): every query filters by tenant first and
 * nearly all by a time range, so the primary index narrows to one tenant's time slice;
 * event_id last makes the key unique per event, which is what deduplication needs.
 * Tokens are UInt32 per request (their sums are UInt64); epoch ms and policy_version UInt64.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'requests',
    up: (database) => [
      `CREATE TABLE IF NOT EXISTS ${ident(database, REQUESTS_TABLE)} (
  event_id String,
  request_id String,
  tenant_id String,
  app_id String,
  key_id String,
  api String,
  stream UInt8,
  requested_model String,
  served_model String,
  provider String,
  deployment_id String,
  region String,
  credential_id String,
  credential_version UInt32,
  policy_id String,
  policy_version UInt64,
  decision String,
  reason_code String,
  status String,
  http_status UInt16,
  input_tokens UInt32,
  output_tokens UInt32,
  cached_input_tokens UInt32,
  cost_usd Float64,
  latency_ms UInt32,
  ttft_ms UInt32,
  started_at_ms UInt64,
  occurred_at_ms UInt64,
  day Date MATERIALIZED ${utcDayOfMsSql('occurred_at_ms')},
  inserted_at_ms UInt64
) ENGINE = ReplacingMergeTree(inserted_at_ms)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, occurred_at_ms, event_id)`,
    ],
  },
];

/**
 * Brings `database` up to the latest schema: creates it, then applies every migration not
 * yet recorded in `<database>.schema_migrations`, recording each after its statements ran.
 * Safe to run concurrently from several processes (statements are idempotent; a version
 * recorded twice collapses). Returns the versions applied by this call.
 */
export async function migrate(
  store: AnalyticsStore,
  database: string,
  list: readonly Migration[] = migrations,
): Promise<number[]> {
  assertSqlIdentifier(database, 'database name');
  const versions = list.map((m) => m.version);
  if (new Set(versions).size !== versions.length || versions.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new AnalyticsError('analytics_config_invalid', 'migration versions must be distinct positive integers');
  }
  await store.command(`CREATE DATABASE IF NOT EXISTS ${ident(database)}`);
  await store.command(`CREATE TABLE IF NOT EXISTS ${ident(database, MIGRATIONS_TABLE)} (
  version UInt32,
  name String,
  applied_at_ms UInt64
) ENGINE = ReplacingMergeTree(applied_at_ms)
ORDER BY version`);
  const applied = new Set(
    (await store.query<{ version: number }>(`SELECT DISTINCT version FROM ${ident(database, MIGRATIONS_TABLE)}`)).map((r) =>
      Number(r.version),
    ),
  );
  const done: number[] = [];
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    for (const statement of m.up(database)) await store.command(statement);
    await store.insert(`${database}.${MIGRATIONS_TABLE}`, [{ version: m.version, name: m.name, applied_at_ms: Date.now() }]);
    done.push(m.version);
  }
  return done;
}

/** The versions recorded in `<database>.schema_migrations`, ascending. */
export async function appliedMigrations(store: AnalyticsStore, database: string): Promise<number[]> {
  const rows = await store.query<{ version: number }>(
    `SELECT DISTINCT version FROM ${ident(database, MIGRATIONS_TABLE)} ORDER BY version`,
  );
  return rows.map((r) => Number(r.version));
}

/** YYYYMM (as a number) of the UTC month `monthsBack` months before `nowMs`. */
export function monthKeyUtc(nowMs: number, monthsBack = 0): number {
  const d = new Date(nowMs);
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() - monthsBack;
  return Math.floor(total / 12) * 100 + (total % 12) + 1;
}

/**
 * Retention for tables partitioned by toYYYYMM(<Date>): drops every partition whose month
 * is more than `months` whole months before the current UTC month (months = 0 keeps only
 * the current month). Reads partitions from system.parts (`database`, `table`, `partition`,
 * `active` exist on 18.16 and 26.x). Returns the dropped partition keys, ascending.
 */
export async function dropPartitionsOlderThan(
  store: AnalyticsStore,
  database: string,
  table: string,
  months: number,
  nowMs: number = Date.now(),
): Promise<number[]> {
  assertSqlIdentifier(database, 'database name');
  assertSqlIdentifier(table, 'table name');
  if (!Number.isInteger(months) || months < 0) {
    throw new AnalyticsError('analytics_config_invalid', 'retention months must be a non-negative integer');
  }
  const cutoff = monthKeyUtc(nowMs, months);
  const rows = await store.query<{ partition: string }>(
    chSql`SELECT DISTINCT partition FROM system.parts WHERE database = ${database} AND table = ${table} AND active`,
  );
  const old = rows
    .map((r) => String(r.partition).replace(/^'|'$/g, ''))
    .filter((p) => /^\d{6}$/.test(p))
    .map(Number)
    .filter((p) => p < cutoff)
    .sort((a, b) => a - b);
  for (const p of old) await store.command(`ALTER TABLE ${ident(database, table)} DROP PARTITION ${p}`);
  return old;
}
