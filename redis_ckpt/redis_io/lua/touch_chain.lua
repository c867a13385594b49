-- With a TTL, give the ancestors (and their writes) that a new checkpoint's DeltaChannels are
-- rebuilt from, back to each channel's stored value, the same TTL as the checkpoint: a checkpoint
-- never outlives the history it is rebuilt from. Runs inside put's MULTI/EXEC.
-- KEYS: blobs, idx (the ancestors' index pages get the TTL too)
-- ARGV: doc_prefix, writes_prefix, checkpoint_id, parent_id, ttl, max_depth, delta channel...
local doc_prefix, writes_prefix, cid, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, max_depth = tonumber(ARGV[5]), tonumber(ARGV[6])
local open, n_open = set_of(ARGV, 7)
local index = checkpoint_index(KEYS[2])
walk_chain(doc_prefix, writes_prefix, KEYS[1], parent, open, n_open, max_depth, {[cid] = true},
  function(ancestor, doc_key, writes_key, _)
    expire_all(ttl, {doc_key, writes_key})
    index.touch(ancestor)
  end)
index.expire(ttl)
return 1
