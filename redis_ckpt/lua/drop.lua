-- Delete the given checkpoints of one (thread, ns) with their writes, then garbage-collect:
-- blob fields no remaining checkpoint references are deleted (with their spill fields), and a
-- namespace left with no checkpoints and no writes loses its keys. Returns the number of blob
-- fields deleted.
-- KEYS: idx, widx, blobs, namespaces
-- ARGV: doc_prefix, writes_prefix, ns, gc ('1' = garbage-collect after deleting), id...
local idx, widx, blobs, nskey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local doc_prefix, writes_prefix = ARGV[1], ARGV[2]

for i = 5, #ARGV do
  local cid = ARGV[i]
  redis.call('DEL', doc_prefix .. cid, writes_prefix .. cid)
  redis.call('ZREM', idx, cid)
  redis.call('ZREM', widx, cid)
end

if redis.call('ZCARD', idx) == 0 and redis.call('ZCARD', widx) == 0 then
  redis.call('DEL', idx, widx, blobs)
  redis.call('SREM', nskey, ARGV[3])
  return 0
end

if ARGV[4] ~= '1' then return 0 end

local referenced = {}
for _, cid in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local pairs_ = split_list(redis.call('HGET', doc_prefix .. cid, 'v'))
  for i = 2, #pairs_, 2 do referenced[pairs_[i]] = true end
end
local unreferenced = {}
for _, field in ipairs(redis.call('HKEYS', blobs)) do
  local keep = referenced[field]
  if not keep and string.byte(field, 1) == 0 then
    -- A spill field ('\0' .. blob field) lives as long as the blob field that names it. (A blob
    -- field may start with NUL too, for a channel named '': only the stored name decides.)
    local base = string.sub(field, 2)
    keep = referenced[base] and redis.call('HGET', blobs, base) == field
  end
  if not keep then unreferenced[#unreferenced + 1] = field end
end
for s = 1, #unreferenced, 1000 do
  redis.call('HDEL', blobs, unpack(unreferenced, s, math.min(s + 999, #unreferenced)))
end
return #unreferenced
