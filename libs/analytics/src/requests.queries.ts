import { AnalyticsError } from './analytics.error';
import type { AnalyticsStore } from './analytics-store.port';
import { REQUESTS_TABLE } from './schema';
import { mapInSlices } from '@asc/events';
import { assertSqlIdentifier, chSql, chSqlFragment, ident, sqlJoin, sqlTuple, type SqlFragment } from './sql-literal';

/** One request event as metering writes it (`day` and `inserted_at_ms` are filled for you). */
export interface RequestEventRow {
  event_id: string;
  request_id: string;
  tenant_id: string;
  app_id: string;
  key_id: string;
  /** The tenant's end user ('' when the request named none). */
  end_user_id: string;
  api: string;
  stream: boolean | number;
  requested_model: string;
  served_model: string;
  provider: string;
  deployment_id: string;
  region: string;
  credential_id: string;
  credential_version: number;
  policy_id: string;
  policy_version: number;
  decision: string;
  reason_code: string;
  status: string;
  http_status: number;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  /** Reasoning/thinking tokens (a subset of output_tokens), 0 if the provider reported none. */
  reasoning_tokens: number;
  /** True/1 when a token count is the gateway's estimate rather than the provider's report. */
  usage_estimated: boolean | number;
  fallback_count?: number;
  /** JSON array of the attempts: [{deploymentId, provider, region, status, reasonCode, latencyMs}]. */
  attempts?: string;
  cost_usd: number;
  latency_ms: number;
  ttft_ms: number;
  started_at_ms: number;
  occurred_at_ms: number;
  /** The routing configuration version the request was routed under (migration 7); 0 when unknown. */
  routing_version?: number;
  /** W3C trace id of the request ('' when none). Optional for writers older than migration 6. */
  trace_id?: string;
  /** JSON array of {detector, action, count}: what each guardrail did (never the matched text). */
  guardrail_actions: string;
  /** Guardrail actions that redacted or blocked (the rollups sum it; migration 6). */
  guardrail_action_count?: number;
  /** Migration 5 (spend control). Optional for producers that predate it: written as 0. */
  cache_hit?: boolean | number;
  /** On a cache hit, the cost of the cached answer when it was produced. */
  cost_saved_usd?: number;
  /** The budget hold taken before the upstream call (the request's maximum cost). */
  budget_reserved_usd?: number;
}

/** A stored row, numbers normalised (UInt64 columns arrive as strings: see the port). */
export interface RequestRecord extends Omit<RequestEventRow, 'stream' | 'usage_estimated' | 'cache_hit' | 'cost_saved_usd' | 'budget_reserved_usd'> {
  stream: number;
  usage_estimated: number;
  cache_hit: number;
  cost_saved_usd: number;
  budget_reserved_usd: number;
  /** UTC day of occurred_at_ms, 'YYYY-MM-DD'. */
  day: string;
  inserted_at_ms: number;
}

export interface ModelUsage {
  served_model: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_usd: number;
}

const STRING_FIELDS = [
  'event_id', 'request_id', 'tenant_id', 'app_id', 'key_id', 'api', 'requested_model', 'served_model', 'provider',
  'deployment_id', 'region', 'credential_id', 'policy_id', 'decision', 'reason_code', 'status', 'end_user_id',
  'guardrail_actions',
] as const;
const UINT_FIELDS: ReadonlyArray<readonly [keyof RequestEventRow, number]> = [
  ['credential_version', 2 ** 32 - 1],
  ['policy_version', Number.MAX_SAFE_INTEGER],
  ['http_status', 2 ** 16 - 1],
  ['input_tokens', 2 ** 32 - 1],
  ['output_tokens', 2 ** 32 - 1],
  ['cached_input_tokens', 2 ** 32 - 1],
  ['reasoning_tokens', 2 ** 32 - 1],
  ['latency_ms', 2 ** 32 - 1],
  ['ttft_ms', 2 ** 32 - 1],
  ['started_at_ms', Number.MAX_SAFE_INTEGER],
  ['occurred_at_ms', Number.MAX_SAFE_INTEGER],
];
/** UInt8 columns written as 0/1 (18.16 has no Bool). */
const FLAG_FIELDS = ['stream', 'usage_estimated'] as const;
const UINT64_FIELDS = ['policy_version', 'started_at_ms', 'occurred_at_ms', 'inserted_at_ms', 'routing_version'] as const;

