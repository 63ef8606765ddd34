-- leaky-bucket.lua: one decision of LeakyBucket (rate_limiter/algorithms.py).
-- KEYS[1]  the bucket, a hash {level, ts}; absent means empty
-- ARGV     cost, rate, period, capacity (= burst), mode ("meter" | "queue"), delay_after
local key = KEYS[1]
local cost = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / tonumber(ARGV[3])      -- units leaking out per second
local capacity = tonumber(ARGV[4])
local slack = RESOLUTION * rate                        -- see prelude.lua
local queue = ARGV[5] == 'queue'
local delay_after = tonumber(ARGV[6])
local now = server_now()

local state = redis.call('HMGET', key, 'level', 'ts')
local level = tonumber(state[1]) or 0                   -- a new bucket is empty
local last = tonumber(state[2]) or now
level = math.max(0, level - math.max(0, now - last) * rate)  -- what leaked out since

local allowed = level + cost <= capacity + slack      -- would it overflow?
local delay, retry_after = 0, 0
if allowed then
  if queue then
    -- Queue mode: wait until the water already in the bucket has leaked out, except
    -- for the first delay_after units of a burst (nginx's limit_req delay=).
    delay = math.max(0, level - delay_after) / rate
  end
  level = level + cost
elseif cost > capacity then
  retry_after = INF
else
  retry_after = (level + cost - capacity) / rate        -- until enough has leaked
end

redis.call('HSET', key, 'level', num(level), 'ts', num(now))
expire_after(key, level / rate)                         -- empty again: same as absent
return decision(allowed, whole(capacity - level, slack), level / rate, retry_after, delay)
