import type { Redis } from 'ioredis';
import type { BudgetReservation, BudgetReserveRequest, ThresholdCrossing } from './budget-store.port';
import { BUDGET_RESERVE_LUA, BUDGET_SETTLE_LUA } from './budget.lua';
import type { RateLimitGrant, RateLimitRequest } from './rate-limit-store.port';
import { checkActualTokens, checkCounters } from './rate-limit-counters';
import { RATE_LIMIT_CONSUME_LUA, RATE_LIMIT_CORRECT_LUA } from './rate-limit.lua';
import { checkReserve } from './budget-period';
import { holdRefusal, RedisBudgetStore, settleCrossings } from './redis-budget.adapter';
import { LuaScript, numbers, type ScriptCall } from './redis-client';
import { consumeDecision, RedisRateLimitStore } from './redis-rate-limit.adapter';
import { pairedAdmissions, resolveAdmission, type SpendAdmission, type SpendAdmissions } from './spend-admission';

/**
 * The splitting of one call's KEYS and ARGV between two scripts: ARGV[1] is how many keys the
 * first takes, ARGV[2] how many arguments; the second gets the rest.
 */
const SPLIT = `
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local k1, a1, k2, a2 = {}, {}, {}, {}
for i = 1, nk do k1[i] = KEYS[i] end
for i = nk + 1, #KEYS do k2[#k2 + 1] = KEYS[i] end
for i = 1, na do a1[i] = ARGV[2 + i] end
for i = 3 + na, #ARGV do a2[#a2 + 1] = ARGV[i] end
`;

/** Each store's script as a local function of its own KEYS and ARGV (the scripts are unchanged). */
const fn = (name: string, source: string) => `local function ${name}(KEYS, ARGV)\n${source}\nend\n`;

/**
 * The rate-limit check and the budget hold in one script: counters first; only when they
 * allow is the budget held; when the budget refuses, the token estimate just charged is
 * refunded (the request still counts against RPM, as in the paired form).
 * KEYS: counters, then the budget lines' keys. ARGV: counters' key count, consume's argument
 * count, consume's arguments, reserve's arguments. Reply: {consume reply, reserve reply ({}: not tried)}.
 */
const ADMIT = new LuaScript(`${fn('consume', RATE_LIMIT_CONSUME_LUA)}${fn('reserve', BUDGET_RESERVE_LUA)}${fn('correct', RATE_LIMIT_CORRECT_LUA)}${SPLIT}
local rate = {1}
if nk > 0 then rate = consume(k1, a1) end
if rate[1] ~= 1 or #k2 == 0 then return {rate, {}} end
local held = reserve(k2, a2)
if held[1] ~= 1 and nk > 0 and tonumber(a1[2]) > 0 then
  local ck, ca = {}, {a1[1], -tonumber(a1[2])}
  for i = 1, nk do
    if a1[2 + 2 * i] == '1' then
      ck[#ck + 1] = k1[i]
      ca[#ca + 1] = a1[1 + 2 * i]
    end
  end
  if #ck > 0 then correct(ck, ca) end
end
return {rate, held}
`);

/**
 * The TPM correction and the budget settlement in one script.
 * KEYS: the tokens counters, then the lines' keys. ARGV: as ADMIT, with correct's and settle's
 * arguments. Reply: settle's reply ({} without a reservation).
 */
const SETTLE = new LuaScript(`${fn('correct', RATE_LIMIT_CORRECT_LUA)}${fn('settle', BUDGET_SETTLE_LUA)}${SPLIT}
if nk > 0 then correct(k1, a1) end
if #k2 == 0 then return {} end
return settle(k2, a2)
`);

const NONE: ScriptCall = { keys: [], args: [] };

function joined(first: ScriptCall, second: ScriptCall): ScriptCall {
  return { keys: [...first.keys, ...second.keys], args: [first.keys.length, first.args.length, ...first.args, ...second.args] };
}

export interface RedisSpendAdmissionsOptions {
  /** Told when Redis failed (the tenant's failure mode then decided). */
  onDegraded?: (err: unknown) => void;
}

/**
 * Admission and settlement of a request on Redis, one EVALSHA each instead of one per store:
 * half the commands the paired form sends (each costs the client ~15 µs and the server a
 * script call), and the admission is atomic across limits and budgets. The stores' own
 * scripts run unchanged inside (a request's keys share the tenant's hash tag, so one script
 * may touch them all on a Redis Cluster). Redis unreachable: each store's fallback decides,
 * as in the paired form; a request admitted by a fallback is settled by it.
 */
export class RedisSpendAdmissions implements SpendAdmissions {
  private readonly paired: SpendAdmissions;

  constructor(
    private readonly redis: Redis,
    private readonly limits: RedisRateLimitStore,
    private readonly budgets: RedisBudgetStore,
    private readonly options: RedisSpendAdmissionsOptions = {},
  ) {
    this.paired = pairedAdmissions(limits, budgets);
  }

  async admit(rateLimit: RateLimitRequest, budget: BudgetReserveRequest | undefined): Promise<SpendAdmission> {
    checkCounters(rateLimit.tenantId, rateLimit.counters, rateLimit.tokens);
    const hold = budget && budget.lines.length ? budget : undefined;
    if (!rateLimit.counters.length && !hold) return this.paired.admit(rateLimit, undefined); // nothing to send
    const amount = hold ? checkReserve(hold) : 0;
    const call = joined(
      rateLimit.counters.length ? this.limits.consumeCall(rateLimit) : NONE,
      hold ? this.budgets.holdCall(hold.lines, hold.requestId, amount) : NONE,
    );
    let reply: unknown[];
    try {
      reply = (await ADMIT.run(this.redis, call.keys, call.args)) as unknown[];
    } catch (err) {
      const rate = Promise.resolve().then(() => this.limits.degraded(rateLimit, err));
      const reserved = Promise.resolve().then(() => (hold ? this.budgets.degraded(hold, err) : undefined));
      const [r, b] = await Promise.allSettled([rate, reserved]);
      return resolveAdmission(this.limits, this.budgets, r, b);
    }
    const decision = consumeDecision(rateLimit, numbers(reply[0]));
    if (!decision.allowed) return { ok: false, reason: 'rate_limited', rate: decision };
    if (!hold) return { ok: true, rate: decision, reservation: undefined, degraded: false };
    const refused = holdRefusal(hold.lines, numbers(reply[1]));
    if (refused) return { ok: false, reason: 'insufficient_quota', rate: decision, refusedBy: refused };
    return { ok: true, rate: decision, reservation: this.budgets.sharedReservation(hold, amount), degraded: false };
  }

  async settle(grant: RateLimitGrant, actualTokens: number, reservation: BudgetReservation | undefined, costUsd: number): Promise<ThresholdCrossing[]> {
    if (grant.origin === 'local' || reservation?.origin === 'local') return this.paired.settle(grant, actualTokens, reservation, costUsd);
    checkActualTokens(actualTokens);
    const correct = this.limits.correctCall(grant, actualTokens);
    const settle = reservation ? this.budgets.settleCall(reservation, Math.max(0, costUsd)) : undefined;
    if (!correct && !settle) return [];
    const call = joined(correct ?? NONE, settle ?? NONE);
    let reply: number[];
    try {
      reply = numbers(await SETTLE.run(this.redis, call.keys, call.args));
    } catch (err) {
      // As in the paired form: a lost correction errs by the estimate's error; the hold expires
      // with its lease and the spend reaches the counter at the next reconciliation.
      this.options.onDegraded?.(err);
      return [];
    }
    return reservation ? settleCrossings(reservation, reply) : [];
  }
}
