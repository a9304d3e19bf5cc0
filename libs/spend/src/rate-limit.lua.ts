/**
 * GCRA over several counters at once, all-or-nothing (gcra.ts is the same algorithm in
 * TypeScript). Time comes from the Redis server, so replicas with skewed clocks agree.
 * The counters are read with one MGET (every key of a request shares the tenant's hash tag).
 * KEYS: one per counter. ARGV: windowMs, tokens, then per counter: limit, isTokens (0|1).
 * Reply: allowed, then per counter: allowed, tooLarge, remaining, resetMs, retryAfterMs.
 */
export const RATE_LIMIT_CONSUME_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local n = #KEYS
local out = {1}
local next_tats = {}
local all = 1
local tats = redis.call('MGET', unpack(KEYS))
for i = 1, n do
  local limit = tonumber(ARGV[1 + 2 * i])
  local cost = 1
  if ARGV[2 + 2 * i] == '1' then cost = tokens end
  local interval = w / limit
  local v = tats[i]
  local tat = now
  if v then tat = math.max(tonumber(v), now) end
  local nxt = tat + cost * interval
  if nxt - now <= w + 0.000001 then
    next_tats[i] = nxt
    table.insert(out, 1)
    table.insert(out, 0)
    table.insert(out, math.max(0, math.floor((w - (nxt - now)) / interval + 0.000000001)))
    table.insert(out, math.ceil(nxt - now))
    table.insert(out, 0)
  else
    all = 0
    local too_large = 0
    local retry = math.ceil(nxt - now - w)
    if cost > limit then too_large = 1; retry = math.ceil(tat - now) end
    table.insert(out, 0)
    table.insert(out, too_large)
    table.insert(out, math.max(0, math.floor((w - (tat - now)) / interval + 0.000000001)))
    table.insert(out, math.ceil(tat - now))
    table.insert(out, retry)
  end
end
if all == 1 then
  for i = 1, n do
    redis.call('SET', KEYS[i], string.format('%.3f', next_tats[i]), 'PX', math.ceil(next_tats[i] - now) + 1000)
  end
end
out[1] = all
return out
`;

/**
 * Moves the TAT of tokens counters by a correction (gcraAdjust).
 * KEYS: tokens counters. ARGV: windowMs, delta (may be negative), then per counter: limit.
 */
export const RATE_LIMIT_CORRECT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local delta = tonumber(ARGV[2])
local tats = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  local interval = w / tonumber(ARGV[2 + i])
  local v = tats[i]
  local tat = now
  if v then tat = math.max(tonumber(v), now) end
  local nxt = math.max(now, tat + delta * interval)
  redis.call('SET', KEYS[i], string.format('%.3f', nxt), 'PX', math.ceil(nxt - now) + 1000)
end
return 1
`;
