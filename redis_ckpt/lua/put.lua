-- Store one checkpoint atomically: its document, its index entry, the channel values of
-- new_versions, the namespace registration, and the TTL of every key it touches.
-- KEYS: doc, idx, widx, blobs, namespaces, writes (of this checkpoint, for the TTL)
-- ARGV: checkpoint_id, ns, ttl, n_doc, doc field/value x n_doc, n_set, blob field/value x n_set,
--       blob field to delete...
local cid, ns, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local pos = 4
local n_doc = tonumber(ARGV[pos])
redis.call('DEL', KEYS[1]) -- a re-put replaces the whole document (upsert)
hset_range(KEYS[1], ARGV, pos + 1, n_doc)
pos = pos + 1 + 2 * n_doc
redis.call('ZADD', KEYS[2], 0, cid)
local n_set = tonumber(ARGV[pos])
hset_range(KEYS[4], ARGV, pos + 1, n_set)
pos = pos + 1 + 2 * n_set
for s = pos, #ARGV, 1000 do
  redis.call('HDEL', KEYS[4], unpack(ARGV, s, math.min(s + 999, #ARGV)))
end
redis.call('SADD', KEYS[5], ns)
expire_all(ttl, KEYS)
return 1
