import { AnalyticsError } from './analytics.error';
import type { AnalyticsStore } from './analytics-store.port';
import { REQUESTS_TABLE, ROLLUP_HOURLY_TABLE, dropPartitionsOlderThan } from './schema';
import { chSql, ident } from './sql-literal';

/** What a rollup query may group by (each maps to one column of requests_hourly). */
export const ROLLUP_DIMENSIONS = ['tenant', 'app', 'model', 'provider', 'status', 'reason', 'hour', 'day'] as const;
export type RollupDimension = (typeof ROLLUP_DIMENSIONS)[number];

const DIMENSION_SQL: Record<RollupDimension, string> = {
  tenant: 'tenant_id',
  app: 'app_id',
  model: 'served_model',
  provider: 'provider',
  status: 'status',
  reason: 'reason_code',
  hour: 'hour_ms',
  day: 'intDiv(hour_ms, 86400000) * 86400000',
};

export interface RollupQuery {
  /** One tenant; undefined = the platform view across tenants. */
  tenantId?: string;
  fromMs: number;
  toMs: number;
  groupBy: readonly RollupDimension[];
  /** Optional filters (exact match). */
  provider?: string;
  model?: string;
  limit?: number;
}

export interface RollupRow {
  tenant?: string;
  app?: string;
  model?: string;
  provider?: string;
  status?: string;
  reason?: string;
  /** Epoch ms of the hour (or day) start, UTC. */
  hour?: number;
  day?: number;
  requests: number;
  /** Requests whose status is not ok (denied, client_error, upstream_error, cancelled). */
  errors: number;
  policy_denials: number;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  reasoning_tokens: number;
  cost_usd: number;
  fallbacks: number;
  cache_hits: number;
  guardrail_actions: number;
  /** Time to first token over streamed requests (0 when none). */
  ttft_p50_ms: number;
  ttft_p90_ms: number;
  ttft_p99_ms: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
}

const HOUR_MS = 3_600_000;

function checkMs(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new AnalyticsError('analytics_invalid_literal', `${name} must be epoch milliseconds`);
}

/** The SELECT list every rollup read uses (merges of the aggregate states). */
export const ROLLUP_MEASURES_SQL = `countMerge(requests_n) AS requests,
  sumMerge(errors_n) AS errors,
  sumMerge(denials_n) AS policy_denials,
  sumMerge(input_tokens_sum) AS input_tokens,
  sumMerge(output_tokens_sum) AS output_tokens,
  sumMerge(cached_tokens_sum) AS cached_input_tokens,
  sumMerge(reasoning_tokens_sum) AS reasoning_tokens,
  sumMerge(cost_usd_sum) AS cost_usd,
  sumMerge(fallbacks_sum) AS fallbacks,
  sumMerge(cache_hits_n) AS cache_hits,
  sumMerge(guardrail_actions_sum) AS guardrail_actions,
  quantilesIfMerge(0.5, 0.9, 0.99)(ttft_q) AS ttft_q3,
  quantilesMerge(0.5, 0.9, 0.99)(latency_q) AS latency_q3`;

/**
 * Reads the hourly rollups (requests_hourly, filled by a materialized view on every insert
 * into requests) for [fromMs, toMs), rounded out to whole hours, grouped as asked. Tenant
 * scoped when tenantId is given, else across tenants (the platform view).
 */
