import { chSql, chSqlFragment, ident, REQUESTS_TABLE, type AnalyticsStore } from '@asc/analytics';
import { periodBoundsMs } from './budget-period';
import type { BudgetCounterRef, BudgetStore } from './budget-store.port';

/** Where the settled spend of a budget counter is read from (ClickHouse in production). */
export interface SettledSpendSource {
  settledSpendUsd(ref: BudgetCounterRef): Promise<number>;
}

/**
 * Settled spend from the requests table: the cost of every request of the scope that
 * started in the period (the store charges a request to the period it was reserved in).
 */
export class ClickHouseSettledSpend implements SettledSpendSource {
  constructor(
    private readonly analytics: AnalyticsStore,
    private readonly database: string,
  ) {}

  async settledSpendUsd(ref: BudgetCounterRef): Promise<number> {
    const { startMs, endMs } = periodBoundsMs(ref.period, ref.periodKey);
    const scopeFilter =
      ref.scope === 'tenant' ? chSqlFragment`1 = 1` : ref.scope === 'app' ? chSqlFragment`app_id = ${ref.id}` : chSqlFragment`key_id = ${ref.id}`;
    const rows = await this.analytics.query<{ usd: number }>(chSql`
      SELECT sum(cost_usd) AS usd FROM ${ident(this.database, REQUESTS_TABLE)} FINAL
      WHERE tenant_id = ${ref.tenantId} AND ${scopeFilter}
        AND started_at_ms >= ${startMs} AND started_at_ms < ${endMs}`);
    return Number(rows[0]?.usd ?? 0);
  }
}

export interface ReconcileResult {
  checked: number;
  raised: BudgetCounterRef[];
}

/**
 * One reconciliation pass: every counter whose spend is below the settled spend in
 * ClickHouse is raised to it. Never lowered: ClickHouse lags the counters by the events in
 * flight, so a lower ClickHouse figure means "not arrived yet", while a higher one means
 * the counter missed spend (settlements lost to a Redis outage, fail-open spend counted
 * only on a replica, a Redis restart without persistence).
 */
export async function reconcileBudgets(store: BudgetStore, source: SettledSpendSource): Promise<ReconcileResult> {
  const refs = await store.counters();
  const raised: BudgetCounterRef[] = [];
  for (const ref of refs) {
    if (await store.raiseSpent(ref, await source.settledSpendUsd(ref))) raised.push(ref);
  }
  return { checked: refs.length, raised };
}

/** Runs reconcileBudgets every `intervalMs` (one pass at a time; a failed pass is reported and retried next time). */
export class BudgetReconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: BudgetStore,
    private readonly source: SettledSpendSource,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  start(intervalMs = 60_000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running = this.running.then(() => reconcileBudgets(this.store, this.source)).catch(this.onError);
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