/** Refuses a row the columns cannot hold exactly (18.16 would wrap a negative into a UInt silently). */
function checkRow(row: RequestEventRow, index: number): void {
  const where = () => `requests row ${index} (event_id ${JSON.stringify(String(row.event_id).slice(0, 80))})`;
  for (const f of STRING_FIELDS) {
    if (typeof row[f] !== 'string') throw new AnalyticsError('analytics_invalid_row', `${where()}: ${f} must be a string`);
  }
  if (!row.event_id || !row.tenant_id) throw new AnalyticsError('analytics_invalid_row', `${where()}: event_id and tenant_id are required`);
  for (const [f, max] of UINT_FIELDS) {
    const v = row[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      throw new AnalyticsError('analytics_invalid_row', `${where()}: ${f} must be an integer in [0, ${max}]`);
    }
  }
  const rv = row.routing_version;
  if (rv !== undefined && (typeof rv !== 'number' || !Number.isSafeInteger(rv) || rv < 0)) {
    throw new AnalyticsError('analytics_invalid_row', `${where()}: routing_version must be an integer in [0, ${Number.MAX_SAFE_INTEGER}]`);
  }
  for (const f of ['cost_usd', 'cost_saved_usd', 'budget_reserved_usd'] as const) {
    const v = f === 'cost_usd' ? row[f] : (row[f] ?? 0);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new AnalyticsError('analytics_invalid_row', `${where()}: ${f} must be a finite number >= 0`);
    }
  }
  if (row.cache_hit !== undefined && typeof row.cache_hit !== 'boolean' && row.cache_hit !== 0 && row.cache_hit !== 1) {
    throw new AnalyticsError('analytics_invalid_row', `${where()}: cache_hit must be a boolean or 0/1`);
  }
  for (const f of FLAG_FIELDS) {
    const v = row[f];
    if (typeof v !== 'boolean' && v !== 0 && v !== 1) {
      throw new AnalyticsError('analytics_invalid_row', `${where()}: ${f} must be a boolean or 0/1`);
    }
  }
}

function checkTenant(tenantId: string): void {
  if (typeof tenantId !== 'string' || tenantId.length === 0) {
    throw new AnalyticsError('analytics_invalid_literal', 'tenantId is required');
  }
}

function checkMs(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new AnalyticsError('analytics_invalid_literal', `${name} must be epoch milliseconds`);
}

/** Event ids per existence check: keeps each SELECT far below max_query_size (256 KiB on both engines). */
const ID_CHUNK = 1000;
/** Existence checks of one batch in flight at once (each is one short query). */
const CHECK_CONCURRENCY = 4;

export interface IdempotentInsertResult {
  inserted: number;
  /** Already stored, or repeated inside the batch. */
  skipped: number;
}

/** The chunk's primary-key ranges, one per tenant: `tenant_id = t AND occurred_at_ms BETWEEN first AND last`. */
function keyRanges(chunk: readonly RequestEventRow[]): SqlFragment {
  const ranges: SqlFragment[] = [];
  for (let i = 0; i < chunk.length; ) {
    const tenant = chunk[i].tenant_id;
    const from = chunk[i].occurred_at_ms;
    let to = from;
    for (; i < chunk.length && chunk[i].tenant_id === tenant; i++) to = chunk[i].occurred_at_ms; // sorted by tenant, then time
    ranges.push(chSqlFragment`(tenant_id = ${tenant} AND occurred_at_ms >= ${from} AND occurred_at_ms <= ${to})`);
  }
  return sqlJoin(ranges, ' OR ');
}

/** Rows the range read may return before the check names the chunk's ids instead. */
const RANGE_READ_LIMIT = 4 * ID_CHUNK;

/**
 * The ids of one chunk that are already stored. First the chunk's primary-key ranges are
 * read whole (`SELECT event_id … WHERE ranges LIMIT n`): for live traffic they hold nothing
 * yet, and reading a few granules costs the engine far less than parsing a thousand
 * literals. Only when the ranges already hold many rows (a replay of old events) does it
 * ask for the chunk's ids by name (`… AND event_id IN (…)`).
 */
