--[[ cjson for scripts: lua-cjson 2.1.0 as Redis 7 ships it, rewritten in Lua.

Redis compiles the C library into its Lua; we have a stock Lua 5.1, so this file does
the same job with the same observable behaviour: numbers printed with %.14g, '/' and
control characters escaped, an empty table encoded as {}, arrays detected from their
integer keys (and "excessively sparse" ones refused), cjson.null for JSON null, and
lua-cjson's error messages ("Expected value but found T_END at character 1"...).

Errors are raised with error(message, 2) from the public functions, so that, as with
the C library, they carry the position of the script line that called cjson.
]]

local type, tostring, tonumber, select, pairs = type, tostring, tonumber, select, pairs
local pcall, error, getmetatable = pcall, error, getmetatable
local rawget, rawset, newproxy = rawget, rawset, newproxy
local byte, char, format, sub, find, lower = string.byte, string.char, string.format,
                                             string.sub, string.find, string.lower
local gsub, match = string.gsub, string.match
local concat, floor, huge = table.concat, math.floor, math.huge

-- JSON null: lua-cjson uses a NULL lightuserdata, which plain Lua cannot make; a
-- userdata that prints the same way behaves the same for scripts.
local null = newproxy(true)
getmetatable(null).__tostring = function() return 'userdata: (nil)' end

local config = {
  sparse_convert = false, sparse_ratio = 2, sparse_safe = 10,
  encode_max_depth = 1000, decode_max_depth = 1000,
  encode_invalid_numbers = false, decode_invalid_numbers = true,
  precision = 14, keep_buffer = true,
}

------------------------------------------------------------------------- encoding

local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\b'] = '\\b',
                 ['\t'] = '\\t', ['\n'] = '\\n', ['\f'] = '\\f', ['\r'] = '\\r'}
for code = 0, 31 do
  escapes[char(code)] = escapes[char(code)] or format('\\u%04x', code)
end
escapes['\127'] = '\\u007f'

local function fail(message)
  error(message, 0)
end

local function encode_string(text)
  return '"' .. gsub(text, '[%c"\\/]', escapes) .. '"'
end

local function encode_number(number)
  if number ~= number or number == huge or number == -huge then
    if config.encode_invalid_numbers == 'null' then
      return 'null'
    elseif not config.encode_invalid_numbers then
      fail('Cannot serialise number: must not be NaN or Inf')
    end
  end
  return format('%.' .. config.precision .. 'g', number)
end

-- The length of the table as a JSON array, or -1 when it must be an object.
local function array_length(t)
  local max, items = 0, 0
  for key in pairs(t) do
    if type(key) ~= 'number' or key < 1 or floor(key) ~= key then
      return -1
    end
    if key > max then
      max = key
    end
    items = items + 1
  end
  if config.sparse_ratio > 0 and max > items * config.sparse_ratio and max > config.sparse_safe then
    if not config.sparse_convert then
      fail('Cannot serialise table: excessively sparse array')
    end
    return -1
  end
  return max
end

local encode_value

