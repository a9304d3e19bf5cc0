import type { Redis } from 'ioredis';
import { budgetKey, checkReserve, counterTtlMs, parseBudgetKey, THRESHOLDS } from './budget-period';
import { BUDGET_RAISE_LUA, BUDGET_REACHED_LUA, BUDGET_RESERVE_LUA, BUDGET_SETTLE_LUA, BUDGET_STATUS_LUA } from './budget.lua';
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
import { MemoryBudgetStore, stateOf } from './memory-budget.adapter';
import { nanoToUsd, usdToNano, usdToNanoCeil } from './money';
import { LuaScript, numbers, type ScriptCall } from './redis-client';
import { SpendError } from './spend.error';

export interface RedisBudgetStoreOptions {
  keyPrefix: string;
  /** A hold not settled within this time is released (its replica died); default 15 min. */
  leaseMs?: number;
  onDegraded?: (err: unknown) => void;
}

const RESERVE = new LuaScript(BUDGET_RESERVE_LUA);
const SETTLE = new LuaScript(BUDGET_SETTLE_LUA);
const STATUS = new LuaScript(BUDGET_STATUS_LUA);
const RAISE = new LuaScript(BUDGET_RAISE_LUA);
const REACHED = new LuaScript(BUDGET_REACHED_LUA);

/**
 * Budgets shared by every ingress replica: reserve, extend and settle are each one
 * EVALSHA that checks and writes every line of the request atomically on the server.
 * Redis unreachable at reserve time: fail-open tenants reserve against this replica's
 * in-process counters (which start from zero: the budget bound does not hold during an
 * outage; reconciliation with ClickHouse raises the shared counters after it), fail-closed
 * tenants get SpendError 'spend_store_unavailable'.
 */