async function storedIds(store: AnalyticsStore, database: string, chunk: readonly RequestEventRow[]): Promise<string[]> {
  const table = ident(database, REQUESTS_TABLE);
  const ranges = keyRanges(chunk);
  const inRanges = await store.query<{ event_id: string }>(chSql`SELECT event_id FROM ${table} WHERE ${ranges} LIMIT ${RANGE_READ_LIMIT + 1}`);
  if (inRanges.length <= RANGE_READ_LIMIT) return inRanges.map((r) => r.event_id);
  const named = await store.query<{ event_id: string }>(chSql`
      SELECT DISTINCT event_id FROM ${table}
      WHERE (${ranges}) AND event_id IN ${sqlTuple(chunk.map((r) => r.event_id))}`);
  return named.map((r) => r.event_id);
}

/**
 * Writes request events, skipping event_ids that are already stored or repeated within the
 * batch. The batch is sorted by (tenant, time) — the table's key — and checked 1000 ids at a
 * time (storedIds), up to 4 such checks at once.
 * This makes duplicates rare, not impossible: two writers racing on the same event both
 * insert. ReplacingMergeTree collapses those copies at merge time, so reads that must be
 * exact use FINAL (as usageByModel and requestRow do) — or argMax/LIMIT 1 BY event_id.
 */
export async function insertRequestsIdempotent(
  store: AnalyticsStore,
  database: string,
  rows: readonly RequestEventRow[],
): Promise<IdempotentInsertResult> {
  assertSqlIdentifier(database, 'database name');
  await mapInSlices(rows, checkRow);
  const unique = new Map<string, RequestEventRow>();
  for (const row of rows) if (!unique.has(row.event_id)) unique.set(row.event_id, row);
  const candidates = [...unique.values()].sort((a, b) =>
    a.tenant_id < b.tenant_id ? -1 : a.tenant_id > b.tenant_id ? 1 : a.occurred_at_ms - b.occurred_at_ms,
  );
  const present = new Set<string>();
  const chunks: RequestEventRow[][] = [];
  for (let i = 0; i < candidates.length; i += ID_CHUNK) chunks.push(candidates.slice(i, i + ID_CHUNK));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      for (const id of await storedIds(store, database, chunks[next++])) present.add(id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, chunks.length) }, worker));
  const insertedAt = Date.now();
  const fresh: Record<string, unknown>[] = await mapInSlices(
    candidates.filter((r) => !present.has(r.event_id)),
    (r) => ({
      ...r,
      stream: r.stream ? 1 : 0,
      usage_estimated: r.usage_estimated ? 1 : 0,
      routing_version: r.routing_version ?? 0,
      cache_hit: r.cache_hit ? 1 : 0,
      cost_saved_usd: r.cost_saved_usd ?? 0,
      budget_reserved_usd: r.budget_reserved_usd ?? 0,
      inserted_at_ms: insertedAt,
    }),
  );
  await store.insert(`${database}.${REQUESTS_TABLE}`, fresh);
  return { inserted: fresh.length, skipped: rows.length - fresh.length };
}

/** 'YYYY-MM-DD' (UTC) of an epoch-ms value. */
function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Usage of one tenant in [fromMs, toMs) by served model, most expensive first. Exact under
 * duplicate delivery (FINAL). The `day` bounds only let the engine skip whole partitions.
 */
