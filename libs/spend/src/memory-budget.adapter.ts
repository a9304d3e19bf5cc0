import { budgetKey, checkReserve, parseBudgetKey, periodBoundsMs, THRESHOLDS } from './budget-period';
import type {
  BudgetCounterRef,
  BudgetLine,
  BudgetReservation,
  BudgetReserveRequest,
  BudgetState,
  BudgetStore,
  ReserveResult,
  ThresholdCrossing,
} from './budget-store.port';
import { nanoToUsd, usdToNano, usdToNanoCeil } from './money';

export interface MemoryBudgetStoreOptions {
  /** A hold not settled within this time is released (its replica died); default 15 min. */
  leaseMs?: number;
  now?: () => number;
}

interface Counter {
  spent: number;
  reserved: number;
  holds: Map<string, { amount: number; deadline: number }>;
  crossed: Set<number>;
}

/**
 * Budgets in process (embedded mode, and the per-replica fallback of the Redis store in
 * fail-open mode). Every method runs its check and its writes in one synchronous block,
 * which is what makes it atomic in a single process.
 */
export class MemoryBudgetStore implements BudgetStore {
  private readonly counters_ = new Map<string, Counter>();
  private readonly leaseMs: number;
  private readonly now: () => number;

  constructor(options: MemoryBudgetStoreOptions = {}) {
    this.leaseMs = options.leaseMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
  }

  async reserve(request: BudgetReserveRequest): Promise<ReserveResult> {
    return this.reserveNow(request, 'local', false);
  }

  reserveNow(request: BudgetReserveRequest, origin: BudgetReservation['origin'], degraded: boolean): ReserveResult {
    const amount = checkReserve(request);
    const refused = this.hold(request.lines, request.requestId, amount);
    if (refused) return { ok: false, refusedBy: refused, degraded };
    return {
      ok: true,
      degraded,
      reservation: { tenantId: request.tenantId, requestId: request.requestId, lines: request.lines, heldNano: amount, origin },
    };
  }

  async extend(reservation: BudgetReservation, additionalUsd: number): Promise<BudgetReservation | undefined> {
    const amount = usdToNanoCeil(additionalUsd, 'additionalUsd');
    const refused = this.hold(reservation.lines, reservation.requestId, amount);
    return refused ? undefined : { ...reservation, heldNano: reservation.heldNano + amount };
  }

  async settle(reservation: BudgetReservation, actualUsd: number): Promise<ThresholdCrossing[]> {
    return this.settleNow(reservation, usdToNano(actualUsd, 'actualUsd'));
  }

  async markReached(reservation: BudgetReservation, withinUsd: number): Promise<ThresholdCrossing[]> {
    const within = usdToNano(withinUsd, 'withinUsd');
    const crossings: ThresholdCrossing[] = [];
    for (const line of reservation.lines) {
      const c = this.counter(line.ref);
      this.expireHolds(c);
      if (usdToNano(line.limitUsd) - c.spent - c.reserved >= within) continue;
      for (const t of THRESHOLDS) {
        if (c.crossed.has(t)) continue;
        c.crossed.add(t);
        crossings.push({ ref: line.ref, threshold: t, limitUsd: line.limitUsd, spentUsd: nanoToUsd(c.spent) });
      }
    }
    return crossings;
  }

  async release(reservation: BudgetReservation): Promise<void> {
    this.settleNow(reservation, 0);
  }

  status(lines: readonly BudgetLine[]): Promise<BudgetState[]> {
    return Promise.resolve(
      lines.map((line) => {
        const c = this.counters_.get(budgetKey('', line.ref));
        if (c) this.expireHolds(c);
        return stateOf(line, c?.spent ?? 0, c?.reserved ?? 0, THRESHOLDS.filter((t) => c?.crossed.has(t)));
      }),
    );
  }

  counters(): Promise<BudgetCounterRef[]> {
    this.dropFinishedPeriods();
    return Promise.resolve([...this.counters_.keys()].map((k) => parseBudgetKey('', k)).filter((r): r is BudgetCounterRef => !!r));
  }

  async raiseSpent(ref: BudgetCounterRef, settledUsd: number): Promise<boolean> {
    const v = usdToNano(settledUsd, 'settledUsd');
    const c = this.counter(ref);
    if (c.spent >= v) return false;
    c.spent = v;
    return true;
  }

  close(): Promise<void> {
    this.counters_.clear();
    return Promise.resolve();
  }

  private hold(lines: readonly BudgetLine[], rid: string, amount: number): BudgetState | undefined {
    const counters = lines.map((l) => this.counter(l.ref));
    for (let i = 0; i < lines.length; i++) {
      const c = counters[i];
      this.expireHolds(c);
      if (c.spent + c.reserved + amount > usdToNano(lines[i].limitUsd)) return stateOf(lines[i], c.spent, c.reserved);
    }
    const deadline = this.now() + this.leaseMs;
    for (const c of counters) {
      c.reserved += amount;
      const h = c.holds.get(rid);
      // Re-inserted at the end: holds stay in deadline order (one lease length for all), so
      // expiry looks only at the oldest ones.
      c.holds.delete(rid);
      c.holds.set(rid, { amount: (h?.amount ?? 0) + amount, deadline });
    }
    return undefined;
  }

  private settleNow(reservation: BudgetReservation, actual: number): ThresholdCrossing[] {
    const crossings: ThresholdCrossing[] = [];
    for (const line of reservation.lines) {
      const c = this.counter(line.ref);
      const h = c.holds.get(reservation.requestId);
      if (h) {
        c.reserved -= h.amount;
        c.holds.delete(reservation.requestId);
      }
      c.spent += actual;
      if (actual === 0) continue;
      const limit = usdToNano(line.limitUsd);
      for (const t of THRESHOLDS) {
        if (c.spent >= t * limit && !c.crossed.has(t)) {
          c.crossed.add(t);
          crossings.push({ ref: line.ref, threshold: t, limitUsd: line.limitUsd, spentUsd: nanoToUsd(c.spent) });
        }
      }
    }
    return crossings;
  }

  private counter(ref: BudgetCounterRef): Counter {
    const key = budgetKey('', ref);
    let c = this.counters_.get(key);
    if (!c) {
      c = { spent: 0, reserved: 0, holds: new Map(), crossed: new Set() };
      this.counters_.set(key, c);
    }
    return c;
  }

  private expireHolds(c: Counter): void {
    const now = this.now();
    for (const [rid, h] of c.holds) {
      if (h.deadline > now) break;
      c.reserved -= h.amount;
      c.holds.delete(rid);
    }
  }

  /** Counters are kept two days past their period, like the Redis keys' TTL. */
  private dropFinishedPeriods(): void {
    const now = this.now();
    for (const key of this.counters_.keys()) {
      const ref = parseBudgetKey('', key);
      if (ref && periodBoundsMs(ref.period, ref.periodKey).endMs + 2 * 86_400_000 < now) this.counters_.delete(key);
    }
  }
}

export function stateOf(line: BudgetLine, spentNano: number, reservedNano: number, thresholdsCrossed: number[] = []): BudgetState {
  const limit = usdToNano(line.limitUsd);
  return {
    line,
    spentUsd: nanoToUsd(spentNano),
    reservedUsd: nanoToUsd(reservedNano),
    remainingUsd: nanoToUsd(Math.max(0, limit - spentNano - reservedNano)),
    thresholdsCrossed,
  };
}
