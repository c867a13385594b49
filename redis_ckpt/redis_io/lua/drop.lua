-- Delete the given checkpoints of one (thread, ns) with their writes, then garbage-collect:
-- blob fields no remaining checkpoint references, directly or as the base of a referenced
-- record, are deleted (with their spill fields), and so are chunks that no remaining record or
-- pending write names. A namespace left with no checkpoints and no writes loses its keys.
-- The collection runs here only if no other collection (or copy) of the namespace runs and it
-- holds at most `gc limit` ids, blob fields and chunks in all (it reads them all: a call must
-- stay within a few milliseconds); else it is left to gc.lua (in bounded steps), and -1 says so.
-- Returns the number of blob fields and chunks deleted, or -1.
-- KEYS: idx, widx, blobs, namespaces, chunks, marked fields, marked chunks (gc.lua; an emptied
-- namespace loses them: a collection that runs then gets -1 from its next step and starts over)
-- ARGV: doc_prefix, writes_prefix, ns, gc limit ('0' = no collection), id...
local idx, widx, blobs, nskey, chunks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local refused = format_refusal(chunks)
if refused then return refused end
local doc_prefix, writes_prefix = ARGV[1], ARGV[2]
local index = checkpoint_index(idx)

for i = 5, #ARGV do
  local cid = ARGV[i]
  redis.call('DEL', doc_prefix .. cid, writes_prefix .. cid)
  index.rem(cid)
  redis.call('ZREM', widx, cid)
end

if index.count(0) == 0 and redis.call('ZCARD', widx) == 0 then
  -- UNLINK: a large hash is freed off the main thread
  redis.call('UNLINK', widx, blobs, chunks, KEYS[6], KEYS[7], unpack(index.keys()))
  redis.call('SREM', nskey, ARGV[3])
  return 0
end

local limit = tonumber(ARGV[4])
if limit == 0 then return 0 end
-- Another collection, or a copy_thread into the namespace, holds the marks: collecting now could
-- delete what it keeps (values copied before their documents); the caller waits for it (gc.lua).
if redis.call('EXISTS', KEYS[6]) == 1 or redis.call('EXISTS', KEYS[7]) == 1 then return -1 end
local size = index.count(limit) + redis.call('ZCARD', widx) + redis.call('HLEN', blobs)
  + redis.call('HLEN', chunks)
if size > limit then return -1 end

-- Mark: blob fields the remaining checkpoints reference, the bases of their records, and the
-- chunks those records and the remaining pending writes name.
local referenced, queue, marked = {}, {}, {}
local function reference(field)
  if not referenced[field] then referenced[field] = true; queue[#queue + 1] = field end
end
local remaining = index.fwd('-', size)
local hashes = {} -- each remaining checkpoint's hash as read_doc read it, for its pending writes
for _, cid in ipairs(remaining) do
  local doc = read_doc(doc_prefix .. cid)
  local pairs_ = doc and doc.pairs or {}
  for i = 2, #pairs_, 2 do reference(pairs_[i]) end
  if doc then hashes[cid] = doc.flat end
end
local head = 1
while head <= #queue do
  local value = redis.call('HGET', blobs, queue[head])
  head = head + 1
  if is_record(value) then
    local p = record_parts(value)
    for _, d in ipairs(digests_of(p[2])) do marked[d] = true end
    if p[4] then reference(p[4]) end
  end
end
local function mark_pending(ids)
  for _, cid in ipairs(ids) do
    local own = hashes[cid]
    local flat = own and pending_writes(own, writes_prefix .. cid) or writes_of(doc_prefix .. cid, writes_prefix .. cid)
    for i = 2, #flat, 2 do
      local value = split_list(flat[i])[3]
      if is_record(value) then
        for _, d in ipairs(digests_of(record_parts(value)[2])) do marked[d] = true end
      end
    end
  end
end
mark_pending(remaining)
mark_pending(redis.call('ZRANGE', widx, 0, -1))

-- Sweep.
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
local unmarked = {}
for _, d in ipairs(redis.call('HKEYS', chunks)) do
  if not marked[d] and not is_dictionary_field(d) and d ~= FORMAT_FIELD then unmarked[#unmarked + 1] = d end
end
for s = 1, #unmarked, 1000 do
  redis.call('HDEL', chunks, unpack(unmarked, s, math.min(s + 999, #unmarked)))
end
return #unreferenced + #unmarked
