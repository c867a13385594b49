-- Load checkpoints of one (thread, ns): documents, referenced channel values, pending writes.
-- KEYS: idx, blobs, widx, namespaces
-- ARGV: doc_prefix, writes_prefix, ttl, mode ('page' | 'ids'), what ('full' | 'meta'), count, arg...
--   mode 'ids':  arg... are checkpoint ids; missing ones are skipped.
--   mode 'page': arg is a ZREVRANGEBYLEX upper bound ('+' or '(<id>'); loads the `count` newest
--                existing checkpoints below it (count=1 from '+' is "latest").
--   what 'full': each entry is {id, checkpoint, metadata, parent, {channels}, {values}, {writes}}
--   what 'meta': each entry is {id, metadata}
-- ttl > 0 refreshes the TTL of every key read (refresh_on_read).
local idx, blobs = KEYS[1], KEYS[2]
local doc_prefix, writes_prefix, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local mode, what, count = ARGV[4], ARGV[5], tonumber(ARGV[6])

local function load_meta(cid)
  local m = redis.call('HGET', doc_prefix .. cid, 'm')
  if not m then return nil end
  return {cid, m}
end

local function load_full(cid)
  local doc_key = doc_prefix .. cid
  local d = redis.call('HMGET', doc_key, 'c', 'm', 'p', 'v')
  if not d[1] then return nil end
  local pairs_ = split_list(d[4])
  local channels, fields = {}, {}
  for i = 1, #pairs_, 2 do
    channels[#channels + 1] = pairs_[i]
    fields[#fields + 1] = pairs_[i + 1]
  end
  local found_ch, found_val = {}, {}
  if #fields > 0 then
    local vals = hmget_all(blobs, fields)
    for i = 1, #fields do
      if vals[i] then
        found_ch[#found_ch + 1] = channels[i]
        found_val[#found_val + 1] = vals[i]
      end
    end
  end
  local writes_key = writes_prefix .. cid
  local writes = redis.call('HGETALL', writes_key)
  expire_all(ttl, {doc_key, writes_key})
  return {cid, d[1], d[2], d[3], found_ch, found_val, writes}
end

local load = load_full
if what == 'meta' then load = load_meta end

local out = {}
if mode == 'ids' then
  for i = 7, #ARGV do
    local entry = load(ARGV[i])
    if entry then out[#out + 1] = entry end
  end
else
  local upper, want = ARGV[7], count
  while want > 0 do
    local ids = redis.call('ZREVRANGEBYLEX', idx, upper, '-', 'LIMIT', 0, want)
    if #ids == 0 then break end
    for _, cid in ipairs(ids) do
      local entry = load(cid)
      if entry then
        out[#out + 1] = entry
        want = want - 1
      else
        -- The document expired (TTL) or was deleted: drop the stale index entry.
        redis.call('ZREM', idx, cid)
      end
    end
    upper = '(' .. ids[#ids]
  end
end
expire_all(ttl, KEYS)
return out
