import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { budgetKey, checkReserve, counterTtlMs } from './budget-period';
import type { BudgetLine, BudgetReservation, BudgetReserveRequest, BudgetStore, ThresholdCrossing } from './budget-store.port';
import { BUDGET_LEASE_LUA, RATE_LEASE_LUA } from './lease.lua';
import { nanoToUsd, usdToNano, usdToNanoCeil } from './money';
import { checkActualTokens, checkCounters, counterCost, counterKey } from './rate-limit-counters';
import type { RateLimitCounter, RateLimitDecision, RateLimitGrant, RateLimitRequest } from './rate-limit-store.port';
import { LuaScript, numbers } from './redis-client';
import type { SpendAdmission, SpendAdmissions } from './spend-admission';

const RATE_LEASE = new LuaScript(RATE_LEASE_LUA);
const BUDGET_LEASE = new LuaScript(BUDGET_LEASE_LUA);

export interface SpendLeasesOptions {
  /** The Redis stores' key prefix (the slices are taken from the same counters). */
  keyPrefix: string;
  /** The rate limits' window (the Redis rate-limit store's); default 60 000. */
  windowMs?: number;
  /** How often slices are resized and the spend settled from them is written to Redis; default 100 ms. */
  tickMs?: number;
  /** A slice holds about this much of the recent demand; default 500 ms. */
  horizonMs?: number;
  /** A slice not used for this long is given back; default 1000 ms. */
  idleMs?: number;
  /** A budget slice not renewed for this long (its replica died) is released by the next reserve; default 30 s. */
  leaseTtlMs?: number;
  /** Counters with a lower limit per window are never sliced (each unit matters); default 1000. */
  minRateLimit?: number;
  /** A rate slice is at most limit / rateShare units; default 20. */
  rateShare?: number;
  /** A budget slice grows by at most 1/budgetShare of the room the other holders leave; default 8. */
  budgetShare?: number;
  /** A counter is sliced once it admitted this many requests within one tick; default 2. */
  hotAdmissions?: number;
  /** Thresholds crossed by spend written from the slices (budget.threshold events). */
  onCrossings?: (crossings: ThresholdCrossing[]) => void;
  /** Told when a slice could not be resized (Redis failed; requests then take the shared path). */
  onDegraded?: (err: unknown) => void;
}

interface Slice {
  key: string;
  /** Admissions and demand (units or nano-USD) since the last tick. */
  hits: number;
  demand: number;
  /** Demand per ms, smoothed over ticks. */
  rate: number;
  /** The size last asked for (0: not sliced). */
  want: number;
  lastUsed: number;
  lastRoll: number;
  rolling: boolean;
  /** After a failed resize, none before this instant. */
  retryAt: number;
}

interface RateSlice extends Slice {
  counter: RateLimitCounter;
  /** Units this replica may admit; negative: token corrections owed to the counter. */
  units: number;
  /** Grants admitted from the slice and not yet settled. */
  inUse: number;
  /** The counter in Redis after the last resize (the x-ratelimit-* headers of requests admitted here). */
  remaining: number;
  resetMs: number;
}

interface BudgetSlice extends Slice {
  line: BudgetLine;
  /** The slice's hold in Redis (nano-USD). */
  hold: number;
  /** Held by requests admitted from the slice and not yet settled. */
  inFlight: number;
  /** Settled from the slice and not yet written to Redis; `sending` is being written. */
  pending: number;
  sending: number;
  /** The largest amount a request asked of this line. */
  largest: number;
  /** While a resize is in flight: what the slice may still admit (the part of it the resize keeps). */
  duringRoll: number;
}

/** What a budget slice may still admit. */
const free = (s: BudgetSlice) => (s.rolling ? s.duringRoll : s.hold - s.inFlight - s.pending - s.sending);

/** Holds `amount` of a budget slice for a request. */
function holdIn(s: BudgetSlice, amount: number): void {
  if (s.rolling) s.duringRoll -= amount;
  s.inFlight += amount;
}

