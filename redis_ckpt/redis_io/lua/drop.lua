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
-- chunks those records and the remaining pending writes name (in Lua tables: see common.lua).
local marks = table_marks()
mark_checkpoints(blobs, marks, doc_prefix, writes_prefix, index.fwd('-', size), true)
mark_checkpoints(blobs, marks, doc_prefix, writes_prefix, redis.call('ZRANGE', widx, 0, -1), false)

-- Sweep.
local deleted = sweep(blobs, redis.call('HKEYS', blobs), 1, blob_keeper(blobs, marks))
return deleted + sweep(chunks, redis.call('HKEYS', chunks), 1, chunk_keeper(marks))