export async function usageByModel(
  store: AnalyticsStore,
  database: string,
  tenantId: string,
  fromMs: number,
  toMs: number,
): Promise<ModelUsage[]> {
  checkTenant(tenantId);
  checkMs(fromMs, 'fromMs');
  checkMs(toMs, 'toMs');
  if (toMs <= fromMs) return [];
  // Aliases differ from column names on purpose: `sum(x) AS x` is a cyclic alias on 18.16.
  const rows = await store.query<{ model: string; n: string; inp: string; outp: string; reas: string; cost: number }>(chSql`
    SELECT served_model AS model, count() AS n, sum(input_tokens) AS inp, sum(output_tokens) AS outp,
      sum(reasoning_tokens) AS reas, sum(cost_usd) AS cost
    FROM ${ident(database, REQUESTS_TABLE)} FINAL
    WHERE tenant_id = ${tenantId}
      AND day >= toDate(${utcDay(fromMs)}) AND day <= toDate(${utcDay(toMs - 1)})
      AND occurred_at_ms >= ${fromMs} AND occurred_at_ms < ${toMs}
    GROUP BY served_model
    ORDER BY cost DESC, model ASC`);
  return rows.map((r) => ({
    served_model: r.model,
    requests: Number(r.n),
    input_tokens: Number(r.inp),
    output_tokens: Number(r.outp),
    reasoning_tokens: Number(r.reas),
    cost_usd: Number(r.cost),
  }));
}

/** The dimensions usage can be grouped by, and the column each reads. */
export const USAGE_DIMENSIONS = {
  tenant: 'tenant_id',
  app: 'app_id',
  key: 'key_id',
  end_user: 'end_user_id',
  model: 'served_model',
} as const;
export type UsageDimension = keyof typeof USAGE_DIMENSIONS;

export interface DimensionUsage {
  /** The value of the grouped column ('' = requests without one, e.g. no end user). */
  key: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_usd: number;
}

/**
 * Usage of one tenant in [fromMs, toMs) grouped by tenant, app, key, end user or served
 * model, most expensive first (at most `limit` groups). Exact under duplicate delivery (FINAL).
 */
export async function usageBy(
  store: AnalyticsStore,
  database: string,
  tenantId: string,
  dimension: UsageDimension,
  fromMs: number,
  toMs: number,
  limit = 1000,
): Promise<DimensionUsage[]> {
  checkTenant(tenantId);
  checkMs(fromMs, 'fromMs');
  checkMs(toMs, 'toMs');
  const column = USAGE_DIMENSIONS[dimension];
  if (!column) throw new AnalyticsError('analytics_invalid_literal', `cannot group usage by ${String(dimension)}`);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new AnalyticsError('analytics_invalid_literal', 'limit must be 1..100000');
  if (toMs <= fromMs) return [];
  const rows = await store.query<{ k: string; n: string; inp: string; outp: string; reas: string; cost: number }>(chSql`
    SELECT ${ident(column)} AS k, count() AS n, sum(input_tokens) AS inp, sum(output_tokens) AS outp,
      sum(reasoning_tokens) AS reas, sum(cost_usd) AS cost
    FROM ${ident(database, REQUESTS_TABLE)} FINAL
    WHERE tenant_id = ${tenantId}
      AND day >= toDate(${utcDay(fromMs)}) AND day <= toDate(${utcDay(toMs - 1)})
      AND occurred_at_ms >= ${fromMs} AND occurred_at_ms < ${toMs}
    GROUP BY ${ident(column)}
    ORDER BY cost DESC, k ASC
    LIMIT ${limit}`);
  return rows.map((r) => ({
    key: r.k,
    requests: Number(r.n),
    input_tokens: Number(r.inp),
    output_tokens: Number(r.outp),
    reasoning_tokens: Number(r.reas),
    cost_usd: Number(r.cost),
  }));
}

/** The stored event of one request of one tenant (the latest, if several), or undefined. */
export async function requestRow(
  store: AnalyticsStore,
  database: string,
  tenantId: string,
  requestId: string,
): Promise<RequestRecord | undefined> {
  checkTenant(tenantId);
  if (typeof requestId !== 'string' || requestId.length === 0) throw new AnalyticsError('analytics_invalid_literal', 'requestId is required');
  const rows = await store.query<Record<string, unknown>>(chSql`
    SELECT *, day FROM ${ident(database, REQUESTS_TABLE)} FINAL
    WHERE tenant_id = ${tenantId} AND request_id = ${requestId}
    ORDER BY occurred_at_ms DESC, event_id DESC
    LIMIT 1`);
  const row = rows[0];
  if (!row) return undefined;
  for (const f of UINT64_FIELDS) row[f] = Number(row[f]);
  return row as unknown as RequestRecord;
}