export class RedisBudgetStore implements BudgetStore {
  private readonly leaseMs: number;
  private readonly local: MemoryBudgetStore;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisBudgetStoreOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 15 * 60_000;
    this.local = new MemoryBudgetStore({ leaseMs: this.leaseMs });
  }

  async reserve(request: BudgetReserveRequest): Promise<ReserveResult> {
    const amount = checkReserve(request);
    let refused: BudgetState | undefined;
    try {
      refused = await this.hold(request.lines, request.requestId, amount);
    } catch (err) {
      return this.degraded(request, err);
    }
    if (refused) return { ok: false, refusedBy: refused, degraded: false };
    return { ok: true, degraded: false, reservation: this.sharedReservation(request, amount) };
  }

  /** The keys and arguments of BUDGET_RESERVE_LUA for a hold of `amount` nano-USD on every line (also run inside the combined admission). */
  holdCall(lines: readonly BudgetLine[], rid: string, amount: number): ScriptCall {
    const now = Date.now();
    const args: Array<string | number> = [rid, String(amount), this.leaseMs];
    for (const l of lines) args.push(String(usdToNano(l.limitUsd)), Math.ceil(counterTtlMs(l.ref, now)));
    return { keys: this.keysOf(lines), args };
  }

  /** The keys and arguments of BUDGET_SETTLE_LUA for a shared reservation (a release is a settlement at 0). */
  settleCall(reservation: BudgetReservation, actualUsd: number): ScriptCall {
    const now = Date.now();
    const args: Array<string | number> = [reservation.requestId, String(usdToNano(actualUsd, 'actualUsd'))];
    for (const l of reservation.lines) args.push(String(usdToNano(l.limitUsd)), Math.ceil(counterTtlMs(l.ref, now)));
    return { keys: this.keysOf(reservation.lines), args };
  }

  /** The reservation of a hold of `amount` nano-USD that Redis accepted. */
  sharedReservation(request: BudgetReserveRequest, amount: number): BudgetReservation {
    return { tenantId: request.tenantId, requestId: request.requestId, lines: request.lines, heldNano: amount, origin: 'shared' };
  }

  /** Redis failed: this replica's own counters hold the amount (fail-open), or SpendError (fail-closed). */
  degraded(request: BudgetReserveRequest, err: unknown): ReserveResult {
    this.options.onDegraded?.(err);
    if (request.failureMode === 'closed') {
      throw new SpendError('spend_store_unavailable', 'budget store unavailable (fail-closed)', { cause: err });
    }
    return this.local.reserveNow(request, 'local', true);
  }

  async extend(reservation: BudgetReservation, additionalUsd: number): Promise<BudgetReservation | undefined> {
    if (reservation.origin === 'local') return this.local.extend(reservation, additionalUsd);
    const amount = usdToNanoCeil(additionalUsd, 'additionalUsd');
    try {
      const refused = await this.hold(reservation.lines, reservation.requestId, amount);
      return refused ? undefined : { ...reservation, heldNano: reservation.heldNano + amount };
    } catch (err) {
      // Cannot prove the extra spend fits: the stream ends at its current hold.
      this.options.onDegraded?.(err);
      return undefined;
    }
  }

  async settle(reservation: BudgetReservation, actualUsd: number): Promise<ThresholdCrossing[]> {
    if (reservation.origin === 'local') return this.local.settle(reservation, actualUsd);
    const call = this.settleCall(reservation, actualUsd);
    let reply: number[];
    try {
      reply = numbers(await SETTLE.run(this.redis, call.keys, call.args));
    } catch (err) {
      // The hold expires with its lease; the spend reaches the counter at the next
      // reconciliation with ClickHouse (the request event carries the cost).
      this.options.onDegraded?.(err);
      return [];
    }
    return settleCrossings(reservation, reply);
  }

  async markReached(reservation: BudgetReservation, withinUsd: number): Promise<ThresholdCrossing[]> {
    if (reservation.origin === 'local') return this.local.markReached(reservation, withinUsd);
    const now = Date.now();
    const args: Array<string | number> = [String(usdToNano(withinUsd, 'withinUsd'))];
    for (const l of reservation.lines) args.push(String(usdToNano(l.limitUsd)), Math.ceil(counterTtlMs(l.ref, now)));
    let reply: number[];
    try {
      reply = numbers(await REACHED.run(this.redis, this.keysOf(reservation.lines), args));
    } catch (err) {
      this.options.onDegraded?.(err);
      return [];
    }
    return crossingsOf(reservation, reply, 3, 1);
  }

  async release(reservation: BudgetReservation): Promise<void> {
    await this.settle(reservation, 0);
  }

  async status(lines: readonly BudgetLine[]): Promise<BudgetState[]> {
    if (!lines.length) return [];
    const reply = numbers(await STATUS.run(this.redis, this.keysOf(lines), []));
    return lines.map((line, i) =>
      stateOf(line, reply[i * 4], reply[i * 4 + 1], THRESHOLDS.filter((_, t) => reply[i * 4 + 2 + t] === 1)),
    );
  }

  async counters(): Promise<BudgetCounterRef[]> {
    const out: BudgetCounterRef[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${escapeGlob(this.options.keyPrefix)}bg:*`, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) {
        const ref = parseBudgetKey(this.options.keyPrefix, k);
        if (ref) out.push(ref);
      }
    } while (cursor !== '0');
    return out;
  }

  async raiseSpent(ref: BudgetCounterRef, settledUsd: number): Promise<boolean> {
    const v = usdToNano(settledUsd, 'settledUsd');
    const reply = await RAISE.run(this.redis, [budgetKey(this.options.keyPrefix, ref)], [String(v), Math.ceil(counterTtlMs(ref, Date.now()))]);
    return Number(reply) === 1;
  }

  async close(): Promise<void> {
    await this.local.close();
  }

  private async hold(lines: readonly BudgetLine[], rid: string, amount: number): Promise<BudgetState | undefined> {
    if (!lines.length) return undefined;
    const call = this.holdCall(lines, rid, amount);
    return holdRefusal(lines, numbers(await RESERVE.run(this.redis, call.keys, call.args)));
  }

  private keysOf(lines: readonly BudgetLine[]): string[] {
    return lines.flatMap((l) => {
      const k = budgetKey(this.options.keyPrefix, l.ref);
      return [k, `${k}:holds`];
    });
  }
}

/** A reserve reply: {1} held, or {0, line (1-based), spent, reserved}: the state of the refusing line. */
export function holdRefusal(lines: readonly BudgetLine[], reply: readonly number[]): BudgetState | undefined {
  if (reply[0] === 1) return undefined;
  return stateOf(lines[reply[1] - 1], reply[2], reply[3]);
}

/** A settle reply (per line: spent, reserved, crossed 0.8, crossed 1) as the thresholds crossed. */
export function settleCrossings(reservation: BudgetReservation, reply: readonly number[]): ThresholdCrossing[] {
  return crossingsOf(reservation, reply, 4, 2);
}

/** Per line, `stride` numbers: spent first, then crossed 0.8 and crossed 1 from `flagsAt` on. */
function crossingsOf(reservation: BudgetReservation, reply: readonly number[], stride: number, flagsAt: number): ThresholdCrossing[] {
  const crossings: ThresholdCrossing[] = [];
  reservation.lines.forEach((line, i) => {
    const spentUsd = nanoToUsd(reply[i * stride]);
    if (reply[i * stride + flagsAt] === 1) crossings.push({ ref: line.ref, threshold: 0.8, limitUsd: line.limitUsd, spentUsd });
    if (reply[i * stride + flagsAt + 1] === 1) crossings.push({ ref: line.ref, threshold: 1, limitUsd: line.limitUsd, spentUsd });
  });
  return crossings;
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
