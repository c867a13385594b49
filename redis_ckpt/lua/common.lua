-- Shared helpers, prepended to every script by redis_ckpt/scripts.py.

-- Parse the length-prefixed list format of redis_ckpt/encoding.py: "<len>:<bytes>" repeated.
local function split_list(s)
  local out, pos = {}, 1
  if not s then return out end
  while pos <= #s do
    local colon = string.find(s, ':', pos, true)
    local n = tonumber(string.sub(s, pos, colon - 1))
    out[#out + 1] = string.sub(s, colon + 1, colon + n)
    pos = colon + n + 1
  end
  return out
end

-- HMGET in chunks: Lua's unpack() has a stack limit.
local function hmget_all(key, fields)
  local out = {}
  for s = 1, #fields, 1000 do
    local e = math.min(s + 999, #fields)
    local vals = redis.call('HMGET', key, unpack(fields, s, e))
    for i = 1, #vals do out[s + i - 1] = vals[i] end
  end
  return out
end

local function expire_all(ttl, keys)
  if ttl > 0 then
    for _, k in ipairs(keys) do redis.call('EXPIRE', k, ttl) end
  end
end

-- HSET `n` field/value pairs of `args` starting at index `first`, in chunks (unpack's limit).
local function hset_range(key, args, first, n)
  local last = first + 2 * n - 1
  for s = first, last, 1000 do
    redis.call('HSET', key, unpack(args, s, math.min(s + 999, last)))
  end
end
