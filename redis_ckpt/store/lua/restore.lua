-- Write snapshot items back as they were: value bytes, tags, created and updated times, TTL and
-- vectors are given, not computed, so restoring the same items twice leaves the same state.
-- KEYS: items zset, namespaces zset, expiring set. ARGV: item prefix, vector prefix, then per item:
--   member, ns member, suffix, value, tags, created µs, updated µs, ttl ms (0 = none),
--   expire in ms (0 = never), vector count n, n vectors
-- Returns the number of items that did not exist before.
local items, namespaces, expiring = KEYS[1], KEYS[2], KEYS[3]
local item_prefix, vector_prefix = ARGV[1], ARGV[2]
local added = 0
local i = 3
while i <= #ARGV do
  local member, ns, suffix = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local value, tags, created, updated = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local ttl, expire_in, count = tonumber(ARGV[i + 7]), tonumber(ARGV[i + 8]), tonumber(ARGV[i + 9])
  local item, vector_base = item_prefix .. suffix, vector_prefix .. suffix
  local old = tonumber(redis.call('HGET', item, 'n') or '-1') or 0
  if old < 0 then added = added + 1 end
  for j = 0, old - 1 do redis.call('DEL', vector_base .. '#' .. j) end
  redis.call('DEL', item)
  redis.call('HSET', item, 'v', value, 'f', tags, 'c', created, 'u', updated, 't', ttl, 'n', count)
  if expire_in > 0 then
    redis.call('PEXPIRE', item, expire_in)
    redis.call('SADD', expiring, ns)
  end
  redis.call('ZADD', items, 0, member)
  redis.call('ZADD', namespaces, 0, ns)
  local at = i + 10
  for j = 0, count - 1 do
    local vector = vector_base .. '#' .. j
    redis.call('DEL', vector)
    redis.call('HSET', vector, 'vec', ARGV[at], 'f', tags, 'm', member)
    if expire_in > 0 then redis.call('PEXPIRE', vector, expire_in) end
    at = at + 1
  end
  i = at
end
return added
