-- sliding-log.lua: one decision of SlidingLog (rate_limiter/algorithms.py).
-- KEYS[1]  the log, a sorted set: one member per admitted unit, scored by its time
-- KEYS[2]  a counter that gives every member a unique name (two units may share a time)
-- ARGV     cost, limit, period
-- Memory: up to `limit` members per key, the price of an exact answer.
local log, seq = KEYS[1], KEYS[2]
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local now = server_now()

-- Units admitted at or before now - period have left the window.
redis.call('ZREMRANGEBYSCORE', log, '-inf', num(now - period))
local total = redis.call('ZCARD', log)

local allowed = total + cost <= limit
local retry_after = 0
if allowed then
  local last = redis.call('INCRBY', seq, cost)          -- reserve `cost` member names
  local members = {}
  for id = last - cost + 1, last do
    members[#members + 1] = num(now)                    -- score
    members[#members + 1] = id                          -- member
  end
  redis.call('ZADD', log, unpack(members))
  total = total + cost
  expire_after(log, period)                             -- the newest leaves in `period`
  expire_after(seq, period)
elseif cost > limit then
  retry_after = INF
else
  -- The request fits once `needed` of the oldest units have left: the needed-th
  -- oldest (rank needed - 1) leaves at its time + period.
  local needed = total + cost - limit
  local entry = redis.call('ZRANGE', log, needed - 1, needed - 1, 'WITHSCORES')
  retry_after = tonumber(entry[2]) + period - now
end

local reset_after = 0
if total > 0 then                                       -- whole again when the newest leaves
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  reset_after = tonumber(newest[2]) + period - now
end
return decision(allowed, limit - total, reset_after, retry_after, 0)
