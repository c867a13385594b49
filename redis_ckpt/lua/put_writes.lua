-- Store a task's pending writes atomically: regular writes only where absent (a replayed task
-- neither duplicates nor replaces them), special writes (negative idx) overwriting.
-- KEYS: writes, widx, namespaces
-- ARGV: checkpoint_id, ns, ttl, n_regular, field/value x n_regular, special field/value...
local cid, ns, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n_regular = tonumber(ARGV[4])
for i = 5, 4 + 2 * n_regular, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
local first_special = 5 + 2 * n_regular
hset_range(KEYS[1], ARGV, first_special, (#ARGV - first_special + 1) / 2)
redis.call('ZADD', KEYS[2], 0, cid)
redis.call('SADD', KEYS[3], ns)
expire_all(ttl, KEYS)
return 1
