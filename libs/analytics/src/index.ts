export { AnalyticsError, type AnalyticsErrorCode } from './analytics.error';
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
  BUDGET_EVENTS_TABLE,
  utcDayOfMsSql,
  type AddColumnStep,
  type Migration,
  type MigrationStep,
} from './schema';
export {
  insertRequestsIdempotent,
  requestRow,
  usageByModel,
  type IdempotentInsertResult,
  type ModelUsage,
  type RequestEventRow,
  type RequestRecord,
} from './requests.queries';
