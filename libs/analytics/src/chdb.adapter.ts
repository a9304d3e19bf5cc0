import { mkdirSync } from 'node:fs';
import { drainPending, Session } from 'chdb';
import { AnalyticsError, clickhouseCodeOf, type AnalyticsErrorCode } from './analytics.error';
import type { AnalyticsStore } from './analytics-store.port';
import { encodeJsonRow, parseJsonEachRow } from './json-each-row.codec';
import { mapInSlices } from '@asc/events';
import { assertTableName } from './sql-literal';

export interface ChdbStoreOptions {
  /** Data directory; created if missing. Tables persist here across restarts. */
  path: string;
  /**
   * Rejects a statement after this long. Default 60 s. The engine still finishes it in the
   * background, so a timed-out insert may land: retry with insertRequestsIdempotent.
   */
  queryTimeoutMs?: number;
}

/**
 * The embedded analytics store: the ClickHouse engine in-process (chdb, engine 26.x).
 *
 * libchdb binds ONE data directory per process: open one ChdbStore per process (a second
 * one on the same path shares the engine; a different path throws until the first is
 * closed). All calls go through chdb's async API so the event loop never blocks on a query.
 */
export class ChdbStore implements AnalyticsStore {
  private session: Session | undefined;
  private readonly timeout: number;

  constructor(options: ChdbStoreOptions) {
    if (!options.path) throw new AnalyticsError('analytics_config_invalid', 'ChdbStore needs a data path');
    this.timeout = options.queryTimeoutMs ?? 60_000;
    mkdirSync(options.path, { recursive: true });
    this.session = openSession(options.path);
  }

  async command(sql: string): Promise<void> {
    await this.run(sql, 'CSV');
  }

  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    assertTableName(table);
    if (rows.length === 0) return;
    // A raw JSONEachRow payload: handed to the engine as bytes and parsed there, instead of
    // chdb's object insert, which builds one multi-row INSERT … VALUES string in JS. Encoded
    // in slices: this store shares its process with request handling.
    const payload = Buffer.from(`${(await mapInSlices(rows, encodeJsonRow)).join('\n')}\n`, 'utf8');
    try {
      await this.open().insert({ table, values: payload, format: 'JSONEachRow', timeout: this.timeout });
    } catch (err) {
      throw toAnalyticsError(err, `insert into ${table} failed`);
    }
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return parseJsonEachRow<T>(await this.run(sql, 'JSONEachRow'));
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.run('SELECT 1', 'CSV')).trim() === '1';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    session.close();
    // close() returns before the native connection is gone when work is in flight; wait,
    // so a new store (another path, a restart in tests) can open right after.
    await drainPending();
  }

  private open(): Session {
    if (!this.session) throw new AnalyticsError('analytics_unavailable', 'the chdb store is closed');
    return this.session;
  }

  private async run(sql: string, format: string): Promise<string> {
    const session = this.open();
    try {
      const result = await session.queryAsync(sql, { format, timeout: this.timeout });
      return result.text();
    } catch (err) {
      throw toAnalyticsError(err, 'query failed');
    }
  }
}

function openSession(path: string): Session {
  try {
    return new Session(path, {
      connectionArgs: [
        // Same number contract as the server adapter (see analytics-store.port.ts).
        '--output_format_json_quote_64bit_integers=1',
        // 26.x skips unknown JSON fields by default, 18.16 refuses them; refuse on both so a
        // misspelt column fails loudly instead of silently dropping data.
        '--input_format_skip_unknown_fields=0',
        // Load persisted tables before the first query instead of lazily in the background.
        '--async_load_databases=0',
      ],
    });
  } catch (err) {
    // e.g. another ChdbStore holds a different data directory in this process.
    throw toAnalyticsError(err, 'cannot open the chdb data directory', 'analytics_unavailable');
  }
}

function toAnalyticsError(err: unknown, context: string, fallback: AnalyticsErrorCode = 'analytics_query_failed'): AnalyticsError {
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : '';
  const code = name === 'ChdbTimeoutError' ? 'analytics_timeout' : fallback;
  const ch = typeof err === 'object' && err !== null ? (err as { clickhouseCode?: unknown }).clickhouseCode : undefined;
  const clickhouseCode = typeof ch === 'number' ? ch : clickhouseCodeOf(message);
  return new AnalyticsError(code, `${context}: ${message}`, clickhouseCode, { cause: err });
}
