-- token-bucket.lua: one decision of TokenBucket (rate_limiter/algorithms.py).
-- KEYS[1]  the bucket, a hash {tokens, ts}; absent means full
-- ARGV     cost, rate, period, capacity (= burst)
local key = KEYS[1]
local cost = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / tonumber(ARGV[3])      -- tokens added per second
local capacity = tonumber(ARGV[4])
local slack = RESOLUTION * rate                        -- see prelude.lua
local now = server_now()

local state = redis.call('HMGET', key, 'tokens', 'ts')  -- {false, false} if absent
local tokens = tonumber(state[1]) or capacity           -- a new bucket starts full
local last = tonumber(state[2]) or now
-- Refill for the time since the last update, never beyond the brim. max(0, ...)
-- because a server clock stepped backwards must not drain the bucket.
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)

local allowed = cost <= tokens + slack
local retry_after = 0
if allowed then
  tokens = math.max(0, tokens - cost)                   -- take the tokens
elseif cost > capacity then
  retry_after = INF                                     -- it can never fit
else
  retry_after = (cost - tokens) / rate                  -- until enough have dripped in
end

redis.call('HSET', key, 'tokens', num(tokens), 'ts', num(now))
expire_after(key, (capacity - tokens) / rate)           -- full again: same as absent
return decision(allowed, whole(tokens, slack), (capacity - tokens) / rate, retry_after, 0)
