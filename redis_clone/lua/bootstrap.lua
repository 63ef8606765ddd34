--[[ The Lua half of the scripting bridge (the Python half is redis_clone/scripting.py).

Run once, when the interpreter is created. It builds what Redis 7 gives a script:
the `redis` table, the `cjson` library, and a sandbox: no os/io/loadfile/dofile/
require/debug, and every global and library table read-only. It returns the few
functions Python drives a script with: compile, run, arming/disarming the watchdog.

Python passes in, as the chunk's arguments, its functions for the API (redis.call,
redis.pcall, sha1hex, log, setresp, set_repl), `entry` (wraps a Lua function of this
bridge into one that scripts call), `unwrap` (an error raised by Python -> its value),
`interrupted` (true once SCRIPT KILL or SHUTDOWN asked the script to stop), the cjson
source, the server version, and the text a killed script fails with.

Why scripts only ever call Python functions, never this file's Lua functions: Lua 5.1
turns `return f()` into a tail call that drops the caller's frame when f is a Lua
function, and Redis reports the script line an error came from ("on
@user_script:3."). Redis's API is written in C, which keeps the frame; Python
functions are C functions to Lua, so they keep it too.

Redis builds the same sandbox in C (script_lua.c, eval.c). Its read-only tables are a
patch of Redis's own Lua; here each library table is replaced by an empty proxy whose
metatable reads through to the real one and refuses writes, and scripts run with a
proxy environment that refuses new globals and reads of missing ones.
]]

local py_call, py_pcall, py_sha1hex, py_log, py_setresp, py_set_repl, entry, unwrap,
      interrupted, cjson_source, version, version_num, killed_message = ...

local G = _G                      -- the real globals table; scripts never see it
local error, type, select, tostring = error, type, select, tostring
local lua_pcall, xpcall, setmetatable = pcall, xpcall, setmetatable
local setfenv = setfenv
local lua_loadstring, lua_load = loadstring, load
local sub, match, gsub = string.sub, string.match, string.gsub
local getinfo, sethook = debug.getinfo, debug.sethook

--------------------------------------------------------------------------- redis.*

-- These two never raise, so they can be Lua: a tail call to them loses nothing.
local function error_reply(...)
  local message = ...
  if select('#', ...) ~= 1 or type(message) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  -- "-CODE text" keeps its code; a message with no space gets ERR (luaPushErrorBuff).
  if sub(message, 1, 1) == '-' then
    message = sub(message, 2)
  end
  local code, text = match(message, '^([^ ]*) (.*)$')
  if not code then
    code, text = 'ERR', message
  end
  text = gsub(gsub(text, '^[\r\n]+', ''), '[\r\n]+$', '')
  return {err = code .. ' ' .. text}
end

local function status_reply(...)
  local message = ...
  if select('#', ...) ~= 1 or type(message) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {ok = message}
end

local redis = {
  call = py_call,
  pcall = py_pcall,
  error_reply = error_reply,
  status_reply = status_reply,
  sha1hex = py_sha1hex,
  log = py_log,
  setresp = py_setresp,
  set_repl = py_set_repl,
  replicate_commands = function() return true end,   -- always on since Redis 7
  breakpoint = function() return false end,          -- only under the Lua debugger
  debug = function() end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = version,
  REDIS_VERSION_NUM = version_num,
}

-- Redis 7 replaces pcall so that an error table from redis.call() reaches the script
-- as its message string, as it did when errors were strings.
local function redis_pcall(f, ...)
  local function settle(ok, ...)
    if ok then
      return true, ...
    end
    local failure = ...
    if type(failure) == 'userdata' then
      failure = unwrap(failure)
    end
    if type(failure) == 'table' then
      local message = failure.err
      if type(message) == 'string' or type(message) == 'number' then
        failure = message
      end
    end
    return false, failure
  end
  return settle(lua_pcall(f, ...))
end

------------------------------------------------------------------ errors and the hook

-- Runs where the error happened (xpcall's handler), so the stack still shows the
-- script's line: Redis appends "script: <sha>, on @user_script:<line>." from it.
local function error_handler(failure)
  if type(failure) == 'userdata' then
    failure = unwrap(failure)
  end
  if type(failure) ~= 'table' then
    failure = {err = 'ERR ' .. tostring(failure)}
  end
  for level = 2, 200 do
    local frame = getinfo(level, 'Sl')
    if not frame then
      break
    end
    if frame.source == '@user_script' then  -- the innermost frame of the script itself
      failure.source, failure.line = frame.source, frame.currentline
      break
    end
  end
  return failure
end

-- The watchdog runs every N instructions. Once the script must die, it fires on every
-- line too, so a script cannot catch the error with pcall and carry on. It leaves the
-- bridge's own code alone (this file is "=bridge"): failing inside the error handler
-- would turn the kill into "error in error handling".
local function in_bridge()
  local frame = getinfo(3, 'S')     -- 1: in_bridge, 2: the hook, 3: the code running
  return frame ~= nil and frame.source == '=bridge'
end

local function die()
  if not in_bridge() then
    error({err = killed_message})
  end
end

local function watchdog()
  if interrupted() then
    sethook(die, 'l')
    if not in_bridge() then
      error({err = killed_message})
    end
  end
end

--------------------------------------------------------------------------- sandbox

local function readonly()
  error('Attempt to modify a readonly table', 2)
end

local protected = setmetatable({}, {__mode = 'k'})

local function protect(library)
  local proxy = setmetatable({}, {__index = library, __newindex = readonly, __metatable = {}})
  protected[proxy] = true
  return proxy
end

local env = setmetatable({}, {
  __index = function(_, name)
    local value = G[name]
    if value == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end
    return value
  end,
  __newindex = readonly,
  __metatable = {},
})
protected[env] = true

local function guard(original)      -- rawset and setmetatable cannot bypass the proxies
  return function(t, ...)
    if protected[t] then
      error('Attempt to modify a readonly table', 0)
    end
    return original(t, ...)
  end
end

local function in_sandbox(f, message)
  if f then
    setfenv(f, env)
  end
  return f, message
end

local cjson = lua_loadstring(cjson_source, '=cjson')()
cjson.encode, cjson.decode = entry(cjson.encode), entry(cjson.decode)
G.cjson = cjson
G.redis = redis
G.pcall = redis_pcall
G.rawset = guard(rawset)
G.setmetatable = guard(setmetatable)
G.loadstring = function(text, name) return in_sandbox(lua_loadstring(text, name)) end
G.load = function(reader, name) return in_sandbox(lua_load(reader, name)) end
for _, name in ipairs({'dofile', 'loadfile', 'print', 'require', 'module', 'package', 'os',
                       'io', 'debug', 'getfenv', 'setfenv', 'newproxy', 'python'}) do
  G[name] = nil
end
for _, name in ipairs({'string', 'math', 'table', 'coroutine', 'cjson', 'redis'}) do
  G[name] = protect(G[name])
end
G._G = env

------------------------------------------------------------------- the bridge's API

return {
  compile = function(body)
    return in_sandbox(lua_loadstring(body, '@user_script'))
  end,
  run = function(f, keys, argv)
    G.KEYS, G.ARGV = keys, argv
    local ok, result = xpcall(f, error_handler)
    return ok, result
  end,
  arm = function(instructions)
    sethook(watchdog, '', instructions)
  end,
  disarm = function()
    sethook()
  end,
}
