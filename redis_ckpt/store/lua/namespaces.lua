-- The live namespaces in a registry range. KEYS: items zset, namespaces zset, expiring set.
-- ARGV: item prefix, low bound, high bound. Writes keep the registry exact, so only namespaces
-- that ever held an item with a TTL are checked: one whose items all expired leaves the registry,
-- and index entries of expired items are removed on the way.
local items, namespaces, expiring = KEYS[1], KEYS[2], KEYS[3]
local item_prefix = ARGV[1]
local live = {}
for _, ns in ipairs(redis.call('ZRANGEBYLEX', namespaces, ARGV[2], ARGV[3])) do
  if redis.call('SISMEMBER', expiring, ns) == 0 then
    live[#live + 1] = ns
  else
    while true do
      local first = redis.call('ZRANGEBYLEX', items, '[' .. ns .. '\0', '(' .. ns .. '\0\255', 'LIMIT', 0, 1)[1]
      if not first then
        redis.call('ZREM', namespaces, ns)
        redis.call('SREM', expiring, ns)
        break
      end
      if redis.call('EXISTS', item_prefix .. item_suffix(first)) == 1 then
        live[#live + 1] = ns
        break
      end
      redis.call('ZREM', items, first)
    end
  end
end
return live
