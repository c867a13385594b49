-- Delete up to `batch` checkpoints (and writes) of one (thread, ns); when none are left, delete
-- the namespace's keys and forget the namespace. Returns 1 while more remain, else 0.
-- KEYS: idx, widx, blobs, namespaces, chunks, marked fields, marked chunks (gc.lua: a dead
-- collection's marks would outlive the namespace)
--       then the chunk hashes of the other namespaces deleted in the same round trip
-- ARGV: doc_prefix, writes_prefix, batch, ns
-- Every namespace of the batch is checked for a newer storage format by every call, so that a
-- thread with one such namespace loses none of its others either (a thread has few namespaces).
for i = 5, #KEYS do
  if i == 5 or i > 7 then
    local refused = format_refusal(KEYS[i])
    if refused then return refused end
  end
end
local idx, widx, blobs, nskey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local doc_prefix, writes_prefix, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])

local index = checkpoint_index(idx)
local ids = index.fwd('-', batch)
for _, cid in ipairs(ids) do
  redis.call('DEL', doc_prefix .. cid, writes_prefix .. cid)
  index.rem(cid)
end
local wids = redis.call('ZRANGE', widx, 0, batch - 1)
for _, cid in ipairs(wids) do redis.call('DEL', doc_prefix .. cid, writes_prefix .. cid) end
if #wids > 0 then redis.call('ZREM', widx, unpack(wids)) end
if #ids == batch or #wids == batch then return 1 end
-- a large hash is freed off the main thread
redis.call('UNLINK', widx, blobs, KEYS[5], KEYS[6], KEYS[7], unpack(index.keys()))
redis.call('SREM', nskey, ARGV[4])
return 0
