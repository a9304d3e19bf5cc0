import type { BudgetLine, BudgetCounterRef, BudgetReserveRequest } from './budget-store.port';
import { usdToNanoCeil } from './money';
import { enc } from './rate-limit-counters';
import type { BudgetPeriod, BudgetSetting, SpendSubject } from './spend-policy';
import { SpendError } from './spend.error';

/** The period last computed for each kind: every request in it reuses its key (a Date and its ISO text cost ~9 µs a request under load). */
const current: Record<BudgetPeriod, { key: string; startMs: number; endMs: number } | undefined> = { day: undefined, month: undefined };

/** 'YYYY-MM-DD' or 'YYYY-MM' of the UTC calendar period containing nowMs. */
export function periodKeyOf(period: BudgetPeriod, nowMs: number): string {
  const last = current[period];
  if (last && nowMs >= last.startMs && nowMs < last.endMs) return last.key;
  const iso = new Date(nowMs).toISOString();
  const key = period === 'day' ? iso.slice(0, 10) : iso.slice(0, 7);
  current[period] = { key, ...periodBoundsMs(period, key) };
  return key;
}

/** Bounds already computed, by period and key (a request's lines are in the current periods: a handful of entries). */
const bounds = new Map<string, { startMs: number; endMs: number }>();

/** [start, end) of a period in epoch ms, UTC. */
export function periodBoundsMs(period: BudgetPeriod, periodKey: string): { startMs: number; endMs: number } {
  const cacheKey = `${period}:${periodKey}`;
  let b = bounds.get(cacheKey);
  if (b) return b;
  if (period === 'day') {
    const startMs = Date.parse(`${periodKey}T00:00:00Z`);
    b = { startMs, endMs: startMs + 86_400_000 };
  } else {
    const [y, m] = periodKey.split('-').map(Number);
    b = { startMs: Date.UTC(y, m - 1, 1), endMs: Date.UTC(y, m, 1) };
  }
  if (bounds.size >= 256) bounds.clear(); // reconciliation walks old periods; keep the map small
  bounds.set(cacheKey, Object.freeze(b));
  return b;
}

/** Keep a counter two days past its period (late settlements, the status view), then let it expire. */
export function counterTtlMs(ref: BudgetCounterRef, nowMs: number): number {
  return Math.max(60_000, periodBoundsMs(ref.period, ref.periodKey).endMs + 2 * 86_400_000 - nowMs);
}

/** The budget lines of a request from its policy's budgets (ids from the authenticated key). */
export function budgetLines(budgets: readonly BudgetSetting[], subject: SpendSubject, nowMs: number): BudgetLine[] {
  return budgets.map((b) => ({
    ref: {
      tenantId: subject.tenantId,
      scope: b.scope,
      id: b.scope === 'tenant' ? subject.tenantId : b.scope === 'app' ? subject.appId : subject.keyId,
      period: b.period,
      periodKey: periodKeyOf(b.period, nowMs),
    },
    limitUsd: b.usd,
  }));
}

export function budgetKey(prefix: string, ref: BudgetCounterRef): string {
  return `${prefix}bg:{${enc(ref.tenantId)}}:${ref.scope}:${enc(ref.id)}:${ref.period}:${ref.periodKey}`;
}

/** Inverse of budgetKey (reconciliation lists counters by key). */
export function parseBudgetKey(prefix: string, key: string): BudgetCounterRef | undefined {
  if (!key.startsWith(`${prefix}bg:{`)) return undefined;
  const m = /^\{([^}]*)\}:(tenant|app|key):([^:]+):(day|month):(\d{4}-\d{2}(?:-\d{2})?)$/.exec(key.slice(prefix.length + 3));
  if (!m) return undefined;
  return {
    tenantId: decodeURIComponent(m[1]),
    scope: m[2] as BudgetCounterRef['scope'],
    id: decodeURIComponent(m[3]),
    period: m[4] as BudgetPeriod,
    periodKey: m[5],
  };
}

export function checkLines(tenantId: string, lines: readonly BudgetLine[]): void {
  if (typeof tenantId !== 'string' || !tenantId) throw new SpendError('spend_invalid_input', 'tenantId is required');
  for (const l of lines) {
    if (l.ref.tenantId !== tenantId) throw new SpendError('spend_invalid_input', 'a budget line belongs to another tenant');
    if (!l.ref.id) throw new SpendError('spend_invalid_input', `budget ${l.ref.scope}: id is required`);
    if (!Number.isFinite(l.limitUsd) || l.limitUsd < 0) {
      throw new SpendError('spend_invalid_input', `budget ${l.ref.scope}/${l.ref.period}: usd must be a finite, non-negative number`);
    }
    if (!/^\d{4}-\d{2}(-\d{2})?$/.test(l.ref.periodKey)) throw new SpendError('spend_invalid_input', 'budget periodKey is malformed');
  }
}

/** Validates a reserve request (both adapters refuse the same input); returns its amount in nano-USD. */
export function checkReserve(request: BudgetReserveRequest): number {
  checkLines(request.tenantId, request.lines);
  if (!request.requestId) throw new SpendError('spend_invalid_input', 'requestId is required');
  return usdToNanoCeil(request.amountUsd, 'amountUsd');
}

export const THRESHOLDS = [0.8, 1] as const;
