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
 *   with the type's zero instead of evaluating DEFAULT, MATERIALIZED is always computed;
 * - 18.16 has no `ADD COLUMN IF NOT EXISTS` (syntax error): new columns go through
 *   addColumn(), which migrate makes idempotent by checking system.columns.
 */

/**
 * Adds a column unless the table already has it. 18.16 has no `ADD COLUMN IF NOT EXISTS`
 * (syntax error), so the step checks system.columns, runs a plain `ADD COLUMN`, and if that
 * fails looks again: a column that is there now was added by a concurrent migrate (18.16
 * answers Code 44, 26.x Code 15), which is success.
 */
export interface AddColumnStep {
  kind: 'add_column';
  table: string;
  column: string;
  /** Column type as DDL, e.g. 'UInt32'. */
  type: string;
  /** Place it after this column (cosmetic: SELECT * and DESCRIBE order). */
  after?: string;
}

/** A DDL statement (idempotent by itself: IF NOT EXISTS…) or a step made idempotent by migrate. */
export type MigrationStep = string | AddColumnStep;

export interface Migration {
  version: number;
  name: string;
  /** Steps run in order. Each must be idempotent: there are no transactions. */
  up(database: string): MigrationStep[];
}

export function addColumn(table: string, column: string, type: string, after?: string): AddColumnStep {
  assertSqlIdentifier(table, 'table name');
  assertSqlIdentifier(column, 'column');
  if (after !== undefined) assertSqlIdentifier(after, 'column');
  if (!/^[A-Za-z][A-Za-z0-9_]*(\([A-Za-z0-9_, ]*\))?$/.test(type)) {
    throw new AnalyticsError('analytics_config_invalid', `invalid column type for ${column}`);
  }
  return { kind: 'add_column', table, column, type, after };
}

/** The ALTER an AddColumnStep runs (the same text on 18.16 and 26.x). */
export function addColumnSql(database: string, step: AddColumnStep): string {
  return `ALTER TABLE ${ident(database, step.table)} ADD COLUMN ${ident(step.column)} ${step.type}${
    step.after ? ` AFTER ${ident(step.after)}` : ''
  }`;
}

async function columnType(store: AnalyticsStore, database: string, table: string, column: string): Promise<string | undefined> {
  const rows = await store.query<{ type: string }>(
    chSql`SELECT type FROM system.columns WHERE database = ${database} AND table = ${table} AND name = ${column}`,
  );
  return rows[0]?.type;
}

async function runAddColumn(store: AnalyticsStore, database: string, step: AddColumnStep): Promise<void> {
  const present = async (): Promise<boolean> => {
    const type = await columnType(store, database, step.table, step.column);
    if (type !== undefined && type !== step.type) {
      throw new AnalyticsError(
        'analytics_query_failed',
        `${database}.${step.table}.${step.column} exists as ${type}, the migration wants ${step.type}`,
      );
    }
    return type !== undefined;
  };
  if (await present()) return;
  try {
    await store.command(addColumnSql(database, step));
  } catch (err) {
    if (await present()) return; // a concurrent migrate added it first
    throw err;
  }
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
 * Migration 2 adds reasoning_tokens UInt32 (a subset of output_tokens, 0 if the provider
 * reported none) and usage_estimated UInt8 (1 when a token count is the gateway's estimate).
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
  {
    // Rows stored before this migration read 0 for both (the type's zero), which is their truth:
    // no reasoning tokens were recorded and the counts were not marked as estimates.
    version: 2,
    name: 'requests_reasoning_tokens_usage_estimated',
    up: () => [
      addColumn(REQUESTS_TABLE, 'reasoning_tokens', 'UInt32', 'cached_input_tokens'),
      addColumn(REQUESTS_TABLE, 'usage_estimated', 'UInt8', 'reasoning_tokens'),
    ],
  },
  {
    // Every upstream attempt of a request (deployment, status, reason, latency) as JSON, and the
    // number of fallbacks (attempts after the first), so analysts chart fallbacks per provider.
    version: 3,
    name: 'requests_attempts_fallback_count',
    up: () => [
      addColumn(REQUESTS_TABLE, 'fallback_count', 'UInt32', 'usage_estimated'),
      addColumn(REQUESTS_TABLE, 'attempts', 'String', 'fallback_count'),
    ],
  },
  {
    // The routing configuration version a request was routed under (issue 11); rows stored
    // before read 0, "unknown", as the event field's default.
    version: 7,
    name: 'requests_routing_version',
    up: () => [addColumn(REQUESTS_TABLE, 'routing_version', 'UInt64', 'policy_version')],
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
    for (const step of m.up(database)) {
      if (typeof step === 'string') await store.command(step);
      else await runAddColumn(store, database, step);
    }
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