/**
 * Admission from per-replica slices of the shared counters: the replica takes a slice of
 * each busy rate-limit counter (units charged to the GCRA counter in Redis) and of each busy
 * budget line (a hold in Redis under the replica's lease id) in the background, and admits
 * requests that fit their slices in process, with no Redis round trip on their path; their
 * settled spend is written back once a tick. A request that does not fit a slice (a quiet
 * counter, a small limit, a budget near its cap) takes the shared path (`shared`: one
 * admission script), which decides exactly as before. Because every slice is charged in
 * Redis when taken, the replicas together never admit more than the shared counters allow:
 * the bound on a budget's overshoot is the one of docs/spend.md. What changes: a slice a
 * replica holds is not available to the others (at most 1/budgetShare of a budget's room,
 * none when that is less than two requests' holds; limit/rateShare of a rate limit, none
 * below minRateLimit), the budget-status view counts unused slices as reserved and lags the
 * spend by a tick, and thresholds are reported when the tick writes the spend.
 */
export class LeasedSpendAdmissions implements SpendAdmissions {
  private readonly rates = new Map<string, RateSlice>();
  private readonly budgets = new Map<string, BudgetSlice>();
  private readonly granted = new WeakMap<RateLimitGrant, RateSlice[]>();
  /** A reservation held in slices: the slices, the nano-USD held in them, and held in Redis under the request's id (a stream grown past its slice). */
  private readonly reserved = new WeakMap<BudgetReservation, { slices: BudgetSlice[]; inSlices: number; shared: number }>();
  private readonly leaseId = `lease:${randomBytes(8).toString('hex')}`;
  private readonly timer: NodeJS.Timeout;
  private readonly o: Required<Omit<SpendLeasesOptions, 'onCrossings' | 'onDegraded'>>;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly shared: SpendAdmissions,
    private readonly budgetStore: BudgetStore,
    private readonly options: SpendLeasesOptions,
  ) {
    this.o = {
      keyPrefix: options.keyPrefix,
      windowMs: options.windowMs ?? 60_000,
      tickMs: options.tickMs ?? 100,
      horizonMs: options.horizonMs ?? 500,
      idleMs: options.idleMs ?? 1000,
      leaseTtlMs: options.leaseTtlMs ?? 30_000,
      minRateLimit: options.minRateLimit ?? 1000,
      rateShare: options.rateShare ?? 20,
      budgetShare: options.budgetShare ?? 8,
      hotAdmissions: options.hotAdmissions ?? 2,
    };
    this.timer = setInterval(() => this.tick(), this.o.tickMs);
    this.timer.unref();
  }

  async admit(rateLimit: RateLimitRequest, budget: BudgetReserveRequest | undefined): Promise<SpendAdmission> {
    checkCounters(rateLimit.tenantId, rateLimit.counters, rateLimit.tokens);
    const hold = budget && budget.lines.length ? budget : undefined;
    const amount = hold ? checkReserve(hold) : 0;
    // A counter below minRateLimit is never sliced: such a request is decided in Redis.
    if (this.closed || !rateLimit.counters.every((c) => c.limit >= this.o.minRateLimit)) return this.shared.admit(rateLimit, budget);
    const now = Date.now();
    // Plain loops (a request's path): the slices, what each is asked for, whether all fit.
    const counters = rateLimit.counters;
    const rs: RateSlice[] = new Array(counters.length);
    let local = true;
    for (let i = 0; i < counters.length; i++) {
      const s = (rs[i] = this.rateSlice(rateLimit.tenantId, counters[i], now));
      const cost = counterCost(counters[i], rateLimit.tokens);
      note(s, cost);
      if (!(s.units > 0 && s.units >= cost)) local = false;
    }
    const bs: BudgetSlice[] = [];
    if (hold) {
      for (const l of hold.lines) {
        const s = this.budgetSlice(l, now);
        bs.push(s);
        note(s, amount);
        if (amount > s.largest) s.largest = amount;
        if (!(s.hold > 0 && free(s) >= amount)) local = false;
      }
    }
    if (!local) return this.shared.admit(rateLimit, budget);
    const grant: RateLimitGrant = { tenantId: rateLimit.tenantId, counters, tokens: rateLimit.tokens, origin: 'lease' };
    const states: RateLimitDecision['states'] = new Array(rs.length);
    for (let i = 0; i < rs.length; i++) {
      const s = rs[i];
      s.lastUsed = now;
      s.units -= counterCost(counters[i], rateLimit.tokens);
      s.inUse++;
      if (s.units < s.want / 4 && now >= s.retryAt) void this.rollRate(s, s.want);
      states[i] = { counter: s.counter, remaining: Math.min(s.counter.limit, s.remaining + Math.max(0, s.units)), resetMs: Math.max(0, s.resetMs - (now - s.lastRoll)), retryAfterMs: 0, exceeded: false };
    }
    this.granted.set(grant, rs);
    let reservation: BudgetReservation | undefined;
    if (hold) {
      for (const s of bs) {
        s.lastUsed = now;
        holdIn(s, amount);
      }
      reservation = { tenantId: hold.tenantId, requestId: hold.requestId, lines: hold.lines, heldNano: amount, origin: 'lease' };
      this.reserved.set(reservation, { slices: bs, inSlices: amount, shared: 0 });
    }
    const rate: RateLimitDecision = {
      allowed: true,
      states,
      retryAfterMs: 0,
      tooLarge: false,
      degraded: false,
      grant,
    };
    return { ok: true, rate, reservation, degraded: false };
  }

  async settle(grant: RateLimitGrant, actualTokens: number, reservation: BudgetReservation | undefined, costUsd: number): Promise<ThresholdCrossing[]> {
    if (grant.origin !== 'lease' && reservation?.origin !== 'lease') return this.shared.settle(grant, actualTokens, reservation, costUsd);
    checkActualTokens(actualTokens);
    for (const s of this.granted.get(grant) ?? []) {
      s.inUse--;
      if (s.counter.kind === 'tokens') s.units += grant.tokens - actualTokens;
    }
    this.granted.delete(grant);
    const held = reservation && this.reserved.get(reservation);
    if (!reservation || !held) return [];
    this.reserved.delete(reservation);
    // The cost is spent from the slices up to what they hold for the request (written at the
    // next tick); beyond that (a stream grown in Redis), spent in Redis now, where it was held.
    const cost = usdToNano(Math.max(0, costUsd), 'costUsd');
    const fromSlices = Math.min(cost, held.inSlices);
    for (const s of held.slices) {
      s.inFlight -= held.inSlices;
      s.pending += fromSlices;
    }
    if (!held.shared) return [];
    const inRedis: BudgetReservation = { ...reservation, heldNano: held.shared, origin: 'shared' };
    return this.budgetStore.settle(inRedis, nanoToUsd(cost - fromSlices));
  }

  /**
   * Grows a running request's hold (a stream's StreamBudgetGuard): from its slices when they
   * have room, else in Redis under the request's id, as a shared reservation would.
   */
  async extend(reservation: BudgetReservation, additionalUsd: number): Promise<BudgetReservation | undefined> {
    const held = this.reserved.get(reservation);
    if (!held) return this.budgetStore.extend(reservation, additionalUsd);
    const amount = usdToNanoCeil(additionalUsd, 'additionalUsd');
    let grown: BudgetReservation | undefined;
    if (!held.shared && held.slices.every((s) => s.hold > 0 && free(s) >= amount)) {
      for (const s of held.slices) holdIn(s, amount);
      held.inSlices += amount;
      grown = { ...reservation, heldNano: reservation.heldNano + amount };
    } else {
      const inRedis = await this.budgetStore.extend({ ...reservation, heldNano: held.shared, origin: 'shared' }, additionalUsd);
      if (!inRedis) return undefined;
      held.shared = inRedis.heldNano;
      grown = { ...reservation, heldNano: held.inSlices + held.shared };
    }
    this.reserved.delete(reservation);
    this.reserved.set(grown, held);
    return grown;
  }

  /**
   * Writes every settled spend and gives every slice back (what is still in flight stays
   * held); a counter is sliced again once it is busy again.
   */
  async flush(): Promise<void> {
    for (const s of [...this.rates.values(), ...this.budgets.values()]) s.want = 0;
    for (;;) {
      const busy = [...this.rates.values(), ...this.budgets.values()].filter((s) => s.rolling);
      if (!busy.length) break;
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all([
      ...[...this.rates.values()].filter((s) => s.units !== 0).map((s) => this.rollRate(s, 0)),
      ...[...this.budgets.values()].filter((s) => s.hold || s.pending).map((s) => this.rollBudget(s, 0)),
    ]);
  }

  /** Stops taking slices and gives them back. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private rateSlice(tenantId: string, counter: RateLimitCounter, now: number): RateSlice {
    const key = counterKey(this.o.keyPrefix, tenantId, counter);
    let s = this.rates.get(key);
    if (!s || s.counter.limit !== counter.limit) {
      if (s && s.units !== 0) void this.rollRate(s, 0); // the limit changed: give the old slice back
      s = { ...slice(key, now), counter, units: 0, inUse: 0, remaining: 0, resetMs: 0 };
      this.rates.set(key, s);
    }
    return s;
  }

  private budgetSlice(line: BudgetLine, now: number): BudgetSlice {
    const key = budgetKey(this.o.keyPrefix, line.ref);
    let s = this.budgets.get(key);
    if (!s) {
      s = { ...slice(key, now), line, hold: 0, inFlight: 0, pending: 0, sending: 0, largest: 0, duringRoll: 0 };
      this.budgets.set(key, s);
    } else if (s.line.limitUsd !== line.limitUsd) {
      s.line = line; // the next resize applies the new limit
    }
    return s;
  }

  private tick(): void {
    const now = Date.now();
    for (const [key, s] of this.rates) {
      if (!this.tickSlice(s, now, Math.max(1, Math.floor(s.counter.limit / this.o.rateShare)))) {
        if (s.units !== 0) void this.rollRate(s, 0);
        else if (!s.inUse && !s.rolling) this.rates.delete(key);
      } else if (!s.rolling && now >= s.retryAt && (s.units < s.want / 2 || s.units < 0)) {
        void this.rollRate(s, s.want);
      }
    }
    for (const [key, s] of this.budgets) {
      const active = this.tickSlice(s, now, Number.MAX_SAFE_INTEGER);
      if (active) s.want = Math.max(s.want, 2 * s.largest);
      if (s.rolling || now < s.retryAt) continue;
      if (!active) {
        if (s.hold || s.pending) void this.rollBudget(s, 0);
        else if (!s.inFlight) this.budgets.delete(key);
      } else if (s.pending || free(s) < s.want / 2 || now - s.lastRoll >= this.o.leaseTtlMs / 3) {
        void this.rollBudget(s, s.want);
      }
    }
  }

  /** Updates a slice's demand and wanted size (at most `cap`); false when it should not be sliced (quiet or idle). */
  private tickSlice(s: Slice, now: number, cap: number): boolean {
    s.rate = (s.rate + s.demand / this.o.tickMs) / 2;
    const hot = s.hits >= this.o.hotAdmissions;
    s.hits = 0;
    s.demand = 0;
    if (s.want === 0) {
      if (!hot) return false;
      s.lastUsed = now; // (re)starts slicing: idle counts from here
    } else if (now - s.lastUsed >= this.o.idleMs) {
      // Not admitted from for idleMs: given back (a slice near a budget's cap, or of a counter
      // whose requests another counter keeps on the shared path, is of no use here).
      s.want = 0;
      return false;
    }
    s.want = Math.min(cap, Math.ceil(s.rate * this.o.horizonMs));
    return s.want > 0;
  }

  /**
   * Tops a rate slice up to `want` units (debts paid first), or gives it back (want 0).
   * Requests keep being admitted from the units it has meanwhile.
   */
  private rollRate(s: RateSlice, want: number): Promise<void> {
    if (s.rolling) return Promise.resolve();
    s.rolling = true;
    const giveBack = want === 0 || this.closed;
    const give = giveBack ? s.units : Math.min(0, s.units);
    s.units -= give;
    const take = giveBack ? 0 : Math.max(0, want - s.units);
    return RATE_LEASE.run(this.redis, [s.key], [this.o.windowMs, s.counter.limit, give, take])
      .then(
        (reply) => {
          const [taken, remaining, resetMs] = numbers(reply);
          s.units += taken;
          s.remaining = remaining;
          s.resetMs = resetMs;
          s.lastRoll = Date.now();
        },
        (err: unknown) => {
          // A debt is owed again; units given back or taken by a script whose reply was lost
          // are lost to this replica: both err toward admitting less.
          if (!giveBack) s.units += give;
          s.retryAt = Date.now() + 1000;
          this.options.onDegraded?.(err);
        },
      )
      .finally(() => {
        s.rolling = false;
      });
  }

  /**
   * Writes the spend settled from a budget slice and resizes it to about `want` unused
   * (0: gives it back). Meanwhile requests are admitted from the part it keeps.
   */
  private rollBudget(s: BudgetSlice, want: number): Promise<void> {
    if (s.rolling) return Promise.resolve();
    const now = Date.now();
    const target = this.closed ? 0 : want;
    const keepFree = Math.max(0, Math.min(free(s), target));
    s.rolling = true;
    s.duringRoll = keepFree;
    s.sending = s.pending;
    s.pending = 0;
    const l = s.line;
    // A slice already of use is topped up by any amount; a new one only when worth two requests.
    const least = keepFree >= 2 * s.largest ? 0 : 2 * s.largest;
    const args = [this.leaseId, String(s.sending), String(s.inFlight + keepFree), String(Math.max(0, target - keepFree)), this.o.leaseTtlMs, String(usdToNano(l.limitUsd)), Math.ceil(counterTtlMs(l.ref, now)), this.o.budgetShare, String(least), String(s.inFlight)];
    return BUDGET_LEASE.run(this.redis, [s.key, `${s.key}:holds`], args)
      .then(
        (reply) => {
          const [held, spent, c80, c100] = numbers(reply);
          s.hold = held;
          s.sending = 0;
          s.lastRoll = Date.now();
          const crossings: ThresholdCrossing[] = [];
          const spentUsd = nanoToUsd(spent);
          if (c80 === 1) crossings.push({ ref: l.ref, threshold: 0.8, limitUsd: l.limitUsd, spentUsd });
          if (c100 === 1) crossings.push({ ref: l.ref, threshold: 1, limitUsd: l.limitUsd, spentUsd });
          if (crossings.length) this.options.onCrossings?.(crossings);
        },
        (err: unknown) => {
          // Written again at the next resize: a reply lost after the script ran counts the spend
          // twice (errs toward refusing), one that never ran loses nothing. The old hold stands.
          s.pending += s.sending;
          s.sending = 0;
          s.retryAt = Date.now() + 1000;
          this.options.onDegraded?.(err);
        },
      )
      .finally(() => {
        s.rolling = false;
      });
  }
}

function slice(key: string, now: number): Slice {
  return { key, hits: 0, demand: 0, rate: 0, want: 0, lastUsed: now, lastRoll: now, rolling: false, retryAt: 0 };
}

function note(s: Slice, demand: number): void {
  s.hits++;
  s.demand += demand;
}
