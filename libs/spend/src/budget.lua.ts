/*
 * Budget scripts. Each line is two keys sharing the tenant's hash tag: a hash (fields
 * spent, reserved, r:<requestId> = held, t0.8/t1 = threshold reported) and a sorted set of
 * holds by lease deadline, so the hold of a replica that died mid-request is released by
 * the next reserve on that line instead of leaking until the period ends.
 * Amounts are integer nano-USD passed as strings (HINCRBY takes them verbatim: Lua's own
 * number-to-string would switch to exponent notation past 1e14).
 */

export const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

export const EXPIRE_HOLDS = `
local function expire_holds(h, z)
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, 100)
  for _, r in ipairs(expired) do
    local held = redis.call('HGET', h, 'r:' .. r)
    if held and held ~= '0' then redis.call('HINCRBY', h, 'reserved', '-' .. held) end
    redis.call('HDEL', h, 'r:' .. r)
    redis.call('ZREM', z, r)
  end
end
`;

/**
 * KEYS: hash1, holds1, hash2, holds2, …
 * ARGV: requestId, amount, leaseMs, then per line: limit, ttlMs.
 * Reply: {1} held on every line, or {0, line index (1-based), spent, reserved} and nothing held.
 */
export const BUDGET_RESERVE_LUA = `${NOW}${EXPIRE_HOLDS}
local rid = ARGV[1]
local amount = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local n = #KEYS / 2
for i = 1, n do
  local h = KEYS[2 * i - 1]
  expire_holds(h, KEYS[2 * i])
  local f = redis.call('HMGET', h, 'spent', 'reserved')
  local spent = tonumber(f[1] or '0')
  local reserved = tonumber(f[2] or '0')
  if spent + reserved + amount > tonumber(ARGV[2 + 2 * i]) then
    return {0, i, spent, reserved}
  end
end
for i = 1, n do
  local h = KEYS[2 * i - 1]
  local z = KEYS[2 * i]
  local ttl = ARGV[3 + 2 * i]
  redis.call('HINCRBY', h, 'reserved', ARGV[2])
  redis.call('HINCRBY', h, 'r:' .. rid, ARGV[2])
  redis.call('ZADD', z, now + lease, rid)
  redis.call('PEXPIRE', h, ttl)
  redis.call('PEXPIRE', z, ttl)
end
return {1}
`;

/**
 * KEYS: as reserve. ARGV: requestId, actual, then per line: limit, ttlMs.
 * Drops the request's hold and adds its cost; reports each threshold the first time the
 * spend reaches it (HSETNX: once per line and period, whichever replica gets there).
 * Reply per line: spent, reserved, crossed 0.8 (0|1), crossed 1 (0|1).
 */
export const BUDGET_SETTLE_LUA = `
local rid = ARGV[1]
local actual = tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS / 2 do
  local h = KEYS[2 * i - 1]
  local z = KEYS[2 * i]
  local limit = tonumber(ARGV[1 + 2 * i])
  local held = redis.call('HGET', h, 'r:' .. rid)
  local reserved
  if held and held ~= '0' then reserved = redis.call('HINCRBY', h, 'reserved', '-' .. held) end
  redis.call('HDEL', h, 'r:' .. rid)
  redis.call('ZREM', z, rid)
  local spent = redis.call('HINCRBY', h, 'spent', ARGV[2])
  local c80, c100 = 0, 0
  if actual > 0 then
    if spent >= 0.8 * limit then c80 = redis.call('HSETNX', h, 't0.8', '1') end
    if spent >= limit then c100 = redis.call('HSETNX', h, 't1', '1') end
  end
  redis.call('PEXPIRE', h, ARGV[2 + 2 * i])
  table.insert(out, spent)
  table.insert(out, reserved or tonumber(redis.call('HGET', h, 'reserved') or '0'))
  table.insert(out, c80)
  table.insert(out, c100)
end
return out
`;

/**
 * KEYS: hash, holds per line. Reply per line: spent, reserved, 0.8 reported (0|1), 1 reported
 * (0|1); expired holds are released first.
 */
export const BUDGET_STATUS_LUA = `${NOW}${EXPIRE_HOLDS}
local out = {}
for i = 1, #KEYS / 2 do
  local h = KEYS[2 * i - 1]
  expire_holds(h, KEYS[2 * i])
  local f = redis.call('HMGET', h, 'spent', 'reserved', 't0.8', 't1')
  table.insert(out, tonumber(f[1] or '0'))
  table.insert(out, tonumber(f[2] or '0'))
  table.insert(out, f[3] and 1 or 0)
  table.insert(out, f[4] and 1 or 0)
end
return out
`;

/** KEYS: hash. ARGV: settled, ttlMs. Raises spent to settled when lower; reply 1 when changed. */
export const BUDGET_RAISE_LUA = `
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
if spent >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'spent', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * KEYS: as reserve. ARGV: within, then per line: limit, ttlMs.
 * A stream was cut because less than one output token of a budget was left: the spend stops
 * within that token of the limit and may never equal it, so a line whose remaining
 * (limit − spent − reserved) is below `within` has reached its budget: 0.8 and 1 are
 * reported as in settle (once per line and period).
 * Reply per line: spent, crossed 0.8 (0|1), crossed 1 (0|1).
 */
export const BUDGET_REACHED_LUA = `${NOW}${EXPIRE_HOLDS}
local within = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local h = KEYS[2 * i - 1]
  expire_holds(h, KEYS[2 * i])
  local limit = tonumber(ARGV[2 * i])
  local f = redis.call('HMGET', h, 'spent', 'reserved')
  local spent = tonumber(f[1] or '0')
  local reserved = tonumber(f[2] or '0')
  local c80, c100 = 0, 0
  if limit - spent - reserved < within then
    c80 = redis.call('HSETNX', h, 't0.8', '1')
    c100 = redis.call('HSETNX', h, 't1', '1')
    redis.call('PEXPIRE', h, ARGV[1 + 2 * i])
  end
  table.insert(out, spent)
  table.insert(out, c80)
  table.insert(out, c100)
end
return out
`;
