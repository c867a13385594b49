-- Shared helpers, prepended to every script by redis_ckpt/redis_io/scripts.py.

-- Parse the length-prefixed list format of redis_ckpt/format/encoding.py: "<len>:<bytes>" repeated.
local function split_list(s)
  local out, pos = {}, 1
  if not s then return out end
  while pos <= #s do
    local colon = string.find(s, ':', pos, true)
    local n = tonumber(string.sub(s, pos, colon - 1))
    out[#out + 1] = string.sub(s, colon + 1, colon + n)
    pos = colon + n + 1
  end
  return out
end

-- One "<len>:<bytes>" item at pos -> the item, the position after it.
local function counted_item(s, pos)
  local colon = string.find(s, ':', pos, true)
  local last = colon + tonumber(string.sub(s, pos, colon - 1))
  return string.sub(s, colon + 1, last), last + 1
end

-- Channel names stored as one byte (index), as in redis_ckpt/format/encoding.py (CHANNEL_CODES).
local CHANNEL_CODES = {'__start__', 'messages', '__pregel_tasks', '__interrupt__', '__end__'}
local BRANCH_TO, ESCAPED_CHANNEL = 31, 30

-- A pending write's channel as stored (encoding.py, pack_channel) -> its name.
local function channel_name(raw)
  local b = string.byte(raw, 1)
  if not b or b >= 32 then return raw end
  if b == BRANCH_TO then return 'branch:to:' .. string.sub(raw, 2) end
  if b == ESCAPED_CHANNEL then return string.sub(raw, 2) end
  return CHANNEL_CODES[b] or error('unknown channel code ' .. b)
end

-- A document's references, compact (first byte 1) or as a plain list -> {channel, version repr,
-- ...} (redis_ckpt/format/encoding.py, pack_refs and refs_list).
local function refs_list(s)
  if string.byte(s, 1) ~= 1 then return split_list(s) end
  local out, pos, previous = {}, 2, nil
  while pos <= #s do
    local b, channel, version = string.byte(s, pos), nil, nil
    if b == BRANCH_TO then
      channel, pos = counted_item(s, pos + 1)
      channel = 'branch:to:' .. channel
    elseif b < 32 then
      channel, pos = CHANNEL_CODES[b] or error('unknown channel code ' .. b), pos + 1
    else
      channel, pos = counted_item(s, pos)
    end
    b = string.byte(s, pos)
    if b == 61 then -- '=': as the one before
      version, pos = previous, pos + 1
    elseif b == 118 or b == 119 then -- 'v', 'w': this saver's 12-character versions
      version, pos = 's:' .. string.sub(s, pos, pos + 11), pos + 12
    else
      version, pos = counted_item(s, pos)
    end
    out[#out + 1] = channel
    out[#out + 1] = version
    previous = version
  end
  return out
end

-- HMGET in chunks: Lua's unpack() has a stack limit.
local function hmget_all(key, fields)
  local out = {}
  for s = 1, #fields, 1000 do
    local e = math.min(s + 999, #fields)
    local vals = redis.call('HMGET', key, unpack(fields, s, e))
    for i = 1, #vals do out[s + i - 1] = vals[i] end
  end
  return out
end

-- HMGET as a flat {field, value, ...} list ('' for a missing field).
local function hmget_flat(key, fields)
  local values, flat = hmget_all(key, fields), {}
  for i, field in ipairs(fields) do
    flat[#flat + 1] = field
    flat[#flat + 1] = values[i] or ''
  end
  return flat
end

-- A hash's fields as HGETALL's flat {field, value, ...} list. A hash holding spilled (large)
-- pending-write values carries the field '\0': then its spill fields (names starting with '\0')
-- are left out, so their values never enter Lua; the caller reads them (redis_ckpt/redis_io/spill.py).
local function small_fields(key)
  if redis.call('HEXISTS', key, '\0') == 0 then return redis.call('HGETALL', key) end
  local fields = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.byte(field, 1) ~= 0 then fields[#fields + 1] = field end
  end
  local values, flat = hmget_all(key, fields), {}
  for i, field in ipairs(fields) do
    flat[#flat + 1] = field
    flat[#flat + 1] = values[i]
  end
  return flat
end

-- Whether a field of a checkpoint's hash is a pending write's (its idx first: a digit or '-');
-- the document's own fields are named by lowercase letters (d, d1..., run, meta; c, m, p, v).
local function is_write_field(field)
  local b = string.byte(field, 1)
  return b == 45 or (b ~= nil and b >= 48 and b <= 57)
end

-- A pending write's record as stored before task paths and channels were coded (in a writes hash
-- of its own: every such record) -> the coded form (redis_ckpt/format/encoding.py, pack_task_path and
-- pack_channel). Only a name starting with a byte the codes use changes: it gets its escape byte.
local function coded_write(record)
  local path, at = counted_item(record, 1)
  local channel, rest = counted_item(record, at)
  local p, c = string.byte(path, 1), string.byte(channel, 1)
  if not ((p and p <= 3) or (c and c < 32)) then return record end
  if p and p <= 3 then path = '\3' .. path end
  if c and c < 32 then channel = '\30' .. channel end
  return #path .. ':' .. path .. #channel .. ':' .. channel .. string.sub(record, rest)
end

-- A checkpoint's pending writes as HGETALL's flat {field, record, ...}: first those stored before
-- in a hash of their own (`legacy`, holding only writes), then those among the fields of its
-- document's hash (`own`: that flat list, read_doc's `flat`), so that a write stored in both reads
-- as the one first stored (redis_ckpt/format/checkpoint_codec.py, raw_writes).
local function pending_writes(own, legacy)
  local flat = small_fields(legacy)
  for i = 2, #flat, 2 do flat[i] = coded_write(flat[i]) end
  for i = 1, #own, 2 do
    if is_write_field(own[i]) then
      flat[#flat + 1] = own[i]
      flat[#flat + 1] = own[i + 1]
    end
  end
  return flat
end

-- Whether the checkpoint whose hash is `key` exists: its hash may hold pending writes only (they
-- came before its document, or after it expired or was deleted). Documents have 'd' ('c' before
-- deduplication).
local function document_exists(key)
  return redis.call('HEXISTS', key, 'd') == 1 or redis.call('HEXISTS', key, 'c') == 1
end

-- The pending writes of the checkpoint whose hash is `key` (see pending_writes).
local function writes_of(key, legacy)
  return pending_writes(small_fields(key), legacy)
end

-- The parent id of a document's packed form (redis_ckpt/format/encoding.py, pack_parent); cid is the
-- document's own id.
local function parent_id(raw, cid)
  local marker = string.byte(raw, 1)
  if marker == 3 then return string.sub(raw, 2) end
  if marker ~= 2 then return raw end
  local shared = string.byte(raw, 2)
  local own = string.gsub(cid, '-', '')
  local tail = string.format(string.rep('%02x', #raw - 2), string.byte(raw, 3, -1))
  local hex = string.sub(own, 1, 2 * shared) .. tail
  return string.sub(hex, 1, 8) .. '-' .. string.sub(hex, 9, 12) .. '-' .. string.sub(hex, 13, 16) .. '-' ..
    string.sub(hex, 17, 20) .. '-' .. string.sub(hex, 21, 32)
end

-- A checkpoint document, or nil when it does not exist, as a table of named fields:
--   body      its body (checkpoint and metadata together, compressed); for documents written
--             before bodies, the checkpoint's typed value
--   metadata  '' when body holds it; for documents written before bodies, the metadata
--   parent    the parent id ('' for none)
--   pairs     the flat {channel, blob field, ...} list of the values it references
--   refs      the same as stored ({channel, version repr, ...} packed: the checkpoint's
--             channel_versions, which its body leaves out); nil for documents of before bodies
--   flat      the hash's whole flat field list: the checkpoint's pending writes are fields of it
--             too (see pending_writes)
-- A document holds 'd' = {parent, refs, body}, cut into pieces 'd', 'd1', 'd2'... of at most 64
-- bytes so that its hash keeps Redis' compact encoding (redis_ckpt/format/checkpoint_codec.py,
-- document_fields), and the search tags. Documents written before deduplication held 'c', 'm',
-- 'p' and 'v' = {channel, blob field, ...} as fields (no refs). `cid`, the document's id, unpacks
-- the parent (see parent_id); without it the parent comes back as stored.
local function read_doc(key, cid)
  local flat = small_fields(key)
  if #flat == 0 then return nil end
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  if f.d then
    local pieces, n = {f.d}, 1
    while f['d' .. n] do
      pieces[#pieces + 1] = f['d' .. n]
      n = n + 1
    end
    local x = split_list(table.concat(pieces))
    local versions, pairs_ = refs_list(x[2]), {}
    for i = 1, #versions, 2 do
      pairs_[i] = versions[i]
      pairs_[i + 1] = versions[i] .. '\0' .. versions[i + 1]
    end
    return {body = x[3], metadata = '', parent = cid and parent_id(x[1], cid) or x[1], pairs = pairs_,
            refs = x[2], flat = flat}
  end
  if not f.c then return nil end
  return {body = f.c, metadata = f.m, parent = f.p or '', pairs = split_list(f.v), flat = flat}
end

local function expire_all(ttl, keys)
  if ttl > 0 then
    for _, k in ipairs(keys) do redis.call('EXPIRE', k, ttl) end
  end
end

-- Walk the parent chain from `start` (an ancestor id, '' = none) for the `open` channels (a set
-- table; `n_open` its size). At each ancestor: `visit(id, doc_key, writes_key, seeds, doc)` where seeds
-- is the flat {channel, value, ...} list of still-open channels with a stored value there; those
-- channels then close. Stops when all are closed, at the root, at a missing document, on a cycle,
-- or after `max_depth` ancestors. `seen` holds ids not to visit (the walk's own start excluded).
local function walk_chain(doc_prefix, writes_prefix, blobs, start, open, n_open, max_depth, seen, visit)
  local cur, depth = start, 0
  while cur and cur ~= '' and n_open > 0 and not seen[cur] and depth < max_depth do
    seen[cur] = true
    depth = depth + 1
    local doc_key = doc_prefix .. cur
    local doc = read_doc(doc_key, cur)
    if not doc then break end
    local pairs_, seeds = doc.pairs, {}
    for i = 1, #pairs_, 2 do
      if open[pairs_[i]] then
        local val = redis.call('HGET', blobs, pairs_[i + 1])
        if val then
          seeds[#seeds + 1] = pairs_[i]
          seeds[#seeds + 1] = val
        end
      end
    end
    visit(cur, doc_key, writes_prefix .. cur, seeds, doc)
    for i = 1, #seeds, 2 do
      if open[seeds[i]] then open[seeds[i]] = nil; n_open = n_open - 1 end
    end
    cur = doc.parent
  end
end

local function set_of(list, first)
  local set, n = {}, 0
  for i = first, #list do
    if not set[list[i]] then set[list[i]] = true; n = n + 1 end
  end
  return set, n
end

-- Deduplicated values (redis_ckpt/format/chunks.py). A stored value starting with '\3' is a keyframe
-- record {array header, digests}, with '\2' a delta {array header, digests, depth, base field,
-- keep}: the first `keep` chunks of the value in `base field`, then `digests` (16 bytes each).
-- Writers keep chains to at most 62 links (redis_ckpt/format/chunks.py), as far as they know; two writers
-- storing the same (channel, version) replace each other's records, which can make a chain longer
-- than either believed (measured: 63 links), so readers follow up to 256.
local DELTA, KEYFRAME, DIGEST, MAX_RECORD_DEPTH = 2, 3, 16, 256

local function pack_list(items)
  local out = {}
  for i, s in ipairs(items) do out[i] = #s .. ':' .. s end
  return table.concat(out)
end

local function is_record(value)
  local b = value and string.byte(value, 1)
  return b == DELTA or b == KEYFRAME
end

local function record_parts(value)
  return split_list(string.sub(value, 2))
end

local function digests_of(s)
  local out = {}
  for i = 1, #s, DIGEST do out[#out + 1] = string.sub(s, i, i + DIGEST - 1) end
  return out
end

-- A record as a keyframe (its chain followed through the blob hash, the original's depth kept as
-- a third item) and its digests (one string, 16 bytes each); the record as stored, and nil, when
-- a base is missing (the caller then reports an incomplete chain). String operations only: no
-- per-digest work in Lua.
local function resolve(blobs, value)
  local chain, cur = {}, value
  while true do
    local p = record_parts(cur)
    chain[#chain + 1] = p
    if string.byte(cur, 1) == KEYFRAME then break end
    if #chain > MAX_RECORD_DEPTH then return value, nil end
    cur = redis.call('HGET', blobs, p[4])
    if not is_record(cur) then return value, nil end
  end
  -- value(i) = first keep(i) digests of value(i+1), then own(i). From the top down, work out
  -- how much of each record's own digests the top value uses, then join those pieces once.
  local pieces, need = {}, nil -- need: how many digests of value(i) are used (nil: all)
  for i = 1, #chain do
    local own = chain[i][2]
    local n_own = #own / DIGEST
    if i == #chain then
      pieces[i] = string.sub(own, 1, (need and math.min(need, n_own) or n_own) * DIGEST)
    else
      local keep = tonumber(chain[i][5])
      local used = need or (keep + n_own)
      local from_base = math.min(keep, used)
      pieces[i] = string.sub(own, 1, (used - from_base) * DIGEST)
      need = from_base
    end
  end
  local ordered = {}
  for i = #chain, 1, -1 do ordered[#ordered + 1] = pieces[i] end
  local digests = table.concat(ordered)
  -- the chain's real depth (a writer's own count can fall short, see MAX_RECORD_DEPTH)
  local depth = tostring(#chain - 1 + (tonumber(chain[#chain][3]) or 0))
  return string.char(KEYFRAME) .. pack_list({chain[1][1], digests, depth}), digests
end

-- The storage format (redis_ckpt/format/format_version.py, STAMP_FIELD and READS: the same values). A
-- namespace written in a format above 1 carries a stamp, this field of its chunk hash; format 1
-- has none. Every script that reads or rewrites a namespace calls this first and, if it answers,
-- returns its error reply before writing anything (the saver raises FormatTooNewError).
local FORMAT_FIELD = '\0format'
local READS_FORMATS = {['1'] = true, ['2'] = true}
local function format_refusal(chunks_key)
  local stamp = redis.call('HGET', chunks_key, FORMAT_FIELD)
  if not stamp or READS_FORMATS[stamp] then return nil end
  return redis.error_reply('REDISCKPT_FORMAT ' .. (string.match(stamp, '^%d+$') or '?') .. ' ' .. chunks_key)
end

-- Whether a chunk-hash field is a namespace dictionary's ('dict:' .. 8-byte digest; chunk fields
-- are 16-byte digests): garbage collection leaves dictionaries to the namespace
-- (redis_ckpt/format/compression.py).
local function is_dictionary_field(field)
  return #field == 13 and string.sub(field, 1, 5) == 'dict:'
end

-- The namespace dictionaries the document bodies and chunks read by one call need, beyond those
-- the caller has (`have`: their concatenated 8-byte digests): want(body) for each body read,
-- want_chunks(flat) for the chunks, fetch() the flat {field, stored dictionary, ...} list of the
-- others.
local function dictionary_collector(chunks_key, have)
  local known, wanted = {}, {}
  for i = 1, #have, 8 do known[string.sub(have, i, i + 7)] = true end
  local c = {}
  function c.want(body)
    if string.byte(body, 1) ~= 2 then return end -- compression.WITH_DICTIONARY
    local digest = string.sub(body, 2, 9)
    if not known[digest] then
      known[digest] = true
      wanted[#wanted + 1] = 'dict:' .. digest
    end
  end
  -- the chunks of a chunk collector's flat {digest, stored chunk, ...} list (a chunk compressed
  -- with a namespace dictionary starts as a body does)
  function c.want_chunks(flat)
    for i = 2, #flat, 2 do c.want(flat[i]) end
  end
  function c.fetch()
    if #wanted == 0 then return {} end
    return hmget_flat(chunks_key, wanted)
  end
  return c
end

-- Call fn(digests) for each pending write of a writes hash (flat {field, record, ...}) whose value
-- is a record: its digests, one string (16 bytes each); and on_base(field) for each that is a
-- delta (storage format 2: a list written whole, stored on the channel's value in its checkpoint).
local function each_write_record(flat, fn, on_base)
  for i = 2, #flat, 2 do
    local value = split_list(flat[i])[3]
    if is_record(value) then
      local p = record_parts(value)
      fn(p[2])
      if on_base and p[4] then on_base(p[4]) end
    end
  end
end

-- The pending writes `flat` with each value that is a delta record (format 2) resolved to a
-- keyframe, as `resolve` does for channel values (a base gone leaves the delta: the caller reports
-- an incomplete chain).
local function resolved_writes(blobs, flat)
  for i = 2, #flat, 2 do
    local rec = split_list(flat[i])
    if string.byte(rec[3], 1) == DELTA then
      local value, digests = resolve(blobs, rec[3])
      if digests then flat[i] = pack_list({rec[1], rec[2], value}) end
    end
  end
  return flat
end

-- The chunks one read returns: want() collects digest strings, fetch() reads each chunk once,
-- as a flat {digest, stored chunk, ...} list. With inline_limit > 0, a read that needs more
-- chunks than that returns {'*', all digests} instead, and the caller reads them outside Lua (or
-- has them cached): handing a long message list's chunks to Lua cost 2.4 ms of server time per
-- read at 800 chunks.
local function chunk_collector(chunks_key, inline_limit)
  local wanted, count = {}, 0
  local c = {}
  function c.want(digests)
    wanted[#wanted + 1] = digests
    count = count + #digests / DIGEST
  end
  -- the chunks of the pending writes of a writes hash (flat {field, record, ...}) that hold records
  function c.want_writes(flat)
    each_write_record(flat, c.want)
  end
  function c.fetch()
    if count == 0 then return {} end
    if inline_limit > 0 and count > inline_limit then return {'*', table.concat(wanted)} end
    local seen, list = {}, {}
    for _, digests in ipairs(wanted) do
      for _, d in ipairs(digests_of(digests)) do
        if not seen[d] then seen[d] = true; list[#list + 1] = d end
      end
    end
    return hmget_flat(chunks_key, list)
  end
  return c
end

-- Garbage collection (drop.lua in one call, gc.lua in bounded steps): mark what the remaining
-- checkpoints reference, then sweep the rest. The marks are the blob fields and chunk digests that
-- must survive the collection, kept by `marks`: table_marks() in Lua tables, for one call;
-- set_marks(mf, mc) in the sets `mf` and `mc` in the thread's slot, which exist only while a
-- stepwise collection of the namespace runs, so that writers between its steps mark too
-- (commit.lua, track_writes.lua). Either has add_field(field) (true if it was not marked yet),
-- add_chunks(digests) (one string, 16 bytes each), has_field(field) and has_chunk(digest).
local function table_marks()
  local fields, chunks, m = {}, {}, {}
  function m.add_field(field)
    local new = not fields[field]
    fields[field] = true
    return new
  end
  function m.add_chunks(digests)
    for _, d in ipairs(digests_of(digests)) do chunks[d] = true end
  end
  function m.has_field(field) return fields[field] == true end
  function m.has_chunk(digest) return chunks[digest] == true end
  return m
end

local function set_marks(mf, mc)
  local m = {}
  function m.add_field(field) return redis.call('SADD', mf, field) == 1 end
  function m.add_chunks(digests)
    local ds = digests_of(digests)
    for s = 1, #ds, 1000 do redis.call('SADD', mc, unpack(ds, s, math.min(s + 999, #ds))) end
  end
  function m.has_field(field) return redis.call('SISMEMBER', mf, field) == 1 end
  function m.has_chunk(digest) return redis.call('SISMEMBER', mc, digest) == 1 end
  return m
end

-- Marking a field marks the chunks its record names and, transitively, its base, stopping at a
-- field already marked (its chain is marked). `force` follows the first field even if marked:
-- its record may have just been rewritten, with new chunks and a new base.
local function mark_field(blobs, marks, field, force)
  while field do
    if not marks.add_field(field) and not force then return end
    force = false
    local value = redis.call('HGET', blobs, field)
    field = nil
    if is_record(value) then
      local p = record_parts(value)
      marks.add_chunks(p[2])
      field = p[4]
    end
  end
end

-- Mark what the checkpoints `ids` keep alive: the blob fields their documents reference (with
-- `docs`; ids of the writes index are read for their pending writes only), and the chunks their
-- pending writes name.
local function mark_checkpoints(blobs, marks, doc_prefix, writes_prefix, ids, docs)
  local function base(field) mark_field(blobs, marks, field, false) end -- a delta write's chain
  for _, cid in ipairs(ids) do
    local doc = docs and read_doc(doc_prefix .. cid)
    if doc then
      for i = 2, #doc.pairs, 2 do mark_field(blobs, marks, doc.pairs[i], false) end
      each_write_record(pending_writes(doc.flat, writes_prefix .. cid), marks.add_chunks, base) -- the hash read once
    else
      each_write_record(writes_of(doc_prefix .. cid, writes_prefix .. cid), marks.add_chunks, base)
    end
  end
end

-- Sweep: delete from the hash `key` those of `fields` (every `stride`-th item: 2 for an HSCAN
-- page) that `keep` does not keep (see blob_keeper, chunk_keeper); returns how many.
local function sweep(key, fields, stride, keep)
  local doomed = {}
  for i = 1, #fields, stride do
    if not keep(fields[i]) then doomed[#doomed + 1] = fields[i] end
  end
  for s = 1, #doomed, 1000 do redis.call('HDEL', key, unpack(doomed, s, math.min(s + 999, #doomed))) end
  return #doomed
end

-- What a collection keeps of the blob hash: the marked fields and their spill fields.
local function blob_keeper(blobs, marks)
  return function(field)
    if marks.has_field(field) then return true end
    if string.byte(field, 1) ~= 0 then return false end
    -- A spill field ('\0' .. blob field) lives as long as the blob field that names it. (A blob
    -- field may start with NUL too, for a channel named '': only the stored name decides.)
    local base = string.sub(field, 2)
    return marks.has_field(base) and redis.call('HGET', blobs, base) == field
  end
end

-- What a collection keeps of the chunk hash: the marked chunks; a namespace's dictionaries and
-- its format stamp are no chunks: they stay with the namespace.
local function chunk_keeper(marks)
  return function(field)
    return is_dictionary_field(field) or field == FORMAT_FIELD or marks.has_chunk(field)
  end
end

-- The checkpoint index of one (thread, ns): its ids in pages, each a sorted set (scores 0, by id)
-- of at most INDEX_PAGE_MAX ids, so that it keeps Redis' compact listpack encoding (~40 bytes an
-- id instead of ~112 in one large skiplist zset; docs/design.md, "Key layout"). The index key
-- itself is the first page: it holds the ids below every other page's bound. The directory
-- (idx .. ':d') lists the other pages' bounds; the page of bound b is idx .. ':p:' .. b and holds
-- the ids from b up to the next bound. (The one place scripts build key names: redis_ckpt/format/key_layout.py
-- derives the same names, index_directory and index_page, tested against this.) A page that
-- grows past INDEX_PAGE_MAX hands its top INDEX_PAGE_MOVE ids to a new page: bounded work per
-- insert, also for an index written before pages (one large first page, kept as it is). With
-- ttl > 0 every page written or read, and the directory, get that TTL (see `expire`): a page then
-- outlives the checkpoints it lists, as each of them was put or read no later than the page was.
local INDEX_PAGE_MAX, INDEX_PAGE_MOVE = 120, 60

local function checkpoint_index(idx)
  local dir, page_prefix = idx .. ':d', idx .. ':p:'
  local I, touched = {}, {}
  -- '' stands for the first page: no real bound is '' (a bound is above some id of its page's
  -- predecessor).
  local function page_key(bound)
    local key = bound == '' and idx or page_prefix .. bound
    touched[key] = true
    return key
  end
  local function bound_for(cid) -- the page holding, or to hold, cid
    return redis.call('ZREVRANGEBYLEX', dir, '[' .. cid, '-', 'LIMIT', 0, 1)[1] or ''
  end

  -- With a TTL, a page expires with the ids it lists, but its bound stays in the directory (renewed
  -- by every write): a thread written for long would gather one stale bound per INDEX_PAGE_MOVE
  -- puts. Walks drop those they pass (`forget_if_gone`), and each split, which adds a bound,
  -- drops up to two stale ones from the bottom, where pages expire first.
  local function forget_if_gone(bound)
    if bound ~= '' and redis.call('EXISTS', page_prefix .. bound) == 0 then
      redis.call('ZREM', dir, bound)
      return true
    end
    return false
  end

  function I.add(cid)
    local bound = bound_for(cid)
    local page = page_key(bound)
    local added = redis.call('ZADD', page, 0, cid)
    if added == 1 and redis.call('ZCARD', page) > INDEX_PAGE_MAX then
      local moved = redis.call('ZRANGE', page, -INDEX_PAGE_MOVE, -1)
      local args = {}
      for i, id in ipairs(moved) do
        args[2 * i - 1] = 0
        args[2 * i] = id
      end
      redis.call('ZADD', page_key(moved[1]), unpack(args))
      redis.call('ZREM', page, unpack(moved))
      redis.call('ZADD', dir, 0, moved[1])
      for _ = 1, 2 do
        if not forget_if_gone(redis.call('ZRANGE', dir, 0, 0)[1] or '') then break end
      end
    end
    return added
  end

  function I.rem(cid)
    local bound = bound_for(cid)
    local removed = redis.call('ZREM', page_key(bound), cid)
    forget_if_gone(bound) -- an emptied page's bound goes with it
    return removed
  end

  -- At most n ids below `upper` ('+', or '(' / '[' and an id), newest first.
  function I.rev(upper, n)
    local out = {}
    if n <= 0 then return out end
    local bound
    if upper == '+' then
      bound = redis.call('ZREVRANGEBYLEX', dir, '+', '-', 'LIMIT', 0, 1)[1] or ''
    else
      bound = bound_for(string.sub(upper, 2))
    end
    while true do
      local ids = redis.call('ZREVRANGEBYLEX', page_key(bound), upper, '-', 'LIMIT', 0, n - #out)
      for _, id in ipairs(ids) do out[#out + 1] = id end
      if #ids == 0 then forget_if_gone(bound) end
      if #out >= n or bound == '' then return out end
      bound = redis.call('ZREVRANGEBYLEX', dir, '(' .. bound, '-', 'LIMIT', 0, 1)[1] or ''
    end
  end

  -- At most n ids above `low` ('-', or '(' and an id), oldest first.
  function I.fwd(low, n)
    local out = {}
    if n <= 0 then return out end
    local bound = low == '-' and '' or bound_for(string.sub(low, 2))
    while true do
      local ids = redis.call('ZRANGEBYLEX', page_key(bound), low, '+', 'LIMIT', 0, n - #out)
      for _, id in ipairs(ids) do out[#out + 1] = id end
      if #ids == 0 then forget_if_gone(bound) end
      if #out >= n then return out end
      bound = redis.call('ZRANGEBYLEX', dir, '(' .. bound, '+', 'LIMIT', 0, 1)[1]
      if not bound then return out end
    end
  end

  -- How many ids, stopping once past `limit` (pages are counted one by one, their bounds read
  -- 100 at a time).
  function I.count(limit)
    local total, at = redis.call('ZCARD', idx), 0
    while total <= limit do
      local bounds = redis.call('ZRANGE', dir, at, at + 99)
      for _, bound in ipairs(bounds) do total = total + redis.call('ZCARD', page_prefix .. bound) end
      if #bounds < 100 then break end
      at = at + 100
    end
    return total
  end

  -- Every key of the index (pages and directory), for deleting it.
  function I.keys()
    local keys = {idx, dir}
    for _, bound in ipairs(redis.call('ZRANGE', dir, 0, -1)) do keys[#keys + 1] = page_prefix .. bound end
    return keys
  end

  -- Count the page of cid as read (for `expire`).
  function I.touch(cid)
    page_key(bound_for(cid))
  end

  -- Give the pages read or written so far, and the directory, the TTL (ttl > 0).
  function I.expire(ttl)
    if ttl <= 0 then return end
    touched[dir] = true
    for key in pairs(touched) do redis.call('EXPIRE', key, ttl) end
  end

  return I
end
