-- gcra.lua: one decision of GCRA (rate_limiter/algorithms.py).
-- KEYS[1]  the theoretical arrival time (TAT) of the next request, a string
-- ARGV     cost, rate, period, capacity (= burst)
local key = KEYS[1]
local cost = tonumber(ARGV[1])
local interval = tonumber(ARGV[3]) / tonumber(ARGV[2])  -- one request is due every T s
local capacity = tonumber(ARGV[4])
local window = capacity * interval                      -- how far ahead of schedule one may be
local now = server_now()

-- A TAT in the past means the client is behind schedule: it restarts from now.
local tat = math.max(tonumber(redis.call('GET', key)) or now, now)
local new_tat = tat + cost * interval                   -- TAT if this request is admitted
local allow_at = new_tat - window                       -- the earliest it may arrive

local allowed = now + RESOLUTION >= allow_at         -- see prelude.lua
local retry_after = 0
if allowed then
  tat = new_tat
  redis.call('SET', key, num(tat))
  expire_after(key, tat - now)                          -- once TAT has passed, same as absent
elseif cost > capacity then
  retry_after = INF
else
  retry_after = allow_at - now
end
-- What is left: how many more intervals fit between TAT and the tolerated lead.
local remaining = whole((window - (tat - now)) / interval, RESOLUTION / interval)
return decision(allowed, remaining, tat - now, retry_after, 0)
