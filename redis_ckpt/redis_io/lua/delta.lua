-- Walk the parent chain of a checkpoint for get_delta_channel_history (and prune's ancestry).
-- KEYS: idx, blobs, widx, namespaces, chunks (widx and namespaces only to refresh their TTL)
-- ARGV: doc_prefix, writes_prefix, target id ('' = latest), max_depth, ttl, dictionaries (as in
--       load.lua), channel...
-- Starting at the target's parent, for each ancestor: the writes to still-open channels, and the
-- stored values of still-open channels (a channel closes at its first stored value, after its
-- writes at that ancestor are collected). See walk_chain in common.lua for where it stops.
-- ttl > 0 refreshes every key read (refresh_on_read).
-- Returns {target_id, {{ancestor_id, {writes field/value...}, {channel, value, ...}}, ...}, chunks,
-- dictionaries} (deduplicated seeds resolved to keyframes, their chunks and those of writes in
-- `chunks`, and the namespace dictionaries of those chunks the caller lacks, as in load).
local refused = format_refusal(KEYS[5])
if refused then return refused end
local idx, blobs = KEYS[1], KEYS[2]
local doc_prefix, writes_prefix, target = ARGV[1], ARGV[2], ARGV[3]
local max_depth, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])

local index = checkpoint_index(idx)
if target == '' then
  local upper = '+'
  while target == '' do
    local ids = index.rev(upper, 16)
    if #ids == 0 then return {'', {}, {}, {}} end
    for _, cid in ipairs(ids) do
      if document_exists(doc_prefix .. cid) then target = cid break end
    end
    upper = '(' .. ids[#ids]
  end
end

local open, n_open = set_of(ARGV, 7)
local dictionaries = dictionary_collector(KEYS[5], ARGV[6])
local collector = chunk_collector(KEYS[5], 0)
local out = {}
local function collect(cid, doc_key, writes_key, seeds, doc)
  local raw = pending_writes(doc.flat, writes_key)
  local writes = {}
  for i = 1, #raw, 2 do
    local rec = split_list(raw[i + 1]) -- {task_path, channel, typed value}
    if open[channel_name(rec[2])] then
      writes[#writes + 1] = raw[i]
      writes[#writes + 1] = raw[i + 1]
    end
  end
  resolved_writes(blobs, writes)
  for i = 2, #seeds, 2 do
    if is_record(seeds[i]) then
      local digests
      seeds[i], digests = resolve(blobs, seeds[i])
      if digests then collector.want(digests) end
    end
  end
  collector.want_writes(writes)
  expire_all(ttl, {doc_key, writes_key})
  if ttl > 0 then index.touch(cid) end -- the page listing a renewed ancestor lives as long as it
  out[#out + 1] = {cid, writes, seeds}
end

local target_doc = read_doc(doc_prefix .. target, target)
local start = target_doc and target_doc.parent
walk_chain(doc_prefix, writes_prefix, blobs, start, open, n_open, max_depth, {[target] = true}, collect)
expire_all(ttl, {doc_prefix .. target, writes_prefix .. target, unpack(KEYS)})
if ttl > 0 then index.touch(target) end
index.expire(ttl)
local chunk_flat = collector.fetch()
dictionaries.want_chunks(chunk_flat)
return {target, out, chunk_flat, dictionaries.fetch()}
