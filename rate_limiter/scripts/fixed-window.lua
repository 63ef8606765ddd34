-- fixed-window.lua: one decision of FixedWindow (rate_limiter/algorithms.py).
-- KEYS[1]  the window's counter, a string; its time to live is the rest of the window
-- ARGV     cost, limit, period
-- No TIME here: the key's expiry *is* the window, measured by the server's clock.
local key = KEYS[1]
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])

local count = tonumber(redis.call('GET', key)) or 0     -- no key: no window open
local left = 0                                          -- seconds until the window ends
if count > 0 then
  left = redis.call('PTTL', key) / 1000
end

local allowed = count + cost <= limit
local retry_after = 0
if allowed then
  count = redis.call('INCRBY', key, cost)
  if count == cost then                                 -- the first of a new window:
    expire_after(key, period)                           -- the window opens now
    left = period
  end
elseif cost > limit then
  retry_after = INF
else
  retry_after = left                                    -- refused until the window ends
end
return decision(allowed, limit - count, left, retry_after, 0)
