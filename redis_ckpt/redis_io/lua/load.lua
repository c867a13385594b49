-- Load checkpoints of one (thread, ns): documents, referenced channel values, pending writes.
-- KEYS: idx, blobs, widx, namespaces, chunks
-- ARGV: doc_prefix, writes_prefix, ttl, mode ('page' | 'ids'), what ('full' | 'meta'), count,
--       tags, dictionaries (concatenated digests of the namespace dictionaries the caller has),
--       known, arg...
--   mode 'ids':  arg... are checkpoint ids; missing ones are skipped.
--   mode 'page': arg is a ZREVRANGEBYLEX upper bound ('+' or '(<id>'); loads the `count` newest
--                existing checkpoints below it (count=1 from '+' is "latest"), scanning at most
--                max(count, 1000) index entries per call.
--   known: blob fields (length-prefixed list) whose resolved record and chunks the caller has
--          (redis_ckpt/format/resolved_records.py): such a record comes back as KNOWN .. field,
--          its chain not followed and its chunks not fetched.
--   tags: requirements on a document's `meta` tags, comma-separated, each a '|'-separated list of
--         alternatives of which the document must carry one ('' = no condition); a server-side
--         pre-filter for scalar metadata filters, re-checked by the caller.
--   what 'full': each entry is {id, checkpoint, metadata, parent, {channels}, {values}, {writes},
--   refs} (refs: the document's packed references, absent for documents of before bodies)
--   what 'meta': each entry is {id, metadata}, or {id, body, ''} for documents with a body
--   (checkpoint and metadata packed together, see read_doc in common.lua; then checkpoint is the
--   body and metadata '' in full entries too).
--   Deduplicated values come back as resolved records (keyframes); their chunks, and those of
--   pending writes, come once per call in `chunks`, a flat {digest, stored chunk, ...} list.
-- Returns {cursor, entries, chunks, dictionaries} (dictionaries: see dictionary_collector in
-- common.lua): cursor is the bound to continue a page scan from, '' when the
-- index holds nothing more below it. ttl > 0 refreshes the TTL of every key read (refresh_on_read).
local refused = format_refusal(KEYS[5])
if refused then return refused end
local idx, blobs = KEYS[1], KEYS[2]
local doc_prefix, writes_prefix, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local mode, what, count = ARGV[4], ARGV[5], tonumber(ARGV[6])
local collector = chunk_collector(KEYS[5], 256) -- redis_ckpt.format.chunks.INLINE_CHUNKS
local dictionaries = dictionary_collector(KEYS[5], ARGV[8])
local index = checkpoint_index(idx)
local required = {}
for tag in string.gmatch(ARGV[7], '[^,]+') do required[#required + 1] = tag end
local known = set_of(split_list(ARGV[9]), 1)
local KNOWN = '\4' -- resolved_records.KNOWN

-- Whether a document meets every requirement (a missing document meets none).
local function tagged(doc_key)
  if #required == 0 then return true end
  local meta = redis.call('HGET', doc_key, 'meta') or ''
  for _, alternatives in ipairs(required) do
    local met = false
    for tag in string.gmatch(alternatives, '[^|]+') do
      if string.find(meta, tag, 1, true) then met = true break end
    end
    if not met then return false end
  end
  return true
end

-- Each loader returns nil when the document does not exist.
local function load_meta(cid)
  local doc_key = doc_prefix .. cid
  local doc = read_doc(doc_key)
  if not doc then return nil end
  expire_all(ttl, {doc_key, writes_prefix .. cid}) -- a checkpoint's writes live as long as it does
  if doc.metadata == '' then
    dictionaries.want(doc.body)
    return {cid, doc.body, ''}
  end
  return {cid, doc.metadata}
end

local function load_full(cid)
  local doc_key = doc_prefix .. cid
  local doc = read_doc(doc_key, cid)
  if not doc then return nil end
  if doc.metadata == '' then dictionaries.want(doc.body) end
  local pairs_ = doc.pairs
  local channels, fields = {}, {}
  for i = 1, #pairs_, 2 do
    channels[#channels + 1] = pairs_[i]
    fields[#fields + 1] = pairs_[i + 1]
  end
  local found_ch, found_val = {}, {}
  if #fields > 0 then
    local vals = hmget_all(blobs, fields)
    for i = 1, #fields do
      local val = vals[i]
      if val then
        if is_record(val) then
          if known[fields[i]] then
            val = KNOWN .. fields[i]
          else
            local digests
            val, digests = resolve(blobs, val)
            if digests then collector.want(digests) end
          end
        end
        found_ch[#found_ch + 1] = channels[i]
        found_val[#found_val + 1] = val
      end
    end
  end
  local writes_key = writes_prefix .. cid -- writes stored before they were fields of the document
  local writes = resolved_writes(blobs, pending_writes(doc.flat, writes_key))
  collector.want_writes(writes)
  expire_all(ttl, {doc_key, writes_key})
  -- the reply's entry (redis_ckpt/format/read_entries.py, StoredEntry, reads it)
  return {cid, doc.body, doc.metadata, doc.parent, found_ch, found_val, writes, doc.refs}
end

local load = load_full
if what == 'meta' then load = load_meta end

local out, cursor = {}, ''
if mode == 'ids' then
  for i = 10, #ARGV do
    if tagged(doc_prefix .. ARGV[i]) then
      out[#out + 1] = load(ARGV[i])
      if ttl > 0 then index.touch(ARGV[i]) end -- its page lives as long as it does
    end
  end
else
  local upper, budget = ARGV[10], math.max(count, 1000)
  while #out < count and budget > 0 do
    local asked = math.min(budget, count - #out + 16)
    local ids = index.rev(upper, asked)
    for i, cid in ipairs(ids) do
      if tagged(doc_prefix .. cid) then
        local entry = load(cid)
        if entry then
          out[#out + 1] = entry
        elseif #required == 0 then
          -- The document expired (TTL) or was deleted. Its writes (listed by no other index once
          -- it existed, and expiring after it) go with the entry: nothing else would find them.
          index.rem(cid)
          redis.call('DEL', doc_prefix .. cid, writes_prefix .. cid)
        end
      end
      budget = budget - 1
      upper = '(' .. cid
      if #out == count then
        if i == #ids and #ids < asked then upper = '' end
        break
      end
    end
    if #out < count and #ids < asked then upper = '' break end
  end
  cursor = upper
end
expire_all(ttl, KEYS)
index.expire(ttl)
local chunk_flat = collector.fetch()
if chunk_flat[1] ~= '*' then dictionaries.want_chunks(chunk_flat) end
return {cursor, out, chunk_flat, dictionaries.fetch()}