export async function queryRollups(store: AnalyticsStore, database: string, q: RollupQuery): Promise<RollupRow[]> {
  checkMs(q.fromMs, 'fromMs');
  checkMs(q.toMs, 'toMs');
  if (q.toMs <= q.fromMs) return [];
  if (q.tenantId !== undefined && (typeof q.tenantId !== 'string' || q.tenantId.length === 0)) {
    throw new AnalyticsError('analytics_invalid_literal', 'tenantId must be a non-empty string');
  }
  const groupBy = [...new Set(q.groupBy)];
  for (const g of groupBy) {
    if (!ROLLUP_DIMENSIONS.includes(g)) throw new AnalyticsError('analytics_invalid_literal', `unknown groupBy ${String(g)}`);
  }
  const limit = Math.min(Math.max(Math.trunc(q.limit ?? 1000), 1), 10_000);
  const fromHour = Math.floor(q.fromMs / HOUR_MS) * HOUR_MS;
  // Values only through chSql; the dimension expressions and measures are constants of this module.
  const filters = [chSql`hour_ms >= ${fromHour}`, chSql`hour_ms < ${q.toMs}`];
  if (q.tenantId !== undefined) filters.push(chSql`tenant_id = ${q.tenantId}`);
  if (q.provider !== undefined) filters.push(chSql`provider = ${q.provider}`);
  if (q.model !== undefined) filters.push(chSql`served_model = ${q.model}`);
  const dims = groupBy.map((g) => `${DIMENSION_SQL[g]} AS d_${g}`);
  const keys = groupBy.map((g) => `d_${g}`);
  const sql = [
    `SELECT ${[...dims, ROLLUP_MEASURES_SQL].join(',\n  ')}`,
    chSql`FROM ${ident(database, ROLLUP_HOURLY_TABLE)}`,
    `WHERE ${filters.join(' AND ')}`,
    keys.length ? `GROUP BY ${keys.join(', ')}` : '',
    `ORDER BY ${keys.length ? keys.join(', ') : 'requests DESC'}`,
    `LIMIT ${limit}`,
  ].join('\n');
  const rows = await store.query<Record<string, unknown>>(sql);
  return rows.map((r) => {
    const ttft = (r.ttft_q3 as number[] | undefined) ?? [];
    const latency = (r.latency_q3 as number[] | undefined) ?? [];
    const out: RollupRow = {
      requests: Number(r.requests),
      errors: Number(r.errors),
      policy_denials: Number(r.policy_denials),
      input_tokens: Number(r.input_tokens),
      output_tokens: Number(r.output_tokens),
      cached_input_tokens: Number(r.cached_input_tokens),
      reasoning_tokens: Number(r.reasoning_tokens),
      cost_usd: Number(r.cost_usd),
      fallbacks: Number(r.fallbacks),
      cache_hits: Number(r.cache_hits),
      guardrail_actions: Number(r.guardrail_actions),
      ttft_p50_ms: finite(ttft[0]),
      ttft_p90_ms: finite(ttft[1]),
      ttft_p99_ms: finite(ttft[2]),
      latency_p50_ms: finite(latency[0]),
      latency_p99_ms: finite(latency[2]),
    };
    for (const g of groupBy) {
      const v = r[`d_${g}`];
      if (g === 'hour' || g === 'day') out[g] = Number(v);
      else out[g] = String(v);
    }
    return out;
  });
}

/** quantiles of an empty set are NaN (nan on 18.16, null in JSON on 26.x): 0 for the API. */
function finite(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) ? Math.round(n * 100) / 100 : 0;
}

export interface RetentionPolicy {
  /** Raw request rows older than this many days are deleted. */
  rawDays: number;
  /** Rollup partitions (months) older than this many whole months are dropped. */
  rollupMonths: number;
}

export interface RetentionResult {
  rawPartitionsDropped: number[];
  rawRowsDeleteIssued: boolean;
  rollupPartitionsDropped: number[];
}

/**
 * The retention job: raw rows kept `rawDays` (whole months older than the cutoff are
 * dropped as partitions, cheap; the rest of the cutoff month by an ALTER … DELETE
 * mutation, issued only when such rows exist), rollups kept `rollupMonths` months.
 */
export async function applyRetention(
  store: AnalyticsStore,
  database: string,
  policy: RetentionPolicy,
  nowMs: number = Date.now(),
): Promise<RetentionResult> {
  if (!Number.isInteger(policy.rawDays) || policy.rawDays < 1) throw new AnalyticsError('analytics_config_invalid', 'rawDays must be an integer >= 1');
  if (!Number.isInteger(policy.rollupMonths) || policy.rollupMonths < 0) {
    throw new AnalyticsError('analytics_config_invalid', 'rollupMonths must be a non-negative integer');
  }
  const cutoffMs = Math.floor(nowMs / 86_400_000) * 86_400_000 - policy.rawDays * 86_400_000;
  const cutoffMonthsBack = monthsBetween(cutoffMs, nowMs);
  const rawPartitionsDropped = await dropPartitionsOlderThan(store, database, REQUESTS_TABLE, cutoffMonthsBack, nowMs);
  const [old] = await store.query<{ n: string }>(
    chSql`SELECT count() AS n FROM ${ident(database, REQUESTS_TABLE)} WHERE occurred_at_ms < ${cutoffMs}`,
  );
  const rawRowsDeleteIssued = Number(old?.n ?? 0) > 0;
  if (rawRowsDeleteIssued) {
    await store.command(chSql`ALTER TABLE ${ident(database, REQUESTS_TABLE)} DELETE WHERE occurred_at_ms < ${cutoffMs}`);
  }
  const rollupPartitionsDropped = await dropPartitionsOlderThan(store, database, ROLLUP_HOURLY_TABLE, policy.rollupMonths, nowMs);
  return { rawPartitionsDropped, rawRowsDeleteIssued, rollupPartitionsDropped };
}

/** Whole UTC months from the month of `fromMs` to the month of `toMs`. */
function monthsBetween(fromMs: number, toMs: number): number {
  const a = new Date(fromMs);
  const b = new Date(toMs);
  return (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + (b.getUTCMonth() - a.getUTCMonth());
}
