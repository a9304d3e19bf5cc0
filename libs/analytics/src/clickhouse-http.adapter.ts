import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { AnalyticsError, clickhouseCodeOf } from './analytics.error';
import type { AnalyticsStore } from './analytics-store.port';
import { encodeJsonRow } from './json-each-row.codec';
import { assertSqlIdentifier, assertTableName } from './sql-literal';

export interface ClickHouseHttpStoreOptions {
  /** e.g. http://127.0.0.1:8123 — without credentials (use user/password). */
  url: string;
  /** Default database for unqualified names. Default 'default'. */
  database?: string;
  /** Default 'default'. */
  user?: string;
  /** Secret: sent only in the Authorization header, never in errors or logs. */
  password?: string;
  /** Per-request timeout. Default 30 s. */
  requestTimeoutMs?: number;
  /** Socket pool size. Default 10. */
  maxOpenConnections?: number;
}

/**
 * The analytics store against a ClickHouse server over HTTP, via @clickhouse/client.
 *
 * Checked against 18.16 (Debian's clickhouse-server) and 26.x: the client only sends
 * `query_id`, `database` and the settings we give it as URL parameters and uses HTTP basic
 * auth, all of which 18.16 understands. Two things 18.16 does differently and which are
 * handled here: its error text has no "(ERROR_NAME)" suffix, so the client cannot parse it
 * into a ClickHouseError and we read "Code: N" ourselves; and it quotes 64-bit integers in
 * JSON by default, which we pin explicitly so both engines agree.
 */
export class ClickHouseHttpStore implements AnalyticsStore {
  private readonly client: ClickHouseClient;
  private readonly secret: string | undefined;
  private closed = false;

  constructor(options: ClickHouseHttpStoreOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new AnalyticsError('analytics_config_invalid', 'ClickHouse url is not a valid URL');
    }
    if (url.username || url.password) {
      // Never echo the URL here: it holds the credentials we are refusing.
      throw new AnalyticsError('analytics_config_invalid', 'ClickHouse url must not contain credentials; use user/password');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AnalyticsError('analytics_config_invalid', `ClickHouse url must be http(s), got ${url.protocol}`);
    }
    const database = assertSqlIdentifier(options.database ?? 'default', 'database name');
    this.secret = options.password || undefined;
    this.client = createClient({
      url,
      database,
      username: options.user ?? 'default',
      password: options.password ?? '',
      request_timeout: options.requestTimeoutMs ?? 30_000,
      max_open_connections: options.maxOpenConnections ?? 10,
      compression: { request: false, response: false },
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1, input_format_skip_unknown_fields: 0 },
      // Our encoder (bigint, booleans as 1/0, well-formed strings) for inserted rows.
      json: { parse: JSON.parse, stringify: (row: unknown) => encodeJsonRow(row as Record<string, unknown>) },
      // The client's logger would print request parameters; errors reach callers instead.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  async command(sql: string): Promise<void> {
    await this.guard('command failed', () => this.client.command({ query: sql }));
  }

  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    assertTableName(table);
    if (rows.length === 0) return;
    await this.guard(`insert into ${table} failed`, () =>
      this.client.insert({ table, values: rows as Record<string, unknown>[], format: 'JSONEachRow' }),
    );
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return this.guard('query failed', async () => {
      const result = await this.client.query({ query: sql, format: 'JSONEachRow' });
      return result.json<T>();
    });
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      // /ping does not check credentials; SELECT 1 proves we can actually run queries.
      const rows = await this.client.query({ query: 'SELECT 1 AS ok', format: 'JSONEachRow' });
      const data = await rows.json<{ ok: number }>();
      return data[0]?.ok === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }

  private async guard<R>(context: string, run: () => Promise<R>): Promise<R> {
    if (this.closed) throw new AnalyticsError('analytics_unavailable', 'the ClickHouse store is closed');
    try {
      return await run();
    } catch (err) {
      throw this.toAnalyticsError(err, context);
    }
  }

  private toAnalyticsError(err: unknown, context: string): AnalyticsError {
    if (err instanceof AnalyticsError) return err;
    let message = (err instanceof Error ? err.message : String(err)).trim();
    if (this.secret) message = message.split(this.secret).join('<redacted>');
    const sysCode = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
    const clickhouseCode = clickhouseCodeOf(message) ?? numericCode(sysCode);
    let code: AnalyticsError['code'] = 'analytics_query_failed';
    if (/timeout/i.test(message)) code = 'analytics_timeout';
    else if (clickhouseCode === undefined && (typeof sysCode === 'string' && /^E[A-Z]+/.test(sysCode))) code = 'analytics_unavailable';
    // The cause is dropped on purpose: client errors can carry request options.
    return new AnalyticsError(code, `${context}: ${message.slice(0, 2000)}`, clickhouseCode);
  }
}

function numericCode(code: unknown): number | undefined {
  return typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : undefined;
}
