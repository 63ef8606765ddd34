-- prelude.lua: put in front of every algorithm script by rate_limiter/stores.py.
-- A Redis script cannot import another, so the helpers all six scripts share live here
-- and are sent as part of each script's source (its SHA1 covers them too).

-- Time is known to the microsecond (TIME's resolution), and float sums of timestamps
-- near 1.7e9 are off by up to ~1e-7 s, which turns 3 tokens into 2.9999997. So every
-- quantity derived from time gets one microsecond's worth of slack: RESOLUTION *
-- per_second units for something that changes by per_second units a second. The
-- same rule as RESOLUTION in rate_limiter/algorithms.py, so Lua and Python agree.
local RESOLUTION = 1e-6
local INF = 1 / 0

-- Seconds since the epoch by the *server's* clock. Every gateway node asks the same
-- Redis, so nodes whose own clocks disagree still see one time. (Calling TIME before
-- a write is allowed since Redis 5, where scripts replicate their effects, not their
-- source; Redis 7 does nothing else.)
local function server_now()
  local t = redis.call('TIME')                 -- {seconds, microseconds}, as strings
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end

-- Lua's tostring keeps 14 significant digits: too few for a timestamp with
-- microseconds (16 digits). %.17g writes any double so that it reads back exactly.
local function num(x)
  return string.format('%.17g', x)
end

-- Let Redis forget a key once its state no longer matters (a full bucket, a closed
-- window): memory then stays proportional to the clients active right now.
local function expire_after(key, seconds)
  redis.call('PEXPIRE', key, math.max(1, math.ceil(seconds * 1000)))
end

-- The whole units in x, forgiving float residue up to slack.
local function whole(x, slack)
  return math.max(0, math.floor(x + slack))
end

-- Every script answers Decision's fields in the same order. A Lua number becomes an
-- integer reply (truncated), so the three durations travel as strings.
local function decision(allowed, remaining, reset_after, retry_after, delay)
  return {allowed and 1 or 0, remaining, num(reset_after), num(retry_after), num(delay)}
end
