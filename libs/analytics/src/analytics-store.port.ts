/**
 * The analytics store: a ClickHouse engine, either a server over HTTP
 * (`ClickHouseHttpStore`) or in-process (`ChdbStore`). Both run the same SQL, which must
 * stay inside what ClickHouse 18.16 and 26.x both accept (see README.md of this library).
 *
 * Number contract (identical on both adapters): 64-bit integers — UInt64/Int64 columns and
 * the results of count(), sum() of integers, etc. — come back as DECIMAL STRINGS, because
 * JSON numbers lose precision past 2^53 and 18.16 quotes them by default; the adapters pin
 * `output_format_json_quote_64bit_integers=1` so chdb does the same. Narrower integers and
 * floats come back as numbers, Date as 'YYYY-MM-DD'. Convert with Number()/BigInt() where
 * the column is read (the typed helpers in requests.queries.ts do).
 */
export interface AnalyticsStore {
  /** Runs a statement that returns nothing useful (DDL, ALTER, INSERT … SELECT). */
  command(sql: string): Promise<void>;
  /**
   * Inserts rows as JSONEachRow into `table` (`table` or `database.table`). Keys are
   * column names; omitted columns get their type default (18.16 does not evaluate
   * DEFAULT expressions for fields missing from JSON), MATERIALIZED columns are computed.
   * Values: string, finite number, bigint, boolean (1/0), null, arrays of those.
   */
  insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;
  /** Runs a SELECT (without a FORMAT clause) and returns its rows. */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** True when the engine answers; never throws. */
  ping(): Promise<boolean>;
  /** Releases connections / the embedded engine. Idempotent. */
  close(): Promise<void>;
}
