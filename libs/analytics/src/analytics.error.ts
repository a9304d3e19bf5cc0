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
