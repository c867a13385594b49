-- Store one checkpoint atomically: its document, its index entry, the channel values of
-- new_versions, the namespace registration, and the TTL of every key it touches.
-- KEYS: doc, idx, widx, blobs, namespaces, writes (of this checkpoint, for the TTL)
-- ARGV: checkpoint_id, ns, ttl, doc_prefix, writes_prefix, parent_id, max_depth,
--       n_delta, delta channel x n_delta, n_doc, doc field/value x n_doc,
--       n_set, blob field/value x n_set, blob field to delete...
-- With a TTL, the ancestors (and their writes) that the delta channels still need, back to each
-- one's stored value, get the same TTL: a checkpoint never outlives the history it is rebuilt from.
local cid, ns, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local doc_prefix, writes_prefix, parent, max_depth = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local n_delta = tonumber(ARGV[8])
local pos = 9 + n_delta
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
if ttl > 0 and n_delta > 0 then
  local open, n_open = {}, 0
  for i = 9, 8 + n_delta do open[ARGV[i]] = true; n_open = n_open + 1 end
  walk_chain(doc_prefix, writes_prefix, KEYS[4], parent, open, n_open, max_depth, {[cid] = true},
    function(_, doc_key, writes_key, _) expire_all(ttl, {doc_key, writes_key}) end)
end
return 1
