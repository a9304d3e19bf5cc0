import type { BudgetPeriod, BudgetScope, LimitsFailureMode } from './spend-policy';

/** One budget counter: a scope's spend in one UTC calendar period. */
export interface BudgetCounterRef {
  tenantId: string;
  scope: BudgetScope;
  /** The tenant id, app id or key id. */
  id: string;
  period: BudgetPeriod;
  /** 'YYYY-MM-DD' (day) or 'YYYY-MM' (month), UTC. */
  periodKey: string;
}

/** A budget that applies to a request: a counter and its limit. */
export interface BudgetLine {
  ref: BudgetCounterRef;
  limitUsd: number;
}

export interface BudgetReserveRequest {
  tenantId: string;
  /** Unique per request (the reservation's id in the store). */
  requestId: string;
  lines: readonly BudgetLine[];
  /** The request's maximum cost: input estimate + max output tokens at the deployment's price. */
  amountUsd: number;
  failureMode: LimitsFailureMode;
}

/** What a request holds; hand it back to extend/settle/release. */
export interface BudgetReservation {
  readonly tenantId: string;
  readonly requestId: string;
  readonly lines: readonly BudgetLine[];
  /** Nano-USD held on every line (the reserve plus every successful extend). */
  readonly heldNano: number;
  /** 'local' when the fail-open fallback holds it (Redis was down at reserve time); 'lease' when held in a replica's slice (spend-leases.ts). */
  readonly origin: 'shared' | 'local' | 'lease';
}

export interface BudgetState {
  line: BudgetLine;
  spentUsd: number;
  reservedUsd: number;
  /** limit − spent − reserved, never below 0. */
  remainingUsd: number;
  /** Thresholds (0.8, 1) already reported as budget.threshold events this period (filled by `status`). */
  thresholdsCrossed: number[];
}

export type ReserveResult =
  | { ok: true; reservation: BudgetReservation; degraded: boolean }
  /** Refused: the first line the amount did not fit in, with its state at that instant. Nothing was held. */
  | { ok: false; refusedBy: BudgetState; degraded: boolean };

/** A threshold a settle crossed, reported once per counter and period across all replicas. */
export interface ThresholdCrossing {
  ref: BudgetCounterRef;
  /** 0.8 or 1. */
  threshold: number;
  limitUsd: number;
  spentUsd: number;
}

/**
 * Dollar budgets shared by every ingress replica (Redis) or kept in process (embedded).
 * Invariant of every adapter: a reserve or extend succeeds only when, on every line,
 * spent + reserved + amount ≤ limit, checked and applied atomically across replicas.
 * Settlement swaps a request's hold for its exact cost; docs/spend.md derives the bound
 * on overshoot from this.
 */
export interface BudgetStore {
  /** Holds `amountUsd` on every line, all or nothing. */
  reserve(request: BudgetReserveRequest): Promise<ReserveResult>;
  /**
   * Holds `additionalUsd` more for a running request (a stream growing past its hold),
   * all or nothing; undefined when it does not fit (the runner ends the stream).
   */
  extend(reservation: BudgetReservation, additionalUsd: number): Promise<BudgetReservation | undefined>;
  /**
   * Records the exact cost and drops the hold, on every line of the reservation's
   * periods (a request reserved before midnight is spent in the day it started).
   * Returns the thresholds this settlement crossed.
   */
  settle(reservation: BudgetReservation, actualUsd: number): Promise<ThresholdCrossing[]>;
  /**
   * After a stream was cut because the budget had less than one output token left (call it
   * after settle): reports 0.8 and 1 for each line of the reservation whose remaining is
   * below `withinUsd`, once per line and period like settle's crossings. Without this a
   * budget used to its last token would never report 100 %: the chunk that crossed the
   * hold is neither sent nor metered, so the spend stops just short of the limit.
   */
  markReached(reservation: BudgetReservation, withinUsd: number): Promise<ThresholdCrossing[]>;
  /** Drops the hold without spending (the request failed before any cost, or was cancelled). */
  release(reservation: BudgetReservation): Promise<void>;
  /** Current spend, reserved and remaining per line (the admin budget-status view). */
  status(lines: readonly BudgetLine[]): Promise<BudgetState[]>;
  /** Every counter the store holds (for reconciliation). */
  counters(): Promise<BudgetCounterRef[]>;
  /**
   * Raises a counter's spend to `settledUsd` when it is lower (reconciliation with the
   * settled spend in ClickHouse); never lowers it. True when it changed.
   */
  raiseSpent(ref: BudgetCounterRef, settledUsd: number): Promise<boolean>;
  close(): Promise<void>;
}
