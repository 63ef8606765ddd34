-- sliding-window.lua: one decision of SlidingWindow (rate_limiter/algorithms.py).
-- KEYS[1]  a hash {start, previous, current}: when the current window began, and the
--          counts of the previous and the current window
-- ARGV     cost, limit, period
local key = KEYS[1]
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local now = server_now()

local state = redis.call('HMGET', key, 'start', 'previous', 'current')
local start = tonumber(state[1]) or now                 -- windows start at the first request
local previous = tonumber(state[2]) or 0
local current = tonumber(state[3]) or 0

if now - start >= period then                           -- moved on by whole periods
  local periods = math.floor((now - start) / period)
  if periods == 1 then previous = current else previous = 0 end
  current = 0
  start = start + periods * period
end

-- The sliding window still overlaps this share of the previous window; assume its
-- requests were spread evenly and count that share of them.
local estimate = previous * (1 - (now - start) / period) + current

local slack = RESOLUTION * (limit / period)             -- see prelude.lua
local allowed = estimate + cost <= limit + slack
local retry_after = 0
if allowed then
  current = current + cost
  estimate = estimate + cost
else
  local room = limit - cost                             -- what the others may add up to
  if room < 0 then
    retry_after = INF
  elseif previous > 0 and current <= room then
    -- Later in this window, once the previous window's share has shrunk enough.
    retry_after = math.max(0, start + period * (1 - (room - current) / previous) - now)
  else
    -- Only in the next window, as the current count (then the previous) shrinks.
    retry_after = start + period + period * (1 - room / current) - now
  end
end

-- Whole again once both counts have slid out; the current one takes a period longer.
local horizon = 1
if current > 0 then horizon = 2 end
local reset_after = 0
if previous > 0 or current > 0 then reset_after = start + horizon * period - now end

redis.call('HSET', key, 'start', num(start), 'previous', num(previous), 'current', num(current))
expire_after(key, start + horizon * period - now)
return decision(allowed, whole(limit - estimate, slack), reset_after, retry_after, 0)
