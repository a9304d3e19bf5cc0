export { AnalyticsError, isRowRejection, type AnalyticsErrorCode } from './analytics.error';
export type { AnalyticsStore } from './analytics-store.port';
export { ClickHouseHttpStore, type ClickHouseHttpStoreOptions } from './clickhouse-http.adapter';
export { ChdbStore, type ChdbStoreOptions } from './chdb.adapter';
export { encodeJsonEachRow, encodeJsonRow, parseJsonEachRow } from './json-each-row.codec';
export {
  assertSqlIdentifier,
  assertTableName,
  chSql,
  chSqlFragment,
  ident,
  isSqlIdentifier,
  SqlFragment,
  sqlArray,
  sqlBool,
  sqlJoin,
  sqlLiteral,
  sqlNumber,
  sqlString,
  sqlTuple,
  type SqlValue,
} from './sql-literal';
export {
  addColumn,
  addColumnSql,
  appliedMigrations,
  dropPartitionsOlderThan,
  migrate,
  migrations,
  MIGRATIONS_TABLE,
  monthKeyUtc,
  REQUESTS_TABLE,
  ROLLUP_HOURLY_TABLE,
  ROLLUP_HOURLY_VIEW,
  BUDGET_EVENTS_TABLE,
  utcDayOfMsSql,
  type AddColumnStep,
  type Migration,
  type MigrationStep,
} from './schema';
export {
  insertRequestsIdempotent,
  requestRow,
  usageBy,
  usageByModel,
  USAGE_DIMENSIONS,
  type DimensionUsage,
  type IdempotentInsertResult,
  type UsageDimension,
  type ModelUsage,
  type RequestEventRow,
  type RequestRecord,
} from './requests.queries';
export {
  applyRetention,
  queryRollups,
  ROLLUP_DIMENSIONS,
  ROLLUP_MEASURES_SQL,
  type RetentionPolicy,
  type RetentionResult,
  type RollupDimension,
  type RollupQuery,
  type RollupRow,
} from './rollups.queries';
