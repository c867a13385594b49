-- Ends put's MULTI/EXEC: stores the checkpoint document, its index entry and the put's records
-- (deduplicated values naming chunks), after the put's plain values and chunks. Only the script
-- writes the document, so a server that lost its script cache (NOSCRIPT, the saver then loads the
-- scripts and sends the put again) applies no checkpoint, only values nothing references yet.
-- If the put relies on values or chunks it did not send (stored by earlier puts) and any is gone
-- (collected by a prune or delete in another process), it writes neither document nor records
-- and returns what is missing: the saver then puts it again with those parts. No checkpoint is
-- ever visible without its values, and an existing record, which live checkpoints may use, is
-- never replaced by one that cannot be read.
-- While an incremental garbage collection of the namespace runs (gc.lua; its mark sets exist),
-- it marks every value the new document references, so that no sweep step deletes them.
-- Chunks compressed with the namespace's chunk dictionary are written here too, after the checks
-- (the dictionary is one of the digests checked): a chunk is never stored in a form that cannot
-- be read, nor replaced by one (put_writes may have stored it without the dictionary).
-- KEYS: doc, idx, blobs, chunks, marked fields, marked chunks, writes index
-- ARGV: checkpoint id, ttl, n fields, n digests, n document fields, n chunks, blob field * n,
--       digest * n, (document field, value) * n, (digest, chunk) * n, (record field, record)...
local doc, idx, blobs, chunks, mf, mc, widx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local ttl = tonumber(ARGV[2])
local refused = format_refusal(chunks)
if refused then return refused end
local n_fields, n_digests, n_doc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n_chunks = tonumber(ARGV[6])
local missing = {}
local at = 7
-- While an incremental collection sweeps, a stored base may have lost part of its chain (the
-- sweep deletes unmarked fields in hash order, so a delta can outlive its own base): a base
-- counts as stored only if every link is, down to a keyframe or to a marked link (the marks
-- keep that one's chain). Outside collections, a stored base's chain is whole.
local collecting = redis.call('EXISTS', mf) == 1
local function stored(field)
  if not collecting then return redis.call('HEXISTS', blobs, field) == 1 end
  for _ = 0, MAX_RECORD_DEPTH do
    if redis.call('SISMEMBER', mf, field) == 1 then return true end
    local value = redis.call('HGET', blobs, field)
    if not value then return false end
    if string.byte(value, 1) ~= DELTA then return true end
    field = record_parts(value)[4]
  end
  return false
end
for i = at, at + n_fields - 1 do
  if not stored(ARGV[i]) then missing[#missing + 1] = ARGV[i] end
end
at = at + n_fields
for i = at, at + n_digests - 1 do
  if redis.call('HEXISTS', chunks, ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
if #missing > 0 then return missing end
at = at + n_digests
local chunks_at = at + 2 * n_doc
local records_at = chunks_at + 2 * n_chunks
for i = chunks_at, records_at - 1, 2 do redis.call('HSET', chunks, ARGV[i], ARGV[i + 1]) end
for i = records_at, #ARGV, 2 do redis.call('HSET', blobs, ARGV[i], ARGV[i + 1]) end
-- A re-put replaces the document's fields, not the pending writes that share its hash.
local stale = {}
for _, field in ipairs(redis.call('HKEYS', doc)) do
  if not is_write_field(field) and string.byte(field, 1) ~= 0 then stale[#stale + 1] = field end
end
if #stale > 0 then redis.call('HDEL', doc, unpack(stale)) end
redis.call('HSET', doc, unpack(ARGV, at, chunks_at - 1))
if ttl > 0 then redis.call('EXPIRE', doc, ttl) end
local index = checkpoint_index(idx)
index.add(ARGV[1])
-- Writes that came before their checkpoint were listed in the writes index (track_writes); the
-- checkpoint's index lists them from now on (~110 bytes an id: LangGraph's async durability sends
-- most writes before their checkpoint).
if widx then redis.call('ZREM', widx, ARGV[1]) end
index.expire(ttl)
if collecting then
  local pairs_, marks = read_doc(doc).pairs, set_marks(mf, mc)
  for i = 2, #pairs_, 2 do mark_field(blobs, marks, pairs_[i], true) end
end
return missing
