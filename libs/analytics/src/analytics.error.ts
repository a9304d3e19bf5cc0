/** Stable, machine-readable reasons an analytics operation failed. */
export type AnalyticsErrorCode =
  | 'analytics_invalid_literal' // a value cannot be written as a ClickHouse literal
  | 'analytics_invalid_identifier' // a database/table/column name failed the identifier check
  | 'analytics_invalid_row' // a row cannot be encoded as JSONEachRow
  | 'analytics_config_invalid' // adapter options are malformed
  | 'analytics_unavailable' // the engine could not be reached (network, closed store)
  | 'analytics_timeout' // the engine did not answer in time
  | 'analytics_query_failed'; // the engine rejected or failed the statement

/**
 * The one error type of the analytics domain. `clickhouseCode` carries the engine's
 * numeric error code when it gave one (e.g. 60 = unknown table), so callers can branch
 * without parsing messages. Messages never contain credentials.
 */
export class AnalyticsError extends Error {
  constructor(
    readonly code: AnalyticsErrorCode,
    message: string,
    readonly clickhouseCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AnalyticsError';
  }
}

/** Pulls "Code: 60" out of an engine message (both 18.16 "Code: 60, e.displayText()" and 26.x "Code: 60. DB::Exception"). */
export function clickhouseCodeOf(message: string): number | undefined {
  const m = /Code: (\d+)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/**
 * ClickHouse codes that mean "this data cannot be stored", whatever the retry: parse and
 * conversion failures of the inserted values (CANNOT_PARSE_*, TYPE_MISMATCH,
 * ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE, INCORRECT_DATA, VALUE_IS_OUT_OF_RANGE…).
 */
const ROW_REJECTION_CODES = new Set([6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 321]);

/**
 * True when an insert failed because of the rows themselves (refused by our encoder, or by
 * the engine as unparseable/out of range): a consumer dead-letters those events instead of
 * retrying them forever. Unreachable, timed-out or otherwise failing engines are not.
 */
export function isRowRejection(err: unknown): boolean {
  if (!(err instanceof AnalyticsError)) return false;
  if (err.code === 'analytics_invalid_row' || err.code === 'analytics_invalid_literal') return true;
  return err.code === 'analytics_query_failed' && err.clickhouseCode !== undefined && ROW_REJECTION_CODES.has(err.clickhouseCode);
}
