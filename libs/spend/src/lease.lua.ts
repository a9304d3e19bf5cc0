import { EXPIRE_HOLDS, NOW } from './budget.lua';

/*
 * Lease scripts (spend-leases.ts): a replica takes a slice of a counter in one script and
 * admits requests from it in process. Every slice is charged in Redis when it is taken, so
 * what the replicas admit from their slices never exceeds what the shared counters allow.
 */

/**
 * One GCRA counter (rate-limit.lua.ts): gives back `give` units (negative: charges them, the
 * token corrections of requests admitted from the slice), then takes up to `want` units,
 * as many as fit now (0 when none).
 * KEYS: the counter. ARGV: windowMs, limit, give, want.
 * Reply: taken, remaining after, ms until full.
 */
export const RATE_LEASE_LUA = `${NOW}
local w = tonumber(ARGV[1])
local interval = w / tonumber(ARGV[2])
local v = redis.call('GET', KEYS[1])
local tat = now
if v then tat = math.max(tonumber(v), now) end
tat = math.max(now, tat - tonumber(ARGV[3]) * interval)
local n = math.max(0, math.min(tonumber(ARGV[4]), math.floor((w - (tat - now)) / interval + 0.000000001)))
tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
return {n, math.max(0, math.floor((w - (tat - now)) / interval + 0.000000001)), math.ceil(tat - now)}
`;

/**
 * One budget line (budget.lua.ts): adds the spend settled from the slice since the last
 * call to the line, then resizes the slice, a hold under the lease's id like a request's
 * hold (released by the next reserve if the replica dies and stops renewing it): at least
 * `keep` (what requests admitted from it still hold), plus up to `want` more, but never
 * more than 1/`share` of the room the other holders leave, and nothing more when that is
 * below `least` (a small budget, or one near its cap, is decided request by request). When
 * the line has no room for `keep` (its limit was lowered), the slice shrinks toward
 * `inFlight`, what the requests admitted from it hold.
 * Thresholds are reported as in settle (once per line and period).
 * KEYS: hash, holds. ARGV: leaseId, spent (nano-USD), keep, want, leaseMs, limit, ttlMs, share, least, inFlight.
 * Reply: the new hold, spent, crossed 0.8 (0|1), crossed 1 (0|1).
 */
export const BUDGET_LEASE_LUA = `${NOW}${EXPIRE_HOLDS}
local h, z, rid = KEYS[1], KEYS[2], ARGV[1]
expire_holds(h, z)
local old = tonumber(redis.call('HGET', h, 'r:' .. rid) or '0')
local spent = tonumber(redis.call('HINCRBY', h, 'spent', ARGV[2]))
local limit = tonumber(ARGV[6])
local keep = tonumber(ARGV[3])
local room = limit - spent - (tonumber(redis.call('HGET', h, 'reserved') or '0') - old) - keep
local hold = keep
if room < 0 then
  -- The limit was lowered (or others' holds grew past it): give back what the requests in
  -- flight do not hold.
  hold = math.max(tonumber(ARGV[10]), keep + room)
else
  local more = math.min(tonumber(ARGV[4]), math.floor(room / tonumber(ARGV[8])))
  if more >= tonumber(ARGV[9]) then hold = keep + more end
end
if hold ~= old then redis.call('HINCRBY', h, 'reserved', string.format('%d', hold - old)) end
if hold > 0 then
  redis.call('HSET', h, 'r:' .. rid, string.format('%d', hold))
  redis.call('ZADD', z, now + tonumber(ARGV[5]), rid)
else
  redis.call('HDEL', h, 'r:' .. rid)
  redis.call('ZREM', z, rid)
end
local c80, c100 = 0, 0
if tonumber(ARGV[2]) > 0 then
  if spent >= 0.8 * limit then c80 = redis.call('HSETNX', h, 't0.8', '1') end
  if spent >= limit then c100 = redis.call('HSETNX', h, 't1', '1') end
end
redis.call('PEXPIRE', h, ARGV[7])
redis.call('PEXPIRE', z, ARGV[7])
return {hold, spent, c80, c100}
`;
