-- A batch of puts and deletes, atomically. KEYS: items zset, namespaces zset, expiring set.
-- ARGV: item prefix, vector prefix, now (µs), then per op:
--   'p', member, ns member, suffix, value, tags, ttl ms (0 = none), vector count n, n vectors
--   'd', member, ns member, suffix
-- An upsert keeps the item's created time, replaces everything else (old vectors dropped).
local items, namespaces, expiring = KEYS[1], KEYS[2], KEYS[3]
local item_prefix, vector_prefix, now = ARGV[1], ARGV[2], ARGV[3]

local function drop_vectors(item, vector_base)
  local count = tonumber(redis.call('HGET', item, 'n') or '0') or 0
  for i = 0, count - 1 do redis.call('DEL', vector_base .. '#' .. i) end
end

local i = 4
while i <= #ARGV do
  local kind, member, ns, suffix = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local item, vector_base = item_prefix .. suffix, vector_prefix .. suffix
  drop_vectors(item, vector_base)
  if kind == 'p' then
    local value, tags, ttl, count = ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
    local created = redis.call('HGET', item, 'c') or now
    redis.call('DEL', item)
    redis.call('HSET', item, 'v', value, 'f', tags, 'c', created, 'u', now, 't', ttl, 'n', count)
    if ttl > 0 then
      redis.call('PEXPIRE', item, ttl)
      redis.call('SADD', expiring, ns)
    end
    redis.call('ZADD', items, 0, member)
    redis.call('ZADD', namespaces, 0, ns)
    local at = i + 8
    for j = 0, count - 1 do
      local vector = vector_base .. '#' .. j
      redis.call('DEL', vector)
      redis.call('HSET', vector, 'vec', ARGV[at], 'f', tags, 'm', member)
      if ttl > 0 then redis.call('PEXPIRE', vector, ttl) end
      at = at + 1
    end
    i = at
  else
    redis.call('DEL', item)
    redis.call('ZREM', items, member)
    -- forget the namespace when no member of exactly it is left
    if #redis.call('ZRANGEBYLEX', items, '[' .. ns .. '\0', '(' .. ns .. '\0\255', 'LIMIT', 0, 1) == 0 then
      redis.call('ZREM', namespaces, ns)
      redis.call('SREM', expiring, ns)
    end
    i = i + 4
  end
end
return 1