local function encode_table(t, depth, out)
  depth = depth + 1
  if depth > config.encode_max_depth then
    fail(format('Cannot serialise, excessive nesting (%d)', depth))
  end
  local length = array_length(t)
  if length > 0 then
    out[#out + 1] = '['
    for i = 1, length do
      if i > 1 then
        out[#out + 1] = ','
      end
      encode_value(rawget(t, i), depth, out)
    end
    out[#out + 1] = ']'
    return
  end
  out[#out + 1] = '{'
  local first = true
  for key, value in pairs(t) do
    if not first then
      out[#out + 1] = ','
    end
    first = false
    local kind = type(key)
    if kind == 'number' then
      out[#out + 1] = '"' .. encode_number(key) .. '":'
    elseif kind == 'string' then
      out[#out + 1] = encode_string(key) .. ':'
    else
      fail('Cannot serialise ' .. kind .. ': table key must be a number or string')
    end
    encode_value(value, depth, out)
  end
  out[#out + 1] = '}'
end

function encode_value(value, depth, out)
  local kind = type(value)
  if kind == 'string' then
    out[#out + 1] = encode_string(value)
  elseif kind == 'number' then
    out[#out + 1] = encode_number(value)
  elseif kind == 'boolean' then
    out[#out + 1] = value and 'true' or 'false'
  elseif kind == 'table' then
    encode_table(value, depth, out)
  elseif value == nil or value == null then
    out[#out + 1] = 'null'
  else
    fail('Cannot serialise ' .. kind .. ': type not supported')
  end
end

local function encode(...)
  if select('#', ...) ~= 1 then
    error("bad argument #1 to 'encode' (expected 1 argument)", 2)
  end
  local out = {}
  local ok, failure = pcall(encode_value, (...), 0, out)
  if not ok then
    error(failure, 2)
  end
  return concat(out)
end

------------------------------------------------------------------------- decoding

-- A parse keeps the text and a position; tokens are {kind, value, at} where `at` is
-- the 1-based character lua-cjson reports in its errors.
local ESCAPED = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', t = '\t', n = '\n',
                 f = '\f', r = '\r'}
local SINGLE = {['{'] = 'T_OBJ_BEGIN', ['}'] = 'T_OBJ_END', ['['] = 'T_ARR_BEGIN',
                [']'] = 'T_ARR_END', [','] = 'T_COMMA', [':'] = 'T_COLON'}

local function utf8(codepoint)
  if codepoint <= 0x7F then
    return char(codepoint)
  elseif codepoint <= 0x7FF then
    return char(0xC0 + floor(codepoint / 64), 0x80 + codepoint % 64)
  elseif codepoint <= 0xFFFF then
    return char(0xE0 + floor(codepoint / 4096), 0x80 + floor(codepoint / 64) % 64,
                0x80 + codepoint % 64)
  end
  return char(0xF0 + floor(codepoint / 262144), 0x80 + floor(codepoint / 4096) % 64,
              0x80 + floor(codepoint / 64) % 64, 0x80 + codepoint % 64)
end

local function hex4(text, at)
  local digits = match(text, '^%x%x%x%x', at)
  return digits and tonumber(digits, 16)
end

-- "\uXXXX" (and a following low surrogate) at `at`; returns the bytes and the length.
local function unicode_escape(text, at)
  local codepoint = hex4(text, at + 2)
  if not codepoint then
    return nil
  end
  if codepoint >= 0xD800 and codepoint <= 0xDFFF then
    if codepoint >= 0xDC00 or sub(text, at + 6, at + 7) ~= '\\u' then
      return nil
    end
    local low = hex4(text, at + 8)
    if not low or low < 0xDC00 or low > 0xDFFF then
      return nil
    end
    return utf8((codepoint - 0xD800) * 1024 + (low - 0xDC00) + 0x10000), 12
  end
  return utf8(codepoint), 6
end

local function string_token(parse, start)
  local text, pos, parts = parse.text, start + 1, {}
  while true do
    local ch = sub(text, pos, pos)
    if ch == '"' then
      parse.pos = pos + 1
      return {'T_STRING', concat(parts), start}
    elseif ch == '' or ch == '\0' then
      return {'T_ERROR', 'unexpected end of string', pos}
    elseif ch == '\\' then
      local escape = sub(text, pos + 1, pos + 1)
      if escape == 'u' then
        local bytes, length = unicode_escape(text, pos)
        if not bytes then
          return {'T_ERROR', 'invalid unicode escape code', pos}
        end
        parts[#parts + 1] = bytes
        pos = pos + length
      elseif ESCAPED[escape] then
        parts[#parts + 1] = ESCAPED[escape]
        pos = pos + 2
      else
        return {'T_ERROR', 'invalid escape code', pos}
      end
    else
      local stop = find(text, '["\\%z]', pos) or #text + 1
      parts[#parts + 1] = sub(text, pos, stop - 1)
      pos = stop
    end
  end
end

-- The longest prefix C's strtod() accepts (decimal, hex, inf, nan), as lua-cjson reads
-- numbers with strtod and continues after whatever it consumed.
local function strtod_prefix(text, at)
  local candidates = {
    match(text, '^[+-]?0[xX]%x*%.?%x*[pP][+-]?%d+', at),
    match(text, '^[+-]?0[xX]%x*%.?%x*', at),
    match(text, '^[+-]?%d*%.?%d*[eE][+-]?%d+', at),
    match(text, '^[+-]?%d*%.?%d*', at),
    match(text, '^[+-]?[iI][nN][fF][iI][nN][iI][tT][yY]', at),
    match(text, '^[+-]?[iI][nN][fF]', at),
    match(text, '^[+-]?[nN][aA][nN]', at),
  }
  for _, prefix in pairs(candidates) do
    local body = gsub(prefix, '^[+-]', '')
    local digits = find(body, '%d') or find(body, '^[iInN]')
    local hex = find(body, '^0[xX]')
    if digits and (not hex or find(body, '^0[xX]%.?%x')) then
      local value = tonumber(prefix) or tonumber(gsub(prefix, '^%+', ''))
      if value then
        return prefix, value
      end
    end
  end
  return nil
end

local function number_token(parse, start)
  local prefix, value = strtod_prefix(parse.text, start)
  if not prefix then
    return {'T_ERROR', 'invalid number', start}
  end
  parse.pos = start + #prefix
  return {'T_NUMBER', value, start}
end

local function is_invalid_number(text, at)       -- json_is_invalid_number()
  local ch = sub(text, at, at)
  if ch == '+' then
    return true
  end
  if ch == '-' then
    at = at + 1
    ch = sub(text, at, at)
  end
  if ch == '0' then
    local following = sub(text, at + 1, at + 1)
    return lower(following) == 'x' or find(following, '^%d') ~= nil
  elseif ch ~= '' and byte(ch) <= byte('9') then
    return false
  end
  local word = lower(sub(text, at, at + 2))
  return word == 'inf' or word == 'nan'
end

local function next_token(parse)
  local text = parse.text
  local pos = find(text, '[^ \t\n\r]', parse.pos) or #text + 1
  parse.pos = pos
  local ch = sub(text, pos, pos)
  if ch == '' or ch == '\0' then
    return {'T_END', nil, pos}
  end
  if SINGLE[ch] then
    parse.pos = pos + 1
    return {SINGLE[ch], nil, pos}
  end
  if ch == '"' then
    return string_token(parse, pos)
  elseif ch == '-' or find(ch, '%d') then
    if not config.decode_invalid_numbers and is_invalid_number(text, pos) then
      return {'T_ERROR', 'invalid number', pos}
    end
    return number_token(parse, pos)
  elseif sub(text, pos, pos + 3) == 'true' then
    parse.pos = pos + 4
    return {'T_BOOLEAN', true, pos}
  elseif sub(text, pos, pos + 4) == 'false' then
    parse.pos = pos + 5
    return {'T_BOOLEAN', false, pos}
  elseif sub(text, pos, pos + 3) == 'null' then
    parse.pos = pos + 4
    return {'T_NULL', null, pos}
  elseif find(ch, '^[iInN+]') and config.decode_invalid_numbers and is_invalid_number(text, pos) then
    return number_token(parse, pos)
  end
  return {'T_ERROR', 'invalid token', pos}
end

local function unexpected(expected, token)
  local found = token[1] == 'T_ERROR' and token[2] or token[1]
  fail(format('Expected %s but found %s at character %d', expected, found, token[3]))
end

local parse_value

local function descend(parse)
  parse.depth = parse.depth + 1
  if parse.depth > config.decode_max_depth then
    fail(format('Found too many nested data structures (%d) at character %d',
                parse.depth, parse.pos - 1))
  end
end

local function parse_object(parse)
  descend(parse)
  local object = {}
  local token = next_token(parse)
  if token[1] == 'T_OBJ_END' then
    parse.depth = parse.depth - 1
    return object
  end
  while true do
    if token[1] ~= 'T_STRING' then
      unexpected('object key string', token)
    end
    local key = token[2]
    token = next_token(parse)
    if token[1] ~= 'T_COLON' then
      unexpected('colon', token)
    end
    rawset(object, key, parse_value(parse, next_token(parse)))
    token = next_token(parse)
    if token[1] == 'T_OBJ_END' then
      parse.depth = parse.depth - 1
      return object
    end
    if token[1] ~= 'T_COMMA' then
      unexpected('comma or object end', token)
    end
    token = next_token(parse)
  end
end

local function parse_array(parse)
  descend(parse)
  local array = {}
  local token = next_token(parse)
  if token[1] == 'T_ARR_END' then
    parse.depth = parse.depth - 1
    return array
  end
  local i = 1
  while true do
    rawset(array, i, parse_value(parse, token))
    token = next_token(parse)
    if token[1] == 'T_ARR_END' then
      parse.depth = parse.depth - 1
      return array
    end
    if token[1] ~= 'T_COMMA' then
      unexpected('comma or array end', token)
    end
    token = next_token(parse)
    i = i + 1
  end
end

function parse_value(parse, token)
  local kind = token[1]
  if kind == 'T_STRING' or kind == 'T_NUMBER' or kind == 'T_BOOLEAN' or kind == 'T_NULL' then
    return token[2]
  elseif kind == 'T_OBJ_BEGIN' then
    return parse_object(parse)
  elseif kind == 'T_ARR_BEGIN' then
    return parse_array(parse)
  end
  unexpected('value', token)
end

local function decode_text(text)
  if #text >= 2 and (byte(text, 1) == 0 or byte(text, 2) == 0) then
    fail('JSON parser does not support UTF-16 or UTF-32')
  end
  local parse = {text = text, pos = 1, depth = 0}
  local value = parse_value(parse, next_token(parse))
  local token = next_token(parse)
  if token[1] ~= 'T_END' then
    unexpected('the end', token)
  end
  return value
end

local function decode(...)
  if select('#', ...) ~= 1 then
    error("bad argument #1 to 'decode' (expected 1 argument)", 2)
  end
  local text = ...
  if type(text) == 'number' then
    text = tostring(text)
  elseif type(text) ~= 'string' then
    error("bad argument #1 to 'decode' (string expected, got " .. type(text) .. ")", 2)
  end
  local ok, result = pcall(decode_text, text)
  if not ok then
    error(result, 2)
  end
  return result
end

---------------------------------------------------------------- configuration

-- cjson.encode_max_depth(n) and friends: each sets its option when given one, and
-- returns the current value.
local function integer_option(name, low, high)
  return function(value)
    if value ~= nil then
      value = tonumber(value)
      if not value or value < low or value > high then
        error(format("bad argument #1 to '%s' (expected integer between %d and %d)",
                     name, low, high), 2)
      end
      config[name] = floor(value)
    end
    return config[name]
  end
end

local SWITCH = {on = true, off = false}

local function switch_option(name)
  return function(value)
    if value ~= nil then
      if SWITCH[value] ~= nil then
        value = SWITCH[value]
      end
      config[name] = value
    end
    return config[name]
  end
end

local cjson = {
  encode = encode,
  decode = decode,
  null = null,
  _NAME = 'cjson',
  _VERSION = '2.1.0',
  encode_max_depth = integer_option('encode_max_depth', 1, 2147483647),
  decode_max_depth = integer_option('decode_max_depth', 1, 2147483647),
  encode_number_precision = integer_option('precision', 1, 14),
  encode_keep_buffer = switch_option('keep_buffer'),
  encode_invalid_numbers = switch_option('encode_invalid_numbers'),
  decode_invalid_numbers = switch_option('decode_invalid_numbers'),
  encode_sparse_array = function(convert, ratio, safe)
    if convert ~= nil then config.sparse_convert = convert end
    if ratio ~= nil then config.sparse_ratio = tonumber(ratio) or config.sparse_ratio end
    if safe ~= nil then config.sparse_safe = tonumber(safe) or config.sparse_safe end
    return config.sparse_convert, config.sparse_ratio, config.sparse_safe
  end,
}
cjson.new = function() return cjson end

return cjson
