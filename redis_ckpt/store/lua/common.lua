-- Shared by the store's scripts. Layout: redis_ckpt/store/store_layout.py (names are rebuilt here from
-- an item's member with the same escaping: each namespace label escaped and followed by ':').
local ESCAPES = {['\0'] = ':', ['%'] = '%25', [':'] = '%3A', ['{'] = '%7B', ['}'] = '%7D'}

-- `{N}K` of an item member `label\0...label\0\0key`. Members come in order, so neighbours mostly
-- share their namespace: its escaped form is kept for the next call.
local last_ns, last_tag = nil, nil
local function item_suffix(member)
  local stop = string.find(member, '\0\0', 1, true)
  local ns = string.sub(member, 1, stop)
  if ns ~= last_ns then
    last_ns, last_tag = ns, '{' .. string.gsub(ns, '[%z%%:{}]', ESCAPES) .. '}'
  end
  return last_tag .. string.sub(member, stop + 2)
end

-- Give an item and its vectors the item's TTL again (its field `t`, ms; 0 = none).
local function refresh(item, vector_base, ttl, count)
  ttl = tonumber(ttl or '0') or 0
  if ttl <= 0 then return end
  redis.call('PEXPIRE', item, ttl)
  for i = 0, (tonumber(count or '0') or 0) - 1 do
    redis.call('PEXPIRE', vector_base .. '#' .. i, ttl)
  end
end
